"""The RFC 6962 proof vectors of transparency-dev/merkle, fed through ledger's verifiers.

Covers `ledger.tree.verify.verify_inclusion` and `verify_consistency` over every
vector file under tests/vectors/rfc6962 (a case marked `wantErr` must raise
VerificationFailed with the matching code; any other case must pass), and checks
the independent reference in tests/rfc6962_reference.py against the same files.
The reference must agree with every vector and must regenerate the happy-path
roots and proofs from the leaves the vectors were generated from. Last, sizes no
vector reaches: negative leaf indexes and tree sizes must be refused too.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

import rfc6962_reference as ref
from ledger.errors import ErrorCode, VerificationFailed
from ledger.tree.verify import verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "rfc6962"
INCLUSION_FILES = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY_FILES = sorted((VECTORS / "consistency").rglob("*.json"))

#: The leaf inputs of transparency-dev/merkle's `testonly` package, from which its
#: `cmd/proofgen` generated the happy-path vectors (entry i of a tree of size n).
VECTOR_LEAVES: tuple[bytes, ...] = tuple(
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
)


def _vector_id(path: Path) -> str:
    return path.relative_to(VECTORS).as_posix()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _proof(data: dict[str, Any]) -> list[bytes]:
    return [_b64(item) for item in data["proof"] or []]


def _json_files_on_disk(kind: str) -> int:
    return sum(name.endswith(".json") for _, _, names in os.walk(VECTORS / kind) for name in names)


# The vector set itself -------------------------------------------------------------------


def test_every_vector_file_on_disk_is_collected() -> None:
    assert len(INCLUSION_FILES) == _json_files_on_disk("inclusion")
    assert len(CONSISTENCY_FILES) == _json_files_on_disk("consistency")
    assert len(INCLUSION_FILES) > 0
    assert len(CONSISTENCY_FILES) > 0
    groups = {path.relative_to(VECTORS).parts[:2] for path in INCLUSION_FILES + CONSISTENCY_FILES}
    for kind, names in (
        ("inclusion", ["0", "1", "2", "3", "4", "additional", "single-entry"]),
        ("consistency", ["0", "1", "2", "3", "4", "additional"]),
    ):
        for name in names:
            assert (kind, name) in groups, f"no vectors collected from {kind}/{name}"


def test_vectors_include_both_accepted_and_rejected_cases() -> None:
    for files in (INCLUSION_FILES, CONSISTENCY_FILES):
        outcomes = [bool(_load(path)["wantErr"]) for path in files]
        assert outcomes.count(False) >= 5
        assert outcomes.count(True) >= 10


# Ledger's verifiers ----------------------------------------------------------------------


@pytest.mark.parametrize("path", INCLUSION_FILES, ids=_vector_id)
def test_ledger_verify_inclusion_matches_vector(path: Path) -> None:
    data = _load(path)
    args = (data["leafIdx"], data["treeSize"], _b64(data["leafHash"]), _proof(data))
    if data["wantErr"]:
        with pytest.raises(VerificationFailed) as raised:
            verify_inclusion(*args, _b64(data["root"]))
        assert raised.value.code is ErrorCode.INCLUSION_PROOF_INVALID
    else:
        assert verify_inclusion(*args, _b64(data["root"])) is None


@pytest.mark.parametrize("path", CONSISTENCY_FILES, ids=_vector_id)
def test_ledger_verify_consistency_matches_vector(path: Path) -> None:
    data = _load(path)
    args = (data["size1"], data["size2"], _b64(data["root1"]), _b64(data["root2"]), _proof(data))
    if data["wantErr"]:
        with pytest.raises(VerificationFailed) as raised:
            verify_consistency(*args)
        assert raised.value.code is ErrorCode.CONSISTENCY_PROOF_INVALID
    else:
        assert verify_consistency(*args) is None


# The reference, checked against the same vectors -----------------------------------------


@pytest.mark.parametrize("path", INCLUSION_FILES, ids=_vector_id)
def test_reference_verify_inclusion_matches_vector(path: Path) -> None:
    data = _load(path)
    accepted = ref.verify_inclusion(
        data["leafIdx"], data["treeSize"], _b64(data["leafHash"]), _proof(data), _b64(data["root"])
    )
    assert accepted is not data["wantErr"]


@pytest.mark.parametrize("path", CONSISTENCY_FILES, ids=_vector_id)
def test_reference_verify_consistency_matches_vector(path: Path) -> None:
    data = _load(path)
    accepted = ref.verify_consistency(
        data["size1"], data["size2"], _b64(data["root1"]), _b64(data["root2"]), _proof(data)
    )
    assert accepted is not data["wantErr"]


HAPPY_INCLUSION = [p for p in INCLUSION_FILES if p.parent.name.isdigit() and p.stem == "happy-path"]
HAPPY_CONSISTENCY = [
    p for p in CONSISTENCY_FILES if p.parent.name.isdigit() and p.stem == "happy-path"
]


def test_happy_path_vectors_are_found() -> None:
    assert len(HAPPY_INCLUSION) == 5
    assert len(HAPPY_CONSISTENCY) == 5


@pytest.mark.parametrize("path", HAPPY_INCLUSION, ids=_vector_id)
def test_reference_regenerates_inclusion_vector(path: Path) -> None:
    data = _load(path)
    size, index = data["treeSize"], data["leafIdx"]
    tree = ref.ReferenceTree.from_entries(VECTOR_LEAVES[:size])
    assert tree.leaf_hash(index) == _b64(data["leafHash"])
    assert tree.root(size) == _b64(data["root"])
    assert tree.path(index, size) == _proof(data)


@pytest.mark.parametrize("path", HAPPY_CONSISTENCY, ids=_vector_id)
def test_reference_regenerates_consistency_vector(path: Path) -> None:
    data = _load(path)
    first, second = data["size1"], data["size2"]
    tree = ref.ReferenceTree.from_entries(VECTOR_LEAVES[:second])
    assert tree.root(first) == _b64(data["root1"])
    assert tree.root(second) == _b64(data["root2"])
    assert tree.proof(first, second) == _proof(data)


def test_reference_hashing_primitives() -> None:
    # SHA-256 of the empty string, and of a single 0x00 byte (the leaf hash of b"").
    assert ref.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert ref.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert ref.mth([]) == ref.EMPTY_ROOT
    assert [ref.largest_power_of_two_below(n) for n in (2, 3, 4, 5, 8, 9)] == [1, 2, 2, 4, 4, 8]


# Sizes no vector reaches ------------------------------------------------------------------

FOUR = ref.ReferenceTree.from_entries([b"a", b"b", b"c", b"d"])


@pytest.mark.parametrize(("index", "size"), [(-1, 4), (0, -1), (-1, -1)])
def test_verify_inclusion_rejects_negative_index_or_size(index: int, size: int) -> None:
    path = FOUR.path(3, 4)
    with pytest.raises(VerificationFailed) as raised:
        verify_inclusion(index, size, FOUR.leaf_hash(3), path, FOUR.root(4))
    assert raised.value.code is ErrorCode.INCLUSION_PROOF_INVALID
    assert not ref.verify_inclusion(index, size, FOUR.leaf_hash(3), path, FOUR.root(4))


CONSISTENCY_ARGS = ("first", "second", "first_root", "second_root", "proof")
NEGATIVE_CONSISTENCY = [
    # A genuine 3 -> 4 proof and roots, presented as a proof from size -1.
    pytest.param(-1, 4, FOUR.root(3), FOUR.root(4), FOUR.proof(3, 4), id="first=-1"),
    pytest.param(-1, -1, FOUR.root(1), FOUR.root(1), [], id="both=-1"),
]


@pytest.mark.parametrize(CONSISTENCY_ARGS, NEGATIVE_CONSISTENCY)
def test_reference_rejects_negative_consistency_sizes(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> None:
    assert not ref.verify_consistency(first, second, first_root, second_root, proof)


@pytest.mark.parametrize(CONSISTENCY_ARGS, NEGATIVE_CONSISTENCY)
def test_ledger_verify_consistency_rejects_negative_sizes(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> None:
    with pytest.raises(VerificationFailed) as raised:
        verify_consistency(first, second, first_root, second_root, proof)
    assert raised.value.code is ErrorCode.CONSISTENCY_PROOF_INVALID
