"""Subscriptions: exactly once and in order across daemon crashes, and under backpressure.

A subscriber must see every event once, in seq order, whether it resumes by
itself (`LedgerClient.subscribe` reconnects) or resubscribes from its last seq
+ 1; and a slow subscriber is slowed by flow control, never dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from clients._calls import Entry
from clients.client import LedgerClient
from clients.event import Event
from clients.retry import RetryPolicy
from daemon import DaemonProcess
from ledger.errors import ErrorCode, LedgerError
from ledger.samples import sample_finding

#: Generous enough to ride through a crash and a restart (a few seconds down).
RIDE_THROUGH = RetryPolicy(
    max_attempts=400, initial_backoff_s=0.02, max_backoff_s=0.25, overall_deadline_s=90.0
)
#: Any failure surfaces at once: no retry, no automatic resume.
ONE_SHOT = RetryPolicy(max_attempts=1)


def finding(producer: str, index: int) -> Event:
    return Event.create(
        stream=f"findings/{producer}",
        type="finding.reported",
        data=sample_finding(index).data,
        producer=producer,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {condition}")
        time.sleep(0.01)


def read_all(address: str) -> list[Entry]:
    with LedgerClient(address) as client:
        return list(client.read())


class Writer:
    """Appends events steadily in a thread (retrying through restarts) until stopped."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.acked = 0
        self.failures: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer")

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            with LedgerClient(self.address, retry=RIDE_THROUGH) as client:
                index = 0
                while not self._stop.is_set():
                    if index % 3 == 2:
                        batch = [finding("writer", index + k) for k in range(4)]
                        client.append_batch(batch)
                        self.acked += len(batch)
                    else:
                        client.append(finding("writer", index))
                        self.acked += 1
                    index += 1
                    time.sleep(0.002)
        except BaseException as exc:  # reported by the test
            self.failures.append(exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        assert not self._thread.is_alive()
        assert self.failures == []


def crash_and_restart_twice(daemon: DaemonProcess, seen: list[Entry]) -> None:
    """While a writer appends: let the subscriber get going, SIGKILL, restart; twice."""
    with Writer(daemon.address) as writer:

        def forty_more() -> Callable[[], bool]:
            target = len(seen) + 40
            return lambda: len(seen) >= target and writer.acked > 0

        for _ in range(2):
            wait_until(forty_more())
            daemon.kill()
            time.sleep(0.2)
            daemon.restart()
        wait_until(forty_more())


def assert_saw_the_whole_log(seen: list[Entry], stored: list[Entry]) -> None:
    assert [entry.seq for entry in seen] == list(range(len(seen)))
    assert [entry.seq for entry in stored] == list(range(len(stored)))
    assert [(e.seq, e.event.event_id, e.leaf) for e in seen] == [
        (e.seq, e.event.event_id, e.leaf) for e in stored
    ]
    # The first start and one per restart.
    assert [e.event.type for e in seen].count("ledger.started") == 3


@pytest.mark.slow
def test_subscribe_resumes_by_itself_across_crashes(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "served").start()
    end = finding("the-end", 0)  # appended last; the subscriber stops when it sees it
    seen: list[Entry] = []
    failures: list[BaseException] = []

    def follow() -> None:
        try:
            with LedgerClient(daemon.address, retry=RIDE_THROUGH) as client:
                for entry in client.subscribe(0):
                    seen.append(entry)
                    if entry.event.event_id == end.event_id:
                        return
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    subscriber = threading.Thread(target=follow, name="subscriber")
    try:
        subscriber.start()
        crash_and_restart_twice(daemon, seen)
        with LedgerClient(daemon.address, retry=RIDE_THROUGH) as client:
            client.append(end)
        subscriber.join(timeout=60)
        assert not subscriber.is_alive()
        assert failures == []
        stored = read_all(daemon.address)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert seen[-1].event.event_id == end.event_id
    assert_saw_the_whole_log(seen, stored)


@pytest.mark.slow
def test_an_explicit_resubscribe_from_the_last_seq_sees_everything_once(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "served").start()
    end = finding("the-end", 0)
    seen: list[Entry] = []
    disconnects: list[LedgerError] = []
    failures: list[BaseException] = []

    def follow() -> None:
        next_seq = 0
        try:
            with LedgerClient(daemon.address, retry=ONE_SHOT) as client:
                while True:
                    try:
                        for entry in client.subscribe(next_seq):
                            seen.append(entry)
                            next_seq = entry.seq + 1
                            if entry.event.event_id == end.event_id:
                                return
                    except LedgerError as exc:
                        if not exc.retryable:
                            raise
                        disconnects.append(exc)
                        time.sleep(0.05)
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    subscriber = threading.Thread(target=follow, name="subscriber")
    try:
        subscriber.start()
        crash_and_restart_twice(daemon, seen)
        with LedgerClient(daemon.address, retry=RIDE_THROUGH) as client:
            client.append(end)
        subscriber.join(timeout=60)
        assert not subscriber.is_alive()
        assert failures == []
        stored = read_all(daemon.address)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    # The subscription really broke (ONE_SHOT never resumes by itself), at least per crash.
    assert len(disconnects) >= 2
    assert {exc.code for exc in disconnects} == {ErrorCode.SERVER_UNAVAILABLE}
    assert seen[-1].event.event_id == end.event_id
    assert_saw_the_whole_log(seen, stored)


FLOOD = 20_000
FLOOD_BATCH = 500


@pytest.mark.slow
def test_a_slow_subscriber_is_slowed_not_dropped(daemon: DaemonProcess) -> None:
    end = finding("the-end", 0)
    seen: dict[str, list[tuple[int, str]]] = {"slow": [], "fast": []}
    failures: list[BaseException] = []

    def follow(name: str, pause_s: float) -> None:
        received = seen[name]
        try:
            # ONE_SHOT: a dropped stream would raise here instead of quietly resuming.
            with LedgerClient(daemon.address, retry=ONE_SHOT) as client:
                for entry in client.subscribe(0):
                    received.append((entry.seq, entry.event.event_id))
                    if entry.event.event_id == end.event_id:
                        return
                    if pause_s:
                        time.sleep(pause_s)
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    readers = [
        threading.Thread(target=follow, args=("slow", 0.0002), name="slow"),
        threading.Thread(target=follow, args=("fast", 0.0), name="fast"),
    ]
    for reader in readers:
        reader.start()
    wait_until(lambda: len(seen["slow"]) >= 1 and len(seen["fast"]) >= 1)
    appended: list[str] = []
    with LedgerClient(daemon.address) as client:
        for start in range(0, FLOOD, FLOOD_BATCH):
            batch = [finding("flood", i) for i in range(start, start + FLOOD_BATCH)]
            client.append_batch(batch)
            appended.extend(event.event_id for event in batch)
        # The slow subscriber really fell behind: the daemon had to hold it back.
        lag = len(appended) - len(seen["slow"])
        client.append(end)
    appended.append(end.event_id)
    for reader in readers:
        reader.join(timeout=120)
    assert not any(reader.is_alive() for reader in readers)
    assert failures == []
    assert lag > 0
    expected = [(0, "ledger.started:0"), *enumerate(appended, start=1)]
    assert [seq for seq, _ in seen["fast"]] == list(range(len(expected)))
    assert seen["fast"] == expected
    assert seen["slow"] == expected
