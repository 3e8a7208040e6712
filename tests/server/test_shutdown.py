"""SIGTERM under load: a clean, prompt shutdown that loses nothing it acknowledged.

While several clients append and one subscribes, the daemon gets SIGTERM. It
must turn NOT_SERVING, refuse new calls, finish the appends in flight (each
either acknowledged and stored, or refused and absent: never stored unknown to
its client), end the subscription with a retryable status naming where to
resume, and exit 0 well within its grace period; the log then verifies offline.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc
import msgspec
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients._calls import SUBSCRIBE, Entry, rpc_error
from clients.client import LedgerClient
from clients.event import Event
from clients.retry import RetryPolicy
from daemon import DaemonProcess
from ledger.errors import ErrorCode, LedgerError
from ledger.samples import sample_finding
from ledger.store import AppendResult
from ledger.v1 import ledger_pb2 as pb

Ledgerctl = Callable[..., subprocess.CompletedProcess[bytes]]

#: Any failure surfaces at once, so what the daemon refused is visible.
ONE_SHOT = RetryPolicy(max_attempts=1)
#: Long, so that "exits well within the grace period" can fail if something waits it out.
GRACE_S = 30.0
WRITERS = 6
#: Big events (~12 KB of text each, sent twice per entry): some 20 MB to subscribe to.
BACKLOG = 800
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def finding(producer: str, index: int) -> Event:
    return Event.create(
        stream=f"findings/{producer}",
        type="finding.reported",
        data=sample_finding(index).data,
        producer=producer,
    )


def big_finding(index: int) -> Event:
    data = msgspec.structs.replace(sample_finding(index).data, what="x" * 12_000)
    return Event.create(
        stream="findings/backlog", type="finding.reported", data=data, producer="backlog"
    )


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {condition}")
        time.sleep(0.01)


class Appender(threading.Thread):
    """Appends (singles and batches) until its first error, which it keeps."""

    def __init__(self, address: str, number: int) -> None:
        super().__init__(name=f"appender-{number}")
        self.address = address
        self.number = number
        self.acked: dict[str, AppendResult] = {}
        self.refused: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        with LedgerClient(self.address, retry=ONE_SHOT) as client:
            index = 0
            while True:
                events = [finding(self.name, index + k) for k in range(1 + index % 3)]
                try:
                    if len(events) == 1:
                        results = [client.append(events[0])]
                    else:
                        results = list(client.append_batch(events).results)
                except BaseException as exc:
                    self.error = exc
                    self.refused.extend(event.event_id for event in events)
                    return
                self.acked.update(zip((e.event_id for e in events), results, strict=True))
                index += len(events)


class StalledSubscriber:
    """A subscriber that takes one message and then stops reading: the daemon's writes to it
    block on HTTP/2 flow control (BDP probing off keeps the window at its 64 KiB default)."""

    def __init__(self, address: str) -> None:
        self._channel = grpc.insecure_channel(address, options=[("grpc.http2.bdp_probe", 0)])
        subscribe = self._channel.unary_stream(
            SUBSCRIBE.path,
            request_serializer=pb.SubscribeRequest.SerializeToString,
            response_deserializer=pb.SubscribeResponse.FromString,
        )
        self._call = subscribe(pb.SubscribeRequest(from_seq=0))
        # The opening message carries no entries; stop after the first that does.
        self.first = next(self._call)
        while not self.first.entries:
            self.first = next(self._call)

    def drain(self) -> tuple[int, LedgerError]:
        """Read the rest; returns the entries received and the error the stream ended with."""
        received = len(self.first.entries)
        try:
            for response in self._call:
                received += len(response.entries)
        except grpc.RpcError as exc:
            return received, rpc_error(exc)
        finally:
            self._channel.close()
        raise AssertionError("the subscription ended without an error")


class HealthWatcher(threading.Thread):
    """Watches grpc.health.v1; on NOT_SERVING, at once tries a new append and a health check."""

    def __init__(self, address: str) -> None:
        super().__init__(name="health-watcher")
        self.address = address
        self.statuses: list[int] = []
        self.ended: grpc.StatusCode | None = None
        self.late_event = finding("late", 0)
        self.late_error: BaseException | None = None
        self.late_check: int | grpc.StatusCode | None = None
        self._channel = grpc.insecure_channel(address)
        self._late_client = LedgerClient(address, retry=ONE_SHOT)
        self._stream = health_pb2_grpc.HealthStub(self._channel).Watch(
            health_pb2.HealthCheckRequest(service="")
        )

    def run(self) -> None:
        try:
            for response in self._stream:
                self.statuses.append(response.status)
                if response.status == NOT_SERVING:
                    self._try_late_calls()
        except grpc.RpcError as exc:
            self.ended = exc.code()
        finally:
            self._late_client.close()
            self._channel.close()

    def _try_late_calls(self) -> None:
        try:
            self._late_client.append(self.late_event)
        except BaseException as exc:
            self.late_error = exc
        check = health_pb2_grpc.HealthStub(self._channel).Check
        try:
            self.late_check = check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
        except grpc.RpcError as exc:
            self.late_check = exc.code()


@pytest.mark.slow
def test_sigterm_under_load_is_prompt_clean_and_loses_nothing(
    tmp_path: Path, ledgerctl: Ledgerctl
) -> None:
    data_dir = tmp_path / "served"
    daemon = DaemonProcess(data_dir, env={"LEDGERD_SHUTDOWN_GRACE_S": str(GRACE_S)}).start()
    subscribed: list[Entry] = []
    subscription_end: list[BaseException] = []

    def subscribe() -> None:
        with LedgerClient(daemon.address, retry=ONE_SHOT) as client:
            try:
                for entry in client.subscribe(0):
                    subscribed.append(entry)
            except BaseException as exc:
                subscription_end.append(exc)

    try:
        # A backlog, so that a subscriber that stops reading leaves the daemon with
        # far more to send than HTTP/2 flow control lets through.
        with LedgerClient(daemon.address) as client:
            for start in range(0, BACKLOG, 100):
                client.append_batch([big_finding(i) for i in range(start, start + 100)])
        watcher = HealthWatcher(daemon.address)
        watcher.start()
        subscriber = threading.Thread(target=subscribe, name="subscriber")
        subscriber.start()
        appenders = [Appender(daemon.address, n) for n in range(WRITERS)]
        for appender in appenders:
            appender.start()
        wait_until(lambda: all(len(a.acked) >= 20 for a in appenders) and len(subscribed) > BACKLOG)
        stalled = StalledSubscriber(daemon.address)
        assert watcher.statuses == [SERVING]

        signalled = time.monotonic()
        exit_code = daemon.stop(timeout=GRACE_S + 30)
        took = time.monotonic() - signalled
        for thread in (*appenders, subscriber, watcher):
            thread.join(timeout=30)
            assert not thread.is_alive(), thread.name
        size_at_stop = 1 + BACKLOG + sum(len(a.acked) for a in appenders)
        stalled_received, stalled_error = stalled.drain()

        daemon.restart()
        with LedgerClient(daemon.address) as client:
            stored = list(client.read())
        assert daemon.stop() == 0
    finally:
        daemon.kill()

    # Exit 0, and promptly: nothing (a stalled subscriber, a health watch) waited out the grace.
    assert exit_code == 0
    assert took < GRACE_S / 2
    # The stalled subscriber was cut off, retryably, after what had been sent.
    assert stalled_error.code is ErrorCode.SERVER_UNAVAILABLE
    assert 0 < stalled_received < size_at_stop

    # Appenders were stopped by the shutdown, with a retryable refusal, nothing else.
    errors = [a.error for a in appenders]
    assert all(isinstance(e, LedgerError) for e in errors), errors
    assert {e.code for e in errors if isinstance(e, LedgerError)} == {ErrorCode.SERVER_UNAVAILABLE}

    # Every acknowledged event is stored at its seq; every refused one is absent.
    assert [entry.seq for entry in stored] == list(range(len(stored)))
    stored_at = {entry.event.event_id: entry.seq for entry in stored}
    assert len(stored_at) == len(stored)
    for appender in appenders:
        assert {i: stored_at.get(i) for i in appender.acked} == {
            i: r.seq for i, r in appender.acked.items()
        }
        assert [i for i in appender.refused if i in stored_at] == []
    # Nothing but those: the log is the two starts and the acknowledged events.
    assert len(stored) == size_at_stop + 1
    assert Counter(e.event.type for e in stored)["ledger.started"] == 2
    assert stored[size_at_stop].event.event_id == f"ledger.started:{size_at_stop}"

    # The subscription ended with a retryable status that says where to resume.
    assert len(subscription_end) == 1
    ended = subscription_end[0]
    assert isinstance(ended, LedgerError)
    assert ended.code is ErrorCode.SERVER_UNAVAILABLE
    assert ended.retryable
    assert ended.details.get("next_seq") == subscribed[-1].seq + 1
    assert [entry.seq for entry in subscribed] == list(range(len(subscribed)))

    # Health said NOT_SERVING, and calls made after that were refused.
    assert watcher.statuses == [SERVING, NOT_SERVING]
    assert watcher.ended is grpc.StatusCode.UNAVAILABLE
    assert isinstance(watcher.late_error, LedgerError)
    assert watcher.late_error.code is ErrorCode.SERVER_UNAVAILABLE
    assert watcher.late_event.event_id not in stored_at
    # A health check then is answered NOT_SERVING, or refused (UNAVAILABLE, or CANCELLED
    # when the daemon drops the calls it never started as it exits); never SERVING.
    assert watcher.late_check in (
        NOT_SERVING,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
    )

    report = json.loads(ledgerctl("verify", "--data-dir", str(data_dir), "--json").stdout)
    assert report["ok"] is True
    assert report["tree_size"] == len(stored)
