"""Lifecycle payloads: registered, round-tripped unchanged, canonical, and precise in errors.

specs/lifecycle-events.md holds the case-by-case coverage of every rule; this
file checks what those cases cannot: the full path from JSON to leaf and back.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pytest

from ledger.errors import InvalidInput
from ledger.model import (
    GENESIS_PREV,
    CommandExecutedV1,
    Envelope,
    FindingResolvedV1,
    GateEvaluatedV1,
    PatchEdit,
    PatchInspectedV1,
    Payload,
    SourceCheckedV1,
    SourceRegisteredV1,
    SuppressionAddedV1,
    SuppressionLiftedV1,
    WaiverGrantedV1,
    WaiverRevokedV1,
    decode_leaf,
    encode_envelope,
    encode_leaf,
    known_event_types,
    leaf_from_canonical,
    prepare_event,
    prepare_json,
    schema_for,
)

RUN_ID = "0190d4a2-7b1e-7c3a-9f00-1a2b3c4d5e6f"
EDIT = {
    "type": "auth_bypass",
    "severity": "critical",
    "file": "src/auth.py",
    "line": 12,
    "evidence": "return True added before the token check",
}

# Every type with every field set (optional ones to non-defaults), in declaration order.
PAYLOADS: dict[str, tuple[type[Payload], dict[str, Any]]] = {
    "finding.resolved": (
        FindingResolvedV1,
        {"finding_id": "F-1", "resolution": "wont_fix", "resolved_by": "alice", "note": "n"},
    ),
    "waiver.granted": (
        WaiverGrantedV1,
        {
            "waiver_id": "W-1",
            "finding_id": "F-1",
            "risk": "high",
            "owner": "team-payments",
            "justification": "internal only",
            "mitigation": "network policy",
            "expiry": "2026-02-01T00:00:00.5Z",
        },
    ),
    "waiver.revoked": (
        WaiverRevokedV1,
        {"waiver_id": "W-1", "finding_id": "F-1", "reason": "exposed", "revoked_by": "bob"},
    ),
    "source.registered": (
        SourceRegisteredV1,
        {
            "source_id": "ci-lint",
            "tier": "best_effort",
            "expected_interval_s": 300,
            "failure_budget": 0.25,
            "description": "lint",
        },
    ),
    "source.checked": (
        SourceCheckedV1,
        {"source_id": "ci-lint", "ok": False, "latency_ms": 7, "error_code": "http_503"},
    ),
    "suppression.added": (
        SuppressionAddedV1,
        {
            "suppression_id": "S-1",
            "target": "ci-lint",
            "reason": "migration",
            "owner": "team-infra",
            "expiry": "2026-01-08T00:00:00Z",
        },
    ),
    "suppression.lifted": (
        SuppressionLiftedV1,
        {"suppression_id": "S-1", "target": "ci-lint", "reason": "done", "owner": "team-infra"},
    ),
    "command.executed": (
        CommandExecutedV1,
        {
            "subject": "pr-7",
            "probe": "unit-tests",
            "command": "pytest -q",
            "status": "failed",
            "exit_code": -11,
            "duration_ms": 5230,
            "stdout_stderr_summary": "Segmentation fault\n(core dumped)",
            "run_id": RUN_ID,
        },
    ),
    "patch.inspected": (
        PatchInspectedV1,
        {
            "subject": "pr-7",
            "verdict": "UNSAFE_PATCH_ATTEMPT",
            "automated": False,
            "diff_sha256": "5" * 64,
            "edits": [EDIT],
            "allowed": [{**EDIT, "type": "pack_disable", "severity": "low", "line": None}],
            "summary": "one bypass, one allowed pack change",
            "run_id": RUN_ID,
        },
    ),
    "gate.evaluated": (
        GateEvaluatedV1,
        {
            "subject": "pr-7",
            "production_readiness": "conditionally_ready",
            "correctness": "high_risk",
            "isolation": "moderate",
            "blast_radius": "wide",
            "required_fixes_before_merge": ["add a test", "check write()"],
            "evaluated_at": "2026-01-01T12:05:00Z",
            "log_position": 42,
            "strict": False,
            "passed": True,
            "run_id": RUN_ID,
        },
    ),
}

# The field names and order are a contract with the projections and outside tools.
FIELD_ORDER = {event_type: list(data) for event_type, (_, data) in PAYLOADS.items()} | {
    "patch.edit": ["type", "severity", "file", "line", "evidence"]
}


def _event(event_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "event_id": f"e-{event_type}",
        "stream": "gate/pr-7",
        "type": event_type,
        "schema_version": "1.0",
        "occurred_at": "2026-01-01T12:00:00Z",
        "producer": "gate-lane-1",
        "correlation_id": None,
        "data": copy.deepcopy(PAYLOADS[event_type][1]) if data is None else data,
    }


def _reversed(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed(item) for item in value]
    return value


def test_every_lifecycle_type_is_registered_with_its_payload() -> None:
    for event_type, (payload, _) in PAYLOADS.items():
        assert event_type in known_event_types()
        assert schema_for(event_type, "1.0").payload is payload
        assert schema_for(event_type, "1.0").unique is None


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_json_to_leaf_and_back_is_unchanged(event_type: str) -> None:
    event = _event(event_type)
    prepared = prepare_json(json.dumps(_reversed(event)).encode())
    assert isinstance(prepared.envelope.data, PAYLOADS[event_type][0])
    # Canonical bytes: compact, keys in declaration order, every value as given.
    assert prepared.canonical == json.dumps(event, separators=(",", ":")).encode()
    assert prepare_json(prepared.canonical).canonical == prepared.canonical
    assert prepare_event(prepared.envelope).canonical == prepared.canonical
    leaf = encode_leaf(3, GENESIS_PREV, "2026-01-01T12:00:01Z", prepared.envelope)
    assert leaf == leaf_from_canonical(3, GENESIS_PREV, "2026-01-01T12:00:01Z", prepared.canonical)
    decoded = decode_leaf(leaf)
    assert decoded.envelope == prepared.envelope
    assert encode_envelope(decoded.envelope) == prepared.canonical


def test_declaration_order_is_the_documented_field_order() -> None:
    for event_type, (payload, _) in PAYLOADS.items():
        assert [f.name for f in msgspec.structs.fields(payload)] == FIELD_ORDER[event_type]
    assert [f.name for f in msgspec.structs.fields(PatchEdit)] == FIELD_ORDER["patch.edit"]


def test_defaults_are_written_out() -> None:
    data = {"finding_id": "F-1", "resolution": "fixed", "resolved_by": "alice"}
    canonical = prepare_json(json.dumps(_event("finding.resolved", data)).encode()).canonical
    assert canonical.endswith(b'"resolved_by":"alice","note":""}}')
    patch = {k: v for k, v in PAYLOADS["patch.inspected"][1].items() if k != "allowed"}
    canonical = prepare_json(json.dumps(_event("patch.inspected", patch)).encode()).canonical
    assert b'"edits":[' in canonical
    assert b'],"allowed":[],"summary":' in canonical


@pytest.mark.parametrize(("given", "stored"), [(0, b"0.0"), (1, b"1.0"), (1.0, b"1.0")])
def test_an_integer_failure_budget_is_accepted_and_stored_as_a_float(
    given: float, stored: bytes
) -> None:
    data = {**PAYLOADS["source.registered"][1], "failure_budget": given}
    prepared = prepare_json(json.dumps(_event("source.registered", data)).encode())
    assert b'"failure_budget":' + stored + b"," in prepared.canonical
    assert prepare_json(prepared.canonical).digest == prepared.digest


def test_a_budget_too_large_for_a_double_is_refused() -> None:
    raw = json.dumps(_event("source.registered")).replace(
        '"failure_budget": 0.25', '"failure_budget": 1e999'
    )
    with pytest.raises(InvalidInput) as caught:
        prepare_json(raw.encode())
    assert caught.value.details["field"] == "$.data.failure_budget"


def _refused(event_type: str, **changes: Any) -> InvalidInput:
    data = {**copy.deepcopy(PAYLOADS[event_type][1]), **changes}
    with pytest.raises(InvalidInput) as caught:
        prepare_json(json.dumps(_event(event_type, data)).encode())
    return caught.value


@pytest.mark.parametrize(
    ("event_type", "changes", "field"),
    [
        ("finding.resolved", {"resolution": "ignored"}, "$.data.resolution"),
        ("waiver.granted", {"expiry": "2026-04-31T00:00:00Z"}, "$.data.expiry"),
        ("source.registered", {"failure_budget": 1.0000001}, "$.data.failure_budget"),
        ("source.checked", {"ok": True}, "$.data.error_code"),
        ("source.checked", {"error_code": None}, "$.data.error_code"),
        ("suppression.added", {"expiry": "2026-01-08"}, "$.data.expiry"),
        ("command.executed", {"exit_code": 0}, "$.data.exit_code"),
        ("command.executed", {"status": "passed", "exit_code": None}, "$.data.exit_code"),
        ("patch.inspected", {"verdict": "CLEAN"}, "$.data.verdict"),
        ("patch.inspected", {"edits": []}, "$.data.verdict"),
        ("patch.inspected", {"automated": True}, "$.data.allowed"),
        ("patch.inspected", {"edits": [EDIT, {**EDIT, "file": "a//b"}]}, "$.data.edits[1].file"),
        ("patch.inspected", {"allowed": [{**EDIT, "line": 0}]}, "$.data.allowed[0].line"),
        ("gate.evaluated", {"strict": True}, "$.data.passed"),
        ("gate.evaluated", {"production_readiness": "not_ready"}, "$.data.passed"),
        ("gate.evaluated", {"production_readiness": "ready", "passed": False}, "$.data.passed"),
        (
            "gate.evaluated",
            {"required_fixes_before_merge": ["ok", ""]},
            "$.data.required_fixes_before_merge[1]",
        ),
        ("gate.evaluated", {"unexpected": 1}, "$.data.unexpected"),
    ],
)
def test_refusals_name_the_field(event_type: str, changes: dict[str, Any], field: str) -> None:
    error = _refused(event_type, **changes)
    assert error.details["field"] == field
    assert field in error.message


def test_cross_field_rules_hold_for_payloads_built_in_python() -> None:
    with pytest.raises(ValueError, match=r"^`exit_code` must be 0 when `status` is passed"):
        CommandExecutedV1(
            subject="pr-7",
            probe="unit-tests",
            command="pytest",
            status="passed",
            exit_code=None,
            duration_ms=1,
            stdout_stderr_summary="",
        )
    # msgspec applies no field constraints in Python: prepare_event re-checks them.
    data = SourceRegisteredV1(
        source_id="ci-lint", tier="required", expected_interval_s=60, failure_budget=1.5
    )
    envelope = Envelope(
        event_id="e-1",
        stream="sources/ci-lint",
        type="source.registered",
        schema_version="1.0",
        occurred_at="2026-01-01T12:00:00Z",
        producer="alice",
        data=data,
    )
    with pytest.raises(InvalidInput) as caught:
        prepare_event(envelope)
    assert caught.value.details["field"] == "$.data.failure_budget"
