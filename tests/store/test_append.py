"""Append semantics of the LMDB event log: ordering, idempotency, versions, atomicity."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from ledger.errors import ErrorCode, InvalidInput, StateContention
from ledger.model import Envelope, decode_leaf
from ledger.samples import sample_finding, sample_run
from ledger.store import NO_STREAM, AppendRequest, LmdbEventLog
from ledger.store.lmdb_store import MAX_BATCH


def _requests(*envelopes: Envelope) -> list[AppendRequest]:
    return [AppendRequest(e) for e in envelopes]


def test_seqs_are_gap_free_in_commit_order_across_batches(log: LmdbEventLog) -> None:
    first = log.append(_requests(sample_run(0), sample_finding(0)))
    second = log.append(_requests(sample_run(1)))
    assert [r.seq for r in first.results] == [0, 1]
    assert [r.seq for r in second.results] == [2]
    assert (first.tree_size, second.tree_size) == (2, 3)
    assert [e.seq for e in log.read()] == [0, 1, 2]
    assert [e.leaf.envelope.event_id for e in log.read()] == ["run-0", "finding-0", "run-1"]


def test_stream_versions_count_from_one_per_stream(log: LmdbEventLog) -> None:
    outcome = log.append(_requests(sample_run(0), sample_run(3), sample_finding(0)))
    # run 0 and run 3 share the agent (index mod 3) and so the stream.
    assert [r.stream_version for r in outcome.results] == [1, 2, 1]
    assert log.stream_version(sample_run(0).stream) == 2
    assert log.stream_version("never/written") == 0


def test_same_event_again_returns_the_original_and_adds_nothing(log: LmdbEventLog) -> None:
    original = log.append(_requests(sample_run(0), sample_finding(0)))
    again = log.append(_requests(sample_finding(0), sample_run(0)))
    assert [(r.seq, r.stream_version, r.duplicate) for r in again.results] == [
        (1, 1, True),
        (0, 1, True),
    ]
    assert again.tree_size == original.tree_size == log.size() == 2


def test_duplicate_within_one_batch_lands_once(log: LmdbEventLog) -> None:
    outcome = log.append(_requests(sample_run(0), sample_run(0)))
    assert [(r.seq, r.duplicate) for r in outcome.results] == [(0, False), (0, True)]
    assert log.size() == 1


def test_same_event_id_with_other_content_is_refused_and_changes_nothing(
    log: LmdbEventLog,
) -> None:
    log.append(_requests(sample_run(0)))
    altered = msgspec.structs.replace(sample_run(0), producer="someone-else")
    with pytest.raises(StateContention) as caught:
        log.append(_requests(sample_run(1), altered))
    assert caught.value.code is ErrorCode.EVENT_ID_CONFLICT
    assert caught.value.details["seq"] == 0
    assert caught.value.details["batch_index"] == 1
    assert log.size() == 1, "the valid first event of the refused batch must not land"


def test_duplicate_skips_the_expected_version_check(log: LmdbEventLog) -> None:
    # A client retrying an append that did commit must get the original result back.
    log.append([AppendRequest(sample_run(0), expected_version=NO_STREAM)])
    retry = log.append([AppendRequest(sample_run(0), expected_version=NO_STREAM)])
    assert retry.results[0].duplicate
    assert retry.results[0].seq == 0


def test_expected_version_any_no_stream_and_exact(log: LmdbEventLog) -> None:
    stream_run = sample_run(0)
    log.append([AppendRequest(stream_run, expected_version=NO_STREAM)])
    log.append([AppendRequest(sample_run(3), expected_version=1)])
    log.append([AppendRequest(sample_run(6), expected_version=None)])
    assert log.stream_version(stream_run.stream) == 3


@pytest.mark.parametrize("expected", [NO_STREAM, 1, 3])
def test_wrong_expected_version_reports_the_current_one(log: LmdbEventLog, expected: int) -> None:
    log.append(_requests(sample_run(0), sample_run(3)))
    with pytest.raises(StateContention) as caught:
        log.append([AppendRequest(sample_run(6), expected_version=expected)])
    error = caught.value
    assert error.code is ErrorCode.WRONG_EXPECTED_VERSION
    assert error.details["current_version"] == 2
    assert error.details["expected_version"] == expected
    assert not error.retryable
    assert log.size() == 2


def test_expected_versions_chain_within_a_batch(log: LmdbEventLog) -> None:
    outcome = log.append(
        [
            AppendRequest(sample_run(0), expected_version=NO_STREAM),
            AppendRequest(sample_run(3), expected_version=1),
            AppendRequest(sample_run(6), expected_version=2),
        ]
    )
    assert [r.stream_version for r in outcome.results] == [1, 2, 3]


def test_a_run_id_is_recorded_once(log: LmdbEventLog) -> None:
    log.append(_requests(sample_run(0)))
    same_run = msgspec.structs.replace(sample_run(0), event_id="run-0-again")
    with pytest.raises(StateContention) as caught:
        log.append(_requests(same_run))
    assert caught.value.code is ErrorCode.RUN_ALREADY_RECORDED
    assert log.size() == 1


def test_a_run_id_twice_in_one_batch_is_refused_whole(log: LmdbEventLog) -> None:
    same_run = msgspec.structs.replace(sample_run(0), event_id="run-0-again")
    with pytest.raises(StateContention) as caught:
        log.append(_requests(sample_run(0), same_run))
    assert caught.value.code is ErrorCode.RUN_ALREADY_RECORDED
    assert log.size() == 0


def test_invalid_event_built_in_python_is_refused_before_anything_is_written(
    log: LmdbEventLog,
) -> None:
    run = sample_run(0)
    bad = msgspec.structs.replace(
        run, data=msgspec.structs.replace(run.data, config_fingerprint="not-a-digest")
    )
    with pytest.raises(InvalidInput) as caught:
        log.append(_requests(sample_finding(0), bad))
    assert caught.value.code is ErrorCode.INVALID_EVENT
    assert caught.value.details["field"] == "$.data.config_fingerprint"
    assert caught.value.details["batch_index"] == 1
    assert log.size() == 0


def test_empty_and_oversized_batches_are_refused(log: LmdbEventLog) -> None:
    with pytest.raises(InvalidInput) as empty:
        log.append([])
    assert empty.value.code is ErrorCode.EMPTY_BATCH
    with pytest.raises(InvalidInput) as big:
        log.append(_requests(*[sample_finding(i) for i in range(MAX_BATCH + 1)]))
    assert big.value.code is ErrorCode.REQUEST_TOO_LARGE
    assert log.size() == 0


def test_leaves_chain_and_carry_the_clock_time(log: LmdbEventLog) -> None:
    log.append(_requests(sample_run(0)))
    log.append(_requests(sample_finding(0)))
    first, second = log.read()
    assert first.leaf.prev == "0" * 64
    assert second.leaf.prev == first.leaf_hash.hex()
    assert first.leaf.recorded_at == "2026-01-01T12:00:00.000000Z"
    assert decode_leaf(second.leaf_bytes) == second.leaf
    assert second.leaf.envelope == sample_finding(0)


def test_reads_by_range_stream_and_event_id(log: LmdbEventLog) -> None:
    log.append(_requests(*[sample_run(i) for i in range(9)]))
    assert [e.seq for e in log.read(2, 5)] == [2, 3, 4]
    assert [e.seq for e in log.read(7)] == [7, 8]
    assert list(log.read(20)) == []
    stream = sample_run(1).stream
    assert [e.leaf.envelope.event_id for e in log.read_stream(stream)] == [
        "run-1",
        "run-4",
        "run-7",
    ]
    assert [e.seq for e in log.read_stream(stream, from_version=2)] == [4, 7]
    assert log.get_by_event_id("run-4").seq == 4
    assert log.get(4).leaf_bytes == log.get_by_event_id("run-4").leaf_bytes


def test_reading_past_the_end_or_an_unknown_id_is_not_found(log: LmdbEventLog) -> None:
    log.append(_requests(sample_run(0)))
    with pytest.raises(InvalidInput) as past:
        log.get(1)
    assert past.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(InvalidInput) as unknown:
        log.get_by_event_id("nope")
    assert unknown.value.code is ErrorCode.NOT_FOUND


def test_long_reads_span_many_chunks_in_order(log: LmdbEventLog) -> None:
    log.append(_requests(*[sample_finding(i) for i in range(1300)]))
    assert [e.seq for e in log.read()] == list(range(1300))
    stream = sample_finding(0).stream
    versions = [e.seq for e in log.read_stream(stream)]
    assert versions == list(range(0, 1300, 3))


def test_the_map_grows_by_itself_when_full(open_log: object, data_dir: Path) -> None:
    log = open_log(data_dir, map_size=1 << 20)  # type: ignore[operator]
    for start in range(0, 3000, 500):
        log.append(_requests(*[sample_run(i) for i in range(start, start + 500)]))
    assert log.size() == 3000
    assert (data_dir / "data.mdb").stat().st_size > 1 << 20
    assert log.get(2999).leaf.envelope == sample_run(2999)


def test_a_read_only_log_refuses_appends(open_log: object, data_dir: Path) -> None:
    writer = open_log(data_dir)  # type: ignore[operator]
    writer.append(_requests(sample_run(0)))
    writer.close()
    reader = open_log(data_dir, readonly=True)  # type: ignore[operator]
    with pytest.raises(InvalidInput):
        reader.append(_requests(sample_run(1)))
    assert reader.size() == 1


def test_opening_an_open_directory_again_in_process_is_refused(
    log: LmdbEventLog, open_log: object, data_dir: Path
) -> None:
    for readonly in (False, True):
        with pytest.raises(StateContention) as caught:
            open_log(data_dir, readonly=readonly)  # type: ignore[operator]
        assert caught.value.code is ErrorCode.DATA_DIR_LOCKED
    log.append(_requests(sample_run(0)))
    assert log.size() == 1, "the refused opens must leave the first one working"


def test_a_foreign_storage_format_is_refused(open_log: object, data_dir: Path) -> None:
    import lmdb

    env = lmdb.open(str(data_dir), max_dbs=8)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"format", b"something-else/9", db=meta)
    env.close()
    with pytest.raises(InvalidInput) as caught:
        open_log(data_dir)  # type: ignore[operator]
    assert "something-else/9" in caught.value.message


def test_leaf_ranges_read_by_cursor_match_single_reads(log: LmdbEventLog) -> None:
    log.append(_requests(*[sample_finding(i) for i in range(40)]))
    with log.snapshot() as view:
        singles = [view.leaf(seq) for seq in range(40)]
        assert view.leaf_range(0, 40) == singles
        assert view.leaf_range(7, 8) == singles[7:8]
        assert view.leaf_range(39, 40) == singles[39:]
        assert view.leaf_range(40, 41) == []
    assert list(log.leaves(3, 9)) == singles[3:9]
