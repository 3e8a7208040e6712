"""`ledgerctl tail --follow`: live events online (Subscribe) and offline (polling LMDB).

The follower is the real CLI in a child process; events are appended by other
`ledgerctl` processes while it runs, and its lines are read as they come. Ctrl-C
(SIGINT) ends it with exit 130 and no traceback, every line printed before it whole.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import PINNED, REPO, run_ledgerctl
from ledger.model import encode_envelope
from ledger.samples import sample_events, sample_finding

# Ctrl-C reaches a command run from a terminal with SIGINT handled. A child started
# from a non-interactive shell's background job inherits SIGINT *ignored*, so the
# wrapper restores Python's handler first, then runs the real entry point.
_ENTRY = (
    "import signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from ledger.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


class Follower:
    """`ledgerctl tail --follow ARGS` running; its stdout lines arrive on a queue."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _ENTRY, "tail", "--follow", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "LEDGERD_CLOCK": f"fixed:{PINNED}"},
            cwd=REPO,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self._lines.put(raw.decode("utf-8"))
        self._lines.put(None)

    def take(self, count: int, timeout: float = 30.0) -> list[str]:
        """The next `count` lines; fails if they do not come within `timeout` seconds each."""
        taken = []
        for _ in range(count):
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no line within {timeout}s; got {taken}")
            assert line is not None, f"the follower ended early: {self.finish()}"
            taken.append(line)
        return taken

    def take_json(self, count: int) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.take(count)]

    def nothing_more(self, wait: float = 1.0) -> bool:
        try:
            self._lines.get(timeout=wait)
        except queue.Empty:
            return True
        return False

    def interrupt(self) -> tuple[int, bytes]:
        """Ctrl-C: SIGINT, then the exit code and standard error."""
        self.process.send_signal(signal.SIGINT)
        return self.finish()

    def finish(self, timeout: float = 30.0) -> tuple[int, bytes]:
        code = self.process.wait(timeout)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


@pytest.fixture
def follow() -> Iterator[Callable[..., Follower]]:
    started: list[Follower] = []

    def _start(*args: str) -> Follower:
        follower = Follower(*args)
        started.append(follower)
        return follower

    yield _start
    for follower in started:
        follower.kill()


def _append(args: list[str], *envelopes) -> None:
    lines = b"".join(encode_envelope(e) + b"\n" for e in envelopes)
    result = run_ledgerctl("append", "-", *args, "--json", stdin=lines)
    assert result.returncode == 0, result.stdout


def _ended_by_ctrl_c(code: int, stderr: bytes) -> None:
    assert code == 130, stderr
    assert b"Traceback" not in stderr
    assert b"error" not in stderr


def test_online_follow_prints_the_log_then_live_events(daemon, follow):
    online = ["--server", daemon.address]
    _append(online, *sample_events(3))
    follower = follow(*online, "--json")
    catch_up = follower.take_json(4)
    assert [line["seq"] for line in catch_up] == [0, 1, 2, 3]
    assert follower.nothing_more()
    _append(online, sample_finding(10), sample_finding(11))
    live = follower.take_json(2)
    assert [line["seq"] for line in live] == [4, 5]
    assert [line["event"]["event_id"] for line in live] == ["finding-10", "finding-11"]
    # The live lines are exactly what a plain tail prints for those seqs.
    tail = run_ledgerctl("tail", *online, "--from", "4", "--json")
    assert [json.loads(line) for line in tail.stdout.decode().splitlines()] == live
    _ended_by_ctrl_c(*follower.interrupt())


def test_online_follow_as_text_is_tab_separated_lines(daemon, follow):
    online = ["--server", daemon.address]
    follower = follow(*online, "--from", "0")
    header, started = follower.take(2)
    assert header.rstrip("\n").split("\t") == [
        "seq",
        "recorded_at",
        "type",
        "stream",
        "producer",
        "event_id",
    ]
    assert started.split("\t")[2] == "ledger.started"
    _append(online, sample_finding(4))
    (row,) = follower.take(1)
    assert row.rstrip("\n").split("\t")[::5] == ["1", "finding-4"]
    _ended_by_ctrl_c(*follower.interrupt())


def test_follow_with_a_limit_ends_by_itself(daemon, follow):
    online = ["--server", daemon.address]
    follower = follow(*online, "--from", "1", "--limit", "2", "--json")
    assert follower.nothing_more()
    _append(online, *sample_events(3))
    assert [line["seq"] for line in follower.take_json(2)] == [1, 2]
    code, stderr = follower.finish()
    assert code == 0, stderr
    assert stderr == b""


def test_online_follow_carries_on_across_a_daemon_restart(daemon, follow):
    online = ["--server", daemon.address]
    follower = follow(*online, "--json")
    assert follower.take_json(1)[0]["seq"] == 0
    daemon.stop()
    # Down for longer than a call's few retry attempts would last: a follower rides
    # out the outage for as long as its retry deadline allows.
    time.sleep(4)
    daemon.restart()  # same port and directory; appends its ledger.started record
    restarted = follower.take_json(1)[0]
    assert restarted["seq"] == 1
    assert restarted["event"]["type"] == "ledger.started"
    _append(online, sample_finding(1))
    assert follower.take_json(1)[0]["event"]["event_id"] == "finding-1"
    _ended_by_ctrl_c(*follower.interrupt())


def test_offline_follow_polls_the_data_directory(tmp_path: Path, follow):
    offline = ["--data-dir", str(tmp_path / "data")]
    _append(offline, *sample_events(2))
    follower = follow(*offline, "--json")
    assert [line["seq"] for line in follower.take_json(2)] == [0, 1]
    # Another process writes while the follower holds the directory open read-only.
    _append(offline, sample_finding(20))
    _append(offline, sample_finding(21), sample_finding(22))
    live = follower.take_json(3)
    assert [line["event"]["event_id"] for line in live] == [
        "finding-20",
        "finding-21",
        "finding-22",
    ]
    assert [line["seq"] for line in live] == [2, 3, 4]
    _ended_by_ctrl_c(*follower.interrupt())


def test_follow_from_beyond_the_end_online_is_refused(daemon, error):
    doc = error(
        run_ledgerctl("tail", "--follow", "--from", "50", "--server", daemon.address, "--json"),
        "invalid_input",
        "INVALID_ARGUMENT",
    )
    assert "beyond the log size" in doc["error"]
