"""RetryPolicy against a real daemon (or none): what is retried, how often, for how long.

Attempts are counted with a tenacity `before` hook on the policy the client
really uses, so "retried N times" and "not retried" are observed, not inferred
from timings. Elapsed-time bounds are loose: the machine running this is noisy.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest
import tenacity

from clients.aio import AsyncLedgerClient
from clients.client import LedgerClient
from clients.event import Event
from clients.retry import RetryPolicy
from daemon import DaemonProcess, free_port
from ledger.errors import ErrorCode, LedgerError
from ledger.samples import sample_finding


@dataclass(frozen=True)
class CountingPolicy(RetryPolicy):
    """A RetryPolicy that records when each attempt starts (monotonic seconds)."""

    attempts: list[float] = field(default_factory=list, compare=False)

    def _record(self, state: tenacity.RetryCallState) -> None:
        self.attempts.append(time.monotonic())

    def retrying(self) -> tenacity.Retrying:
        return super().retrying().copy(before=self._record)

    def async_retrying(self) -> tenacity.AsyncRetrying:
        return super().async_retrying().copy(before=self._record)


def _finding(index: int, **kwargs: object) -> Event:
    return Event.create(
        stream=f"retry/{index % 3}",
        type="finding.reported",
        data=sample_finding(index).data,
        producer="retry-test",
        **kwargs,  # type: ignore[arg-type]
    )


def _nothing_listening() -> str:
    return f"127.0.0.1:{free_port()}"


# No daemon: retried, and bounded ----------------------------------------------------------


def test_unreachable_daemon_fails_after_exactly_max_attempts() -> None:
    policy = CountingPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.05)
    with (
        LedgerClient(_nothing_listening(), retry=policy) as client,
        pytest.raises(LedgerError) as raised,
    ):
        client.append(_finding(1))
    assert raised.value.code is ErrorCode.SERVER_UNAVAILABLE
    assert raised.value.retryable
    assert len(policy.attempts) == 4


def test_unreachable_daemon_gives_up_at_the_overall_deadline() -> None:
    deadline = 1.5
    policy = CountingPolicy(
        max_attempts=100_000,
        initial_backoff_s=0.05,
        max_backoff_s=0.2,
        overall_deadline_s=deadline,
    )
    started = time.monotonic()
    with (
        LedgerClient(_nothing_listening(), retry=policy) as client,
        pytest.raises(LedgerError) as raised,
    ):
        client.append(_finding(2))
    elapsed = time.monotonic() - started
    # The daemon's absence is what is reported, not an artefact of the time budget.
    assert raised.value.code is ErrorCode.SERVER_UNAVAILABLE
    assert len(policy.attempts) > 2
    # No attempt starts after the deadline; and it kept trying until close to it.
    assert policy.attempts[-1] - policy.attempts[0] < deadline
    assert elapsed >= deadline - policy.max_backoff_s - 0.1
    assert elapsed < deadline + 5.0  # generous: a noisy machine


def test_the_async_client_is_bounded_the_same_way() -> None:
    policy = CountingPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05)

    async def attempt() -> LedgerError:
        async with AsyncLedgerClient(_nothing_listening(), retry=policy) as client:
            try:
                await client.append(_finding(3))
            except LedgerError as exc:
                return exc
        raise AssertionError("the append to a closed port succeeded")

    error = asyncio.run(attempt())
    assert error.code is ErrorCode.SERVER_UNAVAILABLE
    assert len(policy.attempts) == 3


def test_a_subscription_to_nothing_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05)
    started = time.monotonic()
    with (
        LedgerClient(_nothing_listening(), retry=policy) as client,
        pytest.raises(LedgerError) as raised,
    ):
        next(iter(client.subscribe(0)))
    assert raised.value.code is ErrorCode.SERVER_UNAVAILABLE
    assert time.monotonic() - started < 10.0


# Non-retryable errors: raised on the first attempt ----------------------------------------

# Backoff long enough that even one retry would be plain in the elapsed time.
_PATIENT = {"max_attempts": 5, "initial_backoff_s": 5.0, "max_backoff_s": 5.0}


def test_wrong_expected_version_is_not_retried(client: LedgerClient) -> None:
    policy = CountingPolicy(**_PATIENT)  # type: ignore[arg-type]
    event = _finding(4, expected_version=7)  # the stream does not exist yet
    with LedgerClient(client.target, retry=policy) as patient, pytest.raises(LedgerError) as raised:
        patient.append(event)
    assert raised.value.code is ErrorCode.WRONG_EXPECTED_VERSION
    assert not raised.value.retryable
    assert len(policy.attempts) == 1
    assert event.event_id not in {entry.event.event_id for entry in client.read()}


def test_an_invalid_event_is_not_retried(client: LedgerClient) -> None:
    policy = CountingPolicy(**_PATIENT)  # type: ignore[arg-type]
    # A finding with most of its required fields missing.
    event = Event.create(
        stream="retry/bad", type="finding.reported", data={"finding_id": "F-5"}, producer="t"
    )
    started = time.monotonic()
    with LedgerClient(client.target, retry=policy) as patient, pytest.raises(LedgerError) as raised:
        patient.append(event)
    assert raised.value.code is ErrorCode.INVALID_EVENT
    assert len(policy.attempts) == 1
    assert time.monotonic() - started < 5.0
    assert client.checkpoint().tree_size == 1  # only the daemon's ledger.started


def test_an_event_id_conflict_is_not_retried(client: LedgerClient) -> None:
    first = _finding(6)
    client.append(first)
    clash = _finding(7, event_id=first.event_id)  # same id, other content
    policy = CountingPolicy(**_PATIENT)  # type: ignore[arg-type]
    with LedgerClient(client.target, retry=policy) as patient, pytest.raises(LedgerError) as raised:
        patient.append(clash)
    assert raised.value.code is ErrorCode.EVENT_ID_CONFLICT
    assert len(policy.attempts) == 1


def test_the_async_client_does_not_retry_a_wrong_expected_version(
    daemon: DaemonProcess,
) -> None:
    policy = CountingPolicy(**_PATIENT)  # type: ignore[arg-type]

    async def attempt() -> LedgerError:
        async with AsyncLedgerClient(daemon.address, retry=policy) as client:
            try:
                await client.append(_finding(8, expected_version=3))
            except LedgerError as exc:
                return exc
        raise AssertionError("the append with a wrong expected version succeeded")

    error = asyncio.run(attempt())
    assert error.code is ErrorCode.WRONG_EXPECTED_VERSION
    assert len(policy.attempts) == 1


# Idempotency: the id is fixed once, so a repeat is a duplicate ----------------------------


def test_an_events_id_is_fixed_at_creation() -> None:
    event = _finding(9)
    assert event.to_proto().event_id == event.event_id
    assert event.to_proto().event_id == event.event_id  # every attempt sends the same id
    assert event.to_proto().SerializeToString() == event.to_proto().SerializeToString()
    assert _finding(9).event_id != event.event_id  # a new Event is a new id


def test_appending_the_same_event_again_is_a_duplicate_at_the_original_seq(
    client: LedgerClient, daemon: DaemonProcess
) -> None:
    event = _finding(10)
    first = client.append(event)
    assert not first.duplicate
    # As a retry after a lost reply would: the same Event, on a fresh connection.
    with LedgerClient(daemon.address) as other:
        again = other.append(event)
        batch = other.append_batch([event, _finding(11)])
    assert again.duplicate
    assert (again.seq, again.stream_version) == (first.seq, first.stream_version)
    assert batch.results[0].duplicate
    assert batch.results[0].seq == first.seq
    assert not batch.results[1].duplicate
    assert batch.results[1].seq == first.seq + 1
    stored = [entry.event.event_id for entry in client.read()]
    assert stored.count(event.event_id) == 1
    assert len(stored) == first.seq + 2


def test_a_repeated_append_with_an_expected_version_is_a_duplicate_not_a_conflict(
    client: LedgerClient,
) -> None:
    # A retry after a lost reply must not trip over the write it is retrying: the
    # stream has moved past the expected version, but by this very event.
    event = _finding(12, expected_version=0)
    first = client.append(event)
    again = client.append(event)
    assert not first.duplicate
    assert again.duplicate
    assert (again.seq, again.stream_version) == (first.seq, 1)


def test_without_an_attempt_bound_only_the_overall_deadline_stops_retries() -> None:
    policy = CountingPolicy(
        max_attempts=None, initial_backoff_s=0.01, max_backoff_s=0.02, overall_deadline_s=1.0
    )
    started = time.monotonic()
    with LedgerClient(_nothing_listening(), retry=policy) as client, pytest.raises(LedgerError):
        client.append(_finding(7))
    # Far more than the default six tries fit in a second of 10-20 ms waits.
    assert len(policy.attempts) > 6
    assert time.monotonic() - started < 10.0
