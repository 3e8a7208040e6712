"""The source-health formula: status, score and actionable codes at an evaluation time.

Pure functions of a source's row, its suppression history and the evaluation
time; `specs/source-health.md` states the same formula for outsiders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from ledger.projections.sources import SourceRow, SuppressionRow

Status = Literal["healthy", "degraded", "stale", "failing", "never_seen"]
Tier = Literal["required", "standard", "best_effort"]

#: What an unregistered source is held to.
DEFAULT_TIER: Tier = "standard"
DEFAULT_INTERVAL_S = 86_400
DEFAULT_BUDGET = 0.25
#: This many failures in a row make a source failing.
FAILING_STREAK = 3


@dataclass(frozen=True)
class Code:
    """One actionable finding about a source's health."""

    code: str
    message: str
    hint: str
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Suppression:
    """A suppression as it stands at the evaluation time."""

    suppression_id: str
    reason: str
    owner: str
    expiry: str
    seq: int


@dataclass(frozen=True)
class SourceHealth:
    source_id: str
    tier: Tier
    registered: bool
    expected_interval_s: int
    failure_budget: float
    status: Status
    score: int
    codes: tuple[Code, ...]
    suppressed_by: Suppression | None
    #: Why `health --strict` blocks on this source, or None when it does not.
    blocks: str | None
    window_failures: int
    window_size: int


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


SuppressionStatus = Literal["active", "expired", "lifted", "replaced", "not_yet_added"]


@dataclass(frozen=True)
class JudgedSuppression:
    """One `suppression.added`, the entry that ends it (a lift or a new addition of the
    same id, if any), and its status at a time."""

    added: SuppressionRow
    ended_by: SuppressionRow | None
    status: SuppressionStatus


def judge_suppressions(history: Sequence[SuppressionRow], at: datetime) -> list[JudgedSuppression]:
    """Each addition in log order, judged at `at`.

    An addition counts from when it takes effect (`facts.effective_at`) until
    its expiry, or until the next entry with the same id takes effect: a lift
    ends it (`lifted`), and an addition of the same id replaces it
    (`replaced`), whichever comes first.
    """
    judged: list[JudgedSuppression] = []
    for position, row in enumerate(history):
        if row.action != "added":
            continue
        ended_by = next(
            (
                later
                for later in history[position + 1 :]
                if later.suppression_id == row.suppression_id
            ),
            None,
        )
        status: SuppressionStatus
        if at < _time(row.effective_at):
            status = "not_yet_added"
        elif ended_by is not None and at >= _time(ended_by.effective_at):
            status = "lifted" if ended_by.action == "lifted" else "replaced"
        elif row.expiry is None or at >= _time(row.expiry):
            status = "expired"
        else:
            status = "active"
        judged.append(JudgedSuppression(row, ended_by, status))
    return judged


def active_suppression(history: Sequence[SuppressionRow], at: datetime) -> Suppression | None:
    """The most recently added suppression in force at `at`, if any."""
    current = [j.added for j in judge_suppressions(history, at) if j.status == "active"]
    if not current:
        return None
    row = max(current, key=lambda r: r.seq)
    return Suppression(row.suppression_id, row.reason, row.owner, row.expiry or "", row.seq)


def assess(row: SourceRow, history: Sequence[SuppressionRow], at: datetime) -> SourceHealth:
    """A source's health at `at` (see specs/source-health.md)."""
    registration = row.registration
    tier: Tier = DEFAULT_TIER
    interval = DEFAULT_INTERVAL_S
    budget = DEFAULT_BUDGET
    if registration is not None:
        tier = _tier(registration.tier)
        interval = registration.expected_interval_s
        budget = registration.failure_budget
    suppression = active_suppression(history, at)
    codes: list[Code] = []
    failures = row.window.count("0")
    size = len(row.window)
    if row.last_seen_at is None:
        status: Status = "never_seen"
        score = 0
        codes.append(
            Code(
                "NEVER_SEEN",
                f"{row.source_id} has never reported",
                "check that the source runs and writes with this producer name",
            )
        )
    else:
        age = max(at - _time(row.last_seen_at), timedelta(0))
        age_s = int(age.total_seconds())
        over_budget = size > 0 and failures > budget * size
        streak = row.consecutive_failures
        if streak:
            codes.append(
                Code(
                    "CONSECUTIVE_FAILURES",
                    f"the last {streak} observation(s) failed"
                    + (f", latest error {row.last_error_code}" if row.last_error_code else ""),
                    "look at the source's latest failures and fix their cause",
                    {"count": streak, "last_error_code": row.last_error_code},
                )
            )
        if over_budget:
            codes.append(
                Code(
                    "BUDGET_EXCEEDED",
                    f"{failures} of the last {size} observations failed; "
                    f"the budget allows {budget:g} of them",
                    "fix the failures, or raise the budget (source.registered) if expected",
                    {"failures": failures, "window": size, "budget": budget},
                )
            )
        if age_s > 2 * interval:
            codes.append(
                Code(
                    "STALE_SINCE",
                    f"silent since {row.last_seen_at}, "
                    f"over twice its expected interval of {interval} s",
                    "check that the source still runs and can reach the ledger",
                    {"since": row.last_seen_at, "age_s": age_s, "expected_interval_s": interval},
                )
            )
        elif age_s > interval:
            codes.append(
                Code(
                    "LATE",
                    f"last seen {row.last_seen_at}, "
                    f"later than its expected interval of {interval} s",
                    "nothing to do yet unless it stays silent",
                    {"since": row.last_seen_at, "age_s": age_s, "expected_interval_s": interval},
                )
            )
        if streak >= FAILING_STREAK or over_budget:
            status = "failing"
        elif age_s > 2 * interval:
            status = "stale"
        elif streak or age_s > interval:
            status = "degraded"
        else:
            status = "healthy"
        age_penalty = 0 if age_s <= interval else 20 if age_s <= 2 * interval else 40
        penalty = (50 * failures) // size if size else 0
        score = max(0, 100 - penalty - 10 * min(streak, FAILING_STREAK) - age_penalty)
    if suppression is not None:
        codes.append(
            Code(
                "SUPPRESSED",
                f"suppressed by {suppression.owner} until {suppression.expiry}: "
                f"{suppression.reason}",
                f"see `ledgerctl health --explain-suppress {row.source_id}`",
                {"suppression_id": suppression.suppression_id, "until": suppression.expiry},
            )
        )
    return SourceHealth(
        source_id=row.source_id,
        tier=tier,
        registered=registration is not None,
        expected_interval_s=interval,
        failure_budget=budget,
        status=status,
        score=score,
        codes=tuple(codes),
        suppressed_by=suppression,
        blocks=_blocks(tier, codes, suppression),
        window_failures=failures,
        window_size=size,
    )


def _blocks(tier: Tier, codes: Sequence[Code], suppression: Suppression | None) -> str | None:
    if tier != "required" or suppression is not None:
        return None
    names = [c.code for c in codes if c.code in ("BUDGET_EXCEEDED", "STALE_SINCE", "NEVER_SEEN")]
    return ", ".join(names) or None


def _tier(value: str) -> Tier:
    if value == "required":
        return "required"
    if value == "best_effort":
        return "best_effort"
    return "standard"
