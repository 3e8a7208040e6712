"""Runs every `yaml contract-spec` case in specs/*.md against the implementation.

Each fenced block has a `kind`; each kind has one checker below. A block of an
unknown kind fails, so a spec cannot hold cases that silently never run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from clients.spool import decode_frames, encode_frame
from conftest import json_lines, run_ledgerctl
from ledger.checkpoint import Checkpoint, SignerKey, VerifierKey, parse_checkpoint_body
from ledger.checkpoint.note import open_note, sign_note
from ledger.errors import CATEGORY_INFO, CODE_CATEGORY, ERROR_CLASSES, ErrorCode, LedgerError
from ledger.model import FileDigest, decode_leaf, encode_leaf, envelope_from_object
from ledger.model import input_context_sha as composite_input_sha
from ledger.server.config import DaemonConfig, load_config
from ledger.store import AppendRequest, LmdbEventLog
from ledger.tree import stored
from ledger.tree.hashing import leaf_hash
from ledger.tree.verify import verify_consistency, verify_inclusion
from ledger.wire.status import DETAILS_KEY, error_from_status, status_code_for, status_details

SPECS = Path(__file__).resolve().parent.parent / "specs"
_BLOCK = re.compile(r"^```yaml contract-spec\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Case:
    spec: str
    kind: str
    block: dict[str, Any]
    case: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.spec}:{self.kind}:{self.case.get('name', self.case.get('_index'))}"


def _blocks() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(SPECS.glob("*.md")):
        for match in _BLOCK.finditer(path.read_text(encoding="utf-8")):
            yield path.name, yaml.safe_load(match.group(1))


def _cases() -> list[Case]:
    found = []
    for spec, block in _blocks():
        kind = block["kind"]
        items = block.get("cases") or [block]
        for index, item in enumerate(items):
            found.append(Case(spec, kind, block, {"_index": index, **item}))
    return found


CASES = _cases()


def _expect_error(code: str, action: Callable[[], object]) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        action()
    assert caught.value.code == code, caught.value
    return caught.value


# --- tree -----------------------------------------------------------------------------


def _hash_store(leaves_hex: list[str]) -> stored.HashSource:
    table: dict[tuple[int, int], bytes] = {}

    def read(level: int, index: int) -> bytes:
        return table[(level, index)]

    for index, leaf in enumerate(leaves_hex):
        for level, position, value in stored.hashes_to_store(
            index, leaf_hash(bytes.fromhex(leaf)), read
        ):
            table[(level, position)] = value
    return read


def check_leaf_hash(case: Case) -> None:
    assert leaf_hash(bytes.fromhex(case.case["leaf_hex"])).hex() == case.case["leaf_hash"]


def check_tree_root(case: Case) -> None:
    read = _hash_store(case.block["leaves_hex"])
    assert stored.root_at(read, case.case["size"]).hex() == case.case["root"]


def check_inclusion_proof(case: Case) -> None:
    leaves = case.block["leaves_hex"]
    read = _hash_store(leaves)
    index, size = case.case["index"], case.case["size"]
    proof = stored.inclusion_proof(read, index, size, len(leaves))
    assert [h.hex() for h in proof] == case.case["hashes"]
    verify_inclusion(
        index, size, leaf_hash(bytes.fromhex(leaves[index])), proof, stored.root_at(read, size)
    )


def check_consistency_proof(case: Case) -> None:
    leaves = case.block["leaves_hex"]
    read = _hash_store(leaves)
    first, second = case.case["first"], case.case["second"]
    if "error_code" in case.case:
        _expect_error(
            case.case["error_code"],
            lambda: stored.consistency_proof(read, first, second, len(leaves)),
        )
        return
    proof = stored.consistency_proof(read, first, second, len(leaves))
    assert [h.hex() for h in proof] == case.case["hashes"]
    verify_consistency(
        first, second, stored.root_at(read, first), stored.root_at(read, second), proof
    )


# --- leaves, checkpoints, keys -----------------------------------------------------------


def check_leaf_bytes(case: Case) -> None:
    c = case.case
    envelope = envelope_from_object(c["event"])
    leaf = encode_leaf(c["seq"], c["prev"], c["recorded_at"], envelope)
    assert leaf.decode("utf-8") == c["leaf"]
    assert decode_leaf(leaf).envelope == envelope


def check_checkpoint_body(case: Case) -> None:
    c = case.case
    if "error_code" in c:
        _expect_error(c["error_code"], lambda: parse_checkpoint_body(c["body"]))
        return
    checkpoint = Checkpoint(c["origin"], c["size"], bytes.fromhex(c["root_hex"]))
    assert checkpoint.body() == c["body"]
    assert parse_checkpoint_body(c["body"]) == checkpoint


def check_signed_note(case: Case) -> None:
    c = case.case
    if "note" not in c:
        _expect_error(c["error_code"], lambda: VerifierKey.parse(c["verifier_key"]))
        return
    verifier = VerifierKey.parse(c["verifier_key"])
    if "error_code" in c:
        _expect_error(c["error_code"], lambda: open_note(c["note"], verifier))
        return
    assert open_note(c["note"], verifier) == c["text"]
    signer = SignerKey.parse(c["signer_key"])
    assert signer.verifier() == verifier
    assert sign_note(c["text"], signer) == c["note"]


# --- events -------------------------------------------------------------------------------


def check_input_context_sha(case: Case) -> None:
    files = [FileDigest(**item) for item in case.case["input_files"]]
    assert composite_input_sha(files) == case.case["sha"]


def _apply(base: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(base)
    for dotted, value in (case.get("set") or {}).items():
        *parents, leaf = dotted.split(".")
        target = event
        for part in parents:
            target = target[part]
        target[leaf] = value
    for dotted in case.get("remove") or []:
        *parents, leaf = dotted.split(".")
        target = event
        for part in parents:
            target = target[part]
        target.pop(leaf, None)
    return event


def check_event(case: Case) -> None:
    c = case.case
    event = _apply(case.block["base"], c)
    if c.get("expect") == "ok":
        envelope = envelope_from_object(event)
        assert json.loads(json.dumps(event))["event_id"] == envelope.event_id
        return
    error = _expect_error(c.get("error_code", "INVALID_EVENT"), lambda: envelope_from_object(event))
    if "field" in c:
        assert error.details.get("field") == c["field"], error
    if "message" in c:
        assert c["message"] in error.message, error


def check_append(case: Case, tmp_path: Path) -> None:
    base = case.block["base"]
    with LmdbEventLog(tmp_path / "data") as log:
        for step in case.block["steps"]:
            requests = []
            for item in step["append"]:
                overrides = dict(item)
                expected = overrides.pop("expected_version", None)
                requests.append(
                    AppendRequest(envelope_from_object({**base, **overrides}), expected)
                )
            if "error_code" in step:
                _expect_error(step["error_code"], lambda r=requests: log.append(r))
                continue
            outcome = log.append(requests)
            got = [
                {"seq": r.seq, "stream_version": r.stream_version, "duplicate": r.duplicate}
                for r in outcome.results
            ]
            assert got == step["results"], step["name"]


# --- errors and the CLI -------------------------------------------------------------------


def check_error_categories(case: Case) -> None:
    documented = {c["category"]: (c["exit_code"], c["retryable"]) for c in case.block["categories"]}
    actual = {str(c): (info.exit_code, info.retryable) for c, info in CATEGORY_INFO.items()}
    assert documented == actual


def check_error_codes(case: Case) -> None:
    actual = {str(code): str(category) for code, category in CODE_CATEGORY.items()}
    assert case.block["codes"] == actual


def check_cli(case: Case, tmp_path: Path) -> None:
    c = case.case
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in c["args"]]
    result = run_ledgerctl(*args)
    assert result.returncode == c["exit_code"], result
    (envelope,) = json_lines(result.stdout)
    assert envelope["ok"] is False
    assert envelope["error_code"] == c["error_code"]


# --- gRPC API (grpc-api.md) ---------------------------------------------------------------


def check_grpc_status(case: Case) -> None:
    code = ErrorCode(case.case["code"])
    error = ERROR_CLASSES[CODE_CATEGORY[code]](code, "m", hint="h", details={"k": 1})
    assert status_code_for(error).name == case.case["status"]
    # The details survive the trip through the trailer unchanged.
    back = error_from_status(status_code_for(error), "m", [(DETAILS_KEY, status_details(error))])
    assert (type(back), back.code, back.hint, dict(back.details)) == (
        type(error),
        code,
        "h",
        {"k": 1},
    )


def check_grpc_bare_status(case: Case) -> None:
    error = error_from_status(grpc.StatusCode[case.case["status"]], "m", [])
    assert str(error.code) == case.case["code"]
    assert error.retryable is case.case["retryable"]


def check_daemon_config(case: Case, tmp_path: Path) -> None:
    c = case.case
    config_file = None
    if "file" in c:
        config_file = tmp_path / "ledgerd.toml"
        config_file.write_text(c["file"], encoding="utf-8")

    def load() -> DaemonConfig:
        return load_config(
            config_file=config_file, overrides=c.get("settings", {}), environ=c.get("env", {})
        )

    if "error" in c:
        _expect_error(c["error"], load)
        return
    config = load()
    for key, value in c.get("expect", {}).items():
        assert getattr(config, key) == value, key
    if "fingerprint_json" in c:
        assert config.fingerprint() == hashlib.sha256(c["fingerprint_json"].encode()).hexdigest()


# --- the client spool (spool.md) ------------------------------------------------------------


def check_spool_frames(case: Case) -> None:
    c = case.case
    data = bytes.fromhex("".join(c["hex"].split()))
    if "payload" in c:
        assert encode_frame(c["payload"].encode("utf-8")) == data
    scan = decode_frames(data)
    assert [frame.payload.decode("utf-8") for frame in scan.frames] == c["payloads"]
    assert [damage.to_dict() for damage in scan.damaged] == c["damaged"]
    # Frames tile the input with the damage: every byte is accounted for exactly once.
    spans = sorted(
        [(f.offset, f.size) for f in scan.frames] + [(d.offset, d.length) for d in scan.damaged]
    )
    position = 0
    for offset, size in spans:
        assert offset == position
        position += size
    assert position == len(data)


CHECKERS: dict[str, Callable[..., None]] = {
    "leaf_hash": check_leaf_hash,
    "tree_root": check_tree_root,
    "inclusion_proof": check_inclusion_proof,
    "consistency_proof": check_consistency_proof,
    "leaf_bytes": check_leaf_bytes,
    "checkpoint_body": check_checkpoint_body,
    "signed_note": check_signed_note,
    "input_context_sha": check_input_context_sha,
    "event": check_event,
    "append": check_append,
    "error_categories": check_error_categories,
    "error_codes": check_error_codes,
    "cli": check_cli,
    "grpc_status": check_grpc_status,
    "grpc_bare_status": check_grpc_bare_status,
    "daemon_config": check_daemon_config,
    "spool_frames": check_spool_frames,
}
_NEEDS_TMP = {"append", "cli", "daemon_config"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_contract_case(case: Case, tmp_path: Path) -> None:
    checker = CHECKERS.get(case.kind)
    assert checker is not None, f"{case.spec} has a block of unknown kind {case.kind!r}"
    if case.kind in _NEEDS_TMP:
        checker(case, tmp_path)
    else:
        checker(case)


def test_every_spec_holds_cases_and_every_kind_is_used() -> None:
    specs = {path.name for path in SPECS.glob("*.md")}
    assert {"ledger-format.md", "run-record-v1.md", "errors.md", "spool.md"} <= specs
    assert {c.spec for c in CASES} == specs
    assert {c.kind for c in CASES} == set(CHECKERS)
    assert len(CASES) >= 70, "contract cases went missing"
