"""The daemon's projection worker: a child process that folds, restarted if it dies,
gone when the daemon is."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from clients import Event, LedgerClient, RetryPolicy
from daemon import DaemonProcess
from ledger.errors import LedgerError
from lifecycle_events import finding_reported

SUBJECT = "github.com/acme/app/pull/9"


def _children(pid: int) -> list[int]:
    """The live processes whose parent is `pid` (from /proc; no shell)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in brackets and may hold spaces; the ppid follows it.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _worker_of(daemon: DaemonProcess, timeout: float = 30.0) -> int:
    assert daemon.process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = _children(daemon.process.pid)
        if children:
            return max(children)
        time.sleep(0.05)
    raise AssertionError("the daemon started no projection worker")


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


def _append_finding(client: LedgerClient, finding_id: str) -> int:
    return client.append(Event.from_envelope(finding_reported(finding_id, subject=SUBJECT))).seq


def test_a_killed_worker_is_started_again_and_nothing_is_lost(daemon: DaemonProcess) -> None:
    with LedgerClient(daemon.address) as client:
        first = _append_finding(client, "F-1")
        client.projections.verdict(SUBJECT, min_seq=first)
        worker = _worker_of(daemon)
        os.kill(worker, signal.SIGKILL)
        assert _gone(worker)
        # Appends go on while it is down; the next worker folds them.
        later = _append_finding(client, "F-2")
        patient = RetryPolicy(overall_deadline_s=60.0, call_timeout_s=10.0)
        with LedgerClient(daemon.address, retry=patient) as waiting:
            verdict = waiting.projections.verdict(SUBJECT, min_seq=later)
        assert [f["finding_id"] for f in verdict["findings"]["open"]] == ["F-1", "F-2"]
        assert _worker_of(daemon) != worker
        fresh = {s.name: s.digest for s in client.projections.status()}
        rebuilt = {s.name: s.digest for s in client.projections.rebuild()}
        assert rebuilt == fresh


def test_the_worker_goes_when_the_daemon_is_killed(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "data").start()
    try:
        worker = _worker_of(daemon)
    finally:
        daemon.kill()
    assert _gone(worker), "the projection worker outlived its daemon"


def test_the_worker_stops_with_a_clean_shutdown(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "data").start()
    worker = _worker_of(daemon)
    assert daemon.stop() == 0
    assert _gone(worker, timeout=5)


def test_a_rebuild_of_an_unknown_projection_is_refused_before_the_worker(
    daemon: DaemonProcess,
) -> None:
    with LedgerClient(daemon.address) as client:
        before = [s.position for s in client.projections.status()]
        with pytest.raises(LedgerError) as raised:
            client.projections.rebuild(["no-such"])
        assert raised.value.code == "INVALID_ARGUMENT"
        assert [s.position for s in client.projections.status()] == before
