"""Durability under concurrency and crashes: a real daemon, real LMDB, real SIGKILL.

What "durable" means here: every acknowledged append is in the log exactly once
at the seq it was acknowledged with, every attempted append ends up there
exactly once after the client's retries, the seqs are gap-free, and the log
passes the offline audit (`ledgerctl verify`) once the daemon is gone.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tenacity

from clients._calls import Entry
from clients.client import LedgerClient
from clients.event import Event
from clients.retry import RetryPolicy
from daemon import DaemonProcess
from ledger.samples import sample_finding
from ledger.store import AppendResult

Ledgerctl = Callable[..., subprocess.CompletedProcess[bytes]]


@dataclass(frozen=True)
class CountingPolicy(RetryPolicy):
    """A RetryPolicy that counts the attempts the client really makes."""

    attempts: list[float] = field(default_factory=list, compare=False)

    def retrying(self) -> tenacity.Retrying:
        return super().retrying().copy(before=lambda _: self.attempts.append(time.monotonic()))


def finding(producer: str, index: int) -> Event:
    """A valid, unique `finding.reported` (a fresh event id each call)."""
    return Event.create(
        stream=f"findings/{producer}",
        type="finding.reported",
        data=sample_finding(index).data,
        producer=producer,
    )


def read_all(address: str) -> list[Entry]:
    with LedgerClient(address) as client:
        return list(client.read())


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {condition}")
        time.sleep(0.01)


def verify_offline(ledgerctl: Ledgerctl, data_dir: Path) -> dict[str, object]:
    result = ledgerctl("verify", "--data-dir", str(data_dir), "--json")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    report: dict[str, object] = json.loads(result.stdout)
    assert report["ok"] is True
    return report


def assert_exactly_once(entries: list[Entry], acked: dict[str, AppendResult]) -> None:
    """Gap-free seqs; no event id twice; each acknowledged id stored at its acknowledged seq."""
    assert [entry.seq for entry in entries] == list(range(len(entries)))
    counts = Counter(entry.event.event_id for entry in entries)
    assert [event_id for event_id, n in counts.items() if n > 1] == []
    stored_at = {entry.event.event_id: entry.seq for entry in entries}
    assert {i: stored_at.get(i) for i in acked} == {i: r.seq for i, r in acked.items()}


CLIENTS = 32
PER_CLIENT = 40
#: Each client cycles through these call sizes: 1 is `append`, more is `append_batch`.
CALL_SIZES = (1, 3, 1, 1, 5, 2)


def test_32_concurrent_clients_lose_nothing_and_duplicate_nothing(
    tmp_path: Path, ledgerctl: Ledgerctl
) -> None:
    data_dir = tmp_path / "served"
    start = threading.Barrier(CLIENTS)
    with DaemonProcess(data_dir) as daemon:

        def work(worker: int) -> list[tuple[list[str], list[AppendResult], int]]:
            """Append this worker's events; returns (ids, results, tree_size) per call."""
            events = [finding(f"worker-{worker}", worker * 100 + i) for i in range(PER_CLIENT)]
            calls = []
            with LedgerClient(daemon.address) as client:
                start.wait(timeout=60)
                position, turn = 0, 0
                while position < len(events):
                    chunk = events[position : position + CALL_SIZES[turn % len(CALL_SIZES)]]
                    if len(chunk) == 1:
                        results, tree_size = [client.append(chunk[0])], -1
                    else:
                        outcome = client.append_batch(chunk)
                        results, tree_size = list(outcome.results), outcome.tree_size
                    calls.append(([e.event_id for e in chunk], results, tree_size))
                    position += len(chunk)
                    turn += 1
            return calls

        with ThreadPoolExecutor(CLIENTS) as pool:
            per_worker = list(pool.map(work, range(CLIENTS)))
        entries = read_all(daemon.address)
        assert daemon.stop() == 0

    calls = [call for worker_calls in per_worker for call in worker_calls]
    acked = {
        event_id: result
        for ids, results, _ in calls
        for event_id, result in zip(ids, results, strict=True)
    }
    total = 1 + CLIENTS * PER_CLIENT  # the daemon's ledger.started, then every event
    assert len(acked) == CLIENTS * PER_CLIENT
    assert not any(result.duplicate for result in acked.values())
    assert len(entries) == total
    assert entries[0].event.type == "ledger.started"
    assert_exactly_once(entries, acked)
    assert set(acked) == {entry.event.event_id for entry in entries[1:]}
    for _, results, tree_size in calls:
        seqs = [result.seq for result in results]
        # A batch is atomic: consecutive seqs, in request order.
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        # The acknowledged commit covers the batch.
        assert tree_size == -1 or seqs[-1] < tree_size <= total

    assert verify_offline(ledgerctl, data_dir)["tree_size"] == total


#: Generous enough to ride through a crash and a restart (a few seconds down).
RIDE_THROUGH = dict(
    max_attempts=400, initial_backoff_s=0.02, max_backoff_s=0.25, overall_deadline_s=90.0
)


@pytest.mark.slow
def test_appends_ride_through_a_crash_and_restart(tmp_path: Path, ledgerctl: Ledgerctl) -> None:
    data_dir = tmp_path / "served"
    daemon = DaemonProcess(data_dir).start()
    policy = CountingPolicy(**RIDE_THROUGH)  # type: ignore[arg-type]
    attempted: list[str] = []  # every event id the producer tried, before trying it
    acked: dict[str, AppendResult] = {}
    calls = 0
    stop = threading.Event()
    failures: list[BaseException] = []

    def produce() -> None:
        nonlocal calls
        try:
            with LedgerClient(daemon.address, retry=policy) as client:
                index = 0
                while not stop.is_set():
                    size = 3 if index % 4 == 3 else 1
                    events = [finding("steady", index + k) for k in range(size)]
                    attempted.extend(event.event_id for event in events)
                    calls += 1
                    if size == 1:
                        results = [client.append(events[0])]
                    else:
                        results = list(client.append_batch(events).results)
                    acked.update(zip((e.event_id for e in events), results, strict=True))
                    index += size
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    producer = threading.Thread(target=produce, name="producer")
    try:
        producer.start()
        wait_until(lambda: len(acked) >= 60 or bool(failures))
        daemon.kill()
        attempted_at_kill = len(attempted)
        acked_at_kill = len(acked)
        time.sleep(0.3)  # down for a moment: the producer's calls fail and are retried
        daemon.restart()
        wait_until(lambda: len(acked) >= attempted_at_kill + 60 or bool(failures))
        stop.set()
        producer.join(timeout=120)
        assert not producer.is_alive()
        assert failures == []
        entries = read_all(daemon.address)
        assert daemon.stop() == 0
    finally:
        stop.set()
        daemon.kill()

    # The producer did fail and retry across the crash, and then got every call through,
    # the one in flight at the kill included (attempted before it, acknowledged after).
    assert len(policy.attempts) > calls
    assert acked_at_kill <= attempted_at_kill
    assert set(acked) == set(attempted)
    assert_exactly_once(entries, acked)
    stored_ids = [entry.event.event_id for entry in entries]
    assert sorted(stored_ids[i] for i, e in enumerate(entries) if e.event.stream != "ledgerd") == (
        sorted(attempted)
    )
    started = [entry.seq for entry in entries if entry.event.type == "ledger.started"]
    assert len(started) == 2
    assert started[0] == 0
    assert entries[started[1]].event.event_id == f"ledger.started:{started[1]}"
    assert len(entries) == len(attempted) + 2

    assert verify_offline(ledgerctl, data_dir)["tree_size"] == len(entries)
