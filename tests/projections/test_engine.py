"""The projection engine over a real log: chunked catch-up, stopping and resuming, version
bumps, partial rebuilds, replay bounds, which events move which digest, reads racing a
catch-up, map growth, and a guard that a changed fold comes with a new version.

Engines here mostly fold a few events per write transaction (`chunk=`), so that a few
dozen events span many transactions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.errors import ErrorCode, InvalidInput
from ledger.model import Envelope, LedgerStartedV1
from ledger.projections import ProjectionEngine
from ledger.projections import engine as engine_module
from ledger.projections.facts import Fact
from ledger.projections.runs import RunsProjection
from ledger.projections.sources import SourcesProjection
from ledger.projections.state import MemoryState, StateWriter, state_digest
from ledger.projections.subjects import SubjectsProjection
from ledger.store import LmdbEventLog
from lifecycle_events import (
    command_executed,
    finding_reported,
    finding_resolved,
    gate_evaluated,
    one_of_each,
    patch_edit,
    patch_inspected,
    run_recorded,
    source_checked,
    source_registered,
    suppression_added,
    uuid_for,
    waiver_granted,
    waiver_revoked,
)

OpenEngine = Callable[..., ProjectionEngine]
Append = Callable[[LmdbEventLog, list[Envelope]], list[int]]
Digests = Callable[[ProjectionEngine], dict[str, str]]
ReplayDigests = Callable[[ProjectionEngine, int], dict[str, str]]
NAMES = ("verdicts", "health", "runs")
EMPTY_DIGEST = state_digest(MemoryState())


def history(count: int) -> list[Envelope]:
    """`count` events of every kind the projections fold, one story per subject."""
    events: list[Envelope] = []
    index = 0
    while len(events) < count:
        subject = f"pr-{index % 3}"
        run_id = uuid_for(f"engine-run-{index}")
        events += [
            run_recorded(run_id, agent=f"agent-{index % 2}", output_refs=[f"ref-{index}"]),
            finding_reported(f"F-{index}", subject, severity=("P0", "P1", "P2")[index % 3]),
            source_checked("ci-lint", ok=index % 4 != 1, event_id=f"check-{index}"),
            waiver_granted(f"W-{index}", f"F-{index}"),
            command_executed(
                subject,
                "unit-tests",
                status=("passed", "failed")[index % 2],
                event_id=f"probe-{index}",
            ),
            finding_resolved(f"F-{index}", event_id=f"resolve-{index}"),
        ]
        index += 1
    return events[:count]


def transaction_starts(start: int, size: int, chunk: int) -> list[int]:
    """Where each write transaction of a catch-up from `start` to `size` begins, as
    specs/projections.md §2 has it: one chunk of seqs while at most one chunk behind,
    16 chunks at a time while further behind."""
    starts: list[int] = []
    while start < size:
        starts.append(start)
        start = min(size, start + chunk * (16 if size - start > chunk else 1))
    return starts


@pytest.mark.parametrize(
    ("chunk", "batches"),
    [(1, [40]), (2, [40, 2, 3, 1]), (3, [5, 50, 3, 4]), (7, [40]), (4096, [40, 1])],
)
def test_catch_up_folds_chunk_by_chunk_up_to_the_log_size(
    log: LmdbEventLog,
    open_engine: OpenEngine,
    append: Append,
    digests: Digests,
    replayed: ReplayDigests,
    tmp_path: Path,
    chunk: int,
    batches: list[int],
) -> None:
    engine = open_engine(log, chunk=chunk)
    events = history(sum(batches))
    seen: list[dict[str, int]] = []

    def record() -> bool:
        seen.append(engine.positions())
        return False

    size = 0
    for batch in batches:
        append(log, events[size : size + batch])
        seen.clear()
        assert engine.catch_up(stop=record) == dict.fromkeys(NAMES, size + batch)
        # One stop check before each transaction, every projection moved on together.
        assert [p["verdicts"] for p in seen] == transaction_starts(size, size + batch, chunk)
        assert all(len(set(p.values())) == 1 for p in seen)
        size += batch
        assert digests(engine) == replayed(engine, size - 1)

    assert engine.positions() == dict.fromkeys(NAMES, size)
    statuses = engine.status()
    assert [s.name for s in statuses] == list(NAMES)
    assert all(s.position == s.log_size == size and s.lag == 0 for s in statuses)
    assert all(s.rows > 0 for s in statuses)

    whole = open_engine(log, directory=tmp_path / "whole")
    whole.catch_up()
    assert digests(whole) == digests(engine)

    # Nothing new: catching up again folds nothing and checks no stop.
    seen.clear()
    assert engine.catch_up(stop=record) == dict.fromkeys(NAMES, size)
    assert seen == []


def test_stop_ends_a_catch_up_early_and_resuming_gives_the_same_state(
    log: LmdbEventLog,
    open_engine: OpenEngine,
    append: Append,
    digests: Digests,
    replayed: ReplayDigests,
    tmp_path: Path,
) -> None:
    append(log, history(40))
    engine = open_engine(log, chunk=1)  # 40 behind: transactions of 16, 16 and 8
    assert engine.catch_up(stop=lambda: True) == dict.fromkeys(NAMES, 0)
    assert digests(engine) == dict.fromkeys(NAMES, EMPTY_DIGEST)

    calls = [0]

    def after_two_transactions() -> bool:
        calls[0] += 1
        return calls[0] > 2

    assert engine.catch_up(stop=after_two_transactions) == dict.fromkeys(NAMES, 32)
    assert all(s.position == 32 and s.lag == 8 for s in engine.status())
    assert digests(engine) == replayed(engine, 31)

    # Stopped work survives closing: a new engine on the same directory resumes at 32.
    engine.close()
    resumed = open_engine(log, chunk=5)
    assert resumed.positions() == dict.fromkeys(NAMES, 32)
    assert resumed.catch_up() == dict.fromkeys(NAMES, 40)

    fresh = open_engine(log, directory=tmp_path / "fresh")
    fresh.catch_up()
    assert digests(resumed) == digests(fresh) == replayed(resumed, 39)


class _BumpedHealth(SourcesProjection):
    """The health fold unchanged, but declared as another version."""

    version = SourcesProjection.version + 1


class _Counting:
    """Wraps a projection and counts the facts it folds, by seq (a spy, not a stand-in)."""

    def __init__(self, inner: SubjectsProjection | SourcesProjection | RunsProjection) -> None:
        self._inner = inner
        self.name = inner.name
        self.version = inner.version
        self.event_types = inner.event_types
        self.folded: list[int] = []

    def apply(self, fact: Fact, state: StateWriter) -> None:
        self.folded.append(fact.seq)
        self._inner.apply(fact, state)


def test_a_version_bump_resets_that_projection_alone_and_it_folds_again(
    log: LmdbEventLog,
    open_engine: OpenEngine,
    append: Append,
    digests: Digests,
) -> None:
    append(log, history(25))
    first = open_engine(log)
    first.catch_up()
    before = digests(first)
    first.close()

    bumped = open_engine(log, [SubjectsProjection(), _BumpedHealth(), RunsProjection()])
    assert bumped.positions() == {"verdicts": 25, "health": 0, "runs": 25}
    status = {s.name: s for s in bumped.status()}
    assert status["health"].version == SourcesProjection.version + 1
    assert status["health"].rows == 0
    assert status["health"].digest == EMPTY_DIGEST
    assert status["verdicts"].digest == before["verdicts"]
    assert status["runs"].digest == before["runs"]

    assert bumped.catch_up() == dict.fromkeys(NAMES, 25)
    assert digests(bumped) == before
    bumped.close()

    # The same version again: nothing to reset.
    same = open_engine(log, [SubjectsProjection(), _BumpedHealth(), RunsProjection()])
    assert same.positions() == dict.fromkeys(NAMES, 25)
    same.close()

    # Back to the shipped version is a change too.
    back = open_engine(log)
    assert back.positions() == {"verdicts": 25, "health": 0, "runs": 25}
    back.catch_up()
    assert digests(back) == before


def test_rebuild_of_one_projection_leaves_the_others_alone(
    log: LmdbEventLog,
    open_engine: OpenEngine,
    append: Append,
    digests: Digests,
    replayed: ReplayDigests,
) -> None:
    spies = [_Counting(SubjectsProjection()), _Counting(SourcesProjection())]
    spies.append(_Counting(RunsProjection()))
    verdicts, health, runs = spies
    engine = open_engine(log, spies, chunk=5)
    append(log, history(20))
    engine.catch_up()
    before = digests(engine)
    folded_before = {spy.name: list(spy.folded) for spy in spies}
    for spy in spies:
        spy.folded.clear()

    assert engine.rebuild(["health"]) == dict.fromkeys(NAMES, 20)
    assert engine.positions() == dict.fromkeys(NAMES, 20)
    assert verdicts.folded == []
    assert runs.folded == []
    assert health.folded == folded_before["health"]
    assert digests(engine) == before

    # Others behind the log: they fold only their new events, health all of its own.
    append(log, history(30)[20:])
    health.folded.clear()
    types = [stored.leaf.envelope.type for stored in log.read()]
    assert engine.rebuild(["health"]) == dict.fromkeys(NAMES, 30)
    for spy, first in ((verdicts, 20), (health, 0), (runs, 20)):
        assert spy.folded == [seq for seq in range(first, 30) if types[seq] in spy.event_types], (
            spy.name
        )
    assert digests(engine) == replayed(engine, 29)


def test_rebuild_everything_gives_the_same_state(
    log: LmdbEventLog, engine: ProjectionEngine, append: Append, digests: Digests
) -> None:
    append(log, history(18))
    engine.catch_up()
    before = digests(engine)
    assert engine.rebuild() == dict.fromkeys(NAMES, 18)
    assert digests(engine) == before
    assert engine.rebuild(list(NAMES)) == dict.fromkeys(NAMES, 18)
    assert digests(engine) == before


def test_rebuild_of_an_unknown_projection_is_refused_before_anything_is_reset(
    log: LmdbEventLog, engine: ProjectionEngine, append: Append, digests: Digests
) -> None:
    append(log, history(12))
    engine.catch_up()
    before = digests(engine)
    for names in (["nope"], ["health", "nope"]):
        with pytest.raises(InvalidInput) as raised:
            engine.rebuild(names)
        assert raised.value.code is ErrorCode.INVALID_ARGUMENT
        assert "nope" in raised.value.message
        assert engine.positions() == dict.fromkeys(NAMES, 12)
        assert digests(engine) == before


def test_reading_an_unknown_projection_is_an_invalid_argument(
    log: LmdbEventLog, engine: ProjectionEngine, append: Append
) -> None:
    append(log, history(3))
    with pytest.raises(InvalidInput) as raised:
        engine.replay("nope", 0)
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    with pytest.raises(InvalidInput) as raised, engine.view("nope"):
        pass
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT


@pytest.mark.parametrize("through_seq", [-1, 6, 7, 1000])
def test_replay_outside_the_log_is_an_invalid_argument(
    log: LmdbEventLog, engine: ProjectionEngine, append: Append, through_seq: int
) -> None:
    append(log, history(6))
    engine.catch_up()
    with pytest.raises(InvalidInput) as raised:
        engine.replay("verdicts", through_seq)
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    assert raised.value.details["as_of"] == through_seq
    assert raised.value.details["log_size"] == 6
    assert engine.replay("verdicts", 5).position == 6
    assert engine.replay("verdicts", 0).position == 1


def test_replay_of_an_empty_log_is_an_invalid_argument(engine: ProjectionEngine) -> None:
    assert engine.catch_up() == dict.fromkeys(NAMES, 0)
    with pytest.raises(InvalidInput) as raised:
        engine.replay("runs", 0)
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT


def _ledger_started() -> Envelope:
    return Envelope(
        event_id="ledger.started:extra",
        stream="ledger",
        type="ledger.started",
        schema_version="1.0",
        occurred_at="2026-01-01T11:00:00Z",
        producer="ledgerd",
        data=LedgerStartedV1(daemon_version="0.1.0", config_fingerprint="0" * 64, origin="test"),
    )


@pytest.mark.parametrize(
    ("build", "changes"),
    [
        (lambda: source_checked("ci-lint", ok=False, event_id="extra"), {"health"}),
        (lambda: source_registered("ci-lint", failure_budget=0.5), {"health"}),
        (lambda: suppression_added("S-9", "ci-lint"), {"health"}),
        (lambda: finding_resolved("F-1", resolution="wont_fix"), {"verdicts"}),
        (lambda: waiver_granted("W-9", "F-1"), {"verdicts"}),
        (lambda: waiver_revoked("W-1", "F-1", reason="again"), {"verdicts"}),
        (lambda: finding_reported("F-9"), {"verdicts", "health"}),
        (lambda: command_executed(status="failed"), {"verdicts", "health"}),
        (lambda: patch_inspected(edits=[patch_edit()]), {"verdicts", "health"}),
        (lambda: gate_evaluated(readiness="not_ready"), {"verdicts", "health"}),
        (lambda: run_recorded(uuid_for("extra")), {"runs", "health"}),
        (
            lambda: run_recorded(uuid_for("extra"), subject="pr-7", heal_reason="stuck"),
            {"runs", "health", "verdicts"},
        ),
        (_ledger_started, set()),
    ],
    ids=[
        "source.checked",
        "source.registered",
        "suppression.added",
        "finding.resolved",
        "waiver.granted",
        "waiver.revoked",
        "finding.reported",
        "command.executed",
        "patch.inspected",
        "gate.evaluated",
        "run.recorded",
        "run.recorded-healing",
        "ledger.started",
    ],
)
def test_one_more_event_changes_the_digests_of_exactly_the_projections_that_fold_it(
    log: LmdbEventLog,
    engine: ProjectionEngine,
    append: Append,
    digests: Digests,
    build: Callable[[], Envelope],
    changes: set[str],
) -> None:
    append(log, one_of_each())
    engine.catch_up()
    before = digests(engine)
    append(log, [build()])
    engine.catch_up()
    after = digests(engine)
    assert {name for name in NAMES if after[name] != before[name]} == changes
    # Every position advances, folded or not.
    assert engine.positions() == dict.fromkeys(NAMES, len(one_of_each()) + 1)


def test_engines_in_two_directories_over_one_log_agree(
    log: LmdbEventLog,
    open_engine: OpenEngine,
    append: Append,
    digests: Digests,
    tmp_path: Path,
) -> None:
    first = open_engine(log, directory=tmp_path / "one")
    second = open_engine(log, directory=tmp_path / "two")
    append(log, history(9))
    first.catch_up()
    append(log, history(14)[9:])
    first.catch_up()
    second.catch_up()
    assert digests(first) == digests(second)
    assert not (log.data_dir / "projections").exists()


def test_a_closed_engine_refuses_reads(
    log: LmdbEventLog, engine: ProjectionEngine, append: Append
) -> None:
    append(log, history(2))
    engine.catch_up()
    engine.close()
    engine.close()  # twice is fine
    for read in (engine.positions, engine.status, engine.catch_up):
        with pytest.raises(InvalidInput) as raised:
            read()
        assert raised.value.code is ErrorCode.INVALID_ARGUMENT


def test_the_projections_map_grows_while_folding(
    log: LmdbEventLog,
    open_engine: OpenEngine,
    append: Append,
    digests: Digests,
    replayed: ReplayDigests,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chunk that overflows the map is folded again, whole, once the map has grown."""
    append(log, history(600))
    monkeypatch.setattr(engine_module, "_INITIAL_MAP", 64 << 10)
    small = open_engine(log, directory=tmp_path / "small", chunk=250)
    assert small.catch_up() == dict.fromkeys(NAMES, 600)
    assert (tmp_path / "small" / "data.mdb").stat().st_size > 64 << 10
    assert digests(small) == replayed(small, 599)
    small.close()
    reopened = open_engine(log, directory=tmp_path / "small")
    assert reopened.positions() == dict.fromkeys(NAMES, 600)
    assert digests(reopened) == replayed(reopened, 599)


def test_reads_during_a_catch_up_see_the_state_of_the_position_they_report(
    log: LmdbEventLog,
    open_engine: OpenEngine,
    append: Append,
    replayed: ReplayDigests,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reader thread polls `status()` while another catches up (growing a tiny map as it
    goes): every answer's digest is the one the log folds to at the position it reports."""
    append(log, history(300))
    monkeypatch.setattr(engine_module, "_INITIAL_MAP", 64 << 10)
    engine = open_engine(log, directory=tmp_path / "raced", chunk=1)
    done = threading.Event()
    seen: list[tuple[str, int, str]] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            while not done.is_set():
                seen.extend((s.name, s.position, s.digest) for s in engine.status())
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert engine.catch_up() == dict.fromkeys(NAMES, 300)
    finally:
        done.set()
        reader.join(timeout=60)
    assert not failures, failures
    assert (tmp_path / "raced" / "data.mdb").stat().st_size > 64 << 10
    positions = {position for _, position, _ in seen}
    assert len(positions) > 3, "the reader saw too few positions to mean anything"
    expected = {position: replayed(engine, position - 1) for position in positions}
    wrong = [(n, p) for n, p, digest in seen if expected[p][n] != digest]
    assert not wrong, f"states that do not match their positions: {wrong[:5]}"


#: The state each projection version folds `_VERSION_HISTORY` into. A fold or row format
#: that changes this state must come with a version bump (specs/projections.md §2), or
#: engines would keep (and fail to decode, or misread) state an older fold wrote. After a
#: bump, add the new (name, version) with the digest this test reports.
FOLDED_BY_VERSION = {
    ("verdicts", 1): "0b89718ba4002a2dd8bada11abf1ec37464649009f6fe1cdeb1bfd551c206ce5",
    ("health", 1): "aec4610ad80ddc42dfd28afe116387872c5a6db28adb4598b7eff6d3c7060724",
    ("runs", 1): "e00258342d30c5133a03a4da919fa51e314f5117398e622d5cf23100d045aaa9",
    ("verdicts", 2): "14b4e1c646a7750af3bbb463cb665533ac7be68dd7d325eadd49f2dbe6d354e6",
    ("health", 2): "6b91538665ea3ff35c7a22bdc87a056e9d85da37d8b6a305f21dd4e3ba4445f5",
    ("verdicts", 3): "937a73bb9588f1991c77d93b1a213caf60d2862845529997b1f65ac91c8e364b",
    ("runs", 2): "8d3458d912f38f3969c939be509ba0b4d3e472d91a236f7d81ea221a4f5af5ec",
    ("verdicts", 4): "529c69d748ba178094ebca6e1b245e9a6db9e674d723d95d820d147eef5c2111",
    ("runs", 3): "8d3458d912f38f3969c939be509ba0b4d3e472d91a236f7d81ea221a4f5af5ec",
}


def _version_history() -> list[Envelope]:
    """One of each type, then a reopen, a waiver after it and a conflicting report."""
    return [
        *one_of_each(),
        finding_reported("F-1", event_id="reopen-F-1"),
        waiver_granted("W-2", "F-1"),
        finding_reported("F-1", "pr-8", event_id="conflict-F-1"),
    ]


def test_a_changed_fold_comes_with_a_new_version(
    log: LmdbEventLog, engine: ProjectionEngine, append: Append
) -> None:
    append(log, _version_history())
    engine.catch_up()
    found = {(s.name, s.version): s.digest for s in engine.status()}
    changed = {key: digest for key, digest in found.items() if FOLDED_BY_VERSION.get(key) != digest}
    assert not changed, (
        "these projections fold differently under the same version; bump the version "
        f"(and record the new digest in FOLDED_BY_VERSION): {changed}"
    )


def test_projections_beside_another_log_are_folded_again(
    tmp_path: Path,
    open_log: Callable[..., LmdbEventLog],
    open_engine: OpenEngine,
    append: Append,
    digests: Digests,
) -> None:
    """A projections directory is only trusted for the log it was folded from (its root)."""
    shared = tmp_path / "projections"
    first = open_log(tmp_path / "first")
    append(first, history(25))
    folded = open_engine(first, directory=shared)
    folded.catch_up()
    folded.close()

    # Another log, as long and longer (a restored backup, a copied directory): the
    # stored positions name its sizes, but not its roots.
    other = open_log(tmp_path / "other")
    append(other, history(40)[15:])
    append(other, history(40)[:15])
    beside = open_engine(other, directory=shared)
    assert beside.positions() == dict.fromkeys(NAMES, 0)
    beside.catch_up()
    fresh = open_engine(other, directory=tmp_path / "fresh")
    fresh.catch_up()
    assert digests(beside) == digests(fresh)
    beside.close()

    # A log cut shorter than the positions is noticed too.
    short = open_log(tmp_path / "short")
    append(short, history(10))
    assert open_engine(short, directory=shared).positions() == dict.fromkeys(NAMES, 0)


def test_a_position_that_does_not_decode_is_folded_again(
    log: LmdbEventLog, open_engine: OpenEngine, append: Append, digests: Digests
) -> None:
    append(log, history(12))
    first = open_engine(log)
    first.catch_up()
    before = digests(first)
    with first._env.begin(write=True) as txn:
        txn.put(b"health", b"\xc1", db=first._positions_db)
    first.close()
    again = open_engine(log)
    assert again.positions() == {"verdicts": 12, "health": 0, "runs": 12}
    again.catch_up()
    assert digests(again) == before
