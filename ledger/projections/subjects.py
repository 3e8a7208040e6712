"""The `verdicts` projection: everything known about each gated subject.

It folds findings and their resolutions, waivers and revocations, patch
inspections, probe runs and recorded gate evaluations into rows per subject.
Verdicts themselves are derived at query time (`verdict_rules.py`), because
waiver expiry depends on the evaluation time, which the fold must never read.
"""

from __future__ import annotations

import msgspec

from ledger.projections import payload_views as views
from ledger.projections._rows import RowCodec
from ledger.projections.facts import Fact, effective_at
from ledger.projections.state import StateReader, StateWriter, state_key, table_prefix

NAME = "verdicts"

# Tables (the first key part).
_FINDING = "F"  # F, finding_id -> FindingRow
_BY_SUBJECT = "S"  # S, subject, finding_id -> b""
_WAIVER = "W"  # W, finding_id, waiver_id -> WaiverRow
_PATCH = "P"  # P, subject -> PatchRow (the latest inspection)
_PROBE = "C"  # C, subject, probe -> ProbeRow (the latest execution)
_GATE = "G"  # G, subject -> GateRow (the latest recorded evaluation)
_SUBJECT = "U"  # U, subject -> SubjectRow


class _Row(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Base of the stored rows: positional MessagePack, immutable."""


class Resolution(_Row, frozen=True):
    seq: int
    resolution: str
    resolved_by: str
    note: str


class FindingRow(_Row, frozen=True):
    finding_id: str
    subject: str
    severity: str
    evidence: str
    category: str
    file: str
    line: int | None
    what: str
    why: str
    when: str
    proposed_fix: str
    rule_id: str
    stage: str
    run_id: str
    producer: str
    first_seq: int
    reported_seq: int
    reports: int
    reopened: int
    #: The report that last reopened it; waivers granted before it no longer cover it.
    reopened_seq: int | None
    resolution: Resolution | None
    #: Seqs of reports that named another subject for this id; they change nothing else.
    conflicting_seqs: tuple[int, ...]

    @property
    def resolved(self) -> bool:
        return self.resolution is not None


class Revocation(_Row, frozen=True):
    seq: int
    reason: str
    revoked_by: str


class WaiverRow(_Row, frozen=True):
    waiver_id: str
    finding_id: str
    risk: str
    owner: str
    justification: str
    mitigation: str
    expiry: str
    granted_seq: int
    #: When the grant takes effect (`facts.effective_at`): it counts from then, never before.
    granted_at: str
    revocation: Revocation | None


class EditRow(_Row, frozen=True):
    type: str
    severity: str
    file: str
    line: int | None
    evidence: str


class PatchRow(_Row, frozen=True):
    seq: int
    event_id: str
    producer: str
    verdict: str
    automated: bool
    diff_sha256: str
    edits: tuple[EditRow, ...]
    summary: str


class ProbeRow(_Row, frozen=True):
    seq: int
    probe: str
    command: str
    status: str
    exit_code: int | None
    duration_ms: int
    summary: str
    producer: str


class GateRow(_Row, frozen=True):
    seq: int
    producer: str
    production_readiness: str
    correctness: str
    isolation: str
    blast_radius: str
    required_fixes_before_merge: tuple[str, ...]
    evaluated_at: str
    passed: bool
    strict: bool


class SubjectRow(_Row, frozen=True):
    subject: str
    first_seq: int


FINDINGS = RowCodec(FindingRow)
WAIVERS = RowCodec(WaiverRow)
PATCHES = RowCodec(PatchRow)
PROBES = RowCodec(ProbeRow)
GATES = RowCodec(GateRow)
SUBJECTS = RowCodec(SubjectRow)


class SubjectsProjection:
    """Folds the gate's events per subject (see the module docstring)."""

    name = NAME
    version = 2
    event_types = frozenset(
        {
            "finding.reported",
            "finding.resolved",
            "waiver.granted",
            "waiver.revoked",
            "patch.inspected",
            "command.executed",
            "gate.evaluated",
        }
    )

    def apply(self, fact: Fact, state: StateWriter) -> None:
        kind = fact.type
        if kind == "finding.reported":
            _report(fact, views.REPORTED.read(fact), state)
        elif kind == "finding.resolved":
            _resolve(fact, views.RESOLVED.read(fact), state)
        elif kind == "waiver.granted":
            _grant(fact, views.GRANTED.read(fact), state)
        elif kind == "waiver.revoked":
            _revoke(fact, views.REVOKED.read(fact), state)
        elif kind == "patch.inspected":
            _inspect(fact, views.INSPECTED.read(fact), state)
        elif kind == "command.executed":
            _execute(fact, views.EXECUTED.read(fact), state)
        elif kind == "gate.evaluated":
            _evaluate(fact, views.EVALUATED.read(fact), state)


def _touch(subject: str, seq: int, state: StateWriter) -> None:
    key = state_key(_SUBJECT, subject)
    if state.get_row(key, SUBJECTS) is None:
        state.put_row(key, SubjectRow(subject=subject, first_seq=seq), SUBJECTS)


def _report(fact: Fact, data: views.Reported, state: StateWriter) -> None:
    key = state_key(_FINDING, data.finding_id)
    old = state.get_row(key, FINDINGS)
    if old is not None and old.subject != data.subject:
        # A finding id names one finding, under the subject of its first report.
        conflicts = (*old.conflicting_seqs, fact.seq)
        state.put_row(key, msgspec.structs.replace(old, conflicting_seqs=conflicts), FINDINGS)
        return
    row = FindingRow(
        finding_id=data.finding_id,
        subject=data.subject,
        severity=data.severity,
        evidence=data.evidence,
        category=data.category,
        file=data.file,
        line=data.line,
        what=data.what,
        why=data.why,
        when=data.when,
        proposed_fix=data.proposed_fix,
        rule_id=data.rule_id,
        stage=data.stage,
        run_id=data.run_id,
        producer=fact.producer,
        first_seq=old.first_seq if old else fact.seq,
        reported_seq=fact.seq,
        reports=old.reports + 1 if old else 1,
        # A report after a resolution is a regression: the finding is open again.
        reopened=(old.reopened + (1 if old.resolved else 0)) if old else 0,
        reopened_seq=(fact.seq if old.resolved else old.reopened_seq) if old else None,
        resolution=None,
        conflicting_seqs=old.conflicting_seqs if old else (),
    )
    state.put_row(key, row, FINDINGS)
    state.put(state_key(_BY_SUBJECT, data.subject, data.finding_id), b"")
    _touch(data.subject, fact.seq, state)


def _resolve(fact: Fact, data: views.Resolved, state: StateWriter) -> None:
    key = state_key(_FINDING, data.finding_id)
    old = state.get_row(key, FINDINGS)
    if old is None:
        return  # nothing reported yet to resolve; a later report opens it
    resolution = Resolution(fact.seq, data.resolution, data.resolved_by, data.note)
    state.put_row(key, msgspec.structs.replace(old, resolution=resolution), FINDINGS)


def _grant(fact: Fact, data: views.Granted, state: StateWriter) -> None:
    row = WaiverRow(
        waiver_id=data.waiver_id,
        finding_id=data.finding_id,
        risk=data.risk,
        owner=data.owner,
        justification=data.justification,
        mitigation=data.mitigation,
        expiry=data.expiry,
        granted_seq=fact.seq,
        granted_at=effective_at(fact),
        revocation=None,
    )
    state.put_row(state_key(_WAIVER, data.finding_id, data.waiver_id), row, WAIVERS)


def _revoke(fact: Fact, data: views.Revoked, state: StateWriter) -> None:
    key = state_key(_WAIVER, data.finding_id, data.waiver_id)
    waiver = state.get_row(key, WAIVERS)
    if waiver is None:
        return  # no such waiver on that finding: nothing to revoke
    revocation = Revocation(fact.seq, data.reason, data.revoked_by)
    state.put_row(key, msgspec.structs.replace(waiver, revocation=revocation), WAIVERS)


def _inspect(fact: Fact, data: views.Inspected, state: StateWriter) -> None:
    row = PatchRow(
        seq=fact.seq,
        event_id=fact.event_id,
        producer=fact.producer,
        verdict=data.verdict,
        automated=data.automated,
        diff_sha256=data.diff_sha256,
        edits=tuple(EditRow(e.type, e.severity, e.file, e.line, e.evidence) for e in data.edits),
        summary=data.summary,
    )
    state.put_row(state_key(_PATCH, data.subject), row, PATCHES)
    _touch(data.subject, fact.seq, state)


def _execute(fact: Fact, data: views.Executed, state: StateWriter) -> None:
    row = ProbeRow(
        seq=fact.seq,
        probe=data.probe,
        command=data.command,
        status=data.status,
        exit_code=data.exit_code,
        duration_ms=data.duration_ms,
        summary=data.stdout_stderr_summary,
        producer=fact.producer,
    )
    state.put_row(state_key(_PROBE, data.subject, data.probe), row, PROBES)
    _touch(data.subject, fact.seq, state)


def _evaluate(fact: Fact, data: views.Evaluated, state: StateWriter) -> None:
    row = GateRow(
        seq=fact.seq,
        producer=fact.producer,
        production_readiness=data.production_readiness,
        correctness=data.correctness,
        isolation=data.isolation,
        blast_radius=data.blast_radius,
        required_fixes_before_merge=tuple(data.required_fixes_before_merge),
        evaluated_at=data.evaluated_at,
        passed=data.passed,
        strict=data.strict,
    )
    state.put_row(state_key(_GATE, data.subject), row, GATES)
    _touch(data.subject, fact.seq, state)


# Reading ----------------------------------------------------------------------------------


class SubjectState(msgspec.Struct, frozen=True, gc=False):
    """Everything the verdict rules read about one subject."""

    subject: str
    findings: tuple[FindingRow, ...]
    waivers: dict[str, tuple[WaiverRow, ...]]
    patch: PatchRow | None
    probes: tuple[ProbeRow, ...]
    gate: GateRow | None
    last_seq: int | None


def subject_state(state: StateReader, subject: str) -> SubjectState:
    """Read one subject's rows (empty when the subject is unknown)."""
    findings: list[FindingRow] = []
    waivers: dict[str, tuple[WaiverRow, ...]] = {}
    for key, _ in state.scan(table_prefix(_BY_SUBJECT, subject)):
        finding_id = key.rsplit(b"\x1f", 1)[1].decode("utf-8")
        raw = state.get(state_key(_FINDING, finding_id))
        if raw is None:
            continue
        findings.append(FINDINGS.decode(raw))
        waivers[finding_id] = tuple(
            WAIVERS.decode(value) for _, value in state.scan(table_prefix(_WAIVER, finding_id))
        )
    raw_patch = state.get(state_key(_PATCH, subject))
    raw_gate = state.get(state_key(_GATE, subject))
    patch = PATCHES.decode(raw_patch) if raw_patch is not None else None
    gate = GATES.decode(raw_gate) if raw_gate is not None else None
    probes = tuple(
        sorted(
            (PROBES.decode(v) for _, v in state.scan(table_prefix(_PROBE, subject))),
            key=lambda p: p.probe,
        )
    )
    seqs = [
        *(f.reported_seq for f in findings),
        *(f.resolution.seq for f in findings if f.resolution is not None),
        *(w.granted_seq for ws in waivers.values() for w in ws),
        *(w.revocation.seq for ws in waivers.values() for w in ws if w.revocation is not None),
        *(p.seq for p in probes),
        *(row.seq for row in (patch, gate) if row is not None),
    ]
    return SubjectState(
        subject=subject,
        findings=tuple(sorted(findings, key=lambda f: f.finding_id)),
        waivers=waivers,
        patch=patch,
        probes=probes,
        gate=gate,
        last_seq=max(seqs) if seqs else None,
    )


def subjects(state: StateReader) -> list[SubjectRow]:
    """Every subject the log has said anything about, by name."""
    rows = [SUBJECTS.decode(value) for _, value in state.scan(table_prefix(_SUBJECT))]
    return sorted(rows, key=lambda r: r.subject)
