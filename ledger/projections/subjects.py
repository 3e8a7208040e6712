"""The `verdicts` projection: everything known about each gated subject.

It folds findings and their resolutions, waivers and revocations, patch
inspections, probe runs, recorded gate evaluations and healing runs into rows
per subject. Verdicts themselves are derived at query time (`verdict_rules.py`),
because waiver expiry depends on the evaluation time, which the fold must never
read.

A healing run is a `run.recorded` that names a subject (schema 1.1) and has a
`heal_reason`. The fold stamps it with the fingerprint of the findings the
healer faced: the subject's unresolved findings at that point in the log. That
fingerprint is kept up to date per subject as findings are reported and
resolved, so a healing run costs one row read however many findings there are.
"""

from __future__ import annotations

import hashlib

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
_OPEN = "A"  # A, subject -> OpenFindings (what its unresolved findings add up to)
_HEALER = "H"  # H, subject, agent_name -> HealerRow (its latest healing runs)

#: The healing runs kept per subject and healer, oldest dropped first. The stuck check
#: (`verdict_rules.STUCK_RUNS`) looks at the last few; keeping more lets it look further
#: back without folding the log again.
HEAL_WINDOW = 16
_FINGERPRINT_DOMAIN = b"ledgerd-findings-fingerprint/1\n"
_SUM_MODULUS = 1 << 256


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
    #: Forbidden edits an allowance covered: shown, never counted against the patch.
    allowed: tuple[EditRow, ...]


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


class OpenFindings(_Row, frozen=True):
    """A subject's unresolved findings, summed up (see `fingerprint`)."""

    count: int
    #: The sum, modulo 2**256, of their `finding_digest`s: 32 bytes, big-endian.
    total: bytes

    @property
    def fingerprint(self) -> str | None:
        """specs/verdicts.md §7.1: null when no finding is unresolved."""
        if self.count == 0:
            return None
        body = self.count.to_bytes(8, "big") + self.total
        return hashlib.sha256(_FINGERPRINT_DOMAIN + body).hexdigest()


NO_OPEN_FINDINGS = OpenFindings(count=0, total=bytes(32))


class HealRun(_Row, frozen=True):
    """One healing run, with the findings it faced."""

    seq: int
    run_id: str
    run_status: str
    heal_reason: str
    #: `OpenFindings.fingerprint` of the subject when the run was recorded.
    fingerprint: str | None
    unresolved: int
    recorded_at: str
    producer: str


class HealerRow(_Row, frozen=True):
    agent_name: str
    #: Its latest healing runs of the subject, at most HEAL_WINDOW, oldest first.
    runs: tuple[HealRun, ...]


FINDINGS = RowCodec(FindingRow)
WAIVERS = RowCodec(WaiverRow)
PATCHES = RowCodec(PatchRow)
PROBES = RowCodec(ProbeRow)
GATES = RowCodec(GateRow)
SUBJECTS = RowCodec(SubjectRow)
OPEN = RowCodec(OpenFindings)
HEALERS = RowCodec(HealerRow)


def finding_digest(row: FindingRow) -> int:
    """What one unresolved finding adds to its subject's fingerprint (specs/verdicts.md §7.1).

    SHA-256 over its finding id, severity, rule id, file, line (decimal, or empty
    when null) and `what`, each as its UTF-8 length (4 bytes, big-endian) and bytes.
    """
    digest = hashlib.sha256()
    line = "" if row.line is None else str(row.line)
    for part in (row.finding_id, row.severity, row.rule_id, row.file, line, row.what):
        raw = part.encode("utf-8")
        digest.update(len(raw).to_bytes(4, "big") + raw)
    return int.from_bytes(digest.digest(), "big")


def _counted(found: OpenFindings, row: FindingRow, sign: int) -> OpenFindings:
    total = (int.from_bytes(found.total, "big") + sign * finding_digest(row)) % _SUM_MODULUS
    return OpenFindings(count=found.count + sign, total=total.to_bytes(32, "big"))


class SubjectsProjection:
    """Folds the gate's events per subject (see the module docstring)."""

    name = NAME
    version = 4
    event_types = frozenset(
        {
            "finding.reported",
            "finding.resolved",
            "waiver.granted",
            "waiver.revoked",
            "patch.inspected",
            "command.executed",
            "gate.evaluated",
            "run.recorded",
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
        elif kind == "run.recorded":
            _heal(fact, views.RECORDED.read(fact), state)


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
    if old is not None and not old.resolved:
        _count_open(data.subject, old, -1, state)
    _count_open(data.subject, row, 1, state)
    _touch(data.subject, fact.seq, state)


def _resolve(fact: Fact, data: views.Resolved, state: StateWriter) -> None:
    key = state_key(_FINDING, data.finding_id)
    old = state.get_row(key, FINDINGS)
    if old is None:
        return  # nothing reported yet to resolve; a later report opens it
    resolution = Resolution(fact.seq, data.resolution, data.resolved_by, data.note)
    state.put_row(key, msgspec.structs.replace(old, resolution=resolution), FINDINGS)
    if not old.resolved:
        _count_open(old.subject, old, -1, state)


def _count_open(subject: str, row: FindingRow, sign: int, state: StateWriter) -> None:
    key = state_key(_OPEN, subject)
    found = state.get_row(key, OPEN) or NO_OPEN_FINDINGS
    state.put_row(key, _counted(found, row, sign), OPEN)


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


def _edit_rows(edits: list[views.Edit]) -> tuple[EditRow, ...]:
    return tuple(EditRow(e.type, e.severity, e.file, e.line, e.evidence) for e in edits)


def _inspect(fact: Fact, data: views.Inspected, state: StateWriter) -> None:
    row = PatchRow(
        seq=fact.seq,
        event_id=fact.event_id,
        producer=fact.producer,
        verdict=data.verdict,
        automated=data.automated,
        diff_sha256=data.diff_sha256,
        edits=_edit_rows(data.edits),
        summary=data.summary,
        allowed=_edit_rows(data.allowed),
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


def _heal(fact: Fact, data: views.Recorded, state: StateWriter) -> None:
    subject, reason = data.subject, data.heal_reason
    if subject is None or reason is None:
        return  # not a healing run: it names no subject (schema 1.0), or heals nothing
    faced = state.get_row(state_key(_OPEN, subject), OPEN) or NO_OPEN_FINDINGS
    run = HealRun(
        seq=fact.seq,
        run_id=data.run_id,
        run_status=data.run_status,
        heal_reason=reason,
        fingerprint=faced.fingerprint,
        unresolved=faced.count,
        recorded_at=fact.recorded_at,
        producer=fact.producer,
    )
    key = state_key(_HEALER, subject, data.agent_name)
    old = state.get_row(key, HEALERS)
    runs = (*old.runs, run)[-HEAL_WINDOW:] if old is not None else (run,)
    state.put_row(key, HealerRow(agent_name=data.agent_name, runs=runs), HEALERS)
    _touch(subject, fact.seq, state)


# Reading ----------------------------------------------------------------------------------


class SubjectState(msgspec.Struct, frozen=True, gc=False):
    """Everything the verdict rules read about one subject."""

    subject: str
    findings: tuple[FindingRow, ...]
    waivers: dict[str, tuple[WaiverRow, ...]]
    patch: PatchRow | None
    probes: tuple[ProbeRow, ...]
    gate: GateRow | None
    #: Each healer's latest healing runs of the subject, by agent name.
    healers: tuple[HealerRow, ...]
    #: The subject's unresolved findings as the fold sums them up now.
    open_findings: OpenFindings
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
    healers = tuple(
        sorted(
            (HEALERS.decode(v) for _, v in state.scan(table_prefix(_HEALER, subject))),
            key=lambda h: h.agent_name,
        )
    )
    raw_open = state.get(state_key(_OPEN, subject))
    seqs = [
        *(f.reported_seq for f in findings),
        *(f.resolution.seq for f in findings if f.resolution is not None),
        *(w.granted_seq for ws in waivers.values() for w in ws),
        *(w.revocation.seq for ws in waivers.values() for w in ws if w.revocation is not None),
        *(p.seq for p in probes),
        *(row.seq for row in (patch, gate) if row is not None),
        *(h.runs[-1].seq for h in healers),
    ]
    return SubjectState(
        subject=subject,
        findings=tuple(sorted(findings, key=lambda f: f.finding_id)),
        waivers=waivers,
        patch=patch,
        probes=probes,
        gate=gate,
        healers=healers,
        open_findings=OPEN.decode(raw_open) if raw_open is not None else NO_OPEN_FINDINGS,
        last_seq=max(seqs) if seqs else None,
    )


def subjects(state: StateReader) -> list[SubjectRow]:
    """Every subject the log has said anything about, by name."""
    rows = [SUBJECTS.decode(value) for _, value in state.scan(table_prefix(_SUBJECT))]
    return sorted(rows, key=lambda r: r.subject)
