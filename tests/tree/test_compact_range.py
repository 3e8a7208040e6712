"""`ledger.tree.stored.CompactRange`: a tree grown one leaf at a time in O(log n) memory.

Covers its root for every size from 0 to 64 against the RFC 6962 reference MTH
(both for one range grown leaf by leaf and for a fresh range per size), its
size, and its `on_complete` callback: it must report exactly the (level, index,
hash) subtrees that `stored.hashes_to_store` stores for the same leaf, in the same
order, each hash equal to the reference MTH of the leaves that subtree covers.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import rfc6962_reference as ref
from ledger.tree.stored import CompactRange, hashes_to_store

MAX_SIZE = 64
ENTRIES = [b"compact-range leaf %d" % i for i in range(MAX_SIZE)]
TREE = ref.ReferenceTree.from_entries(ENTRIES)


def _recorder(into: list[tuple[int, int, bytes]]) -> Callable[[int, int, bytes], None]:
    def record(level: int, index: int, value: bytes) -> None:
        into.append((level, index, value))

    return record


def test_empty_compact_range_has_the_empty_root() -> None:
    compact = CompactRange()
    assert compact.size == 0
    assert compact.root() == ref.EMPTY_ROOT
    assert compact.root() == ref.mth([])


def test_root_after_every_append_matches_reference() -> None:
    compact = CompactRange()
    for index in range(MAX_SIZE):
        compact.append(TREE.leaf_hash(index))
        assert compact.size == index + 1
        assert compact.root() == TREE.root(index + 1), f"size {index + 1}"


@pytest.mark.parametrize("size", range(MAX_SIZE + 1), ids=lambda n: f"size={n}")
def test_fresh_compact_range_root_matches_reference(size: int) -> None:
    compact = CompactRange()
    for index in range(size):
        compact.append(TREE.leaf_hash(index))
    assert compact.size == size
    assert compact.root() == ref.mth(ENTRIES[:size])


def test_on_complete_reports_exactly_what_hashes_to_store_stores() -> None:
    stored_hashes: dict[tuple[int, int], bytes] = {}
    compact = CompactRange()
    for index in range(MAX_SIZE):
        leaf = TREE.leaf_hash(index)
        expected = hashes_to_store(index, leaf, lambda level, i: stored_hashes[(level, i)])
        reported: list[tuple[int, int, bytes]] = []
        compact.append(leaf, _recorder(reported))
        assert reported == expected, f"leaf {index}"
        # Leaf i completes one subtree per trailing 1 bit of i, plus the leaf itself.
        trailing_ones = len(bin(index)) - len(bin(index).rstrip("1"))
        assert len(reported) == 1 + trailing_ones, f"leaf {index}"
        for level, position, value in reported:
            lo, hi = position << level, (position + 1) << level
            assert hi == index + 1, f"subtree ({level}, {position}) does not end at leaf {index}"
            assert value == TREE.mth(lo, hi), f"subtree ({level}, {position})"
            stored_hashes[(level, position)] = value
    # Every complete aligned subtree of 64 leaves was reported exactly once.
    assert len(stored_hashes) == 2 * MAX_SIZE - 1


def test_append_without_callback_gives_the_same_roots() -> None:
    silent, reporting = CompactRange(), CompactRange()
    calls: list[tuple[int, int]] = []
    for index in range(MAX_SIZE):
        silent.append(TREE.leaf_hash(index))
        reporting.append(TREE.leaf_hash(index), lambda level, i, _value: calls.append((level, i)))
        assert silent.root() == reporting.root()
    assert len(calls) == 2 * MAX_SIZE - 1
    assert len(set(calls)) == len(calls)
