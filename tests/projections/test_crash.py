"""Exactly-once folding under SIGKILL: a catching-up process is killed at random moments.

Each round, the parent appends a batch of mixed events to the log and closes it; a
real child process (children/catch_up.py) opens the log for writing (taking its
writer lock), opens the projection engine with a small chunk and catches up, printing
the committed positions before every write transaction. The parent SIGKILLs it at a
seeded random moment: mostly once it has committed a random position, plus a random
sliver of time (so anywhere inside the next fold or its commit), and every fourth
round timed from the spawn (during start-up, the lock, the first opening of the
projections environment).

After every kill the parent reopens the log (recovering the dead child's writer
lock) and the engine, and checks that:

- every projection's position is at least what the child had reported as committed,
  and at most the log size;
- every projection's stored state is exactly the replay of the log up to its
  position: no event folded twice, skipped, or half-applied;

then finishes the catch-up itself. At the end, the digests equal those of a rebuild
and of a clean engine in another directory that never crashed.
"""

from __future__ import annotations

import json
import os
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

import ledger
from ledger.clock import Clock
from ledger.model import Envelope
from ledger.projections import ProjectionEngine
from ledger.projections.state import MemoryState, state_digest
from ledger.store import AppendRequest, LmdbEventLog
from lifecycle_events import (
    command_executed,
    finding_reported,
    finding_resolved,
    gate_evaluated,
    patch_edit,
    patch_inspected,
    run_recorded,
    source_checked,
    source_registered,
    suppression_added,
    suppression_lifted,
    uuid_for,
    waiver_granted,
    waiver_revoked,
)

CHILD = Path(__file__).resolve().parent / "children" / "catch_up.py"
REPO = Path(__file__).resolve().parents[2]
NAMES = ("verdicts", "health", "runs")
EMPTY_DIGEST = state_digest(MemoryState())
OPEN_TIMEOUT_S = 60.0
# The child imports the very `ledger` package this process runs.
CHILD_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        filter(
            None, [str(Path(ledger.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")]
        )
    ),
}


def mixed_event(index: int) -> Envelope:
    """Event number `index` of a deterministic mix of every type the projections fold."""
    subject = f"pr-{index % 5}"
    finding = f"F-{index % 17}"
    source = ("ci-lint", "scanner", "prober")[index % 3]
    event_id = f"crash-{index}"
    kind = index % 12
    if kind == 0:
        refs = [f"ref-{index % 7}"]
        inputs = [f"ref-{(index + 3) % 7}", uuid_for(f"crash-run-{index - 12}")]
        return run_recorded(
            uuid_for(f"crash-run-{index}"),
            agent=("agent-a", "agent-b")[index % 2],
            status=("SUCCESS", "FAILED")[index % 24 // 12],
            input_refs=inputs,
            output_refs=refs,
            event_id=event_id,
        )
    if kind in (1, 2):
        return finding_reported(
            finding,
            subject if index % 23 else "pr-other",
            severity=("P0", "P1", "P2", "P3")[index % 4],
            category=("correctness", "security", "isolation")[index % 3],
            producer=("gate-1", "gate-2")[index % 2],
            event_id=event_id,
        )
    if kind == 3:
        return finding_resolved(finding, event_id=event_id)
    if kind == 4:
        return waiver_granted(f"W-{index % 3}", finding, event_id=event_id)
    if kind == 5:
        return waiver_revoked(f"W-{index % 3}", finding, event_id=event_id)
    if kind == 6:
        return command_executed(
            subject,
            ("unit", "lint")[index % 2],
            status=("passed", "failed", "timed_out", "error")[index % 4],
            event_id=event_id,
        )
    if kind == 7:
        edits = [patch_edit()] if index % 2 else []
        return patch_inspected(subject, edits=edits, event_id=event_id)
    if kind == 8:
        return gate_evaluated(subject, readiness="not_ready", event_id=event_id)
    if kind == 9:
        return source_checked(source, ok=index % 5 != 0, event_id=event_id)
    if kind == 10:
        return source_registered(source, failure_budget=(0.1, 0.5)[index % 2], event_id=event_id)
    if index % 24 < 12:
        return suppression_added(f"S-{index % 2}", source, event_id=event_id)
    return suppression_lifted(f"S-{index % 2}", source, event_id=event_id)


class OutputPump:
    """Reads a child's stdout on a thread, keeping its complete lines in order."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.lines: list[bytes] = []
        self.eof = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for raw in iter(self._stream.readline, b""):
            with self._changed:
                if raw.endswith(b"\n"):
                    self.lines.append(raw)
                self._changed.notify_all()
        with self._changed:
            self.eof = True
            self._changed.notify_all()

    def wait_until(self, reached: Callable[[list[bytes]], bool], timeout: float) -> bool:
        """Wait until `reached(lines)` holds; False on EOF or timeout first."""
        with self._changed:
            self._changed.wait_for(lambda: reached(self.lines) or self.eof, timeout)
            return reached(self.lines)

    def finish(self) -> None:
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the child's stdout never reached EOF"


@dataclass
class Killed:
    """What one killed child reported before it died."""

    pid: int
    opened: dict[str, Any] | None = None
    committed: dict[str, int] = field(default_factory=dict)
    done: bool = False


def _committed_at_least(target: int) -> Callable[[list[bytes]], bool]:
    """Whether the child has reported every projection at `target` or beyond."""

    def reached(lines: list[bytes]) -> bool:
        if len(lines) < 2:
            return False
        message = json.loads(lines[-1])
        positions = message.get("at") or message.get("done") or {}
        return bool(positions) and min(positions.values()) >= target

    return reached


def run_child_until_killed(
    data_dir: Path,
    *,
    chunk: int,
    rng: random.Random,
    early: bool,
    folded: int,
    size: int,
    stderr_path: Path,
) -> Killed:
    """Run the child over a log of `size` events of which `folded` are folded already,
    and SIGKILL it: early (timed from the spawn), or once it has committed a random
    position in between, plus a sliver of time into its next transaction."""
    argv = [sys.executable, str(CHILD), str(data_dir), "--chunk", str(chunk)]
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=REPO,
            env=CHILD_ENV,
        )
    try:
        assert proc.stdout is not None
        pump = OutputPump(proc.stdout)
        if early:
            time.sleep(rng.uniform(0.0, 0.25))
        else:
            target = rng.randint(folded + 1, size - 1)
            if not pump.wait_until(_committed_at_least(target), OPEN_TIMEOUT_S):
                assert proc.poll() is None, (
                    f"child ended (exit {proc.returncode}):\n" + stderr_path.read_text()
                )
            time.sleep(rng.uniform(0.0, 0.004))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        pump.finish()
        assert proc.returncode == -signal.SIGKILL, (
            f"child ended by itself (exit {proc.returncode}):\n" + stderr_path.read_text()
        )
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
    killed = Killed(pid=proc.pid)
    for raw in pump.lines:
        message = json.loads(raw)
        if "open" in message:
            assert message["open"] == proc.pid
            killed.opened = message
            killed.committed = message["positions"]
        elif "at" in message:
            killed.committed = message["at"]
        else:
            killed.committed = message["done"]
            killed.done = True
    return killed


def digests(engine: ProjectionEngine) -> dict[str, str]:
    return {status.name: status.digest for status in engine.status()}


def assert_states_match_positions(engine: ProjectionEngine) -> None:
    stored = digests(engine)
    for name, position in engine.positions().items():
        expected = (
            EMPTY_DIGEST if position == 0 else state_digest(engine.replay(name, position - 1).state)
        )
        assert stored[name] == expected, f"{name} at position {position}"


@pytest.mark.slow
def test_sigkilled_catch_up_folds_every_event_exactly_once(
    data_dir: Path, tmp_path: Path, clock: Clock
) -> None:
    rng = random.Random(20260215)
    # chunk=1: while behind, the engine folds 16 chunks per transaction, so a round's
    # catch-up takes 20 transactions.
    rounds, per_round, chunk = 8, 320, 1
    size = 0
    mid_fold = 0
    for number in range(rounds):
        with LmdbEventLog(data_dir, clock=clock) as log:
            batch = [mixed_event(index) for index in range(size, size + per_round)]
            log.append([AppendRequest(envelope) for envelope in batch])
            size = log.size()
        assert size == (number + 1) * per_round

        killed = run_child_until_killed(
            data_dir,
            chunk=chunk,
            rng=rng,
            early=number % 4 == 0,
            folded=size - per_round,
            size=size,
            stderr_path=tmp_path / f"child-{number}.stderr",
        )

        log = LmdbEventLog(data_dir, clock=clock)
        try:
            if killed.opened is not None:
                assert log.recovered_stale_lock_from == killed.pid
            with ProjectionEngine(log) as engine:
                positions = engine.positions()
                for name in NAMES:
                    assert killed.committed.get(name, 0) <= positions[name] <= size, name
                assert_states_match_positions(engine)
                if not killed.done and any(size - per_round < p < size for p in positions.values()):
                    mid_fold += 1
                assert engine.catch_up() == dict.fromkeys(NAMES, size)
                assert_states_match_positions(engine)
        finally:
            log.close()
    assert mid_fold >= rounds // 2, f"only {mid_fold} of {rounds} kills landed mid catch-up"

    with LmdbEventLog(data_dir, clock=clock) as log:
        with ProjectionEngine(log) as engine:
            crashed = digests(engine)
            assert engine.rebuild() == dict.fromkeys(NAMES, size)
            assert digests(engine) == crashed
        with ProjectionEngine(log, directory=tmp_path / "clean") as clean:
            clean.catch_up()
            assert digests(clean) == crashed
