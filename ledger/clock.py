"""Injectable wall clocks, so that runs with a pinned clock are byte-for-byte repeatable.

`LEDGERD_CLOCK=fixed:<ISO8601>` pins the clock for golden runs; anything else
(or nothing) means the system clock. Times are always UTC.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from ledger.errors import ErrorCode, InvalidInput

CLOCK_ENV = "LEDGERD_CLOCK"


class Clock(Protocol):
    """Anything that can tell the current UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock stopped at one instant."""

    def __init__(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("a fixed clock needs a timezone-aware instant")
        self._instant = instant.astimezone(UTC)

    def now(self) -> datetime:
        return self._instant


def format_utc(instant: datetime) -> str:
    """RFC 3339 UTC, six fractional digits and a `Z`: `2026-01-02T03:04:05.000000Z`."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clock_from_env(environ: Mapping[str, str] | None = None) -> Clock:
    """The clock `LEDGERD_CLOCK` asks for; the system clock when it is unset."""
    spec = (os.environ if environ is None else environ).get(CLOCK_ENV, "").strip()
    if not spec or spec == "system":
        return SystemClock()
    kind, _, value = spec.partition(":")
    if kind != "fixed" or not value:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"{CLOCK_ENV}={spec!r} is not a clock specification",
            hint=f"use {CLOCK_ENV}=fixed:2026-01-01T00:00:00Z, or unset it for the system clock",
        )
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None or instant.astimezone(UTC).year < 1000:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"{CLOCK_ENV} time {value!r} is not an ISO 8601 time with a timezone",
            hint="write the instant, from year 1000 on, as e.g. 2026-01-01T00:00:00Z",
        )
    return FixedClock(instant)


def parse_instant(value: str, field: str) -> datetime:
    """An ISO 8601 instant with a timezone (e.g. `2026-03-01T12:00:00Z`), as UTC.

    For times a caller passes in, such as a query's evaluation time; a time
    without a timezone is refused rather than guessed.
    """
    instant: datetime | None
    try:
        instant = datetime.fromisoformat(value)
        if instant.tzinfo is not None:
            instant = instant.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved across UTC
        instant = None
    # Before year 1000 a time cannot be written with the four year digits ours use.
    if instant is None or instant.tzinfo is None or instant.year < 1000:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"{field} {value!r} is not an ISO 8601 time with a timezone, from year 1000 on",
            hint="write it as e.g. 2026-03-01T12:00:00Z",
            details={"field": field},
        )
    return instant
