"""The single-writer lock on a data directory, and read-only access beside a writer.

Other processes are real child Python processes (children/log_child.py) that open
a log and obey commands on stdin, answering with JSON lines. What is checked:

- a second writer, in another process or in this one, is refused with
  DATA_DIR_LOCKED naming the holder's pid, and the refusal leaves the holder's
  lock intact;
- the lock file holds the holder's pid while it is held;
- after close() the directory opens again, with no stale lock reported;
- the lock of a SIGKILLed holder is recovered, reporting the dead pid;
- read-only opens work while a writer holds the lock and see its commits;
- a reader process opened before the writer grew the map reads everything after it;
- opening a missing (or empty) directory read-only is DATA_DIR_NOT_FOUND.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from ledger.audit import audit_log
from ledger.errors import ErrorCode, InvalidInput, StateContention
from ledger.model import Envelope, encode_envelope
from ledger.samples import sample_finding, sample_run
from ledger.store import AppendRequest, LmdbEventLog

CHILD = Path(__file__).resolve().parent / "children" / "log_child.py"
REPO = Path(__file__).resolve().parents[2]
REPLY_TIMEOUT_S = 60.0
MiB = 1 << 20


class LogChild:
    """A child process holding a log open; `send` writes a command and returns its answer."""

    def __init__(self, data_dir: Path, stderr_path: Path, *options: str) -> None:
        self.stderr_path = stderr_path
        with stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, str(CHILD), str(data_dir), *options],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=REPO,
            )
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        assert self.proc.stdout is not None
        self._pump = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._pump.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self._replies.put(json.loads(raw))
        self._replies.put(None)

    def reply(self) -> dict[str, Any]:
        try:
            message = self._replies.get(timeout=REPLY_TIMEOUT_S)
        except queue.Empty:
            message = None
        assert message is not None, (
            f"child {self.pid} gave no answer (exit {self.proc.poll()}):\n"
            + self.stderr_path.read_text()
        )
        return message

    def send(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        return self.reply()

    def exit(self) -> int:
        """Ask the child to close its log and exit; returns its exit status."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"exit\n")
        self.proc.stdin.close()
        return self.proc.wait(timeout=REPLY_TIMEOUT_S)

    def sigkill(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=REPLY_TIMEOUT_S)

    def reap(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=REPLY_TIMEOUT_S)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        self._pump.join(timeout=REPLY_TIMEOUT_S)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., LogChild]]:
    """Starts log_child.py processes; kills and reaps every one of them at teardown."""
    started: list[LogChild] = []

    def _spawn(data_dir: Path, *options: str) -> LogChild:
        child = LogChild(data_dir, tmp_path / f"child-{len(started)}.stderr", *options)
        started.append(child)
        return child

    try:
        yield _spawn
    finally:
        for child in started:
            child.reap()


def lock_file_pid(data_dir: Path) -> str:
    return (data_dir / "writer.lock").read_text().strip()


def sample_envelopes(start: int, count: int, pad: int = 0) -> list[Envelope]:
    """The events log_child.py appends for `append START COUNT PAD`."""
    return [
        sample_run(start + k, notes="x" * pad) if k % 2 == 0 else sample_finding(start + k)
        for k in range(count)
    ]


def sample_batch(start: int, count: int, pad: int = 0) -> list[AppendRequest]:
    return [AppendRequest(envelope) for envelope in sample_envelopes(start, count, pad)]


def batch_ids(start: int, count: int) -> list[str]:
    return [f"run-{start + k}" if k % 2 == 0 else f"finding-{start + k}" for k in range(count)]


def assert_locked_by(error: dict[str, Any], holder: int) -> None:
    assert error["error_code"] == "DATA_DIR_LOCKED"
    assert error["error_category"] == "state_contention"
    assert error["details"]["holder_pid"] == holder
    assert f"process {holder}" in error["error"]


def test_lock_file_holds_the_writer_pid_while_open(
    log: LmdbEventLog, data_dir: Path, spawn: Callable[..., LogChild]
) -> None:
    assert lock_file_pid(data_dir) == str(os.getpid())
    log.close()

    child = spawn(data_dir)
    opened = child.reply()["open"]
    assert opened["pid"] == child.pid
    assert lock_file_pid(data_dir) == str(child.pid)
    assert child.exit() == 0


def test_second_writer_in_another_process_is_refused(
    log: LmdbEventLog, data_dir: Path, spawn: Callable[..., LogChild]
) -> None:
    log.append(sample_batch(0, 3))
    child = spawn(data_dir)
    answer = child.reply()
    assert "error" in answer, f"a second writer opened the directory: {answer}"
    assert_locked_by(answer["error"], os.getpid())
    assert answer["error"]["retryable"] is False
    assert child.proc.wait(timeout=REPLY_TIMEOUT_S) == 3

    # The refusal took nothing from the holder.
    assert lock_file_pid(data_dir) == str(os.getpid())
    assert log.append(sample_batch(10, 2)).tree_size == 5
    assert audit_log(log).size == 5


def test_second_writer_in_the_same_process_is_refused(
    log: LmdbEventLog, data_dir: Path, spawn: Callable[..., LogChild]
) -> None:
    log.append(sample_batch(0, 2))
    with pytest.raises(StateContention) as refused:
        LmdbEventLog(data_dir)
    assert refused.value.code is ErrorCode.DATA_DIR_LOCKED
    assert refused.value.details["holder_pid"] == os.getpid()
    assert "already open in this process" in refused.value.message

    # The refused attempt must not drop (or overwrite) the holder's lock.
    assert lock_file_pid(data_dir) == str(os.getpid())
    other = spawn(data_dir)
    assert_locked_by(other.reply()["error"], os.getpid())
    assert log.append(sample_batch(10, 2)).tree_size == 4


def test_directory_opens_again_after_close(
    open_log: Callable[..., LmdbEventLog], data_dir: Path, spawn: Callable[..., LogChild]
) -> None:
    first = open_log(data_dir)
    first.append(sample_batch(0, 3))
    first.close()

    second = open_log(data_dir)
    assert second.recovered_stale_lock_from is None
    assert second.size() == 3
    second.append(sample_batch(10, 2))
    second.close()

    child = spawn(data_dir)
    opened = child.reply()["open"]
    assert opened["recovered"] is None
    assert opened["size"] == 5
    appended = child.send("append 20 1 0")["appended"]
    assert appended == [["run-20", 5, False]]
    assert child.exit() == 0

    third = open_log(data_dir)
    assert third.recovered_stale_lock_from is None
    assert [event.leaf.envelope.event_id for event in third.read()] == (
        batch_ids(0, 3) + batch_ids(10, 2) + ["run-20"]
    )


def test_lock_of_a_sigkilled_holder_is_recovered(
    open_log: Callable[..., LmdbEventLog], data_dir: Path, spawn: Callable[..., LogChild]
) -> None:
    child = spawn(data_dir)
    assert child.reply()["open"]["pid"] == child.pid
    appended = child.send("append 0 4 0")["appended"]
    assert [seq for _, seq, _ in appended] == [0, 1, 2, 3]
    assert lock_file_pid(data_dir) == str(child.pid)

    with pytest.raises(StateContention) as refused:
        LmdbEventLog(data_dir)
    assert refused.value.details["holder_pid"] == child.pid

    dead_pid = child.pid
    assert child.sigkill() == -signal.SIGKILL
    assert lock_file_pid(data_dir) == str(dead_pid), "the dead holder's pid should remain"

    log = open_log(data_dir)
    assert log.recovered_stale_lock_from == dead_pid
    assert lock_file_pid(data_dir) == str(os.getpid())
    assert [event.leaf.envelope.event_id for event in log.read()] == batch_ids(0, 4)
    assert audit_log(log).size == 4
    assert log.append(sample_batch(10, 1)).results[0].seq == 4


def test_a_stale_lock_left_under_our_own_pid_is_still_reported(
    open_log: Callable[..., LmdbEventLog], data_dir: Path
) -> None:
    # A restarted container's daemon often gets the same pid as the run that was killed.
    data_dir.mkdir()
    (data_dir / "writer.lock").write_text(f"{os.getpid()}\n")
    log = open_log(data_dir)
    assert log.recovered_stale_lock_from == os.getpid()
    log.close()
    assert lock_file_pid(data_dir) == "", "a clean close leaves no pid behind"
    assert open_log(data_dir).recovered_stale_lock_from is None


def test_readonly_opens_work_beside_a_writer_and_see_its_commits(
    open_log: Callable[..., LmdbEventLog], data_dir: Path, spawn: Callable[..., LogChild]
) -> None:
    writer = spawn(data_dir)
    assert writer.reply()["open"]["size"] == 0
    first = writer.send("append 0 5 0")
    assert first["size"] == 5

    reader = open_log(data_dir, readonly=True)
    assert reader.recovered_stale_lock_from is None
    assert reader.size() == 5
    for event_id, seq, _ in first["appended"]:
        stored = reader.get_by_event_id(event_id)
        assert stored.seq == seq
        expected = sample_envelopes(0, 5)[seq]
        assert encode_envelope(stored.leaf.envelope) == encode_envelope(expected)

    with reader.snapshot() as before:
        second = writer.send("append 100 3 0")
        assert [seq for _, seq, _ in second["appended"]] == [5, 6, 7]
        assert before.size == 5, "an open snapshot must not see later commits"
    assert reader.size() == 8
    assert [event.leaf.envelope.event_id for event in reader.read(5)] == batch_ids(100, 3)

    other_reader = spawn(data_dir, "--readonly")
    assert other_reader.reply()["open"]["size"] == 8
    assert other_reader.send("read")["read"]["ids"] == batch_ids(0, 5) + batch_ids(100, 3)

    with pytest.raises(InvalidInput) as refused:
        reader.append(sample_batch(200, 1))
    assert refused.value.code is ErrorCode.INVALID_ARGUMENT
    assert lock_file_pid(data_dir) == str(writer.pid)
    assert audit_log(reader).size == 8
    assert other_reader.exit() == 0
    assert writer.exit() == 0


def leaves_sha256(log: LmdbEventLog) -> str:
    digest = hashlib.sha256()
    for event in log.read():
        digest.update(len(event.leaf_bytes).to_bytes(8, "big") + event.leaf_bytes)
    return digest.hexdigest()


def test_reader_process_keeps_reading_after_the_writer_grows_the_map(
    open_log: Callable[..., LmdbEventLog], data_dir: Path, spawn: Callable[..., LogChild]
) -> None:
    writer = open_log(data_dir, map_size=MiB)
    writer.append(sample_batch(0, 4))

    reader = spawn(data_dir, "--readonly", "--map-size", str(MiB))
    opened = reader.reply()["open"]
    assert opened["size"] == 4
    reader_map = opened["map_size"]

    start = 1000
    for _ in range(3):
        for _ in range(8):
            writer.append(sample_batch(start, 100, pad=4000))
            start += 100
        seen = reader.send("read")["read"]
        assert seen["size"] == writer.size()
        assert seen["ids"] == [event.leaf.envelope.event_id for event in writer.read()]
        assert seen["leaves_sha256"] == leaves_sha256(writer)

    data_size = (data_dir / "data.mdb").stat().st_size
    assert data_size > 4 * MiB, "the writer did not append several MB"
    assert data_size > reader_map, "the reader's first map already covered all the data"
    assert seen["map_size"] >= data_size, "the reader did not adopt the grown map"
    assert reader.exit() == 0


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "empty"])
def test_readonly_open_of_a_directory_without_a_ledger(tmp_path: Path, exists: bool) -> None:
    target = tmp_path / "no-ledger-here"
    if exists:
        target.mkdir()
    with pytest.raises(InvalidInput) as refused:
        LmdbEventLog(target, readonly=True)
    assert refused.value.code is ErrorCode.DATA_DIR_NOT_FOUND
    assert str(target) in refused.value.message
    if exists:
        assert list(target.iterdir()) == [], "a read-only open created files"
    else:
        assert not target.exists(), "a read-only open created the directory"
