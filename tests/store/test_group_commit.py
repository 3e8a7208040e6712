"""`LmdbEventLog.append_batches`: several independent batches, one transaction, one sync.

Each batch is all or nothing on its own: one that breaks a rule is rolled back
alone and its error comes back in its place; the others commit with the seqs,
stream versions and tree sizes they would have had without it.
"""

from __future__ import annotations

import msgspec
import pytest

import rfc6962_reference as ref
from ledger.audit import audit_log
from ledger.errors import (
    ErrorCode,
    InvalidInput,
    LedgerError,
    StateContention,
)
from ledger.model import Envelope
from ledger.samples import sample_finding, sample_run
from ledger.store import NO_STREAM, AppendOutcome, AppendRequest, LmdbEventLog

# Streams: sample_run(i) -> runs/{test,docs,fixer}-agent for i % 3 == 1, 2, 0.
TEST_AGENT = "runs/test-agent"
DOCS_AGENT = "runs/docs-agent"


def batch(*envelopes: Envelope, expected: dict[int, int] | None = None) -> list[AppendRequest]:
    """One batch; `expected` maps a position to that event's expected stream version."""
    guards = expected or {}
    return [AppendRequest(e, expected_version=guards.get(i)) for i, e in enumerate(envelopes)]


def shape(outcome: AppendOutcome | LedgerError) -> object:
    """(seq, stream version, duplicate) per event and the tree size; or the error's code."""
    if isinstance(outcome, LedgerError):
        return outcome.code
    return [(r.seq, r.stream_version, r.duplicate) for r in outcome.results], outcome.tree_size


def event_ids(log: LmdbEventLog) -> list[str]:
    return [stored.leaf.envelope.event_id for stored in log.read()]


def assert_sound(log: LmdbEventLog, size: int) -> None:
    """The log audits clean, and its roots are the RFC 6962 roots of its leaves."""
    report = audit_log(log)
    assert report.size == size == log.size()
    leaves = [stored.leaf_bytes for stored in log.read()]
    tree = ref.ReferenceTree.from_entries(leaves)
    assert report.root == log.root()[1] == (tree.root(size) if size else ref.EMPTY_ROOT)
    for at in range(1, size + 1):
        assert log.root(at) == (at, tree.root(at))


def test_several_good_batches_commit_in_order(log: LmdbEventLog) -> None:
    outcomes = log.append_batches(
        [
            batch(sample_run(1), sample_run(4)),
            batch(sample_finding(1), sample_run(2)),
            batch(sample_run(7)),
        ]
    )
    assert [shape(o) for o in outcomes] == [
        ([(0, 1, False), (1, 2, False)], 2),
        ([(2, 1, False), (3, 1, False)], 4),
        ([(4, 3, False)], 5),
    ]
    assert event_ids(log) == ["run-1", "run-4", "finding-1", "run-2", "run-7"]
    assert log.stream_version(TEST_AGENT) == 3
    assert_sound(log, 5)


def test_a_wrong_expected_version_rolls_back_only_its_batch(log: LmdbEventLog) -> None:
    log.append(batch(sample_run(1)))  # runs/test-agent at version 1
    outcomes = log.append_batches(
        [
            batch(sample_run(2)),
            # finding-1 would be written first; the whole batch must vanish.
            batch(sample_finding(1), sample_run(4), expected={1: 5}),
            batch(sample_run(4), sample_run(5), expected={0: 1, 1: 1}),
        ]
    )
    assert shape(outcomes[0]) == ([(1, 1, False)], 2)
    error = outcomes[1]
    assert isinstance(error, StateContention)
    assert error.code is ErrorCode.WRONG_EXPECTED_VERSION
    assert dict(error.details) == {
        "stream": TEST_AGENT,
        "expected_version": 5,
        "current_version": 1,
        "batch_index": 1,
    }
    # The third batch sees neither finding-1 nor the failed batch's stream versions.
    assert shape(outcomes[2]) == ([(2, 2, False), (3, 2, False)], 4)
    assert event_ids(log) == ["run-1", "run-2", "run-4", "run-5"]
    assert log.stream_version(TEST_AGENT) == 2
    assert log.stream_version(DOCS_AGENT) == 2
    assert log.stream_version("findings/change-1") == 0
    with pytest.raises(InvalidInput) as caught:
        log.get_by_event_id("finding-1")
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert_sound(log, 4)


def test_a_conflict_with_an_earlier_batch_of_the_same_group(log: LmdbEventLog) -> None:
    altered = msgspec.structs.replace(sample_run(1), producer="someone-else")
    outcomes = log.append_batches(
        [
            batch(sample_run(1)),
            batch(sample_finding(1), altered),
            batch(sample_finding(2)),
        ]
    )
    assert shape(outcomes[0]) == ([(0, 1, False)], 1)
    error = outcomes[1]
    assert isinstance(error, StateContention)
    assert error.code is ErrorCode.EVENT_ID_CONFLICT
    assert dict(error.details) == {"event_id": "run-1", "batch_index": 1, "seq": 0}
    assert "already stored at seq 0" in error.message
    assert shape(outcomes[2]) == ([(1, 1, False)], 2)
    assert event_ids(log) == ["run-1", "finding-2"]
    assert_sound(log, 2)


def test_an_in_group_duplicate_of_an_earlier_batch(log: LmdbEventLog) -> None:
    outcomes = log.append_batches(
        [
            batch(sample_run(1), sample_finding(1)),
            # run-1 was committed by the first batch of this very group.
            batch(sample_run(4), sample_run(1), expected={1: NO_STREAM}),
            batch(sample_finding(1)),
        ]
    )
    assert [shape(o) for o in outcomes] == [
        ([(0, 1, False), (1, 1, False)], 2),
        ([(2, 2, False), (0, 1, True)], 3),
        ([(1, 1, True)], 3),
    ]
    assert event_ids(log) == ["run-1", "finding-1", "run-4"]
    assert_sound(log, 3)


def test_a_run_recorded_by_an_earlier_batch_of_the_group(log: LmdbEventLog) -> None:
    same_run = msgspec.structs.replace(sample_run(1), event_id="run-1-again")
    outcomes = log.append_batches([batch(sample_run(1)), batch(same_run), batch(sample_run(2))])
    assert shape(outcomes[0]) == ([(0, 1, False)], 1)
    assert isinstance(outcomes[1], StateContention)
    assert outcomes[1].code is ErrorCode.RUN_ALREADY_RECORDED
    assert dict(outcomes[1].details) == {"seq": 0, "batch_index": 0}
    assert shape(outcomes[2]) == ([(1, 1, False)], 2)
    assert_sound(log, 2)


def test_a_failed_batch_releases_its_event_ids_and_run_ids(log: LmdbEventLog) -> None:
    log.append(batch(sample_run(1)))
    outcomes = log.append_batches(
        [
            # run-9 claims its event id and its run id, then the batch fails.
            batch(sample_run(9), sample_run(4), expected={1: 0}),
            batch(sample_run(9)),
        ]
    )
    assert shape(outcomes[0]) is ErrorCode.WRONG_EXPECTED_VERSION
    assert shape(outcomes[1]) == ([(1, 1, False)], 2)
    assert_sound(log, 2)


def test_invalid_and_empty_batches_fail_in_place(log: LmdbEventLog) -> None:
    invalid = msgspec.structs.replace(sample_run(2), stream="not a stream")
    outcomes = log.append_batches(
        [
            batch(sample_run(1)),
            batch(sample_finding(1), invalid),
            [],
            batch(sample_run(4)),
        ]
    )
    assert shape(outcomes[0]) == ([(0, 1, False)], 1)
    assert isinstance(outcomes[1], InvalidInput)
    assert outcomes[1].code is ErrorCode.INVALID_EVENT
    assert dict(outcomes[1].details) == {"field": "$.stream", "batch_index": 1}
    assert shape(outcomes[2]) is ErrorCode.EMPTY_BATCH
    assert shape(outcomes[3]) == ([(1, 2, False)], 2)
    assert_sound(log, 2)


def test_the_last_batch_failing_leaves_the_others_committed(log: LmdbEventLog) -> None:
    outcomes = log.append_batches(
        [batch(sample_run(1)), batch(sample_run(2)), batch(sample_run(4), expected={0: 3})]
    )
    assert [shape(o) for o in outcomes] == [
        ([(0, 1, False)], 1),
        ([(1, 1, False)], 2),
        ErrorCode.WRONG_EXPECTED_VERSION,
    ]
    assert_sound(log, 2)


def test_a_single_pending_batch_also_fails_in_place(log: LmdbEventLog) -> None:
    """With one batch left to write (no nested transaction), its error is returned, not raised."""
    log.append(batch(sample_run(1)))
    invalid = msgspec.structs.replace(sample_run(2), event_id="")
    outcomes = log.append_batches(
        [batch(invalid), batch(sample_finding(1), sample_run(4), expected={1: 0})]
    )
    assert [shape(o) for o in outcomes] == [
        ErrorCode.INVALID_EVENT,
        ErrorCode.WRONG_EXPECTED_VERSION,
    ]
    (alone,) = log.append_batches([batch(sample_run(4), expected={0: 0})])
    assert shape(alone) is ErrorCode.WRONG_EXPECTED_VERSION
    assert event_ids(log) == ["run-1"]
    assert_sound(log, 1)
    # `append` still raises the one batch's error.
    with pytest.raises(StateContention):
        log.append(batch(sample_run(4), expected={0: 0}))


def test_only_failures_write_nothing(log: LmdbEventLog) -> None:
    outcomes = log.append_batches([[], batch(sample_run(1), sample_run(4), expected={1: 2})])
    assert [shape(o) for o in outcomes] == [ErrorCode.EMPTY_BATCH, ErrorCode.WRONG_EXPECTED_VERSION]
    assert log.size() == 0
    assert_sound(log, 0)


def test_many_batches_in_one_group(log: LmdbEventLog) -> None:
    batches = []
    for i in range(1, 61):
        if i % 7 == 0:
            # A wrong guard: the stream is never at version 1000.
            batches.append(batch(sample_run(i), expected={0: 1000}))
        else:
            batches.append(batch(sample_run(i), sample_finding(i)))
    outcomes = log.append_batches(batches)
    seq = 0
    versions: dict[str, int] = {}
    for i, outcome in zip(range(1, 61), outcomes, strict=True):
        if i % 7 == 0:
            assert shape(outcome) is ErrorCode.WRONG_EXPECTED_VERSION
            continue
        expected = []
        for envelope in (sample_run(i), sample_finding(i)):
            versions[envelope.stream] = versions.get(envelope.stream, 0) + 1
            expected.append((seq, versions[envelope.stream], False))
            seq += 1
        assert shape(outcome) == (expected, seq)
    assert seq == 2 * (60 - 8)
    assert_sound(log, seq)
