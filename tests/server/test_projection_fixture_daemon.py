"""The projections fixture through a real daemon: golden bytes over gRPC, across crashes.

The daemon-level twin of `tests/test_projection_fixture.py`. The fixture
(tests/fixtures/projections/, 1,403 events from several producers) is imported
offline with the real `ledgerctl import` under the pinned clock, so every fixture
event keeps the seq the goldens were computed with; each daemon start then
appends one `ledger.started` record after it, which no projection folds
(`GoldenCase.expected_bytes(trailing_events=starts)`). The daemon folds in chunks
of `CHUNK` events (`LEDGERD_PROJECTION_CHUNK_EVENTS`). Then:

- the catch-up, SIGKILLed twice mid-way (folding from 0, then resuming), resumes
  where each crash left it and ends with every golden answer byte for byte, the
  state digests included;
- `RebuildProjections` gives the same digests and the same bytes, and a rebuild
  SIGKILLed mid-way resumes to them on the next start;
- the fixture appended through the daemon batch by batch (read-your-writes after
  each append), with a SIGKILL while a batch is in flight, ends with projections
  byte-identical to a full rebuild of the same log in a fresh directory. (That log
  has the `ledger.started` records in the middle, so its seqs are not the goldens'.)

After each crash the data directory is opened offline, the way `ledgerctl` does:
every projection is at one position, a chunk boundary, and its stored state has
the digest of a fold of exactly the events that position counts. Every answer
that judges time is asked at the fixture's evaluation time.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import projections_fixture as fx
from clients.client import LedgerClient
from clients.event import Event
from clients.projections import ProjectionState
from clients.retry import RetryPolicy
from conftest import run_ledgerctl
from daemon import DaemonProcess
from ledger.projections import ProjectionEngine, ProjectionQueries
from ledger.projections.engine import default_projections
from ledger.projections.replay import replay_report
from ledger.projections.state import state_digest
from ledger.store import AppendResult, LmdbEventLog

Json = dict[str, Any]

#: Events per projection write transaction. Small, so that a catch-up of the fixture takes
#: ~700 commits and lasts long enough (~0.1 s) to be caught mid-way.
CHUNK = 2
#: Rides through a SIGKILL and a restart (the daemon is down well under a second).
RIDE_THROUGH = RetryPolicy(
    max_attempts=400, initial_backoff_s=0.02, max_backoff_s=0.25, overall_deadline_s=60.0
)


def daemon_env(chunk: int = CHUNK) -> dict[str, str]:
    return {
        "LEDGERD_CLOCK": f"fixed:{fx.RECORDED_AT}",
        "LEDGERD_PROJECTION_CHUNK_EVENTS": str(chunk),
    }


def import_offline(lines: Sequence[bytes], data_dir: Path, scratch: Path) -> None:
    """`ledgerctl import` of `lines` into `data_dir`, recorded_at pinned as the goldens need."""
    source = scratch / "events.jsonl"
    source.write_bytes(b"".join(line + b"\n" for line in lines))
    result = run_ledgerctl(
        "import",
        str(source),
        "--data-dir",
        str(data_dir),
        "--json",
        env={"LEDGERD_CLOCK": f"fixed:{fx.RECORDED_AT}"},
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert b'"tree_size":%d' % len(lines) in result.stdout, result.stdout


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return fx.fixture_lines()


@pytest.fixture(scope="module")
def cases(lines: list[bytes]) -> list[fx.GoldenCase]:
    return fx.golden_cases(lines)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]) -> Path:
    """The whole fixture imported offline, no projection folded yet; copied by each test."""
    scratch = tmp_path_factory.mktemp("imported")
    import_offline(lines, scratch / "data", scratch)
    return scratch / "data"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return fx.workspace(tmp_path)


def copy_of(imported: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(imported, target)
    assert not (target / "projections").exists()
    return target


# Asking the daemon ----------------------------------------------------------------------------


def _time(params: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(params["at"])


def status_json(states: Sequence[ProjectionState]) -> Json:
    """GetProjectionStatus as the golden `status` document (`ProjectionStatus`'s fields)."""
    return {
        "projections": [
            {
                "name": s.name,
                "version": s.version,
                "position": s.position,
                "log_size": s.log_size,
                "digest": s.digest,
                "rows": s.rows,
            }
            for s in states
        ]
    }


def ask_daemon(client: LedgerClient, case: fx.GoldenCase, workspace: Path, min_seq: int) -> Json:
    """One case answered over gRPC, reflecting at least seq `min_seq`."""
    p = case.params
    views = client.projections
    if case.kind == "verdict":
        return views.verdict(p["subject"], at=_time(p), as_of=p.get("as_of"), min_seq=min_seq)
    if case.kind == "findings":
        return views.findings(at=_time(p), as_of=p.get("as_of"), min_seq=min_seq)
    if case.kind == "health":
        return views.health(at=_time(p), as_of=p.get("as_of"), min_seq=min_seq)
    if case.kind == "suppressions":
        return views.suppressions(p["source"], at=_time(p), min_seq=min_seq)
    if case.kind == "runs":
        return views.runs(
            agent=p.get("agent"),
            status=p.get("status"),
            before_seq=p.get("before_seq"),
            limit=p["limit"],
            min_seq=min_seq,
        )
    if case.kind == "run":
        return views.run(p["run_id"], min_seq=min_seq)
    if case.kind == "replay":
        document = views.replay(p["run_id"], min_seq=min_seq)
        return fx.normalise_replay(replay_report(document, workspace, p["mode"]))
    if case.kind == "history":
        return views.history(
            p["stream"],
            from_version=p.get("from_version", 1),
            limit=p.get("limit", 100),
            as_of=p.get("as_of"),
        )
    if case.kind == "status":
        return status_json(views.status())
    raise ValueError(f"unknown case kind {case.kind!r}")


def wait_caught_up(client: LedgerClient, last_seq: int) -> None:
    """Every projection has folded `last_seq` (a query on each waits for it)."""
    views = client.projections
    at = datetime.fromisoformat(fx.EVALUATED_AT)
    assert views.verdict(fx.UNKNOWN_SUBJECT, at=at, min_seq=last_seq)["log_position"] > last_seq
    assert views.health(source="svc-api", at=at, min_seq=last_seq)["log_position"] > last_seq
    assert views.runs(limit=1, min_seq=last_seq)["log_position"] > last_seq


def answers_over_grpc(
    address: str, cases: Sequence[fx.GoldenCase], workspace: Path, last_seq: int
) -> dict[str, bytes]:
    """Every case's encoded answer from the daemon, once it has folded `last_seq`."""
    with LedgerClient(address) as client:
        wait_caught_up(client, last_seq)
        return {
            case.name: fx.encode_golden(ask_daemon(client, case, workspace, last_seq))
            for case in cases
        }


def _first_difference(expected: bytes, actual: bytes) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )
    around = slice(max(at - 40, 0), at + 60)
    return f"at byte {at}: expected {expected[around]!r}, got {actual[around]!r}"


def assert_same_bytes(
    expected: Mapping[str, bytes], answers: Mapping[str, bytes], what: str
) -> None:
    assert answers.keys() == expected.keys()
    differ = {
        name: _first_difference(expected[name], answer)
        for name, answer in answers.items()
        if answer != expected[name]
    }
    if differ:
        pytest.fail(
            f"{len(differ)} of {len(answers)} answers differ from {what}:\n"
            + "\n".join(f"{name} {why}" for name, why in differ.items()),
            pytrace=False,
        )


def assert_golden(
    answers: Mapping[str, bytes], cases: Sequence[fx.GoldenCase], starts: int
) -> None:
    expected = {case.name: case.expected_bytes(trailing_events=starts) for case in cases}
    assert_same_bytes(expected, answers, f"the golden files (+{starts} ledger.started records)")


# Looking at a data directory offline ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Offline:
    log_size: int
    position: int
    started_seqs: list[int]


def inspect_offline(data_dir: Path) -> Offline:
    """What a crash left: one position for every projection, its state the fold up to it.

    Opens the directory the way `ledgerctl` does (taking over the dead daemon's
    lock); folds nothing.
    """
    log, engine = fx.open_ledger(data_dir)
    try:
        positions = set(engine.positions().values())
        assert len(positions) == 1, f"projections at different positions: {engine.positions()}"
        (position,) = positions
        for status in engine.status():
            if position:
                replayed = state_digest(engine.replay(status.name, position - 1).state)
                assert status.digest == replayed, (status.name, position)
        started = [s.seq for s in log.read() if s.leaf.envelope.type == "ledger.started"]
        return Offline(log.size(), position, started)
    finally:
        engine.close()
        log.close()


def poll_until_folded(address: str, target: int, timeout: float = 30.0) -> int:
    """Poll GetProjectionStatus until every projection has folded `target` events."""
    deadline = time.monotonic() + timeout
    with LedgerClient(address) as client:
        while True:
            position = min(s.position for s in client.projections.status())
            if position >= target or time.monotonic() > deadline:
                return position


MISSED = (
    "the fold was done before the kill ({seen} of {size} events seen folded): "
    "this machine folds faster than the test assumes; lower CHUNK"
)


def check_left_mid_way(left: Offline, seen: int, fixture_size: int, starts: int) -> None:
    """The crash came mid-way, and what it left is consistent (`inspect_offline` too)."""
    # Every start appended one ledger.started, after the fixture.
    assert left.log_size == fixture_size + starts
    assert left.started_seqs == list(range(fixture_size, fixture_size + starts))
    # Nothing seen folded was lost; the crash came mid-way, between two chunk commits.
    assert 0 < seen <= left.position < fixture_size
    assert left.position % CHUNK == 0


def test_no_projection_folds_ledger_started() -> None:
    # Why a daemon's start records leave every golden answer as it is.
    assert [p.name for p in default_projections() if "ledger.started" in p.event_types] == []


# 1. A catch-up killed mid-way -----------------------------------------------------------------

#: SIGKILLs during the catch-up: the first one folding from 0, the next resuming.
KILLS = 2


def test_a_catch_up_killed_mid_way_resumes_to_the_golden_answers(
    tmp_path, imported, lines, cases, workspace
) -> None:
    fixture_size = len(lines)
    data = copy_of(imported, tmp_path)
    daemon = DaemonProcess(data, env=daemon_env())
    moments = random.Random(20260301)
    starts = folded = 0
    try:
        for _ in range(KILLS):
            daemon.start()
            starts += 1
            # A start folds a few hundred events before the first answer, so the kill
            # comes soon after: at a seeded count past where the last crash left it.
            seen = poll_until_folded(daemon.address, folded + moments.randint(1, 48))
            daemon.kill()
            assert seen < fixture_size, MISSED.format(seen=seen, size=fixture_size)
            left = inspect_offline(data)
            check_left_mid_way(left, seen, fixture_size, starts)
            assert left.position > folded
            folded = left.position
        daemon.start()
        starts += 1
        answers = answers_over_grpc(daemon.address, cases, workspace, fixture_size + starts - 1)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert_golden(answers, cases, starts)
    left = inspect_offline(data)
    assert left.position == left.log_size == fixture_size + starts


# 2. Rebuild over gRPC -------------------------------------------------------------------------


def kill_mid_rebuild(daemon: DaemonProcess) -> int:
    """Start RebuildProjections, SIGKILL the daemon once it has folded part of the log again.

    Returns the position GetProjectionStatus showed last.
    """
    outcome: list[object] = []

    def rebuild() -> None:
        try:
            with LedgerClient(daemon.address, retry=RetryPolicy(max_attempts=1)) as client:
                outcome.append(client.projections.rebuild())
        except Exception as exc:  # the kill cuts the call: expected
            outcome.append(exc)

    rebuilding = threading.Thread(target=rebuild, name="rebuild")
    with LedgerClient(daemon.address) as client:
        rebuilding.start()
        while True:
            states = client.projections.status()
            seen = min(s.position for s in states)
            # Below the log size: the rebuild has reset the projections and is folding.
            if 0 < seen < states[0].log_size or not rebuilding.is_alive():
                break
    daemon.kill()
    rebuilding.join(timeout=60)
    assert not rebuilding.is_alive()
    return seen


def test_a_rebuild_over_grpc_keeps_digests_and_answers(
    tmp_path, imported, lines, cases, workspace
) -> None:
    fixture_size = len(lines)
    data = copy_of(imported, tmp_path)
    daemon = DaemonProcess(data, env=daemon_env()).start()
    try:
        last_seq = fixture_size  # the daemon's ledger.started
        before = answers_over_grpc(daemon.address, cases, workspace, last_seq)
        with LedgerClient(daemon.address) as client:
            states = client.projections.status()
            assert client.projections.rebuild() == states
            assert client.projections.rebuild(["health"]) == states
            assert client.projections.status() == states
        after = answers_over_grpc(daemon.address, cases, workspace, last_seq)
        # And a rebuild cut short by a crash resumes on the next start.
        seen = kill_mid_rebuild(daemon)
        assert seen < fixture_size, MISSED.format(seen=seen, size=fixture_size)
        check_left_mid_way(inspect_offline(data), seen, fixture_size, starts=1)
        daemon.restart()
        resumed = answers_over_grpc(daemon.address, cases, workspace, last_seq + 1)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert_golden(before, cases, starts=1)
    assert_golden(after, cases, starts=1)
    assert_golden(resumed, cases, starts=2)


# 3. Appended through the daemon, with a crash -------------------------------------------------

#: Fixture events imported offline before the daemon first starts.
PREFIX = 40


def remapped(case: fx.GoldenCase, new_seq: Mapping[int, int]) -> fx.GoldenCase:
    """The case with its fixture seqs (as_of, before_seq) moved to where those events are now."""
    params = {
        key: new_seq[value] if key in ("as_of", "before_seq") else value
        for key, value in case.params.items()
    }
    return dataclasses.replace(case, params=params)


def answers_offline(
    log: LmdbEventLog, engine: ProjectionEngine, cases: Sequence[fx.GoldenCase], workspace: Path
) -> dict[str, bytes]:
    return fx.compute_all(ProjectionQueries(engine, log), engine, workspace, cases)


@pytest.fixture
def prefix_only(tmp_path: Path, lines: list[bytes]) -> Path:
    data = tmp_path / "data"
    import_offline(lines[:PREFIX], data, tmp_path)
    return data


def test_appends_through_a_crashing_daemon_match_a_rebuild_of_the_same_log(
    tmp_path, prefix_only, lines, cases, workspace
) -> None:
    data = prefix_only
    sizes = random.Random(1403)
    batches: list[list[bytes]] = []
    start = PREFIX
    while start < len(lines):
        end = min(start + sizes.randint(1, 70), len(lines))
        batches.append(lines[start:end])
        start = end
    crash_at = len(batches) // 2
    assert len(batches) >= 20

    at = datetime.fromisoformat(fx.EVALUATED_AT)
    daemon = DaemonProcess(data, env=daemon_env()).start()
    newest_run = -1
    stored: dict[str, int] = {}  # event id -> seq, as acknowledged
    try:
        with LedgerClient(daemon.address, retry=RIDE_THROUGH) as client:
            for index, batch in enumerate(batches):
                events = [Event.from_json(line) for line in batch]
                if index == crash_at:
                    results = append_across_a_crash(daemon, events, sizes)
                    # The batch in flight at the kill is in the log once: sent again,
                    # every event is a duplicate, at the seq it was acknowledged with.
                    again = client.append_batch(events).results
                    assert [r.seq for r in again] == [r.seq for r in results]
                    assert all(r.duplicate for r in again)
                else:
                    results = list(client.append_batch(events).results)
                    assert not any(r.duplicate for r in results)
                seqs = [r.seq for r in results]
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
                stored.update((e.event_id, r.seq) for e, r in zip(events, results, strict=True))
                last = seqs[-1]
                runs = [
                    r.seq for e, r in zip(events, results, strict=True) if e.type == "run.recorded"
                ]
                newest_run = max([newest_run, *runs])
                # Read your writes: each projection answers with the batch folded in.
                views = client.projections
                assert views.verdict(fx.UNKNOWN_SUBJECT, at=at, min_seq=last)["log_position"] > last
                assert views.health(at=at, min_seq=last)["log_position"] > last
                page = views.runs(limit=1, min_seq=last)
                assert page["log_position"] > last
                assert [r["seq"] for r in page["runs"]] == ([newest_run] if newest_run >= 0 else [])
            last_seq = len(lines) + 2 - 1  # two ledger.started records
            assert last == last_seq
            daemon_states = client.projections.status()
        # The log: the fixture in order, each event once, at its acknowledged seq.
        with LedgerClient(daemon.address) as client:
            entries = list(client.read())
        fixture = [e.event for e in entries if e.event.type != "ledger.started"]
        assert fixture == [Event.from_json(line) for line in lines]
        assert stored.items() <= {e.event.event_id: e.seq for e in entries}.items()
        new_seq = {
            i: e.seq for i, e in enumerate(e for e in entries if e.event.type != "ledger.started")
        }
        shifted = [remapped(case, new_seq) for case in cases]
        over_grpc = answers_over_grpc(daemon.address, shifted, workspace, last_seq)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    started = [e.seq for e in entries if e.event.type == "ledger.started"]
    assert started[0] == PREFIX
    assert len(started) == 2

    log, engine = fx.open_ledger(data)
    fresh = ProjectionEngine(log, directory=tmp_path / "fresh")
    try:
        assert fresh.catch_up() == dict.fromkeys(fresh.names, last_seq + 1)
        # What the daemon folded, batch by batch and across the crash, is the rebuild.
        assert engine.status() == fresh.status()
        assert status_json(daemon_states) == fx.status_json(fresh.status())
        offline = answers_offline(log, fresh, shifted, workspace)
    finally:
        fresh.close()
        engine.close()
        log.close()
    assert_same_bytes(offline, over_grpc, "a full rebuild of the same log")


def append_across_a_crash(
    daemon: DaemonProcess, events: Sequence[Event], jitter: random.Random
) -> list[AppendResult]:
    """Send `events` in one batch, SIGKILL the daemon meanwhile, restart it; the acks."""
    results: list[AppendResult] = []
    failures: list[BaseException] = []

    def send() -> None:
        try:
            with LedgerClient(daemon.address, retry=RIDE_THROUGH) as client:
                results.extend(client.append_batch(events).results)
        except BaseException as exc:  # reported below
            failures.append(exc)

    sender = threading.Thread(target=send, name="in-flight")
    sender.start()
    time.sleep(jitter.uniform(0.0, 0.02))
    daemon.kill()
    daemon.restart()
    sender.join(timeout=90)
    assert not sender.is_alive()
    assert failures == []
    return results
