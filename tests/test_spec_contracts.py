"""Runs every `yaml contract-spec` case in specs/*.md against the implementation.

Each fenced block has a `kind`; each kind has one checker below. A block of an
unknown kind fails, so a spec cannot hold cases that silently never run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

import projection_cases as pc
from clients.spool import decode_frames, encode_frame
from conftest import json_lines, run_ledgerctl
from contract_kinds import discover
from ledger.checkpoint import Checkpoint, SignerKey, VerifierKey, parse_checkpoint_body
from ledger.checkpoint.note import open_note, sign_note
from ledger.clock import FixedClock, format_utc
from ledger.errors import CATEGORY_INFO, CODE_CATEGORY, ERROR_CLASSES, ErrorCode, LedgerError
from ledger.model import FileDigest, decode_leaf, encode_leaf, envelope_from_object
from ledger.model import input_context_sha as composite_input_sha
from ledger.projections import (
    ProjectionEngine,
    ProjectionQueries,
    default_projections,
    subjects,
    verdict_rules,
)
from ledger.projections.base import Projection
from ledger.projections.replay import replay_failure, replay_report
from ledger.projections.state import MemoryState, state_digest
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


# --- verdicts (verdicts.md) ------------------------------------------------------------------

_VERDICT_FIELDS = ("production_readiness", "correctness", "isolation", "blast_radius")
_RULE_TABLES = {
    "production_readiness": verdict_rules.READINESS,
    "correctness": verdict_rules.CORRECTNESS,
    "isolation": verdict_rules.ISOLATION,
    "blast_radius": verdict_rules.BLAST_RADIUS,
}
_VERDICT_EXPECT = {
    *_VERDICT_FIELDS,
    "required_fixes_before_merge",
    "rules",
    "explain",
    "fixes",
    "findings",
    "waivers",
    "finding_members",
    "waiver_members",
    "conflicting_seqs",
    "known",
    "last_seq",
    "as_of",
    "log_position",
}
#: Every status a waiver can have (verdicts.md §1.1).
_WAIVER_STATUSES = {"active", "expired", "revoked", "superseded", "not_yet_granted"}


def _facts_matching_every_rule() -> verdict_rules._Facts:
    """Findings of every kind and status, an unsafe patch of every edit, every failing probe."""
    findings = []
    for severity in ("P0", "P1", "P2", "P3"):
        for category in ("correctness", "isolation", "security", "side_effects", "performance"):
            for evidence in ("verified", "hypothesis"):
                for status in ("open", "waived"):
                    n = len(findings)
                    row = subjects.FindingRow(
                        finding_id=f"F-{n}",
                        subject="s",
                        severity=severity,
                        evidence=evidence,
                        category=category,
                        file=f"f{n}.py",
                        line=1,
                        what="w",
                        why="y",
                        when="",
                        proposed_fix="",
                        rule_id="R",
                        stage="final",
                        run_id=pc.RUN_ID,
                        producer="p",
                        first_seq=n,
                        reported_seq=n,
                        reports=1,
                        reopened=0,
                        reopened_seq=None,
                        resolution=None,
                        conflicting_seqs=(),
                    )
                    findings.append(verdict_rules.JudgedFinding(row, status, ()))
    edits = (
        "spec_modification",
        "suppression_insertion",
        "pack_disable",
        "severity_downgrade",
        "allowlist_weaken",
        "auth_bypass",
        "gate_config_weaken",
    )
    patch = subjects.PatchRow(
        seq=0,
        event_id="p",
        producer="p",
        verdict="UNSAFE_PATCH_ATTEMPT",
        automated=True,
        diff_sha256="0" * 64,
        edits=tuple(subjects.EditRow(t, "high", "a.py", 1, "e") for t in edits),
        summary="",
        allowed=(),
    )
    probes = tuple(
        subjects.ProbeRow(
            seq=i,
            probe=f"p{i}",
            command="c",
            status=s,
            exit_code=None,
            duration_ms=0,
            summary="",
            producer="p",
        )
        for i, s in enumerate(("failed", "timed_out", "error"))
    )
    return verdict_rules._Facts(findings=tuple(findings), patch=patch, probes=probes)


def check_verdict_rules(case: Case) -> None:
    facts = _facts_matching_every_rule()
    actual = {}
    for field, table in _RULE_TABLES.items():
        rows = []
        for value, rule in table:
            because = rule(facts)
            assert because is not None, f"{field}: a rule matched nothing"
            rows.append([because.rule, value])
        default_value, default_rule, _ = verdict_rules.DEFAULTS[field]
        actual[field] = [*rows, [default_rule, default_value]]
    assert case.block["tables"] == actual
    # Every rule id decides at least one verdict case.
    decided = {
        rule
        for c in CASES
        if c.kind == "verdict"
        for rule in c.case["expect"].get("rules", {}).values()
    }
    documented = {rule for table in case.block["tables"].values() for rule, _ in table}
    assert documented - decided == set(), "rules without a deciding case"


def check_verdict(case: Case, tmp_path: Path) -> None:
    c = case.case
    expect = c["expect"]
    assert set(expect) <= _VERDICT_EXPECT, set(expect) - _VERDICT_EXPECT
    at = pc.parse_time(c.get("at", case.block.get("at")))
    subject = c.get("subject", pc.SUBJECT)
    clock = c.get("clock", pc.CLOCK)
    with pc.ledger(tmp_path / "data", c["events"], clock=clock) as ledger:
        ledger.assert_replay_agrees()
        current = ledger.queries.verdict(subject, at=at)
        assert (current["log_position"], current["as_of"]) == (ledger.log.size(), None)
        # As of the last seq, the state folded again from seq 0 gives the same verdict.
        replayed = ledger.queries.verdict(subject, at=at, as_of=ledger.last_seq)
        assert replayed["as_of"] == ledger.last_seq
        assert pc.without(replayed, "as_of") == pc.without(current, "as_of")
        doc = current
        if "as_of" in c:
            doc = ledger.queries.verdict(subject, at=at, as_of=c["as_of"])
    assert doc["evaluated_at"] == format_utc(at)
    explanation = doc["explanation"]
    for field in _VERDICT_FIELDS:
        assert explanation[field]["value"] == doc["verdict"][field]
    fixes = explanation["required_fixes_before_merge"]
    assert [fix["text"] for fix in fixes] == doc["verdict"]["required_fixes_before_merge"]
    found = {f["finding_id"]: f for group in doc["findings"].values() for f in group}
    for finding in found.values():
        assert {w["status"] for w in finding["waivers"]} <= _WAIVER_STATUSES, finding
    for key, value in expect.items():
        if key in (*_VERDICT_FIELDS, "required_fixes_before_merge"):
            assert doc["verdict"][key] == value, key
        elif key == "rules":
            assert {f: explanation[f]["rule"] for f in value} == value
        elif key == "explain":
            for field, members in value.items():
                pc.assert_subset(members, explanation[field], f"explanation.{field}")
        elif key == "fixes":
            assert len(fixes) == len(value), fixes
            for index, (wanted, got) in enumerate(zip(value, fixes, strict=True)):
                pc.assert_subset(wanted, got, f"required_fixes_before_merge[{index}]")
        elif key == "findings":
            assert {i: found[i]["status"] for i in value if i in found} == value, found.keys()
        elif key == "conflicting_seqs":
            assert {i: found[i]["conflicting_seqs"] for i in value} == value
        elif key == "waivers":  # every waiver of each named finding, with its status
            got = {i: {w["waiver_id"]: w["status"] for w in found[i]["waivers"]} for i in value}
            assert got == value
        elif key == "finding_members":
            for finding_id, members in value.items():
                pc.assert_subset(members, found[finding_id], finding_id)
        elif key == "waiver_members":
            for finding_id, by_waiver in value.items():
                waivers = {w["waiver_id"]: w for w in found[finding_id]["waivers"]}
                for waiver_id, members in by_waiver.items():
                    pc.assert_subset(members, waivers[waiver_id], f"{finding_id}.{waiver_id}")
        else:
            assert doc[key] == value, key


# --- source health (source-health.md) ---------------------------------------------------------

_HEALTH_EXPECT = {
    "status",
    "score",
    "codes",
    "details",
    "blocks",
    "listed",
    "tier",
    "registered",
    "expected_interval_s",
    "failure_budget",
    "window",
    "last_seen_at",
    "last_ok_at",
    "last_failure_at",
    "last_error_code",
    "consecutive_failures",
    "suppressed_by",
    "suppressions",
    "error_code",
}
#: What `status_now` says of an addition, and of a lift (projections.md §6.4).
_SUPPRESSION_STATUSES = {"active", "expired", "lifted", "replaced", "not_yet_added", "lift"}


def check_source_health(case: Case, tmp_path: Path) -> None:
    c = case.case
    expect = c["expect"]
    assert set(expect) <= _HEALTH_EXPECT, set(expect) - _HEALTH_EXPECT
    at = pc.parse_time(c.get("at", case.block.get("at")))
    source = c.get("source", pc.SOURCE)
    clock = c.get("clock", pc.CLOCK)
    with pc.ledger(tmp_path / "data", c["events"], clock=clock) as ledger:
        ledger.assert_replay_agrees()
        queries = ledger.queries
        if "error_code" in expect:
            _expect_error(expect["error_code"], lambda: queries.health(at=at, source=source))
            return
        doc = queries.health(at=at, source=source)
        replayed = queries.health(at=at, source=source, as_of=ledger.last_seq)
        assert pc.without(replayed, "as_of") == pc.without(doc, "as_of")
        whole = queries.health(at=at)
        view = queries.suppressions(source, at=at)
        view_replayed = queries.suppressions(source, at=at, as_of=ledger.last_seq)
        assert pc.without(view_replayed, "as_of") == pc.without(view, "as_of")
    (entry,) = doc["sources"]
    # The suppression view and the health entry agree on the active suppression.
    assert view["active"] == (entry["suppressed_by"] and entry["suppressed_by"]["suppression_id"])
    for item in view["history"]:
        assert item["status_now"] in _SUPPRESSION_STATUSES, item
        assert (item["status_now"] == "lift") is (item["action"] == "lifted"), item
    assert entry in whole["sources"]
    listed = (
        "blocking"
        if source in whole["blocking"]
        else "warning"
        if source in whole["warnings"]
        else "none"
    )
    assert (listed == "blocking") is (entry["blocks"] is not None)
    for key, value in expect.items():
        if key == "codes":
            assert [code["code"] for code in entry["codes"]] == value
        elif key == "details":
            by_code = {code["code"]: code["details"] for code in entry["codes"]}
            for code, members in value.items():
                pc.assert_subset(members, by_code[code], f"{code}.details")
        elif key == "listed":
            assert listed == value
        elif key == "suppressed_by":
            suppression = entry["suppressed_by"]
            assert (suppression and suppression["suppression_id"]) == value
        elif key == "suppressions":  # the suppression view's history, entry by entry
            history = view["history"]
            assert len(history) == len(value), history
            for index, (wanted, got) in enumerate(zip(value, history, strict=True)):
                pc.assert_subset(wanted, got, f"history[{index}]")
        else:
            assert entry[key] == value, key


# --- projections (projections.md) -------------------------------------------------------------


def _digests(engine: ProjectionEngine) -> dict[str, str]:
    return {status.name: status.digest for status in engine.status()}


def _bumped(name: str) -> list[Projection]:
    """The default projections, with `name`'s fold one version newer."""
    found: list[Projection] = []
    for projection in default_projections():
        if projection.name == name:
            newer = type("Newer", (type(projection),), {"version": projection.version + 1})
            projection = newer()
        found.append(projection)
    return found


def _check_history(
    queries: ProjectionQueries, events: list[dict[str, Any]], as_of: int, error: str | None
) -> None:
    """`history` (read from the log, not a projection) takes `as_of` like the projections."""
    streams = {pc.expand(event, index)["stream"]: None for index, event in enumerate(events)}
    for stream in streams or ["cases/finding.reported"]:
        if error is not None:
            refused = _expect_error(error, lambda s=stream: queries.history(s, as_of=as_of))
            assert dict(refused.details) == {"as_of": as_of, "log_size": len(events)}
            continue
        doc = queries.history(stream, as_of=as_of)
        assert (doc["log_position"], doc["as_of"]) == (as_of + 1, as_of)
        seqs = [
            index
            for index, event in enumerate(events)
            if index <= as_of and pc.expand(event, index)["stream"] == stream
        ]
        assert [(e["seq"], e["version"]) for e in doc["events"]] == [
            (seq, version) for version, seq in enumerate(seqs, 1)
        ]
        assert queries.history(stream)["log_position"] == len(events)


def check_projection_positions(case: Case, tmp_path: Path) -> None:
    c = case.case
    expect = c["expect"]
    events = pc.unroll(c["events"])
    error = expect.get("error_code")
    with pc.open_log(tmp_path / "data", events) as log:
        with ProjectionEngine(log) as engine:
            everywhere = dict.fromkeys(engine.names, expect["positions"])
            assert engine.catch_up() == everywhere
            assert engine.positions() == everywhere
            for status in engine.status():
                assert (status.position, status.log_size, status.lag) == (
                    len(events),
                    len(events),
                    0,
                )
            before = _digests(engine)
            # Folded event by event, one catch-up each, the state is the same.
            with (
                LmdbEventLog(
                    tmp_path / "stepwise", clock=FixedClock(pc.parse_time(pc.CLOCK))
                ) as one,
                ProjectionEngine(one) as stepwise,
            ):
                for index, event in enumerate(events):
                    pc.append(one, event, index)
                    assert stepwise.catch_up() == dict.fromkeys(engine.names, index + 1)
                assert _digests(stepwise) == before
            if "as_of" in c:
                as_of = c["as_of"]
                _check_history(ProjectionQueries(engine, log), events, as_of, error)
                if error is not None:
                    for name in engine.names:
                        _expect_error(error, lambda n=name: engine.replay(n, as_of))
                    return
                replayed = {name: engine.replay(name, as_of) for name in engine.names}
                assert {v.position for v in replayed.values()} == {expect["log_position"]}
                with (
                    pc.open_log(tmp_path / "prefix", events[: as_of + 1]) as prefix,
                    ProjectionEngine(prefix) as folded,
                ):
                    folded.catch_up()
                    assert _digests(folded) == {
                        name: state_digest(view.state) for name, view in replayed.items()
                    }
            if "rebuild" in c:
                if error is not None:
                    _expect_error(error, lambda: engine.rebuild(c["rebuild"]))
                else:
                    assert engine.rebuild(c["rebuild"]) == everywhere
                assert engine.positions() == everywhere
                assert _digests(engine) == before
        if "bump" in c:
            with ProjectionEngine(log, _bumped(c["bump"])) as engine:
                assert engine.positions() == {**everywhere, c["bump"]: 0}
                empty = hashlib.sha256(b"ledgerd-projection-state/1\n").hexdigest()
                assert _digests(engine) == {**before, c["bump"]: empty}
                assert engine.catch_up() == everywhere
                assert _digests(engine) == before


def check_state_digest(case: Case) -> None:
    c = case.case
    state = MemoryState()
    rows = [(key.encode("utf-8"), bytes.fromhex(value)) for key, value in c["rows"]]
    for key, value in rows:
        state.put(key, value)
    # The definition, computed here independently of the code.
    digest = hashlib.sha256(b"ledgerd-projection-state/1\n")
    for key, value in sorted(rows):
        digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(8, "big") + value)
    assert digest.hexdigest() == c["digest"]
    assert state_digest(state) == c["digest"]


def _write_tree(root: Path, tree: dict[str, Any]) -> list[Path]:
    """Files (text), directories ({dir: {...}}), symbolic links ({symlink: target}) and
    named pipes ({fifo: true}); returns the named pipes made."""
    fifos = []
    for name, item in tree.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(item, str):
            path.write_text(item, encoding="utf-8")
        elif "symlink" in item:
            path.symlink_to(item["symlink"])
        elif "fifo" in item:
            os.mkfifo(path)
            fifos.append(path)
        else:
            path.mkdir(exist_ok=True)
            fifos.extend(_write_tree(path, item["dir"]))
    return fifos


@contextmanager
def _unblocking(fifos: list[Path], after_s: float = 5.0) -> Iterator[list[Path]]:
    """While the block runs, a watchdog that releases anyone stuck opening `fifos`.

    Opening a named pipe for reading waits for a writer. Should the code under test
    ever do that, the watchdog opens the pipe for writing after `after_s` (and again
    every `after_s`), so the open returns and the case fails instead of hanging; the
    pipes it had to release are listed in the yielded list.
    """
    released: list[Path] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(after_s):
            for fifo in fifos:
                try:  # non-blocking: fails with ENXIO unless someone has it open to read
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    continue
                released.append(fifo)

    watchdog = threading.Thread(target=watch, daemon=True)
    if fifos:
        watchdog.start()
    try:
        yield released
    finally:
        done.set()
        if fifos:
            watchdog.join()


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_replay(case: Case, tmp_path: Path) -> None:
    c = case.case
    expect = c["expect"]
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    _write_tree(tmp_path, c.get("outside", {}))
    fifos = _write_tree(workspace, c.get("workspace", {}))
    recorded = [{"path": p, "sha256": _sha256_text(text)} for p, text in c["recorded"].items()]
    run = {"type": "run.recorded", "mode": c["run_mode"], "input_files": recorded}
    with pc.ledger(tmp_path / "data", [run]) as ledger:
        (listed,) = ledger.queries.runs()["runs"]
        document = ledger.queries.replay(listed["run_id"])
    if "workspace_path" in c:  # a workspace that is not a directory
        target = tmp_path / c["workspace_path"]
        _expect_error(expect["error_code"], lambda: replay_report(document, target, c.get("mode")))
        return
    with _unblocking(fifos) as released:
        report = replay_report(document, workspace, c.get("mode"))
    assert released == [], "the replay waited on a named pipe"
    assert pc.without(report, "replay") == document
    replay = report["replay"]
    assert replay["workspace"] == str(workspace)
    inputs = replay["inputs"]
    assert [[item["path"], item["status"]] for item in inputs] == expect["inputs"]
    for item in inputs:
        assert item["recorded_sha256"] == _sha256_text(c["recorded"][item["path"]])
        current = c.get("workspace", {}).get(item["path"])
        if item["status"] == "missing":
            assert item["current_sha256"] is None
        elif isinstance(current, str):
            assert item["current_sha256"] == _sha256_text(current)
        assert ("reason" in item) is (item["status"] == "missing")
    assert {i["path"]: i["reason"] for i in inputs if "reason" in i} == expect.get("reasons", {})
    summary = {
        status: sum(1 for _, s in expect["inputs"] if s == status)
        for status in ("match", "drift", "missing")
    }
    assert replay["summary"] == summary
    assert replay["mode"] == expect["mode"]
    assert replay["ok"] is expect["ok"]
    assert replay["warnings"] == [f"{p}: {s}" for p, s in expect["inputs"] if s != "match"]
    failure = replay_failure(report)
    if expect["error_code"] is None:
        assert failure is None
        return
    assert failure is not None
    assert (failure.code, CATEGORY_INFO[failure.category].exit_code) == (expect["error_code"], 3)
    assert dict(failure.details) == {"drift": summary["drift"], "missing": summary["missing"]}


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
    "verdict_rules": check_verdict_rules,
    "verdict": check_verdict,
    "source_health": check_source_health,
    "projection_positions": check_projection_positions,
    "state_digest": check_state_digest,
    "replay": check_replay,
}
_NEEDS_TMP = {
    "append",
    "cli",
    "daemon_config",
    "verdict",
    "source_health",
    "projection_positions",
    "replay",
}
_EXTRA_CHECKERS, _EXTRA_NEEDS_TMP = discover()
assert not set(_EXTRA_CHECKERS) & set(CHECKERS), "a contract kind is defined twice"
CHECKERS.update(_EXTRA_CHECKERS)
_NEEDS_TMP |= _EXTRA_NEEDS_TMP


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
