"""Verification of RFC 9162 inclusion and consistency proofs (§2.1.3.2 and §2.1.4.2).

These functions trust nothing but their arguments: they are what an auditor
runs against hashes a server handed over.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.errors import ErrorCode, VerificationFailed
from ledger.tree.hashing import HASH_SIZE, node_hash


def _fail(code: ErrorCode, message: str) -> VerificationFailed:
    return VerificationFailed(
        code,
        message,
        hint="the proof, the root or the sizes do not belong together; fetch them again "
        "from the log and, if this persists, treat the log as untrustworthy",
    )


def _check_hash_sizes(proof: Sequence[bytes], code: ErrorCode) -> None:
    for position, item in enumerate(proof):
        if len(item) != HASH_SIZE:
            raise _fail(code, f"proof hash {position} is {len(item)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(
    leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1-5)."""
    code = ErrorCode.INCLUSION_PROOF_INVALID
    if not 0 <= leaf_index < tree_size:
        raise _fail(code, f"leaf index {leaf_index} is outside a tree of size {tree_size}")
    if len(leaf_hash) != HASH_SIZE:
        raise _fail(code, f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
    _check_hash_sizes(proof, code)
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise _fail(code, "inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise _fail(code, "inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise verification_failed unless `proof` shows the leaf at `leaf_index` is under `root`."""
    computed = root_from_inclusion_proof(leaf_index, tree_size, leaf_hash, proof)
    if computed != root:
        raise _fail(
            ErrorCode.INCLUSION_PROOF_INVALID,
            f"inclusion proof for leaf {leaf_index} leads to a different root "
            f"for tree size {tree_size}",
        )


def verify_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Raise verification_failed unless the tree at `second_size` extends the one at `first_size`.

    As in RFC 9162 §2.1.4.2. A first size of 0 is refused: every tree extends
    the empty one, so such a "proof" shows nothing.
    """
    code = ErrorCode.CONSISTENCY_PROOF_INVALID
    if first_size < 0 or second_size < 0:
        raise _fail(code, f"tree sizes cannot be negative ({first_size}, {second_size})")
    if first_size > second_size:
        raise _fail(code, f"first size {first_size} is larger than second size {second_size}")
    if first_size == 0:
        raise _fail(code, "a consistency proof from the empty tree proves nothing")
    if first_size == second_size:
        if proof:
            raise _fail(code, "sizes are equal, so the proof must be empty")
        if first_root != second_root:
            raise _fail(code, f"two different roots for the same tree size {first_size}")
        return
    if not proof:
        raise _fail(code, "a consistency proof between different sizes cannot be empty")
    _check_hash_sizes(proof, code)
    path = list(proof)
    if first_size & (first_size - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise _fail(code, "consistency proof is longer than expected")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise _fail(code, "consistency proof is shorter than expected")
    if fr != first_root:
        raise _fail(code, f"consistency proof does not lead to the root of size {first_size}")
    if sr != second_root:
        raise _fail(code, f"consistency proof does not lead to the root of size {second_size}")
