"""Roots and proofs served from stored subtree hashes, checked against the RFC 6962 reference.

Covers `ledger.store.LmdbEventLog.root`, `.inclusion_proof` and `.consistency_proof`
on real LMDB logs, and the pure `ledger.tree.stored` algorithms over a dict:

- a 300-event log: the root at every size, the inclusion proof of every leaf at
  every size and the consistency proof for every pair of sizes equal the
  reference MTH, PATH and PROOF, and pass both the reference verifier and
  ledger's own `verify_inclusion` / `verify_consistency`;
- a log grown in random batches to a few random sizes between 5,000 and 20,000
  events: roots when each size is reached and afterwards, at random smaller
  sizes, and random proofs;
- `stored.hashes_to_store` / `root_at` / the proof functions over 2**17 + 12345
  synthetic leaf hashes held in a dict;
- proof requests outside the log, which must fail with INVALID_PROOF_REQUEST.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

import rfc6962_reference as ref
from ledger.clock import FixedClock
from ledger.errors import ErrorCode, InvalidInput, VerificationFailed
from ledger.samples import sample_events
from ledger.store import AppendRequest, LmdbEventLog
from ledger.tree import stored
from ledger.tree.verify import verify_consistency, verify_inclusion

SMALL_SIZE = 300
PINNED = FixedClock(datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC))


def _inclusion(log: LmdbEventLog, index: int, size: int | None = None) -> tuple[int, list[bytes]]:
    """(tree size, audit path) of the store's inclusion proof."""
    found = log.inclusion_proof(index, size)
    return found.tree_size, list(found.hashes)


def _consistency(
    log: LmdbEventLog, first: int, second: int | None = None
) -> tuple[int, list[bytes]]:
    """(second size, proof hashes) of the store's consistency proof."""
    found = log.consistency_proof(first, second)
    return found.second_size, list(found.hashes)


def _stored_leaves(log: LmdbEventLog, size: int) -> list[bytes]:
    return [log.get(seq).leaf_bytes for seq in range(size)]


# (a) every size, leaf and pair of sizes of a 300-event log ------------------------------


@dataclass(frozen=True)
class SmallLog:
    log: LmdbEventLog
    tree: ref.ReferenceTree


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmallLog]:
    log = LmdbEventLog(tmp_path_factory.mktemp("small") / "data", clock=PINNED)
    try:
        events = sample_events(SMALL_SIZE)
        # Uneven batches, so that batch boundaries fall inside and across subtrees.
        for start, end in ((0, 1), (1, 7), (7, 130), (130, 131), (131, SMALL_SIZE)):
            log.append([AppendRequest(envelope) for envelope in events[start:end]])
        yield SmallLog(log, ref.ReferenceTree.from_entries(_stored_leaves(log, SMALL_SIZE)))
    finally:
        log.close()


def test_small_log_holds_every_sample_event(small: SmallLog) -> None:
    assert small.log.size() == SMALL_SIZE
    assert len(small.tree) == SMALL_SIZE
    events = sample_events(SMALL_SIZE)
    for seq in range(SMALL_SIZE):
        stored_event = small.log.get(seq)
        assert stored_event.leaf.seq == seq
        assert stored_event.leaf.envelope.event_id == events[seq].event_id
        assert stored_event.leaf_hash == small.tree.leaf_hash(seq)


def test_small_log_root_at_every_size_matches_reference(small: SmallLog) -> None:
    assert small.log.root(0) == (0, ref.EMPTY_ROOT)
    for size in range(1, SMALL_SIZE + 1):
        assert small.log.root(size) == (size, small.tree.root(size)), f"size {size}"
    assert small.log.root() == (SMALL_SIZE, small.tree.root(SMALL_SIZE))


@pytest.mark.parametrize("size", range(1, SMALL_SIZE + 1), ids=lambda n: f"size={n}")
def test_small_log_inclusion_proofs_match_reference(small: SmallLog, size: int) -> None:
    tree = small.tree
    root = tree.root(size)
    for index in range(size):
        leaf = tree.leaf_hash(index)
        at, proof = _inclusion(small.log, index, size)
        assert at == size
        assert proof == tree.path(index, size), f"leaf {index}"
        assert ref.verify_inclusion(index, size, leaf, proof, root), f"leaf {index}"
        verify_inclusion(index, size, leaf, proof, root)
    if size > 1:
        # The same proof must not prove a different leaf.
        wrong_leaf = tree.leaf_hash(size - 2)
        proof = _inclusion(small.log, size - 1, size)[1]
        assert not ref.verify_inclusion(size - 1, size, wrong_leaf, proof, root)
        with pytest.raises(VerificationFailed):
            verify_inclusion(size - 1, size, wrong_leaf, proof, root)


@pytest.mark.parametrize("second", range(1, SMALL_SIZE + 1), ids=lambda n: f"second={n}")
def test_small_log_consistency_proofs_match_reference(small: SmallLog, second: int) -> None:
    tree = small.tree
    second_root = tree.root(second)
    for first in range(1, second + 1):
        first_root = tree.root(first)
        at, proof = _consistency(small.log, first, second)
        assert at == second
        assert proof == tree.proof(first, second), f"first {first}"
        assert ref.verify_consistency(first, second, first_root, second_root, proof)
        verify_consistency(first, second, first_root, second_root, proof)
    if second > 2:
        # A proof from one size does not prove consistency from a different old root.
        proof = _consistency(small.log, second - 1, second)[1]
        wrong_root = tree.root(second - 2)
        assert not ref.verify_consistency(second - 1, second, wrong_root, second_root, proof)
        with pytest.raises(VerificationFailed):
            verify_consistency(second - 1, second, wrong_root, second_root, proof)


def test_small_log_proofs_default_to_the_current_size(small: SmallLog) -> None:
    tree = small.tree
    assert _inclusion(small.log, 17) == (SMALL_SIZE, tree.path(17, SMALL_SIZE))
    assert _consistency(small.log, 17) == (SMALL_SIZE, tree.proof(17, SMALL_SIZE))
    assert _consistency(small.log, SMALL_SIZE) == (SMALL_SIZE, [])


def test_single_event_log_root_and_proofs(log: LmdbEventLog) -> None:
    assert log.root() == (0, ref.EMPTY_ROOT)
    log.append([AppendRequest(sample_events(1)[0])])
    leaf = ref.leaf_hash(log.get(0).leaf_bytes)
    assert log.root() == (1, leaf)
    assert _inclusion(log, 0) == (1, [])
    assert _consistency(log, 1) == (1, [])
    assert ref.verify_inclusion(0, 1, leaf, [], leaf)


# (b) large logs grown in random batches -------------------------------------------------


@dataclass(frozen=True)
class LargeLog:
    log: LmdbEventLog
    tree: ref.ReferenceTree
    targets: list[int]
    #: (size, root) that `log.root()` returned at the moment the log reached each target.
    heads_when_reached: dict[int, tuple[int, bytes]]


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LargeLog]:
    rng = random.Random(6962)
    targets = sorted(rng.sample(range(5_000, 20_001), 3))
    log = LmdbEventLog(tmp_path_factory.mktemp("large") / "data", clock=PINNED)
    try:
        events = sample_events(targets[-1])
        heads: dict[int, tuple[int, bytes]] = {}
        size = 0
        for target in targets:
            while size < target:
                end = min(size + rng.randint(1_000, 5_000), target)
                outcome = log.append([AppendRequest(envelope) for envelope in events[size:end]])
                assert outcome.tree_size == end
                size = end
            heads[target] = log.root()
        leaves = [event.leaf_bytes for event in log.read()]
        assert len(leaves) == targets[-1]
        yield LargeLog(log, ref.ReferenceTree.from_entries(leaves), targets, heads)
    finally:
        log.close()


def test_large_log_target_sizes_are_in_range(large: LargeLog) -> None:
    assert len(set(large.targets)) == 3
    assert all(5_000 <= size <= 20_000 for size in large.targets)
    assert large.log.size() == large.targets[-1]


def test_large_log_root_when_each_size_was_reached(large: LargeLog) -> None:
    for target in large.targets:
        assert large.heads_when_reached[target] == (target, large.tree.root(target))


def test_large_log_historical_roots_match_reference(large: LargeLog) -> None:
    sizes = [*large.targets, 1, 2, 4_096, 4_097, 8_191, 8_192]
    rng = random.Random(1)
    sizes += [rng.randint(1, large.targets[-1]) for _ in range(30)]
    for size in sizes:
        assert large.log.root(size) == (size, large.tree.root(size)), f"size {size}"


def test_large_log_random_inclusion_proofs(large: LargeLog) -> None:
    tree, rng = large.tree, random.Random(2)
    cases = [(target - 1, target) for target in large.targets]
    cases += [(0, large.targets[0])]
    for _ in range(20):
        size = rng.randint(1, large.targets[-1])
        cases.append((rng.randrange(size), size))
    for index, size in cases:
        at, proof = _inclusion(large.log, index, size)
        assert at == size
        assert proof == tree.path(index, size), f"leaf {index} of {size}"
        assert ref.verify_inclusion(index, size, tree.leaf_hash(index), proof, tree.root(size))


def test_large_log_random_consistency_proofs(large: LargeLog) -> None:
    tree, rng, targets = large.tree, random.Random(3), large.targets
    cases = [(targets[0], targets[1]), (targets[1], targets[2]), (targets[0], targets[2])]
    cases += [(1, targets[-1]), (targets[-1] - 1, targets[-1])]
    for _ in range(20):
        second = rng.randint(1, targets[-1])
        cases.append((rng.randint(1, second), second))
    for first, second in cases:
        at, proof = _consistency(large.log, first, second)
        assert at == second
        assert proof == tree.proof(first, second), f"{first} -> {second}"
        assert ref.verify_consistency(first, second, tree.root(first), tree.root(second), proof)


# (c) the pure stored-hash layer over a dict ---------------------------------------------

DICT_SIZE = 2**17 + 12_345


class DictStore:
    """Stored subtree hashes in a dict, counting reads."""

    def __init__(self) -> None:
        self.hashes: dict[tuple[int, int], bytes] = {}
        self.reads = 0

    def read(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.hashes[(level, index)]

    def append(self, index: int, leaf: bytes) -> None:
        for level, position, value in stored.hashes_to_store(index, leaf, self.read):
            key = (level, position)
            assert key not in self.hashes, f"{key} stored twice"
            self.hashes[key] = value


@dataclass(frozen=True)
class DictLog:
    store: DictStore
    tree: ref.ReferenceTree


@pytest.fixture(scope="module")
def dict_log() -> DictLog:
    leaves = [hashlib.sha256(b"synthetic/%d" % i).digest() for i in range(DICT_SIZE)]
    store = DictStore()
    for index, leaf in enumerate(leaves):
        store.append(index, leaf)
    return DictLog(store, ref.ReferenceTree(leaves))


def _counting(store: DictStore) -> Callable[[int, int], bytes]:
    store.reads = 0
    return store.read


def test_dict_store_holds_exactly_the_complete_subtrees(dict_log: DictLog) -> None:
    levels = range(DICT_SIZE.bit_length())
    expected = {(level, index) for level in levels for index in range(DICT_SIZE >> level)}
    assert set(dict_log.store.hashes) == expected
    tree = dict_log.tree
    for (level, index), value in dict_log.store.hashes.items():
        assert value == tree.mth(index << level, (index + 1) << level), (level, index)


def test_dict_store_roots_match_reference(dict_log: DictLog) -> None:
    store, tree = dict_log.store, dict_log.tree
    rng = random.Random(17)
    sizes = [0, 1, 2, 3, 2**17 - 1, 2**17, 2**17 + 1, DICT_SIZE - 1, DICT_SIZE]
    sizes += [rng.randint(1, DICT_SIZE) for _ in range(20)]
    for size in sizes:
        assert stored.root_at(_counting(store), size) == tree.root(size), f"size {size}"
        # One read per complete subtree of the size: O(log n), as stored.py promises.
        assert store.reads <= size.bit_length(), f"{store.reads} reads for size {size}"


def test_dict_store_proofs_match_reference(dict_log: DictLog) -> None:
    store, tree = dict_log.store, dict_log.tree
    rng = random.Random(12_345)
    budget = 2 * DICT_SIZE.bit_length()  # "at most about 2*log2(n)" reads, says stored.py
    inclusion = [(0, DICT_SIZE), (DICT_SIZE - 1, DICT_SIZE), (2**17, DICT_SIZE)]
    inclusion += [(2**17 - 1, 2**17), (5, 6)]
    for _ in range(10):
        size = rng.randint(1, DICT_SIZE)
        inclusion.append((rng.randrange(size), size))
    for index, size in inclusion:
        proof = stored.inclusion_proof(_counting(store), index, size, DICT_SIZE)
        assert store.reads <= budget, f"{store.reads} reads for leaf {index} of {size}"
        assert proof == tree.path(index, size), f"leaf {index} of {size}"
        assert ref.verify_inclusion(index, size, tree.leaf_hash(index), proof, tree.root(size))
    consistency = [
        (1, DICT_SIZE),
        (2**17, DICT_SIZE),
        (2**17 + 1, DICT_SIZE),
        (DICT_SIZE - 1, DICT_SIZE),
    ]
    for _ in range(10):
        second = rng.randint(1, DICT_SIZE)
        consistency.append((rng.randint(1, second), second))
    for first, second in consistency:
        proof = stored.consistency_proof(_counting(store), first, second, DICT_SIZE)
        assert store.reads <= budget, f"{store.reads} reads for {first} -> {second}"
        assert proof == tree.proof(first, second), f"{first} -> {second}"
        assert ref.verify_consistency(first, second, tree.root(first), tree.root(second), proof)


# (d) requests outside the log -----------------------------------------------------------


def _assert_invalid_request(call: Callable[[], object]) -> None:
    with pytest.raises(InvalidInput) as raised:
        call()
    assert raised.value.code is ErrorCode.INVALID_PROOF_REQUEST


@pytest.mark.parametrize(
    ("index", "size"),
    [
        (SMALL_SIZE, SMALL_SIZE),  # index == size
        (SMALL_SIZE + 1, SMALL_SIZE),
        (5, 5),
        (6, 5),
        (-1, 10),
        (0, 0),  # the empty tree has no leaves
        (0, SMALL_SIZE + 1),  # beyond the log
        (SMALL_SIZE, SMALL_SIZE + 1),
        (0, -1),
    ],
)
def test_inclusion_proof_out_of_range(small: SmallLog, index: int, size: int) -> None:
    _assert_invalid_request(lambda: small.log.inclusion_proof(index, size))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (0, 10),  # first size 0
        (0, SMALL_SIZE),
        (0, 0),
        (11, 10),  # first > second
        (SMALL_SIZE, SMALL_SIZE - 1),
        (1, SMALL_SIZE + 1),  # second beyond the log
        (SMALL_SIZE + 1, SMALL_SIZE + 1),
        (-1, 5),
    ],
)
def test_consistency_proof_out_of_range(small: SmallLog, first: int, second: int) -> None:
    _assert_invalid_request(lambda: small.log.consistency_proof(first, second))


def test_default_size_requests_out_of_range(small: SmallLog) -> None:
    _assert_invalid_request(lambda: small.log.inclusion_proof(SMALL_SIZE))
    _assert_invalid_request(lambda: small.log.consistency_proof(SMALL_SIZE + 1))
    _assert_invalid_request(lambda: small.log.consistency_proof(0))


@pytest.mark.parametrize("size", [SMALL_SIZE + 1, -1])
def test_root_out_of_range(small: SmallLog, size: int) -> None:
    _assert_invalid_request(lambda: small.log.root(size))


def test_empty_log_has_no_proofs(log: LmdbEventLog) -> None:
    assert log.root() == (0, ref.EMPTY_ROOT)
    _assert_invalid_request(lambda: log.inclusion_proof(0))
    _assert_invalid_request(lambda: log.inclusion_proof(0, 0))
    _assert_invalid_request(lambda: log.consistency_proof(0))
    _assert_invalid_request(lambda: log.consistency_proof(0, 0))
    _assert_invalid_request(lambda: log.root(1))


@pytest.mark.parametrize(
    ("index", "size", "log_size"),
    [(8, 8, 8), (0, 0, 8), (0, 9, 8), (-1, 4, 8), (3, 4, 3)],
)
def test_pure_inclusion_proof_out_of_range(index: int, size: int, log_size: int) -> None:
    store = DictStore()
    for position in range(8):
        store.append(position, ref.leaf_hash(b"%d" % position))
    _assert_invalid_request(lambda: stored.inclusion_proof(store.read, index, size, log_size))


@pytest.mark.parametrize(
    ("first", "second", "log_size"),
    [(0, 4, 8), (0, 0, 8), (5, 4, 8), (1, 9, 8), (4, 4, 3)],
)
def test_pure_consistency_proof_out_of_range(first: int, second: int, log_size: int) -> None:
    store = DictStore()
    for position in range(8):
        store.append(position, ref.leaf_hash(b"%d" % position))
    _assert_invalid_request(lambda: stored.consistency_proof(store.read, first, second, log_size))


def test_dict_store_of_eight_leaves() -> None:
    # The helper itself: 8 leaves store 8 + 4 + 2 + 1 subtree hashes and give the RFC root.
    store = DictStore()
    for position in range(8):
        store.append(position, ref.leaf_hash(b"%d" % position))
    assert len(store.hashes) == 15
    assert stored.root_at(store.read, 8) == ref.mth([b"%d" % p for p in range(8)])
