"""`LEDGERD_CLOCK` parsing and the UTC time format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger.clock import FixedClock, SystemClock, clock_from_env, format_utc
from ledger.errors import ErrorCode, InvalidInput


def test_unset_or_system_means_the_system_clock() -> None:
    assert isinstance(clock_from_env({}), SystemClock)
    assert isinstance(clock_from_env({"LEDGERD_CLOCK": "system"}), SystemClock)


def test_fixed_pins_the_instant_in_utc() -> None:
    clock = clock_from_env({"LEDGERD_CLOCK": "fixed:2026-03-04T05:06:07+02:00"})
    assert clock.now() == datetime(2026, 3, 4, 3, 6, 7, tzinfo=UTC)
    assert format_utc(clock.now()) == "2026-03-04T03:06:07.000000Z"


@pytest.mark.parametrize(
    "spec",
    [
        "fixed:",
        "fixed:yesterday",
        "fixed:2026-01-01T00:00:00",
        "frozen:2026-01-01T00:00:00Z",
        "fixed:0999-12-31T00:00:00Z",
    ],
)
def test_bad_specifications_are_invalid_input(spec: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        clock_from_env({"LEDGERD_CLOCK": spec})
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT


def test_format_utc_always_has_six_fraction_digits_and_z() -> None:
    instant = datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert format_utc(instant) == "2026-01-01T05:00:00.000001Z"


def test_a_fixed_clock_needs_a_timezone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        FixedClock(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # moving it to UTC leaves year 1
        "9999-12-31T23:59:59-01:00",  # moving it to UTC passes year 9999
        "0999-01-01T00:00:00Z",  # no four-digit year to write it with
        "2026-03-01T12:00:00",  # no timezone
        "yesterday",
    ],
)
def test_parse_instant_refuses_what_it_cannot_place_exactly(value: str) -> None:
    from ledger.clock import parse_instant

    with pytest.raises(InvalidInput) as raised:
        parse_instant(value, "--at")
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    assert raised.value.details == {"field": "--at"}


def test_parse_instant_gives_utc() -> None:
    from ledger.clock import parse_instant

    assert parse_instant("2026-03-01T13:00:00+01:00", "at").isoformat() == (
        "2026-03-01T12:00:00+00:00"
    )
