"""Crash safety of the LMDB event log: a writer process is SIGKILLed at random moments.

A real child process (children/append_loop.py) appends batches of 1..20 sample
events in a loop. Before each `append` it prints a `begin` line naming the batch,
and after `append` returns an `ack` line with the seq each event got. The parent
kills it with SIGKILL after a seeded random delay, and then, for every round:

- reopening the directory for writing succeeds, recovering the dead child's
  writer lock (and naming its pid whenever the child had taken the lock);
- `audit_log` passes;
- the log holds exactly the acknowledged events, each at its acknowledged seq with
  the content the child sent, seqs gap-free from 0, no event twice; the one batch
  that was in flight when the child died is there entirely or not at all;
- re-sending that in-flight batch (what a client would do) never stores an
  event twice.

Each round starts a new child on the same directory with fresh sample indexes.
A second variant opens with a 1 MiB map so that the map grows during every round;
a third keeps a reader process open across all the kills, so LMDB's lock file is
never reset between writers.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from ledger.audit import audit_log
from ledger.clock import Clock
from ledger.errors import ErrorCode, InvalidInput
from ledger.model import Envelope, encode_envelope
from ledger.samples import sample_finding, sample_run
from ledger.store import AppendRequest, LmdbEventLog

CHILD = Path(__file__).resolve().parent / "children" / "append_loop.py"
READER_CHILD = CHILD.with_name("log_child.py")
REPO = Path(__file__).resolve().parents[2]
INDEX_STRIDE = 10_000_000
OPEN_TIMEOUT_S = 30.0


def expected_envelope(event_id: str, pad: int) -> Envelope:
    """The envelope the child built for `event_id` (see children/append_loop.py)."""
    kind, _, index = event_id.partition("-")
    if kind == "run":
        return sample_run(int(index), notes="x" * pad)
    assert kind == "finding", event_id
    return sample_finding(int(index))


def canonical_sha(envelope: Envelope) -> str:
    return hashlib.sha256(encode_envelope(envelope)).hexdigest()


class OutputPump:
    """Reads a child's stdout on a thread: complete lines in order, a torn last line apart."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.lines: list[bytes] = []
        self.torn = b""
        self.eof = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for raw in iter(self._stream.readline, b""):
            with self._changed:
                if raw.endswith(b"\n"):
                    self.lines.append(raw)
                else:
                    self.torn = raw
                self._changed.notify_all()
        with self._changed:
            self.eof = True
            self._changed.notify_all()

    def wait_lines(self, count: int, timeout: float) -> bool:
        """Wait until `count` complete lines arrived (False on EOF or timeout first)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.lines) >= count or self.eof, timeout)
            return len(self.lines) >= count

    def finish(self) -> None:
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the child's stdout never reached EOF"


@dataclass
class Round:
    """What one killed child acknowledged, parsed from its complete stdout lines."""

    pid: int
    opened: dict[str, Any] | None = None
    acked: list[tuple[str, int]] = field(default_factory=list)
    maps: list[int] = field(default_factory=list)
    in_flight: list[tuple[str, str]] | None = None


def parse_round(pid: int, lines: list[bytes], first_seq: int) -> Round:
    """Check the child's protocol and collect its acknowledgements (seqs must follow on)."""
    result = Round(pid=pid)
    next_seq = first_seq
    for number, raw in enumerate(lines):
        message = json.loads(raw)
        if number == 0:
            assert message.get("open") == pid, f"first line is not the open line: {message}"
            assert message["recovered"] is None, (
                "the parent closed the log cleanly, yet the child reports recovering a stale "
                f"lock from {message['recovered']}"
            )
            result.opened = message
        elif "begin" in message:
            assert result.in_flight is None, "a batch began before the previous one was acked"
            result.in_flight = [(event_id, sha) for event_id, sha in message["begin"]]
        else:
            assert result.in_flight is not None, f"ack without a batch: {message}"
            ids = [event_id for event_id, _ in message["ack"]]
            assert ids == [event_id for event_id, _ in result.in_flight]
            seqs = [seq for _, seq in message["ack"]]
            assert seqs == list(range(next_seq, next_seq + len(ids))), (
                f"acked seqs {seqs} do not follow on from {next_seq}"
            )
            assert message["dups"] == 0, "fresh events were reported as duplicates"
            next_seq += len(ids)
            assert message["size"] == next_seq
            result.acked.extend(zip(ids, seqs, strict=True))
            result.maps.append(message["map"])
            result.in_flight = None
    return result


def run_child_until_killed(
    data_dir: Path,
    *,
    start: int,
    seed: int,
    pad: int,
    map_size: int | None,
    kill_at: str,
    delay: float,
    stderr_path: Path,
) -> tuple[int, list[bytes]]:
    """Start an append loop, SIGKILL it after `delay` (from spawn or from its open line)."""
    argv = [sys.executable, str(CHILD), str(data_dir), "--start", str(start), "--seed", str(seed)]
    argv += ["--pad", str(pad)]
    if map_size is not None:
        argv += ["--map-size", str(map_size)]
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO)
    try:
        assert proc.stdout is not None
        pump = OutputPump(proc.stdout)
        if kill_at == "open":
            assert pump.wait_lines(1, OPEN_TIMEOUT_S), (
                f"child did not open the log (exit {proc.poll()}):\n" + stderr_path.read_text()
            )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        pump.finish()
        assert proc.returncode == -signal.SIGKILL, (
            f"child ended by itself (exit {proc.returncode}) before the kill:\n"
            + stderr_path.read_text()
        )
        return proc.pid, pump.lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def check_after_kill(
    data_dir: Path,
    outcome: Round,
    expected_ids: list[str],
    *,
    pad: int,
    map_size: int | None,
    clock: Clock,
) -> bool:
    """Reopen, audit and compare with the acknowledgements; returns whether the in-flight
    batch had been committed. Extends `expected_ids` with what the log now must hold."""
    options: dict[str, Any] = {} if map_size is None else {"map_size": map_size}
    log = LmdbEventLog(data_dir, clock=clock, **options)
    try:
        if outcome.opened is not None:
            assert log.recovered_stale_lock_from == outcome.pid
        else:
            assert log.recovered_stale_lock_from in (None, outcome.pid)

        first_new = len(expected_ids)
        expected_ids.extend(event_id for event_id, _ in outcome.acked)
        in_flight = outcome.in_flight or []
        size = log.size()
        committed = size != len(expected_ids)
        if committed:
            assert in_flight, f"log has {size} events, {len(expected_ids)} were acknowledged"
            assert size == len(expected_ids) + len(in_flight), (
                f"in-flight batch of {len(in_flight)} is partly stored: the log has {size} "
                f"events, {len(expected_ids)} were acknowledged"
            )
            expected_ids.extend(event_id for event_id, _ in in_flight)

        report = audit_log(log)
        assert report.size == size

        events = list(log.read())
        assert [event.seq for event in events] == list(range(size))
        assert [event.leaf.seq for event in events] == list(range(size))
        stored_ids = [event.leaf.envelope.event_id for event in events]
        assert len(set(stored_ids)) == len(stored_ids), "an event is stored twice"
        assert stored_ids == expected_ids
        sent_sha = dict(in_flight)
        for event in events[first_new:]:
            event_id = event.leaf.envelope.event_id
            stored_sha = canonical_sha(event.leaf.envelope)
            assert stored_sha == canonical_sha(expected_envelope(event_id, pad)), event_id
            if event_id in sent_sha:
                assert stored_sha == sent_sha[event_id], event_id
        for event_id, seq in outcome.acked:
            assert log.get_by_event_id(event_id).seq == seq

        if in_flight:
            retry = log.append(
                [AppendRequest(expected_envelope(event_id, pad)) for event_id, _ in in_flight]
            )
            retried_seqs = [result.seq for result in retry.results]
            if committed:
                assert all(result.duplicate for result in retry.results)
                assert retried_seqs == [stored_ids.index(event_id) for event_id, _ in in_flight]
            else:
                assert not any(result.duplicate for result in retry.results)
                assert retried_seqs == list(range(size, size + len(in_flight)))
                expected_ids.extend(event_id for event_id, _ in in_flight)
            assert retry.tree_size == len(expected_ids)
            assert log.size() == len(expected_ids)
        return committed
    finally:
        log.close()


def crash_rounds(
    data_dir: Path,
    tmp_path: Path,
    clock: Clock,
    *,
    seed: int,
    rounds: int,
    pad: int,
    map_size: int | None,
    after_round: Callable[[list[str]], None] | None = None,
) -> list[Round]:
    """Run `rounds` kill-and-check rounds; `after_round` gets the ids the log now holds."""
    rng = random.Random(seed)
    expected_ids: list[str] = []
    outcomes: list[Round] = []
    for number in range(rounds):
        # Every fourth round is killed early, timed from spawn (start-up, lock, open);
        # the others while appending, timed from the child's open line.
        early = number % 4 == 0
        delay = rng.uniform(0.0, 0.3) if early else rng.uniform(0.05, 1.2)
        pid, lines = run_child_until_killed(
            data_dir,
            start=(number + 1) * INDEX_STRIDE,
            seed=rng.randrange(1 << 30),
            pad=pad,
            map_size=map_size,
            kill_at="spawn" if early else "open",
            delay=delay,
            stderr_path=tmp_path / f"child-{number}.stderr",
        )
        outcome = parse_round(pid, lines, len(expected_ids))
        check_after_kill(data_dir, outcome, expected_ids, pad=pad, map_size=map_size, clock=clock)
        outcomes.append(outcome)
        if after_round is not None:
            after_round(expected_ids)

    log = LmdbEventLog(data_dir, readonly=True)
    try:
        assert audit_log(log).size == len(expected_ids)
    finally:
        log.close()
    appending_rounds = [outcome for outcome in outcomes if outcome.acked]
    assert len(appending_rounds) >= rounds // 2, "too few rounds got to append anything"
    return outcomes


@pytest.mark.slow
def test_sigkilled_writer_loses_nothing_acknowledged(
    data_dir: Path, tmp_path: Path, clock: Clock
) -> None:
    crash_rounds(data_dir, tmp_path, clock, seed=20260101, rounds=8, pad=0, map_size=None)


@pytest.mark.slow
def test_sigkilled_writer_while_the_map_grows(data_dir: Path, tmp_path: Path, clock: Clock) -> None:
    tiny = 1 << 20
    outcomes = crash_rounds(
        data_dir, tmp_path, clock, seed=424242, rounds=6, pad=1500, map_size=tiny
    )
    grew = [
        outcome
        for outcome in outcomes
        if outcome.opened is not None and any(m > outcome.opened["map_size"] for m in outcome.maps)
    ]
    assert grew, "no child ever had to grow the map before it was killed"
    assert (data_dir / "data.mdb").stat().st_size > 4 * tiny


class ReaderChild:
    """A read-only log_child.py process that answers one JSON line per command."""

    def __init__(self, data_dir: Path, stderr_path: Path, *options: str) -> None:
        self.stderr_path = stderr_path
        argv = [sys.executable, str(READER_CHILD), str(data_dir), "--readonly", *options]
        with stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO
            )
        assert self.proc.stdout is not None
        self.pump = OutputPump(self.proc.stdout)

    def answer(self, number: int) -> dict[str, Any]:
        assert self.pump.wait_lines(number + 1, OPEN_TIMEOUT_S), (
            f"reader gave no answer (exit {self.proc.poll()}):\n" + self.stderr_path.read_text()
        )
        message: dict[str, Any] = json.loads(self.pump.lines[number])
        return message

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        answered = len(self.pump.lines)
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        return self.answer(answered)

    def reap(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.mark.slow
def test_reader_process_open_across_writer_kills(
    data_dir: Path, tmp_path: Path, clock: Clock
) -> None:
    """With a reader keeping the environment open, LMDB's lock file is never reset between
    writers, so a writer killed inside a write transaction leaves its mutex to be recovered."""
    LmdbEventLog(data_dir, clock=clock, map_size=1 << 20).close()
    reader = ReaderChild(data_dir, tmp_path / "reader.stderr", "--map-size", str(1 << 20))
    try:
        assert reader.answer(0)["open"]["size"] == 0
        sizes: list[int] = []

        def reader_sees_everything(expected_ids: list[str]) -> None:
            seen = reader.ask("read")["read"]
            assert seen["ids"] == expected_ids
            sizes.append(seen["size"])

        crash_rounds(
            data_dir,
            tmp_path,
            clock,
            seed=777,
            rounds=6,
            pad=500,
            map_size=1 << 20,
            after_round=reader_sees_everything,
        )
        assert len(sizes) == 6
        assert sizes[-1] > 0
        assert reader.proc.poll() is None, "the reader process died"
    finally:
        reader.reap()


FIRST_OPEN_CHILD = CHILD.with_name("first_open.py")


def _first_open(data_dir: Path, kill_at: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, str(FIRST_OPEN_CHILD), str(data_dir), str(kill_at)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)


def _reopened_after_first_open_killed(data_dir: Path, clock: Clock) -> str:
    """What a writer killed while creating `data_dir` left: no ledger, an empty one, or one
    holding its event; anything else (a directory refused as not a ledger) fails."""
    refused: InvalidInput | None = None
    try:
        reader = LmdbEventLog(data_dir, readonly=True)
    except InvalidInput as exc:
        refused = exc
    if refused is not None:
        # Killed before the new ledger was committed: there is none yet.
        assert refused.code is ErrorCode.DATA_DIR_NOT_FOUND
        assert refused.message.endswith("holds no ledger"), refused.message
        left = "no ledger"
    else:
        try:
            size = reader.size()
        finally:
            reader.close()
        assert size in (0, 1)
        left = "empty ledger" if size == 0 else "one event"
    log = LmdbEventLog(data_dir, clock=clock)
    try:
        if left == "one event":
            assert log.get(0).leaf.envelope == sample_run(0)
        # The client's retry of its append: the ledger takes it, exactly once.
        outcome = log.append([AppendRequest(sample_run(0))])
        assert outcome.results[0].duplicate is (left == "one event")
        assert outcome.tree_size == 1
        assert audit_log(log).size == 1
    finally:
        log.close()
    return left


def test_a_writer_killed_while_creating_a_ledger_leaves_one_that_opens(
    tmp_path: Path, clock: Clock
) -> None:
    """A new ledger appears atomically. The child creates a ledger and appends one event,
    and is SIGKILLed just before or just after each of its LMDB calls in turn (chosen by
    count, not by timing, so every point between two transactions is hit every run)."""
    clean = _first_open(tmp_path / "clean", kill_at=1 << 30)
    out, err = clean.communicate(timeout=60)
    assert clean.returncode == 0, err.decode()
    total = json.loads(out)["events"]
    assert total > 20, "the child saw too few LMDB calls to be killed between them"

    left: dict[int, str] = {}
    # Killed as call n starts is the same on disk as killed as call n - 1 returned (only
    # Python ran in between), so the first start and every return cover every point.
    points = [0, *range(1, total, 2)]
    parallel = 4  # the children mostly wait for fsync
    for first in range(0, len(points), parallel):
        batch = points[first : first + parallel]
        children = {k: _first_open(tmp_path / f"kill-{k}", k) for k in batch}
        for kill_at, child in children.items():
            _, err = child.communicate(timeout=60)
            assert child.returncode == -signal.SIGKILL, (kill_at, err.decode())
        for kill_at in children:
            left[kill_at] = _reopened_after_first_open_killed(tmp_path / f"kill-{kill_at}", clock)
    # The points span the whole creation: before it, between it and the append, after both.
    assert left[0] == "no ledger"
    assert "empty ledger" in left.values()
    assert left[points[-1]] == "one event"
