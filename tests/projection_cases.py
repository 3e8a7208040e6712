"""Short-hand events for the projection contract cases, appended to a real log.

A case in specs/verdicts.md, specs/source-health.md or specs/projections.md
writes each event as one flat mapping: `type`, any envelope member it cares
about (`event_id`, `stream`, `producer`, `occurred_at`, `correlation_id`,
`schema_version`) and any payload member it cares about (`repeat: N` stands for
N copies). Everything else is filled with the defaults below, the full envelope
is validated exactly as an append validates it (`prepare_json`), and each event
is appended as its own batch, so an event's seq is its index in the (unrolled)
list. Every event is schema 1.0 but a run record that names a `subject` (even a
null one), which is 1.1 unless the event says otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ledger.clock import FixedClock
from ledger.model import FileDigest, input_context_sha, prepare_json
from ledger.projections import ProjectionEngine, ProjectionQueries
from ledger.projections.state import state_digest
from ledger.store import AppendRequest, LmdbEventLog

#: The subject verdict cases judge, and the source health cases assess, unless they say otherwise.
SUBJECT = "pr-7"
SOURCE = "ci-lint"
#: Every event happened then unless it says otherwise.
OCCURRED_AT = "2026-01-01T00:00:00Z"
#: The ledger's pinned clock (each event's `recorded_at`): later than any `occurred_at`
#: in the cases, so that an observation's time is its `occurred_at` unless a case pins
#: the clock earlier.
CLOCK = "2030-01-01T00:00:00Z"
RUN_ID = "0190d4a2-7b1e-7c3a-9f00-1a2b3c4d5e6f"
ENVELOPE_MEMBERS = (
    "event_id",
    "stream",
    "producer",
    "occurred_at",
    "correlation_id",
    "schema_version",
)
_EXIT_CODES: dict[str, int | None] = {"passed": 0, "failed": 1, "timed_out": None, "error": None}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _edit(item: str | Mapping[str, Any]) -> dict[str, Any]:
    """An edit of a patch inspection; a bare string is an edit of that type."""
    if isinstance(item, str):
        item = {"type": item}
    return {
        "type": item["type"],
        "severity": item.get("severity", "high"),
        "file": item.get("file", f"src/{item['type']}.py"),
        "line": item.get("line", 1),
        "evidence": item.get("evidence", f"{item['type']} in the patch"),
    }


def _payload(kind: str, given: dict[str, Any], index: int, subject: str, source: str) -> Any:
    if kind == "finding.reported":
        base = {
            "finding_id": "F-1",
            "subject": subject,
            "severity": "P2",
            "evidence": "verified",
            "file": "src/app.py",
            "line": 1,
            "what": "something is wrong",
            "why": "it matters",
            "when": "",
            "proposed_fix": "",
            "rule_id": "R-1",
            "stage": "final",
            "category": "correctness",
            "run_id": RUN_ID,
        }
    elif kind == "finding.resolved":
        base = {"finding_id": "F-1", "resolution": "fixed", "resolved_by": "alice", "note": ""}
    elif kind == "waiver.granted":
        base = {
            "waiver_id": "W-1",
            "finding_id": "F-1",
            "risk": "medium",
            "owner": "team-app",
            "justification": "accepted for now",
            "mitigation": "monitored",
            "expiry": "2026-12-31T00:00:00Z",
        }
    elif kind == "waiver.revoked":
        base = {"waiver_id": "W-1", "finding_id": "F-1", "reason": "no longer", "revoked_by": "bob"}
    elif kind == "patch.inspected":
        edits = [_edit(e) for e in given.pop("edits", [])]
        base = {
            "subject": subject,
            "verdict": "UNSAFE_PATCH_ATTEMPT" if edits else "CLEAN",
            "automated": True,
            "diff_sha256": "5" * 64,
            "edits": edits,
            "allowed": [],
            "summary": "",
            "run_id": None,
        }
    elif kind == "command.executed":
        status = given.get("status", "passed")
        base = {
            "subject": subject,
            "probe": "unit-tests",
            "command": "pytest -q",
            "status": status,
            "exit_code": _EXIT_CODES[status],
            "duration_ms": 10,
            "stdout_stderr_summary": "",
            "run_id": None,
        }
    elif kind == "gate.evaluated":
        base = {
            "subject": subject,
            "production_readiness": "ready",
            "correctness": "correct",
            "isolation": "strong",
            "blast_radius": "minimal",
            "required_fixes_before_merge": [],
            "evaluated_at": OCCURRED_AT,
            "log_position": index,
            "strict": True,
            "passed": True,
            "run_id": None,
        }
    elif kind == "source.registered":
        base = {
            "source_id": source,
            "tier": "required",
            "expected_interval_s": 3600,
            "failure_budget": 0.25,
            "description": "",
        }
    elif kind == "source.checked":
        ok = given.get("ok", True)
        base = {
            "source_id": source,
            "ok": ok,
            "latency_ms": 5,
            "error_code": None if ok else "http_503",
        }
    elif kind == "suppression.added":
        base = {
            "suppression_id": "S-1",
            "target": source,
            "reason": "runners are being migrated",
            "owner": "team-infra",
            "expiry": "2026-12-31T00:00:00Z",
        }
    elif kind == "suppression.lifted":
        base = {"suppression_id": "S-1", "target": source, "reason": "done", "owner": "team-infra"}
    elif kind == "run.recorded":
        inputs = given.get("input_files", [])
        mode = given.get("mode", "strict")
        base = {
            "run_id": f"00000000-0000-7000-8000-{index:012x}",
            "agent_name": "fixer-agent",
            "run_status": "SUCCESS",
            "status_before": "failing",
            "status_after": "passing",
            "started_at": OCCURRED_AT,
            "ended_at": OCCURRED_AT,
            "input_files": inputs,
            "output_files": [],
            "input_context_sha": input_context_sha(FileDigest(**f) for f in inputs),
            "git_head": None,
            "config_fingerprint": "4" * 64,
            "mode": mode,
            "best_effort": {"entropy_sources": ["llm sampling"], "seeds": {"sampler": 7}}
            if mode == "best_effort"
            else None,
            "input_refs": [],
            "output_refs": [],
            "exit_code": 0,
        }
        # Optional members, written only when given (`subject` is schema 1.1 only).
        for member in ("heal_reason", "notes", "subject"):
            if member in given:
                base[member] = None
    else:
        raise AssertionError(f"no short-hand defaults for event type {kind!r}")
    unknown = set(given) - set(base)
    assert not unknown, f"{kind}: no payload member(s) {sorted(unknown)}"
    return {**base, **given}


def expand(
    short: Mapping[str, Any], index: int, *, subject: str = SUBJECT, source: str = SOURCE
) -> dict[str, Any]:
    """The full envelope object a short-hand event stands for."""
    given = dict(short)
    kind = given.pop("type")
    envelope: dict[str, Any] = {
        "event_id": f"e-{index}",
        "stream": f"cases/{kind}",
        "type": kind,
        "schema_version": "1.0",
        "occurred_at": OCCURRED_AT,
        "producer": "gate-1",
    }
    for member in ENVELOPE_MEMBERS:
        if member in given:
            envelope[member] = given.pop(member)
    envelope["data"] = _payload(kind, given, index, subject, source)
    if kind == "run.recorded" and "subject" in envelope["data"] and "schema_version" not in short:
        envelope["schema_version"] = "1.1"
    return envelope


def unroll(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`repeat: N` stands for N copies of the event (each gets its own seq and id)."""
    found = []
    for short in events:
        event = {k: v for k, v in short.items() if k != "repeat"}
        found.extend(dict(event) for _ in range(short.get("repeat", 1)))
    return found


@dataclass
class Ledger:
    """A real log in a temporary directory, with its projections caught up."""

    log: LmdbEventLog
    engine: ProjectionEngine
    queries: ProjectionQueries

    @property
    def last_seq(self) -> int:
        return self.log.size() - 1

    def assert_replay_agrees(self) -> None:
        """Every projection replayed to the last seq equals its stored state, byte for byte."""
        size = self.log.size()
        for status in self.engine.status():
            assert status.position == size, status
            replayed = self.engine.replay(status.name, size - 1)
            assert replayed.position == size
            assert state_digest(replayed.state) == status.digest, status.name


@contextmanager
def ledger(
    directory: Path,
    events: Sequence[Mapping[str, Any]],
    *,
    clock: str = CLOCK,
    subject: str = SUBJECT,
    source: str = SOURCE,
) -> Iterator[Ledger]:
    """Append `events` (short-hand) one batch each, then fold them into the projections."""
    with (
        open_log(directory, events, clock=clock, subject=subject, source=source) as log,
        ProjectionEngine(log) as engine,
    ):
        engine.catch_up()
        yield Ledger(log, engine, ProjectionQueries(engine, log))


@contextmanager
def open_log(
    directory: Path,
    events: Sequence[Mapping[str, Any]],
    *,
    clock: str = CLOCK,
    subject: str = SUBJECT,
    source: str = SOURCE,
) -> Iterator[LmdbEventLog]:
    """A log holding `events` (short-hand), each appended as its own batch."""
    with LmdbEventLog(directory, clock=FixedClock(parse_time(clock))) as log:
        for index, short in enumerate(unroll(events)):
            append(log, short, index, subject=subject, source=source)
        yield log


def append(
    log: LmdbEventLog,
    short: Mapping[str, Any],
    index: int,
    *,
    subject: str = SUBJECT,
    source: str = SOURCE,
) -> None:
    """Append one short-hand event as its own batch; it must land at seq `index`."""
    envelope = expand(short, index, subject=subject, source=source)
    prepared = prepare_json(json.dumps(envelope).encode("utf-8"))
    outcome = log.append([AppendRequest(prepared)])
    assert outcome.results[0].seq == index


def without(document: Mapping[str, Any], *members: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in members}


def assert_subset(expected: Mapping[str, Any], actual: Mapping[str, Any], where: str) -> None:
    """Every member `expected` names has that value in `actual`."""
    for key, value in expected.items():
        assert key in actual, f"{where}: no member {key!r} in {actual}"
        assert actual[key] == value, f"{where}.{key}: expected {value!r}, got {actual[key]!r}"
