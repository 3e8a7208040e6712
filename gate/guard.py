"""The honesty guard: inspect a patch for edits that weaken the checks instead of passing them.

`inspect_patch` parses a git diff (gate/diff.py), runs the per-type rules
(gate/guard_rules.py) over every file, moves the edits an unexpired allowance
covers into `allowed` (never for automated patches) and gives the verdict:
UNSAFE_PATCH_ATTEMPT exactly when a blocking edit remains. The inspection
becomes a `patch.inspected` payload and, edit by edit, `finding.reported`
payloads. specs/honesty-guard.md is the contract.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from gate._globs import glob_match
from gate.config import AllowedSuppression, GuardPolicy
from gate.diff import parse_diff
from gate.guard_rules import SEVERITY, file_edits, locked_file_change
from ledger.model._rules import parse_utc
from ledger.model.finding import FindingCategory, FindingV1, Severity
from ledger.model.gate_records import PatchEdit, PatchEditType, PatchInspectedV1, PatchVerdict

#: The order edit types are listed in, everywhere (the order of `PatchEditType`).
EDIT_TYPES: tuple[PatchEditType, ...] = tuple(SEVERITY)

_PAYLOAD_MAX_EDITS = 10_000
_SHOWN_PER_TYPE = 3
_SHOWN_PATH = 200

FINDING_SEVERITY: Mapping[str, Severity] = {
    "critical": "P0",
    "high": "P1",
    "medium": "P2",
    "low": "P3",
}
FINDING_CATEGORY: Mapping[PatchEditType, FindingCategory] = {
    "spec_modification": "contract",
    "suppression_insertion": "test_integrity",
    "pack_disable": "test_integrity",
    "severity_downgrade": "test_integrity",
    "allowlist_weaken": "security",
    "auth_bypass": "security",
    "gate_config_weaken": "test_integrity",
}
_WHAT: Mapping[PatchEditType, str] = {
    "spec_modification": "A protected spec was changed",
    "suppression_insertion": "A suppression directive was added",
    "pack_disable": "A policy pack was disabled",
    "severity_downgrade": "A rule's severity was lowered",
    "allowlist_weaken": "An origin, host or redirect allowlist was opened to everyone",
    "auth_bypass": "Authentication was switched off or hard-coded",
    "gate_config_weaken": "The gate's configuration was weakened",
}
_WHY: Mapping[PatchEditType, str] = {
    "spec_modification": (
        "Specs, intents and contracts define what the code must do; a patch that edits them "
        "can make failing code look correct by moving the target."
    ),
    "suppression_insertion": (
        "A suppression silences a linter, type checker or test instead of fixing what it found, "
        "so the problem ships unseen; a healer's binary change to a source file could hide one."
    ),
    "pack_disable": (
        "Disabling or removing a policy pack turns off a whole family of checks at once; "
        "nothing it would have caught is reported any more."
    ),
    "severity_downgrade": (
        "A rule lowered from error to a warning (or off) no longer fails the build, so its "
        "violations pass the gate."
    ),
    "allowlist_weaken": (
        "A wildcard origin, host or redirect allowlist (or permitAll) lets any site or caller "
        "through, which the allowlist existed to prevent."
    ),
    "auth_bypass": (
        "Switching authentication off or hard-coding an authenticated answer lets "
        "unauthenticated callers in."
    ),
    "gate_config_weaken": (
        "Lowering a gate threshold, switching strictness off, removing a check, adding an "
        "exclusion or an allowance, or hiding files from the diff makes the gate pass what it "
        "used to block."
    ),
}
_FIX: Mapping[PatchEditType, str] = {
    "spec_modification": (
        "Revert the change to the protected file and make the code meet the spec; if the spec "
        "itself must change, have a person change it in a separate, reviewed patch."
    ),
    "suppression_insertion": (
        "Remove the directive and fix the underlying problem; if it truly is a false positive, "
        "add a dated [[guard.allow]] entry with a justification."
    ),
    "pack_disable": "Re-enable the policy pack and fix the violations it reports.",
    "severity_downgrade": "Restore the rule's severity to error and fix its violations.",
    "allowlist_weaken": "List the exact origins, hosts or redirect targets that must be allowed.",
    "auth_bypass": "Remove the bypass; give tests their own authenticated fixtures instead.",
    "gate_config_weaken": (
        "Revert the gate configuration change; changes to the gate need a person's review."
    ),
}


@dataclass(frozen=True)
class Inspection:
    """What the guard found in one patch."""

    verdict: PatchVerdict
    automated: bool
    #: Blocking edits, ordered by file, line and type.
    edits: tuple[PatchEdit, ...]
    #: Edits an unexpired allowance covered (always empty for automated patches).
    allowed: tuple[PatchEdit, ...]
    summary: str
    diff_sha256: str
    #: How many file diffs the patch holds.
    files: int

    def to_payload(self, subject: str, run_id: str | None) -> PatchInspectedV1:
        """The `patch.inspected` payload (edit lists cut at 10,000; the summary counts all)."""
        return PatchInspectedV1(
            subject=subject,
            verdict=self.verdict,
            automated=self.automated,
            diff_sha256=self.diff_sha256,
            edits=list(self.edits[:_PAYLOAD_MAX_EDITS]),
            allowed=list(self.allowed[:_PAYLOAD_MAX_EDITS]),
            summary=self.summary,
            run_id=run_id,
        )


def inspect_patch(
    diff: bytes,
    policy: GuardPolicy,
    *,
    automated: bool,
    now: datetime,
    locked: Sequence[str] = (),
) -> Inspection:
    """Inspect a git diff; INVALID_DIFF when it is not one (specs/honesty-guard.md).

    `locked` names files (repository-relative) the change must not touch at all,
    such as the gate config the gate runs with: any change to one is a critical
    `gate_config_weaken` that no allowance covers.
    """
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    files = parse_diff(diff)
    found: dict[tuple[str, int, PatchEditType], PatchEdit] = {}
    unallowable: set[PatchEdit] = set()
    for file in files:
        change = locked_file_change(file, locked)
        if change is not None:
            found[(change.file, change.line or 0, change.type)] = change
            unallowable.add(change)
        for edit in file_edits(file, policy, automated=automated):
            found.setdefault((edit.file, edit.line or 0, edit.type), edit)
    ordered = [found[key] for key in sorted(found, key=_order)]
    allowances = () if automated else _active(policy.allow, now)
    edits: list[PatchEdit] = []
    allowed: list[PatchEdit] = []
    for edit in ordered:
        covered = edit not in unallowable and _is_allowed(edit, allowances)
        (allowed if covered else edits).append(edit)
    verdict: PatchVerdict = "UNSAFE_PATCH_ATTEMPT" if edits else "CLEAN"
    return Inspection(
        verdict=verdict,
        automated=automated,
        edits=tuple(edits),
        allowed=tuple(allowed),
        summary=_summary(verdict, edits, allowed, len(files)),
        diff_sha256=hashlib.sha256(diff).hexdigest(),
        files=len(files),
    )


def _order(key: tuple[str, int, PatchEditType]) -> tuple[str, int, int]:
    path, line, kind = key
    return path, line, EDIT_TYPES.index(kind)


def _active(
    allowances: Iterable[AllowedSuppression], now: datetime
) -> tuple[AllowedSuppression, ...]:
    return tuple(a for a in allowances if now < parse_utc(a.expiry, "expiry"))


def _is_allowed(edit: PatchEdit, allowances: Iterable[AllowedSuppression]) -> bool:
    return any(
        a.type == edit.type and a.pattern in edit.evidence and glob_match(a.files, edit.file)
        for a in allowances
    )


def _summary(
    verdict: PatchVerdict, edits: list[PatchEdit], allowed: list[PatchEdit], files: int
) -> str:
    """One headline, then one line per edit type: count and the first places."""
    noun = "file" if files == 1 else "files"
    if edits:
        touched = len({edit.file for edit in edits})
        head = f"{verdict}: {len(edits)} blocking edit{'s' if len(edits) != 1 else ''} in "
        head += f"{touched} of {files} {noun}"
    else:
        head = f"{verdict}: no blocking edits in {files} {noun}"
    lines = [head, *_by_type(edits, "")]
    if allowed:
        lines.append(f"allowed by policy: {len(allowed)}")
        lines.extend(_by_type(allowed, "allowed "))
    # At most 15 lines of at most three places, each cut to _SHOWN_PATH: always < 16 KiB.
    return "\n".join(lines)


def _by_type(edits: list[PatchEdit], prefix: str) -> list[str]:
    lines = []
    for kind in EDIT_TYPES:
        of_kind = [edit for edit in edits if edit.type == kind]
        if not of_kind:
            continue
        places = [_place(edit) for edit in of_kind[:_SHOWN_PER_TYPE]]
        more = len(of_kind) - len(places)
        shown = ", ".join(places) + (f" and {more} more" if more else "")
        lines.append(f"  {prefix}{kind} ({SEVERITY[kind]}): {len(of_kind)} - {shown}")
    return lines


def _place(edit: PatchEdit) -> str:
    path = edit.file if len(edit.file) <= _SHOWN_PATH else "\u2026" + edit.file[-_SHOWN_PATH:]
    return path if edit.line is None else f"{path}:{edit.line}"


def finding_id(subject: str, edit: PatchEdit) -> str:
    """Stable per subject and edit: the same patch inspected again yields the same ids."""
    key = json.dumps([subject, edit.type, edit.file, edit.line, edit.evidence])
    return "guard-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


def edit_findings(inspection: Inspection, *, subject: str, run_id: str) -> list[FindingV1]:
    """One verified `finding.reported` payload per blocking edit (allowed edits give none)."""
    return [
        FindingV1(
            finding_id=finding_id(subject, edit),
            subject=subject,
            severity=FINDING_SEVERITY[edit.severity],
            evidence="verified",
            file=edit.file,
            line=edit.line,
            what=_what(edit),
            why=_WHY[edit.type],
            when=f"in the inspected patch (diff sha256 {inspection.diff_sha256})",
            proposed_fix=_FIX[edit.type],
            rule_id=f"guard/{edit.type}",
            stage="gate",
            category=FINDING_CATEGORY[edit.type],
            run_id=run_id,
        )
        for edit in inspection.edits
    ]


def _what(edit: PatchEdit) -> str:
    where = edit.file if edit.line is None else f"{edit.file}:{edit.line}"
    return f"{_WHAT[edit.type]} in {where}: {edit.evidence}"
