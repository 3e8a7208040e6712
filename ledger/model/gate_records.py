"""Gate records v1.0: what a gate ran, what it saw in a patch, and what it decided.

`command.executed` records one probe command and its outcome; `patch.inspected`
records the forbidden edits found in a patch; `gate.evaluated` records a verdict
as it was computed at one log position (verdicts are always recomputed, so this
is kept for the record only).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from ledger.model._rules import (
    Digest,
    ExitCode,
    Label,
    LineNumber,
    Text,
    TextLine,
    UtcTime,
    Uuid,
    check_relative_path,
    parse_utc,
)
from ledger.model.payload import Payload

CommandStatus = Literal["passed", "failed", "timed_out", "error"]
PatchVerdict = Literal["CLEAN", "UNSAFE_PATCH_ATTEMPT"]
PatchEditType = Literal[
    "spec_modification",
    "suppression_insertion",
    "pack_disable",
    "severity_downgrade",
    "allowlist_weaken",
    "auth_bypass",
    "gate_config_weaken",
]
PatchEditSeverity = Literal["critical", "high", "medium", "low"]
ProductionReadiness = Literal["ready", "conditionally_ready", "not_ready"]
Correctness = Literal["correct", "incorrect", "high_risk"]
Isolation = Literal["strong", "moderate", "weak"]
BlastRadius = Literal["minimal", "contained", "wide", "systemic"]

#: A non-negative count or duration that fits a signed 64-bit integer.
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]

_MAX_EDITS = 10_000
_MAX_FIXES = 1000


class CommandExecutedV1(Payload, frozen=True):
    """`command.executed` schema 1.0: one probe command a gate ran and how it ended."""

    subject: TextLine
    probe: Label
    command: TextLine
    status: CommandStatus
    exit_code: ExitCode | None
    duration_ms: Count
    stdout_stderr_summary: Text
    run_id: Uuid | None = None

    def __post_init__(self) -> None:
        if self.status == "passed" and self.exit_code != 0:
            raise ValueError("`exit_code` must be 0 when `status` is passed")
        if self.status == "failed" and (self.exit_code is None or self.exit_code == 0):
            raise ValueError("`exit_code` must be a non-zero integer when `status` is failed")


class PatchEdit(Payload, frozen=True):
    """One edit in a patch that matched a forbidden pattern."""

    type: PatchEditType
    severity: PatchEditSeverity
    file: str
    line: LineNumber | None
    evidence: TextLine

    def __post_init__(self) -> None:
        check_relative_path(self.file, "file")


class PatchInspectedV1(Payload, frozen=True, kw_only=True):
    """`patch.inspected` schema 1.0: the forbidden edits found in one patch.

    `kw_only` is restated for type checkers: `allowed` has a default and `summary`,
    declared after it, does not.
    """

    subject: TextLine
    verdict: PatchVerdict
    automated: bool
    diff_sha256: Digest
    #: Forbidden edits that no allowance covers: any makes the patch unsafe.
    edits: Annotated[list[PatchEdit], msgspec.Meta(max_length=_MAX_EDITS)]
    #: Forbidden edits an unexpired allowance covered (never for automated patches).
    allowed: Annotated[list[PatchEdit], msgspec.Meta(max_length=_MAX_EDITS)] = msgspec.field(
        default_factory=list
    )
    summary: Text
    run_id: Uuid | None = None

    def __post_init__(self) -> None:
        if self.edits and self.verdict != "UNSAFE_PATCH_ATTEMPT":
            raise ValueError("`verdict` must be UNSAFE_PATCH_ATTEMPT when `edits` is not empty")
        if not self.edits and self.verdict != "CLEAN":
            raise ValueError("`verdict` must be CLEAN when `edits` is empty")
        if self.automated and self.allowed:
            raise ValueError("`allowed` must be empty when `automated` is true")


class GateEvaluatedV1(Payload, frozen=True):
    """`gate.evaluated` schema 1.0: a verdict as computed over the first `log_position` events."""

    subject: TextLine
    production_readiness: ProductionReadiness
    correctness: Correctness
    isolation: Isolation
    blast_radius: BlastRadius
    required_fixes_before_merge: Annotated[list[TextLine], msgspec.Meta(max_length=_MAX_FIXES)]
    evaluated_at: UtcTime
    log_position: Count
    strict: bool
    passed: bool
    run_id: Uuid | None = None

    def __post_init__(self) -> None:
        parse_utc(self.evaluated_at, "evaluated_at")
        readiness = self.production_readiness
        if readiness == "not_ready" and self.passed:
            raise ValueError("`passed` must be false when `production_readiness` is not_ready")
        if readiness == "ready" and not self.passed:
            raise ValueError("`passed` must be true when `production_readiness` is ready")
        if readiness == "conditionally_ready" and self.passed == self.strict:
            raise ValueError(
                f"`passed` must be {str(not self.strict).lower()} when `production_readiness` "
                f"is conditionally_ready and `strict` is {str(self.strict).lower()}"
            )
