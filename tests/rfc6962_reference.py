"""An independent RFC 6962 §2.1 Merkle tree, written from the RFC's text for the tests.

Nothing here is shared with `ledger.tree`: the definitions below transcribe the
recursive equations of RFC 6962 §2.1 (Merkle Tree Hash), §2.1.1 (audit paths,
PATH) and §2.1.2 (consistency proofs, PROOF and SUBPROOF) as directly as
possible, so that the tests compare ledger's stored-hash algorithms against
the specification rather than against a second copy of themselves.

- ``MTH(D[n])``: the empty tree hashes to SHA-256 of the empty string, a single
  entry to SHA-256(0x00 || d0), and a list of n > 1 entries to
  SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two < n.
- ``PATH(m, D[n])``: empty for n = 1; otherwise PATH(m, D[0:k]) : MTH(D[k:n])
  when m < k, and PATH(m - k, D[k:n]) : MTH(D[0:k]) when m >= k.
- ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)``, where SUBPROOF(m, D[m], true) is
  empty, SUBPROOF(m, D[m], false) is {MTH(D[m])}, and for m < n
  SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) when m <= k, otherwise
  SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).

The verifiers do not follow RFC 9162's iterative bit-twiddling algorithm.
They walk the same recursion as the generators, taking proof hashes from the
end of the proof (the generators append the hash for the top split last).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "ProofShapeError",
    "ReferenceTree",
    "consistency_roots",
    "largest_power_of_two_below",
    "leaf_hash",
    "mth",
    "node_hash",
    "root_from_path",
    "verify_consistency",
    "verify_inclusion",
]

#: The size of every hash in the tree: a SHA-256 digest.
HASH_SIZE = 32
#: MTH({}) = SHA-256().
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d0}) = SHA-256(0x00 || d0)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962 §2.1: the largest power of two smaller than n, for n > 1.

    Found by doubling rather than bit tricks, to stay close to the definition.
    """
    if n < 2:
        raise ValueError(f"k is only defined for n > 1, not {n}")
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class ProofShapeError(ValueError):
    """A proof has the wrong number of hashes for the sizes it claims to cover."""


class ReferenceTree:
    """The RFC 6962 tree over a fixed list of leaf hashes, with memoised subtree hashes.

    ``MTH(D[lo:hi])`` is cached per (lo, hi): complete subtrees are shared by
    every tree size, so roots and proofs for many sizes cost little more than
    one pass over the leaves.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._leaf_hashes = list(leaf_hashes)
        self._memo: dict[tuple[int, int], bytes] = {}

    @classmethod
    def from_entries(cls, entries: Iterable[bytes]) -> ReferenceTree:
        """A tree over raw leaf entries (the d_i of the RFC), hashed here with `leaf_hash`."""
        return cls([leaf_hash(entry) for entry in entries])

    def __len__(self) -> int:
        return len(self._leaf_hashes)

    def leaf_hash(self, index: int) -> bytes:
        """MTH({d_index}), the hash of one leaf."""
        return self._leaf_hashes[index]

    def mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for 0 <= lo <= hi <= len(self)."""
        if not 0 <= lo <= hi <= len(self._leaf_hashes):
            raise ValueError(f"range [{lo}, {hi}) is not inside {len(self._leaf_hashes)} leaves")
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self._leaf_hashes[lo]
        key = (lo, hi)
        cached = self._memo.get(key)
        if cached is None:
            k = largest_power_of_two_below(n)
            cached = node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))
            self._memo[key] = cached
        return cached

    def root(self, size: int) -> bytes:
        """MTH(D[0:size]), the tree head of the first `size` leaves."""
        return self.mth(0, size)

    def path(self, m: int, size: int) -> list[bytes]:
        """PATH(m, D[0:size]), the audit path of leaf m (RFC 6962 §2.1.1)."""
        if not 0 <= m < size <= len(self._leaf_hashes):
            raise ValueError(f"PATH({m}, D[{size}]) is undefined")
        return self._path(m, 0, size)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        # PATH(m, D[lo:hi]) with m relative to lo.
        n = hi - lo
        if n == 1:
            return []
        k = largest_power_of_two_below(n)
        if m < k:
            return [*self._path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def proof(self, m: int, size: int) -> list[bytes]:
        """PROOF(m, D[0:size]) = SUBPROOF(m, D[0:size], true) (RFC 6962 §2.1.2).

        Defined by the RFC for 0 < m < n; m = n is accepted too and yields the
        empty proof, as SUBPROOF(m, D[m], true) does.
        """
        if not 0 < m <= size <= len(self._leaf_hashes):
            raise ValueError(f"PROOF({m}, D[{size}]) is undefined")
        return self._subproof(m, 0, size, complete=True)

    def _subproof(self, m: int, lo: int, hi: int, *, complete: bool) -> list[bytes]:
        # SUBPROOF(m, D[lo:hi], b) with m relative to lo.
        n = hi - lo
        if m == n:
            return [] if complete else [self.mth(lo, hi)]
        k = largest_power_of_two_below(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, complete=complete), self.mth(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, complete=False), self.mth(lo, lo + k)]


def mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of raw leaf entries (no memo needed by the caller)."""
    return ReferenceTree.from_entries(entries).root(len(entries))


# Verifiers ------------------------------------------------------------------------------


def _check_hash_sizes(hashes: Iterable[bytes]) -> None:
    for position, item in enumerate(hashes):
        if len(item) != HASH_SIZE:
            raise ProofShapeError(f"hash {position} is {len(item)} bytes, not {HASH_SIZE}")


def root_from_path(m: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root that PATH(m, D[size]) = `path` implies for a leaf hashing to `leaf`.

    Walks the PATH recursion from the top: the last hash of the path is the
    sibling at the top split, the rest is the path inside the half holding m.
    Raises ProofShapeError if the path is too short or too long for the sizes,
    or if the leaf hash or a path hash is not a SHA-256 digest.
    """
    if not 0 <= m < size:
        raise ProofShapeError(f"leaf {m} is not in a tree of size {size}")
    _check_hash_sizes([leaf, *path])
    return _root_from_path(m, size, leaf, list(path))


def _root_from_path(m: int, n: int, leaf: bytes, path: list[bytes]) -> bytes:
    if n == 1:
        if path:
            raise ProofShapeError(f"{len(path)} hashes left over at a single leaf")
        return leaf
    if not path:
        raise ProofShapeError(f"path ran out inside a subtree of {n} leaves")
    k = largest_power_of_two_below(n)
    sibling, rest = path[-1], path[:-1]
    if m < k:
        return node_hash(_root_from_path(m, k, leaf, rest), sibling)
    return node_hash(sibling, _root_from_path(m - k, n - k, leaf, rest))


def verify_inclusion(m: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """Whether `path` proves that the leaf hashing to `leaf` is entry m of the tree `root`."""
    try:
        return root_from_path(m, size, leaf, path) == root
    except ProofShapeError:
        return False


def consistency_roots(
    m: int, size: int, first_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """(MTH(D[m]), MTH(D[size])) as implied by PROOF(m, D[size]) = `proof`.

    Walks the SUBPROOF recursion from the top. At each node it returns the hash
    of the node's first m leaves (the part the old tree covers) and the hash
    of the whole node. The one node SUBPROOF leaves out with b = true is
    D[0:m] itself, whose hash the verifier already holds: `first_root`.
    Raises ProofShapeError for a proof of the wrong length, a proof hash that
    is not a SHA-256 digest, or sizes outside 0 < m <= size.
    """
    if not 0 < m <= size:
        raise ProofShapeError(f"no consistency proof from size {m} to size {size}")
    _check_hash_sizes(proof)
    return _subproof_roots(m, size, list(proof), complete=True, first_root=first_root)


def _subproof_roots(
    m: int, n: int, proof: list[bytes], *, complete: bool, first_root: bytes
) -> tuple[bytes, bytes]:
    if m == n:
        if complete:
            if proof:
                raise ProofShapeError(f"{len(proof)} hashes left over at the old tree")
            return first_root, first_root
        if len(proof) != 1:
            raise ProofShapeError(f"expected one hash for a complete old subtree, {len(proof)}")
        return proof[0], proof[0]
    if not proof:
        raise ProofShapeError(f"proof ran out inside a subtree of {n} leaves")
    k = largest_power_of_two_below(n)
    sibling, rest = proof[-1], proof[:-1]
    if m <= k:
        old, new = _subproof_roots(m, k, rest, complete=complete, first_root=first_root)
        return old, node_hash(new, sibling)
    old, new = _subproof_roots(m - k, n - k, rest, complete=False, first_root=first_root)
    return node_hash(sibling, old), node_hash(sibling, new)


def verify_consistency(
    m: int, size: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows that the tree `second_root` of `size` leaves extends `first_root`.

    Equal sizes are consistent exactly when the proof is empty and the roots
    are equal. A first size of 0 is refused, as PROOF is only defined for m > 0.
    """
    if m == size and m > 0:
        return not proof and first_root == second_root
    try:
        old, new = consistency_roots(m, size, first_root, proof)
    except ProofShapeError:
        return False
    return old == first_root and new == second_root
