"""The verdict rules: from a subject's state and an evaluation time to the verdict quintet.

Pure functions of their arguments: the evaluation time is always passed in,
never read from a clock, so the same state and time give the same verdict.
Each field is decided by the first rule in its table that matches; the rule
ids and their order are the contract in `specs/verdicts.md`. Healing outcomes
(which healer is stuck) are judged here too, beside the quintet: no rule reads
them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ledger.projections.subjects import (
    FindingRow,
    HealerRow,
    HealRun,
    PatchRow,
    ProbeRow,
    SubjectState,
    WaiverRow,
)

FindingStatus = Literal["open", "waived", "expired_waiver", "resolved"]
WaiverStatus = Literal["active", "expired", "revoked", "superseded", "not_yet_granted"]
StuckBecause = Literal["repeated_findings", "reported"]

_HIGH = ("P0", "P1")
_CORRECTNESS = ("correctness", "contract", "test_integrity")
_ISOLATION = ("isolation", "side_effects")
_SYSTEMIC = ("security", "isolation", "resilience")
_BOUNDARY_EDITS = ("auth_bypass", "allowlist_weaken")
_GATE_EDITS = ("gate_config_weaken", "pack_disable", "severity_downgrade")
_PROBE_OUTCOMES = {"failed": "failed", "timed_out": "timed out", "error": "could not run"}
#: Blocking findings in at least this many distinct files make the blast radius wide.
WIDE_FILES = 5
#: A healer whose last this-many healing runs of a subject faced the same findings is stuck.
STUCK_RUNS = 3


@dataclass(frozen=True)
class JudgedWaiver:
    row: WaiverRow
    status: WaiverStatus


@dataclass(frozen=True)
class JudgedFinding:
    """A finding with its status at the evaluation time."""

    row: FindingRow
    status: FindingStatus
    waivers: tuple[JudgedWaiver, ...]

    @property
    def blocking(self) -> bool:
        """Open and not covered by an active waiver: what the rules count."""
        return self.status in ("open", "expired_waiver")


@dataclass(frozen=True)
class Because:
    """Why a field has its value: the rule that decided it and what it matched."""

    rule: str
    reason: str
    findings: tuple[str, ...] = ()
    waivers: tuple[str, ...] = ()
    probes: tuple[str, ...] = ()
    seqs: tuple[int, ...] = ()


@dataclass(frozen=True)
class Decided:
    value: str
    because: Because


@dataclass(frozen=True)
class RequiredFix:
    kind: Literal["finding", "patch", "probe"]
    ref: str
    severity: str | None
    text: str
    seq: int


@dataclass(frozen=True)
class JudgedHealer:
    """A healer of a subject, judged on its latest healing runs."""

    row: HealerRow
    #: Its last STUCK_RUNS runs (fewer if it has run fewer times), oldest first.
    considered: tuple[HealRun, ...]
    stuck_because: StuckBecause | None
    #: The fingerprint its considered runs all faced, when that is why it is stuck.
    repeated_fingerprint: str | None

    @property
    def last(self) -> HealRun:
        return self.row.runs[-1]

    @property
    def stuck(self) -> bool:
        return self.stuck_because is not None

    @property
    def outcome(self) -> str:
        """Its last run's `heal_reason`, overridden by `stuck` when it is stuck."""
        return "stuck" if self.stuck else self.last.heal_reason


@dataclass(frozen=True)
class Healing:
    """Who heals a subject and how it went (specs/verdicts.md §7)."""

    healers: tuple[JudgedHealer, ...]
    #: The healer whose last run is the subject's latest healing run.
    latest: JudgedHealer | None


@dataclass(frozen=True)
class Verdict:
    production_readiness: Decided
    correctness: Decided
    isolation: Decided
    blast_radius: Decided
    required_fixes_before_merge: tuple[RequiredFix, ...]
    findings: tuple[JudgedFinding, ...]
    healing: Healing


def parse_time(value: str) -> datetime:
    """A stored UtcTime (already validated on append) as an aware datetime."""
    return datetime.fromisoformat(value)


def judge_waiver(row: WaiverRow, finding: FindingRow, at: datetime) -> WaiverStatus:
    """Whether a waiver covers its finding at `at`.

    Revoked beats everything. A waiver granted before the report that last
    reopened the finding (a regression) covers it no more: it is `superseded`.
    Otherwise it counts from when it took effect (`granted_at`) until strictly
    before its expiry.
    """
    if row.revocation is not None:
        return "revoked"
    if finding.reopened_seq is not None and row.granted_seq < finding.reopened_seq:
        return "superseded"
    if at < parse_time(row.granted_at):
        return "not_yet_granted"
    return "active" if at < parse_time(row.expiry) else "expired"


def judge_finding(row: FindingRow, waivers: Sequence[WaiverRow], at: datetime) -> JudgedFinding:
    """A finding's status at `at`: resolved, waived, expired_waiver or open."""
    judged = tuple(JudgedWaiver(w, judge_waiver(w, row, at)) for w in waivers)
    status: FindingStatus
    if row.resolution is not None:
        status = "resolved"
    elif any(w.status == "active" for w in judged):
        status = "waived"
    elif any(w.status == "expired" for w in judged):
        status = "expired_waiver"
    else:
        status = "open"
    return JudgedFinding(row, status, judged)


@dataclass(frozen=True)
class _Facts:
    """What the rules look at, precomputed once per evaluation."""

    findings: tuple[JudgedFinding, ...]
    patch: PatchRow | None
    probes: tuple[ProbeRow, ...]

    def blocking(
        self, severities: Sequence[str] = ("P0", "P1", "P2", "P3"), categories: Sequence[str] = ()
    ) -> list[JudgedFinding]:
        return [
            f
            for f in self.findings
            if f.blocking
            and f.row.severity in severities
            and (not categories or f.row.category in categories)
        ]

    def waived(
        self, severities: Sequence[str], categories: Sequence[str] = ()
    ) -> list[JudgedFinding]:
        return [
            f
            for f in self.findings
            if f.status == "waived"
            and f.row.severity in severities
            and (not categories or f.row.category in categories)
        ]

    def unsafe(self, edit_types: Sequence[str] = ()) -> PatchRow | None:
        patch = self.patch
        if patch is None or patch.verdict != "UNSAFE_PATCH_ATTEMPT":
            return None
        if edit_types and not any(edit.type in edit_types for edit in patch.edits):
            return None
        return patch

    def probes_with(self, *statuses: str) -> list[ProbeRow]:
        return [p for p in self.probes if p.status in statuses]


def _about_findings(rule: str, reason: str, found: Sequence[JudgedFinding]) -> Because | None:
    if not found:
        return None
    return Because(
        rule=rule,
        reason=reason,
        findings=tuple(f.row.finding_id for f in found),
        waivers=tuple(w.row.waiver_id for f in found for w in f.waivers),
        seqs=tuple(sorted({s for f in found for s in _finding_seqs(f)})),
    )


def _finding_seqs(found: JudgedFinding) -> list[int]:
    seqs = [found.row.reported_seq]
    for waiver in found.waivers:
        seqs.append(waiver.row.granted_seq)
        if waiver.row.revocation is not None:
            seqs.append(waiver.row.revocation.seq)
    return seqs


def _about_patch(rule: str, reason: str, patch: PatchRow | None) -> Because | None:
    if patch is None:
        return None
    return Because(rule=rule, reason=reason, seqs=(patch.seq,))


def _about_probes(rule: str, reason: str, probes: Sequence[ProbeRow]) -> Because | None:
    if not probes:
        return None
    return Because(
        rule=rule,
        reason=reason,
        probes=tuple(p.probe for p in probes),
        seqs=tuple(sorted(p.seq for p in probes)),
    )


_Rule = tuple[str, Callable[[_Facts], Because | None]]

# Each table: (value, rule) in order; the first rule that matches decides the field.
READINESS: tuple[_Rule, ...] = (
    (
        "not_ready",
        lambda f: _about_findings(
            "READY-1", "an open, unwaived P0 finding is a stop condition", f.blocking(["P0"])
        ),
    ),
    (
        "not_ready",
        lambda f: _about_patch(
            "READY-2", "the latest patch inspection found an UNSAFE_PATCH_ATTEMPT", f.unsafe()
        ),
    ),
    (
        "not_ready",
        lambda f: _about_findings(
            "READY-3", "open, unwaived P1 findings must be fixed before merge", f.blocking(["P1"])
        ),
    ),
    (
        "not_ready",
        lambda f: _about_probes(
            "READY-4",
            "the latest run of a probe did not pass",
            f.probes_with("failed", "timed_out", "error"),
        ),
    ),
    (
        "conditionally_ready",
        lambda f: _about_findings(
            "READY-5", "open, unwaived P2 findings remain", f.blocking(["P2"])
        ),
    ),
    (
        "conditionally_ready",
        lambda f: _about_findings(
            "READY-6", "P0 or P1 findings are merged only under active waivers", f.waived(_HIGH)
        ),
    ),
)
CORRECTNESS: tuple[_Rule, ...] = (
    (
        "incorrect",
        lambda f: _about_findings(
            "CORRECT-1",
            "a verified correctness, contract or test-integrity defect is open",
            [
                x
                for x in f.blocking(("P0", "P1", "P2"), _CORRECTNESS)
                if x.row.evidence == "verified"
            ],
        ),
    ),
    (
        "incorrect",
        lambda f: _about_probes("CORRECT-2", "a probe failed", f.probes_with("failed")),
    ),
    (
        "high_risk",
        lambda f: _about_patch(
            "CORRECT-3", "the patch tried to weaken the checks that judge it", f.unsafe()
        ),
    ),
    (
        "high_risk",
        lambda f: _about_probes(
            "CORRECT-4",
            "a probe timed out or could not run, so its check is unknown",
            f.probes_with("timed_out", "error"),
        ),
    ),
    (
        "high_risk",
        lambda f: _about_findings(
            "CORRECT-5", "open, unwaived P0 or P1 findings", f.blocking(_HIGH)
        ),
    ),
    (
        "high_risk",
        lambda f: _about_findings(
            "CORRECT-6",
            "a suspected (hypothesis) correctness defect is open",
            [
                x
                for x in f.blocking(("P0", "P1", "P2"), _CORRECTNESS)
                if x.row.evidence == "hypothesis"
            ],
        ),
    ),
)
ISOLATION: tuple[_Rule, ...] = (
    (
        "weak",
        lambda f: _about_findings(
            "ISOLATION-1",
            "an open, unwaived P0 or P1 isolation, side-effect or security finding",
            f.blocking(_HIGH, (*_ISOLATION, "security")),
        ),
    ),
    (
        "weak",
        lambda f: _about_patch(
            "ISOLATION-2",
            "the patch bypasses authentication or widens an allow-list",
            f.unsafe(_BOUNDARY_EDITS),
        ),
    ),
    (
        "moderate",
        lambda f: _about_findings(
            "ISOLATION-3",
            "lesser isolation or side-effect findings are open or waived",
            [
                *f.blocking(("P2", "P3"), _ISOLATION),
                *f.waived(("P0", "P1", "P2", "P3"), _ISOLATION),
            ],
        ),
    ),
)
BLAST_RADIUS: tuple[_Rule, ...] = (
    (
        "systemic",
        lambda f: _about_findings(
            "BLAST-1",
            "an open, unwaived P0 security, isolation or resilience finding",
            f.blocking(["P0"], _SYSTEMIC),
        ),
    ),
    (
        "systemic",
        lambda f: _about_patch(
            "BLAST-2",
            "the patch weakens the gate itself, which every later change relies on",
            f.unsafe(_GATE_EDITS),
        ),
    ),
    (
        "wide",
        lambda f: _about_findings("BLAST-3", "open, unwaived P0 or P1 findings", f.blocking(_HIGH)),
    ),
    (
        "wide",
        lambda f: _about_findings(
            "BLAST-4",
            f"open, unwaived findings in {WIDE_FILES} or more files",
            f.blocking() if len({x.row.file for x in f.blocking()}) >= WIDE_FILES else [],
        ),
    ),
    (
        "contained",
        lambda f: _about_findings("BLAST-5", "open, unwaived findings remain", f.blocking()),
    ),
    (
        "contained",
        lambda f: _about_findings("BLAST-6", "P0 or P1 findings are waived", f.waived(_HIGH)),
    ),
)
#: The value and rule each field takes when none of its rules matches.
DEFAULTS = {
    "production_readiness": (
        "ready",
        "READY-7",
        "no blocking finding, unsafe patch or failed probe",
    ),
    "correctness": ("correct", "CORRECT-7", "no open defect and every probe passed"),
    "isolation": ("strong", "ISOLATION-4", "no isolation concern"),
    "blast_radius": ("minimal", "BLAST-7", "no open, unwaived finding"),
}


def _decide(field: str, rules: Sequence[_Rule], facts: _Facts) -> Decided:
    for value, rule in rules:
        because = rule(facts)
        if because is not None:
            return Decided(value, because)
    value, rule_id, reason = DEFAULTS[field]
    return Decided(value, Because(rule=rule_id, reason=reason))


def _location(row: FindingRow) -> str:
    return f"{row.file}:{row.line}" if row.line is not None else row.file


def _required_fixes(facts: _Facts) -> tuple[RequiredFix, ...]:
    fixes: list[RequiredFix] = []
    for found in sorted(facts.blocking(_HIGH), key=lambda f: (f.row.severity, f.row.finding_id)):
        row = found.row
        fix = f"; fix: {row.proposed_fix}" if row.proposed_fix else ""
        fixes.append(
            RequiredFix(
                kind="finding",
                ref=row.finding_id,
                severity=row.severity,
                text=f"{row.severity} {row.finding_id} at {_location(row)}: {row.what}{fix}",
                seq=row.reported_seq,
            )
        )
    patch = facts.unsafe()
    if patch is not None:
        kinds = ", ".join(sorted({edit.type for edit in patch.edits}))
        fixes.append(
            RequiredFix(
                kind="patch",
                ref=patch.event_id,
                severity=None,
                text=f"remove the forbidden edits from the patch ({kinds})",
                seq=patch.seq,
            )
        )
    for probe in facts.probes_with("failed", "timed_out", "error"):
        exit_code = f", exit code {probe.exit_code}" if probe.exit_code is not None else ""
        outcome = _PROBE_OUTCOMES.get(probe.status, probe.status)
        fixes.append(
            RequiredFix(
                kind="probe",
                ref=probe.probe,
                severity=None,
                text=f"make probe {probe.probe} pass (it {outcome}{exit_code})",
                seq=probe.seq,
            )
        )
    return tuple(fixes)


def judge_healer(row: HealerRow, current_fingerprint: str | None) -> JudgedHealer:
    """Whether a healer is stuck on its subject.

    Stuck by repetition: its last STUCK_RUNS runs all faced the same, non-empty
    findings, and the subject's unresolved findings are still those (a fix that
    landed after its last run unsticks it). Stuck by its own word: its last run's
    `heal_reason` is `stuck`.
    """
    considered = row.runs[-STUCK_RUNS:]
    faced = {run.fingerprint for run in considered}
    repeated = (
        current_fingerprint
        if len(considered) == STUCK_RUNS
        and current_fingerprint is not None
        and faced == {current_fingerprint}
        else None
    )
    because: StuckBecause | None = None
    if repeated is not None:
        because = "repeated_findings"
    elif row.runs[-1].heal_reason == "stuck":
        because = "reported"
    return JudgedHealer(row, considered, because, repeated)


def judge_healing(subject: SubjectState) -> Healing:
    """Every healer of `subject` judged, and the one that healed it last."""
    current = subject.open_findings.fingerprint
    healers = tuple(judge_healer(row, current) for row in subject.healers)
    latest = max(healers, key=lambda h: h.last.seq, default=None)
    return Healing(healers=healers, latest=latest)


def judge(subject: SubjectState, at: datetime) -> Verdict:
    """The verdict on `subject` at evaluation time `at`."""
    findings = tuple(
        judge_finding(row, subject.waivers.get(row.finding_id, ()), at) for row in subject.findings
    )
    facts = _Facts(findings=findings, patch=subject.patch, probes=subject.probes)
    return Verdict(
        production_readiness=_decide("production_readiness", READINESS, facts),
        correctness=_decide("correctness", CORRECTNESS, facts),
        isolation=_decide("isolation", ISOLATION, facts),
        blast_radius=_decide("blast_radius", BLAST_RADIUS, facts),
        required_fixes_before_merge=_required_fixes(facts),
        findings=findings,
        healing=judge_healing(subject),
    )
