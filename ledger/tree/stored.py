"""Roots and proofs from stored subtree hashes, in O(log n) hash reads.

Every complete, aligned subtree gets its hash stored once, when its last leaf is
appended: level 0 holds leaf hashes, level L index i covers leaves
[i*2^L, (i+1)*2^L). This is the "stored hashes" layout of Go's sumdb/tlog, keyed
by (level, index). Any range's hash then folds at most about 2*log2(n) stored
hashes, so roots and proofs at any tree size cost O(log n) reads.

The algorithms work over a `HashSource`, so one implementation serves the LMDB
store, tests and benchmarks alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ledger.errors import ErrorCode, InvalidInput
from ledger.tree.hashing import EMPTY_ROOT, largest_power_of_two_below, node_hash


class HashSource(Protocol):
    """Reads the stored hash of the complete subtree at (level, index)."""

    def __call__(self, level: int, index: int) -> bytes: ...


def hashes_to_store(index: int, leaf_hash: bytes, read: HashSource) -> list[tuple[int, int, bytes]]:
    """The (level, index, hash) entries to store when the leaf at `index` is appended.

    The leaf itself, then each subtree that this leaf completes, bottom up.
    """
    entries = [(0, index, leaf_hash)]
    level, position, current = 0, index, leaf_hash
    while position & 1:
        current = node_hash(read(level, position - 1), current)
        level += 1
        position >>= 1
        entries.append((level, position, current))
    return entries


def range_hash(read: HashSource, lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) of RFC 6962 for 0 <= lo < hi, with `lo` aligned as the tree splits it."""
    n = hi - lo
    if n & (n - 1) == 0 and lo % n == 0:
        return read(n.bit_length() - 1, lo // n)
    k = largest_power_of_two_below(n)
    return node_hash(range_hash(read, lo, lo + k), range_hash(read, lo + k, hi))


def root_at(read: HashSource, size: int) -> bytes:
    """The tree head hash at `size` (the empty root for 0)."""
    return EMPTY_ROOT if size == 0 else range_hash(read, 0, size)


def _path(read: HashSource, m: int, lo: int, hi: int) -> list[bytes]:
    # RFC 6962 §2.1.1 PATH(m, D[lo:hi]); m is relative to lo.
    n = hi - lo
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*_path(read, m, lo, lo + k), range_hash(read, lo + k, hi)]
    return [*_path(read, m - k, lo + k, hi), range_hash(read, lo, lo + k)]


def _subproof(read: HashSource, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
    # RFC 6962 §2.1.2 SUBPROOF(m, D[lo:hi], b).
    n = hi - lo
    if m == n:
        return [] if complete else [range_hash(read, lo, hi)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(read, m, lo, lo + k, complete), range_hash(read, lo + k, hi)]
    return [*_subproof(read, m - k, lo + k, hi, False), range_hash(read, lo, lo + k)]


def _bad_request(message: str, hint: str) -> InvalidInput:
    return InvalidInput(ErrorCode.INVALID_PROOF_REQUEST, message, hint=hint)


def inclusion_proof(read: HashSource, index: int, size: int, log_size: int) -> list[bytes]:
    """The audit path for leaf `index` in the tree of `size` leaves."""
    if not 0 < size <= log_size:
        raise _bad_request(
            f"tree size {size} is not between 1 and the log size {log_size}",
            "ask for a tree size the log has reached",
        )
    if not 0 <= index < size:
        raise _bad_request(
            f"leaf {index} is not in a tree of size {size}",
            "the leaf index must be below the tree size",
        )
    return _path(read, index, 0, size)


def consistency_proof(read: HashSource, first: int, second: int, log_size: int) -> list[bytes]:
    """The proof that the tree at `second` extends the tree at `first`."""
    if not 0 < first <= second <= log_size:
        raise _bad_request(
            f"sizes {first} -> {second} must satisfy 0 < first <= second <= log size {log_size}",
            "every tree extends the empty one, so the first size must be at least 1",
        )
    if first == second:
        return []
    return _subproof(read, first, 0, second, True)


class CompactRange:
    """The roots of the perfect subtrees covering [0, size): a tree grown one leaf at a time.

    Used to recompute every stored subtree hash from leaves alone, in O(log n) memory.
    """

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    def append(
        self, leaf_hash: bytes, on_complete: Callable[[int, int, bytes], None] | None = None
    ) -> None:
        """Add a leaf; `on_complete(level, index, hash)` sees every subtree it completes."""
        index = self._size
        current, level, position = leaf_hash, 0, index
        if on_complete is not None:
            on_complete(0, index, current)
        while position & 1:
            current = node_hash(self._peaks.pop(), current)
            level += 1
            position >>= 1
            if on_complete is not None:
                on_complete(level, position, current)
        self._peaks.append(current)
        self._size += 1

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        root = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            root = node_hash(peak, root)
        return root
