"""Builders of valid envelopes for every event type the projections fold.

One function per type: `finding.reported`, `run.recorded` and every lifecycle type of
specs/lifecycle-events.md (`finding.resolved`, `waiver.granted`, `waiver.revoked`,
`source.registered`, `source.checked`, `suppression.added`, `suppression.lifted`,
`command.executed`, `patch.inspected`, `gate.evaluated`). Each takes the few values
that identify what the event is about, positionally, and everything else as keywords
with sensible defaults, and returns an `Envelope` already validated (a bad argument
raises `InvalidInput` here, at the call, not later in an append).

Everything is deterministic and independent of where the event lands in a log:

- `event_id`: pass one to choose it; by default it is derived from the envelope's
  content (`<type>-<digest>`), so the same arguments always build the same envelope.
  The log stores identical envelopes once (an idempotent retry), so to record the same
  fact twice (two equal observations of a source, say) pass distinct `event_id`s.
- uuids (`run_id`): `uuid_for(name)` gives the same uuid for the same name.
- times: `OCCURRED_AT` unless `occurred_at` is passed; waivers and suppressions expire
  at `EXPIRY` unless told otherwise.

`one_of_each()` returns one coherent example of every type, for tests that need them all.

The defaults are part of what tests rely on (tests/projections/test_engine.py pins the
digests of states folded from them), so add parameters rather than change defaults.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence

import msgspec

from ledger.model import (
    BestEffortMetadata,
    CommandExecutedV1,
    Envelope,
    FileDigest,
    FindingResolvedV1,
    FindingV1,
    GateEvaluatedV1,
    PatchEdit,
    PatchInspectedV1,
    Payload,
    RunRecordV1,
    RunRecordV1_1,
    SourceCheckedV1,
    SourceRegisteredV1,
    SuppressionAddedV1,
    SuppressionLiftedV1,
    WaiverGrantedV1,
    WaiverRevokedV1,
    encode_envelope,
    input_context_sha,
    prepare_event,
)
from ledger.model.finding import Evidence, FindingCategory, Severity
from ledger.model.gate_records import (
    BlastRadius,
    CommandStatus,
    Correctness,
    Isolation,
    PatchEditSeverity,
    PatchEditType,
    ProductionReadiness,
)
from ledger.model.lifecycle import Resolution
from ledger.model.run_record import HealReason, RunMode, RunStatus
from ledger.model.source import SourceTier
from ledger.model.waiver import Risk

#: The default `occurred_at`: an hour before the tests' pinned clock (2026-01-01T12:00:00Z).
OCCURRED_AT = "2026-01-01T11:00:00Z"
#: The default expiry of waivers and suppressions: a month after the pinned clock.
EXPIRY = "2026-02-01T00:00:00Z"
#: The default subject of subject-scoped events.
SUBJECT = "pr-7"

#: Every event type these builders cover, in the order `one_of_each` builds them.
EVENT_TYPES = (
    "run.recorded",
    "finding.reported",
    "finding.resolved",
    "waiver.granted",
    "waiver.revoked",
    "source.registered",
    "source.checked",
    "suppression.added",
    "suppression.lifted",
    "command.executed",
    "patch.inspected",
    "gate.evaluated",
)

_UUID_NAMESPACE = uuid.UUID("6f1d2c0e-5b7a-4c3e-9a21-0d4e8b7c6a55")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._:/@+-]+")


def uuid_for(name: str) -> str:
    """A uuid (canonical lowercase text) that depends only on `name`."""
    return str(uuid.uuid5(_UUID_NAMESPACE, name))


def sha256_of(*parts: object) -> str:
    """A 64-hex-digit digest of `parts`: stand-in file contents, diffs and fingerprints."""
    return hashlib.sha256("/".join(map(str, parts)).encode("utf-8")).hexdigest()


def _label(text: str) -> str:
    """`text` made into a label (for default stream names built from free text)."""
    cleaned = _NOT_LABEL.sub("-", text).strip("-") or "x"
    return cleaned[:150]


def _envelope(
    event_type: str,
    data: Payload,
    *,
    stream: str,
    producer: str,
    occurred_at: str,
    event_id: str | None,
    correlation_id: str | None,
    schema_version: str = "1.0",
) -> Envelope:
    """Assemble, name (when `event_id` is None) and validate one envelope."""
    envelope = Envelope(
        event_id=event_id or "pending",
        stream=stream,
        type=event_type,
        schema_version=schema_version,
        occurred_at=occurred_at,
        producer=producer,
        correlation_id=correlation_id,
        data=data,
    )
    if event_id is None:
        digest = hashlib.sha256(encode_envelope(envelope)).hexdigest()[:24]
        envelope = msgspec.structs.replace(envelope, event_id=f"{event_type}-{digest}")
    prepare_event(envelope)  # raises InvalidInput naming the field if an argument was bad
    return envelope


# Findings -----------------------------------------------------------------------------------


def finding_reported(
    finding_id: str,
    subject: str = SUBJECT,
    *,
    severity: Severity = "P1",
    evidence: Evidence = "verified",
    category: FindingCategory = "correctness",
    file: str = "src/app.py",
    line: int | None = 3,
    what: str = "unchecked return value",
    why: str = "a failed write is reported as success",
    when: str = "when the disk is full",
    proposed_fix: str = "check the result",
    rule_id: str = "RET-001",
    stage: str = "final",
    run_id: str | None = None,
    stream: str | None = None,
    producer: str = "gate-lane-1",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`finding.reported`: `finding_id` about `subject` (reported again, it reopens).

    `run_id` defaults to `uuid_for("run-of/<finding_id>")`; `stream` to
    `findings/<subject>`.
    """
    data = FindingV1(
        finding_id=finding_id,
        subject=subject,
        severity=severity,
        evidence=evidence,
        file=file,
        line=line,
        what=what,
        why=why,
        when=when,
        proposed_fix=proposed_fix,
        rule_id=rule_id,
        stage=stage,
        category=category,
        run_id=run_id if run_id is not None else uuid_for(f"run-of/{finding_id}"),
    )
    return _envelope(
        "finding.reported",
        data,
        stream=stream or f"findings/{_label(subject)}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


def finding_resolved(
    finding_id: str,
    *,
    resolution: Resolution = "fixed",
    resolved_by: str = "alice",
    note: str = "",
    stream: str | None = None,
    producer: str = "alice",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`finding.resolved`: closes `finding_id`. `stream` defaults to `findings/<finding_id>`."""
    data = FindingResolvedV1(
        finding_id=finding_id, resolution=resolution, resolved_by=resolved_by, note=note
    )
    return _envelope(
        "finding.resolved",
        data,
        stream=stream or f"findings/{finding_id}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


# Waivers ------------------------------------------------------------------------------------


def waiver_granted(
    waiver_id: str,
    finding_id: str,
    *,
    risk: Risk = "medium",
    owner: str = "team-payments",
    justification: str = "the endpoint is internal only until the migration lands",
    mitigation: str = "network policy restricts callers to the billing service",
    expiry: str = EXPIRY,
    stream: str | None = None,
    producer: str = "alice",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`waiver.granted`: `waiver_id` accepts `finding_id`'s risk until `expiry` (exclusive).

    `stream` defaults to `waivers/<finding_id>`.
    """
    data = WaiverGrantedV1(
        waiver_id=waiver_id,
        finding_id=finding_id,
        risk=risk,
        owner=owner,
        justification=justification,
        mitigation=mitigation,
        expiry=expiry,
    )
    return _envelope(
        "waiver.granted",
        data,
        stream=stream or f"waivers/{finding_id}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


def waiver_revoked(
    waiver_id: str,
    finding_id: str,
    *,
    reason: str = "the endpoint was exposed publicly after all",
    revoked_by: str = "alice",
    stream: str | None = None,
    producer: str = "alice",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`waiver.revoked`: `waiver_id` (on `finding_id`) stops counting.

    `stream` defaults to `waivers/<finding_id>`.
    """
    data = WaiverRevokedV1(
        waiver_id=waiver_id, finding_id=finding_id, reason=reason, revoked_by=revoked_by
    )
    return _envelope(
        "waiver.revoked",
        data,
        stream=stream or f"waivers/{finding_id}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


# Sources and suppressions -------------------------------------------------------------------


def source_registered(
    source_id: str,
    *,
    tier: SourceTier = "required",
    expected_interval_s: int = 300,
    failure_budget: float = 0.1,
    description: str = "",
    stream: str | None = None,
    producer: str = "alice",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`source.registered`: declares `source_id`. `stream` defaults to `sources/<source_id>`."""
    data = SourceRegisteredV1(
        source_id=source_id,
        tier=tier,
        expected_interval_s=expected_interval_s,
        failure_budget=float(failure_budget),
        description=description,
    )
    return _envelope(
        "source.registered",
        data,
        stream=stream or f"sources/{source_id}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


def source_checked(
    source_id: str,
    *,
    ok: bool = True,
    latency_ms: int = 120,
    error_code: str | None = None,
    stream: str | None = None,
    producer: str = "prober-1",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`source.checked`: one observation of `source_id`.

    A failed observation (`ok=False`) gets `error_code="http_503"` unless one is given.
    Equal observations build equal envelopes: pass `event_id` to record one twice.
    """
    code = error_code if ok or error_code is not None else "http_503"
    data = SourceCheckedV1(source_id=source_id, ok=ok, latency_ms=latency_ms, error_code=code)
    return _envelope(
        "source.checked",
        data,
        stream=stream or f"sources/{source_id}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


def suppression_added(
    suppression_id: str,
    target: str,
    *,
    reason: str = "the runners are being migrated",
    owner: str = "team-infra",
    expiry: str = EXPIRY,
    stream: str | None = None,
    producer: str = "alice",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`suppression.added`: mutes source `target` until `expiry` (exclusive).

    `stream` defaults to `sources/<target>`.
    """
    data = SuppressionAddedV1(
        suppression_id=suppression_id, target=target, reason=reason, owner=owner, expiry=expiry
    )
    return _envelope(
        "suppression.added",
        data,
        stream=stream or f"sources/{target}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


def suppression_lifted(
    suppression_id: str,
    target: str,
    *,
    reason: str = "the migration is done",
    owner: str = "team-infra",
    stream: str | None = None,
    producer: str = "alice",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`suppression.lifted`: ends `suppression_id` on `target` early.

    `stream` defaults to `sources/<target>`.
    """
    data = SuppressionLiftedV1(
        suppression_id=suppression_id, target=target, reason=reason, owner=owner
    )
    return _envelope(
        "suppression.lifted",
        data,
        stream=stream or f"sources/{target}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


# Gate records -------------------------------------------------------------------------------


def _exit_code_for(status: CommandStatus) -> int | None:
    return {"passed": 0, "failed": 1, "timed_out": None, "error": None}[status]


def command_executed(
    subject: str = SUBJECT,
    probe: str = "unit-tests",
    *,
    status: CommandStatus = "passed",
    exit_code: int | None = None,
    command: str | None = None,
    duration_ms: int = 1000,
    summary: str = "",
    run_id: str | None = None,
    stream: str | None = None,
    producer: str = "gate-lane-1",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`command.executed`: probe `probe` ran against `subject` and ended with `status`.

    `exit_code` None means what the status needs: 0 passed, 1 failed, none for
    timed_out and error (pass a code to record, say, an error that exited 0).
    `command` defaults to `run <probe>`; `stream` to `gate/<subject>`.
    """
    code = _exit_code_for(status) if exit_code is None else exit_code
    data = CommandExecutedV1(
        subject=subject,
        probe=probe,
        command=command or f"run {probe}",
        status=status,
        exit_code=code,
        duration_ms=duration_ms,
        stdout_stderr_summary=summary,
        run_id=run_id,
    )
    return _envelope(
        "command.executed",
        data,
        stream=stream or f"gate/{_label(subject)}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


def patch_edit(
    edit_type: PatchEditType = "auth_bypass",
    *,
    severity: PatchEditSeverity = "high",
    file: str = "src/auth.py",
    line: int | None = 1,
    evidence: str = "return True added before the token check",
) -> PatchEdit:
    """One forbidden edit, for `patch_inspected(edits=...)`."""
    return PatchEdit(type=edit_type, severity=severity, file=file, line=line, evidence=evidence)


def patch_inspected(
    subject: str = SUBJECT,
    *,
    edits: Sequence[PatchEdit] = (),
    allowed: Sequence[PatchEdit] = (),
    automated: bool = True,
    diff_sha256: str | None = None,
    summary: str = "",
    run_id: str | None = None,
    stream: str | None = None,
    producer: str = "gate-lane-1",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`patch.inspected`: CLEAN without `edits`, UNSAFE_PATCH_ATTEMPT with any.

    `diff_sha256` defaults to a digest of the subject and the edits; `stream` to
    `gate/<subject>`. `allowed` must stay empty when `automated` (the model's rule).
    """
    data = PatchInspectedV1(
        subject=subject,
        verdict="UNSAFE_PATCH_ATTEMPT" if edits else "CLEAN",
        automated=automated,
        diff_sha256=diff_sha256 or sha256_of("diff", subject, *(e.file for e in edits)),
        edits=list(edits),
        allowed=list(allowed),
        summary=summary,
        run_id=run_id,
    )
    return _envelope(
        "patch.inspected",
        data,
        stream=stream or f"gate/{_label(subject)}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


def gate_evaluated(
    subject: str = SUBJECT,
    *,
    readiness: ProductionReadiness = "ready",
    strict: bool = True,
    correctness: Correctness = "correct",
    isolation: Isolation = "strong",
    blast_radius: BlastRadius = "minimal",
    required_fixes: Sequence[str] = (),
    evaluated_at: str = OCCURRED_AT,
    log_position: int = 0,
    run_id: str | None = None,
    stream: str | None = None,
    producer: str = "gate-lane-1",
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`gate.evaluated`: a recorded verdict; `passed` follows from `readiness` and `strict`.

    `stream` defaults to `gate/<subject>`.
    """
    passed = readiness == "ready" or (readiness == "conditionally_ready" and not strict)
    data = GateEvaluatedV1(
        subject=subject,
        production_readiness=readiness,
        correctness=correctness,
        isolation=isolation,
        blast_radius=blast_radius,
        required_fixes_before_merge=list(required_fixes),
        evaluated_at=evaluated_at,
        log_position=log_position,
        strict=strict,
        passed=passed,
        run_id=run_id,
    )
    return _envelope(
        "gate.evaluated",
        data,
        stream=stream or f"gate/{_label(subject)}",
        producer=producer,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
    )


# Runs ---------------------------------------------------------------------------------------


_CLEAN_RUNS = ("SUCCESS", "SKIPPED")


def run_recorded(
    run_id: str,
    *,
    agent: str = "fixer-agent",
    status: RunStatus = "SUCCESS",
    input_refs: Sequence[str] = (),
    output_refs: Sequence[str] = (),
    inputs: Mapping[str, str] | None = None,
    outputs: Mapping[str, str] | None = None,
    started_at: str = "2026-01-01T10:00:00Z",
    ended_at: str = OCCURRED_AT,
    mode: RunMode = "strict",
    exit_code: int | None = None,
    heal_reason: HealReason | None = None,
    git_head: str | None = None,
    notes: str = "",
    subject: str | None = None,
    stream: str | None = None,
    producer: str | None = None,
    occurred_at: str = OCCURRED_AT,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """`run.recorded`: run `run_id` (a uuid: use `uuid_for(name)`) by `agent`.

    `inputs`/`outputs` map workspace paths to their sha256 (default: one input
    `src/app.py`, one output `out/<run_id>.json`, with digests derived from the run id);
    `input_context_sha` is computed from the inputs. `exit_code` defaults to 0 for
    SUCCESS and SKIPPED and 1 otherwise; `git_head` to a digest of the run id. A
    best_effort run gets empty entropy metadata. `producer` defaults to `agent`,
    `stream` to `runs/<agent>`. A `subject` makes it a schema 1.1 record; without
    one it is 1.0.
    """
    input_files = [
        FileDigest(path=path, sha256=digest)
        for path, digest in (inputs or {"src/app.py": sha256_of("in", run_id)}).items()
    ]
    output_files = [
        FileDigest(path=path, sha256=digest)
        for path, digest in (outputs or {f"out/{run_id}.json": sha256_of("out", run_id)}).items()
    ]
    fields = dict(
        run_id=run_id,
        agent_name=agent,
        run_status=status,
        status_before="failing",
        status_after="passing" if status == "SUCCESS" else "failing",
        started_at=started_at,
        ended_at=ended_at,
        input_files=input_files,
        output_files=output_files,
        input_context_sha=input_context_sha(input_files),
        git_head=git_head if git_head is not None else sha256_of("commit", run_id)[:40],
        config_fingerprint=sha256_of("config", agent),
        mode=mode,
        best_effort=None if mode == "strict" else BestEffortMetadata(entropy_sources=[], seeds={}),
        input_refs=list(input_refs),
        output_refs=list(output_refs),
        exit_code=exit_code if exit_code is not None else (0 if status in _CLEAN_RUNS else 1),
        heal_reason=heal_reason,
        notes=notes,
    )
    data = RunRecordV1(**fields) if subject is None else RunRecordV1_1(**fields, subject=subject)
    return _envelope(
        "run.recorded",
        data,
        stream=stream or f"runs/{agent}",
        producer=producer or agent,
        occurred_at=occurred_at,
        event_id=event_id,
        correlation_id=correlation_id,
        schema_version="1.0" if subject is None else "1.1",
    )


# All of them --------------------------------------------------------------------------------


def one_of_each(subject: str = SUBJECT) -> list[Envelope]:
    """One valid envelope of every type in `EVENT_TYPES`, in that order, telling one story:
    a run reports a finding, which is resolved; a waiver is granted and revoked; a source
    is registered, checked, suppressed and un-suppressed; the gate probes, inspects and
    evaluates `subject`."""
    run_id = uuid_for(f"one-of-each/{subject}")
    events = [
        run_recorded(run_id, output_refs=[f"report-{_label(subject)}"]),
        finding_reported("F-1", subject, run_id=run_id),
        finding_resolved("F-1"),
        waiver_granted("W-1", "F-1"),
        waiver_revoked("W-1", "F-1"),
        source_registered("ci-lint"),
        source_checked("ci-lint"),
        suppression_added("S-1", "ci-lint"),
        suppression_lifted("S-1", "ci-lint"),
        command_executed(subject, "unit-tests", run_id=run_id),
        patch_inspected(subject, run_id=run_id),
        gate_evaluated(subject, run_id=run_id),
    ]
    assert tuple(e.type for e in events) == EVENT_TYPES
    return events
