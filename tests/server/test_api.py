"""The `ledger.v1.Ledger` API end to end: a real `ledgerd` child process, real LMDB, real gRPC.

Every expectation is an exact value: seqs, stream versions, tree sizes, error
codes and details, leaf hashes recomputed here, and roots and proofs checked
against `tests/rfc6962_reference.py`, an RFC 6962 tree written independently
of `ledger.tree`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest

import rfc6962_reference as ref
from clients._calls import SUBSCRIBE, Entry
from clients.aio import AsyncLedgerClient
from clients.client import LedgerClient
from clients.event import Event
from clients.retry import RetryPolicy
from daemon import PINNED, DaemonProcess
from ledger.checkpoint import Checkpoint, SignerKey, VerifierKey, open_checkpoint
from ledger.errors import Category, ErrorCode, LedgerError
from ledger.model import Envelope, decode_leaf
from ledger.samples import sample_finding, sample_run
from ledger.tree.verify import verify_consistency, verify_inclusion
from ledger.v1 import ledger_pb2 as pb

GENESIS_PREV = "0" * 64
#: The daemon's pinned clock (tests/daemon.py), as the ledger writes times.
RECORDED_AT = PINNED.replace("Z", ".000000Z")
ORIGIN = "ledgerd.local/log"


def run(index: int, *, expected_version: int | None = None, notes: str = "") -> Event:
    return Event.from_envelope(sample_run(index, notes=notes), expected_version=expected_version)


def finding(index: int, *, expected_version: int | None = None) -> Event:
    return Event.from_envelope(sample_finding(index), expected_version=expected_version)


def fails_with(code: ErrorCode, call: Callable[[], object]) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        call()
    assert caught.value.code == code, caught.value
    return caught.value


def seqs(entries: Iterator[Entry] | list[Entry]) -> list[int]:
    return [entry.seq for entry in entries]


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


# The populated log shared (read-only) by the read, lookup, checkpoint and proof tests.
# Streams: run i -> runs/<test|docs|fixer>-agent for i % 3 == 1|2|0;
# finding i -> findings/change-(i % 3).
FIRST_BATCH = [sample_run(1), sample_run(2), sample_run(3), sample_finding(1)]
SECOND_BATCH = [sample_run(4), sample_finding(2), sample_run(5), sample_finding(3), sample_run(6)]
#: ENVELOPES[seq - 1] is the event stored at seq (seq 0 is the daemon's ledger.started).
ENVELOPES: list[Envelope] = FIRST_BATCH + SECOND_BATCH
SIZE = 1 + len(ENVELOPES)


@dataclasses.dataclass
class Populated:
    daemon: DaemonProcess
    client: LedgerClient
    entries: list[Entry]

    @property
    def tree(self) -> ref.ReferenceTree:
        return ref.ReferenceTree.from_entries(entry.leaf for entry in self.entries)


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    process = DaemonProcess(tmp_path_factory.mktemp("populated") / "data").start()
    try:
        with LedgerClient(process.address) as client:
            client.append_batch([Event.from_envelope(e) for e in FIRST_BATCH])
            client.append_batch([Event.from_envelope(e) for e in SECOND_BATCH])
            yield Populated(process, client, list(client.read()))
    finally:
        process.kill()


def assert_stored(entry: Entry, envelope: Envelope, previous: Entry | None) -> None:
    """`entry` is `envelope` stored at its seq: leaf, leaf hash, chain and decoded event agree."""
    assert entry.leaf_hash == leaf_hash(entry.leaf)
    leaf = decode_leaf(entry.leaf)
    assert leaf.seq == entry.seq
    assert leaf.envelope == envelope
    assert leaf.recorded_at == entry.recorded_at == RECORDED_AT
    assert leaf.prev == entry.prev == (previous.leaf_hash.hex() if previous else GENESIS_PREV)
    assert entry.event == Event.from_envelope(envelope)
    raw = json.loads(entry.leaf)
    assert raw["seq"] == entry.seq
    assert raw["event_id"] == envelope.event_id


# Append --------------------------------------------------------------------------------


def test_an_appended_event_reads_back(client: LedgerClient) -> None:
    result = client.append(run(1))
    assert (result.seq, result.stream_version, result.duplicate) == (1, 1, False)
    entries = list(client.read())
    assert [(e.seq, e.event.type) for e in entries] == [
        (0, "ledger.started"),
        (1, "run.recorded"),
    ]
    assert_stored(entries[1], sample_run(1), entries[0])


def test_a_batch_gets_consecutive_seqs_and_per_stream_versions(client: LedgerClient) -> None:
    outcome = client.append_batch([run(1), run(4), finding(1), run(7), run(2)])
    assert [(r.seq, r.stream_version, r.duplicate) for r in outcome.results] == [
        (1, 1, False),  # runs/test-agent
        (2, 2, False),  # runs/test-agent
        (3, 1, False),  # findings/change-1
        (4, 3, False),  # runs/test-agent
        (5, 1, False),  # runs/docs-agent
    ]
    assert outcome.tree_size == 6
    second = client.append_batch([finding(4), run(5)])
    assert [(r.seq, r.stream_version) for r in second.results] == [(6, 2), (7, 2)]
    assert second.tree_size == 8
    assert seqs(client.read(stream="runs/test-agent")) == [1, 2, 4]


def test_a_batch_with_an_invalid_event_writes_nothing(client: LedgerClient) -> None:
    bad = dataclasses.replace(
        finding(1), data_json=finding(1).data_json.replace('"severity":"P1"', '"severity":"P9"')
    )
    assert bad.data_json != finding(1).data_json
    error = fails_with(ErrorCode.INVALID_EVENT, lambda: client.append_batch([run(1), bad, run(2)]))
    assert error.category is Category.INVALID_INPUT
    assert dict(error.details) == {"field": "$.data.severity", "batch_index": 1}
    assert seqs(client.read()) == [0]
    assert client.checkpoint().tree_size == 1


def test_a_batch_breaking_a_store_rule_writes_nothing(client: LedgerClient) -> None:
    client.append(run(1))
    error = fails_with(
        ErrorCode.WRONG_EXPECTED_VERSION,
        lambda: client.append_batch([run(2), finding(1), run(4, expected_version=5)]),
    )
    assert dict(error.details) == {
        "stream": "runs/test-agent",
        "expected_version": 5,
        "current_version": 1,
        "batch_index": 2,
    }
    assert seqs(client.read()) == [0, 1]
    fails_with(ErrorCode.NOT_FOUND, lambda: client.get_event(event_id="run-2"))


def test_expected_version_any_zero_and_exact(client: LedgerClient) -> None:
    # 0: the stream must not exist yet.
    assert client.append(run(1, expected_version=0)).stream_version == 1
    # N: the stream must be at exactly N.
    assert client.append(run(4, expected_version=1)).stream_version == 2
    # Absent: any version.
    assert client.append(run(7)).stream_version == 3
    assert client.append(run(10, expected_version=3)).stream_version == 4
    # A stream of its own is at version 0 until its first event.
    assert client.append(run(2, expected_version=0)).stream_version == 1
    assert [(e.seq, e.event.event_id) for e in client.read(from_seq=1)] == [
        (1, "run-1"),
        (2, "run-4"),
        (3, "run-7"),
        (4, "run-10"),
        (5, "run-2"),
    ]


def test_expected_versions_within_one_batch_see_the_batch_so_far(client: LedgerClient) -> None:
    outcome = client.append_batch(
        [run(1, expected_version=0), run(4, expected_version=1), run(7, expected_version=2)]
    )
    assert [(r.seq, r.stream_version) for r in outcome.results] == [(1, 1), (2, 2), (3, 3)]
    error = fails_with(
        ErrorCode.WRONG_EXPECTED_VERSION,
        lambda: client.append_batch([run(10, expected_version=3), run(13, expected_version=3)]),
    )
    assert dict(error.details) == {
        "stream": "runs/test-agent",
        "expected_version": 3,
        "current_version": 4,
        "batch_index": 1,
    }
    assert seqs(client.read()) == [0, 1, 2, 3]


def test_concurrent_appends_succeed_or_fail_on_their_own(daemon: DaemonProcess) -> None:
    """Calls committed together (group commit) still get their own outcome."""
    calls: list[list[Event]] = [[run(i), finding(i)] for i in range(1, 16)]
    calls.append([run(100), run(1, notes="a conflicting run-1")])  # conflicts with call 0
    outcomes: dict[int, Any] = {}
    barrier = threading.Barrier(len(calls))

    def append(index: int) -> None:
        with LedgerClient(daemon.address) as client:
            barrier.wait(timeout=15)
            try:
                outcomes[index] = client.append_batch(calls[index])
            except LedgerError as error:
                outcomes[index] = error

    threads = [threading.Thread(target=append, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == len(calls)
    # run-1 with two contents: whichever call committed first wins, the other conflicts.
    clashing = [outcomes[0], outcomes[len(calls) - 1]]
    errors = [o for o in clashing if isinstance(o, LedgerError)]
    assert len(errors) == 1
    assert errors[0].code == ErrorCode.EVENT_ID_CONFLICT
    assert errors[0].details["batch_index"] == (0 if errors[0] is outcomes[0] else 1)
    assert all(not isinstance(outcomes[i], LedgerError) for i in range(1, len(calls) - 1))
    with LedgerClient(daemon.address) as client:
        entries = list(client.read())
    by_id = {entry.event.event_id: entry for entry in entries}
    written = 0
    for index, events in enumerate(calls):
        outcome = outcomes[index]
        if isinstance(outcome, LedgerError):
            assert all(e.event_id not in by_id or e.event_id == "run-1" for e in events)
            continue
        assert all(not r.duplicate for r in outcome.results)
        seqs_of_call = [r.seq for r in outcome.results]
        assert seqs_of_call == list(range(seqs_of_call[0], seqs_of_call[0] + len(events)))
        assert outcome.tree_size >= seqs_of_call[-1] + 1
        for event, result in zip(events, outcome.results, strict=True):
            assert by_id[event.event_id].seq == result.seq
            assert by_id[event.event_id].event == event
        written += len(events)
    assert seqs(entries) == list(range(1 + written))
    # Each result's stream version is the event's place in its stream, in seq order.
    place: dict[int, int] = {}
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.event.stream] = counts.get(entry.event.stream, 0) + 1
        place[entry.seq] = counts[entry.event.stream]
    for outcome in outcomes.values():
        if not isinstance(outcome, LedgerError):
            assert all(r.stream_version == place[r.seq] for r in outcome.results)


@pytest.mark.parametrize(
    ("expected", "current"),
    [(0, 2), (1, 2), (3, 2), (2**64 - 1, 2)],
)
def test_a_wrong_expected_version_is_refused(
    client: LedgerClient, expected: int, current: int
) -> None:
    client.append_batch([run(1), run(4)])
    error = fails_with(
        ErrorCode.WRONG_EXPECTED_VERSION,
        lambda: client.append(run(7, expected_version=expected)),
    )
    assert error.category is Category.STATE_CONTENTION
    assert error.retryable is False
    assert dict(error.details) == {
        "stream": "runs/test-agent",
        "expected_version": expected,
        "current_version": current,
        "batch_index": 0,
    }
    assert seqs(client.read()) == [0, 1, 2]


def test_a_wrong_expected_version_fails_fast_without_retrying(daemon: DaemonProcess) -> None:
    # Were it retried, the 4 waits (each uniform in 0..5 s here) would almost surely add up
    # to more than 2 s: P(sum of four U(0, 5) < 2) is about 0.1 %.
    patient = RetryPolicy(max_attempts=5, initial_backoff_s=5.0, max_backoff_s=5.0)
    with LedgerClient(daemon.address, retry=patient) as client:
        client.append(run(1))
        started = time.monotonic()
        fails_with(
            ErrorCode.WRONG_EXPECTED_VERSION, lambda: client.append(run(4, expected_version=0))
        )
        assert time.monotonic() - started < 2.0
        assert seqs(client.read()) == [0, 1]
        assert client.checkpoint().tree_size == 2


def test_the_same_event_again_is_a_duplicate_not_a_new_entry(client: LedgerClient) -> None:
    first = client.append_batch([run(1), finding(1)])
    again = client.append(run(1))
    assert (again.seq, again.stream_version, again.duplicate) == (1, 1, True)
    # A batch mixing a duplicate and a new event: only the new one is written.
    mixed = client.append_batch([finding(1), run(2), run(1, expected_version=0)])
    assert [(r.seq, r.stream_version, r.duplicate) for r in mixed.results] == [
        (2, 1, True),
        (3, 1, False),
        (1, 1, True),  # a duplicate is not re-checked against its expected version
    ]
    assert first.tree_size == 3
    assert mixed.tree_size == 4
    # A batch of duplicates only leaves the log as it was.
    only = client.append_batch([run(1), run(2)])
    assert [(r.seq, r.duplicate) for r in only.results] == [(1, True), (3, True)]
    assert only.tree_size == 4
    assert [e.event.event_id for e in client.read()] == [
        "ledger.started:0",
        "run-1",
        "finding-1",
        "run-2",
    ]


def test_the_same_event_twice_in_one_batch_is_stored_once(client: LedgerClient) -> None:
    outcome = client.append_batch([run(1), run(1)])
    assert [(r.seq, r.stream_version, r.duplicate) for r in outcome.results] == [
        (1, 1, False),
        (1, 1, True),
    ]
    assert outcome.tree_size == 2


def test_an_event_id_with_other_content_is_a_conflict(client: LedgerClient) -> None:
    client.append(run(1))
    changed = run(1, notes="edited afterwards")
    assert changed.event_id == "run-1"
    error = fails_with(ErrorCode.EVENT_ID_CONFLICT, lambda: client.append(changed))
    assert error.category is Category.STATE_CONTENTION
    assert dict(error.details) == {"event_id": "run-1", "seq": 1, "batch_index": 0}
    # Inside a batch: the whole batch is refused and the conflicting item named.
    error = fails_with(ErrorCode.EVENT_ID_CONFLICT, lambda: client.append_batch([run(2), changed]))
    assert dict(error.details) == {"event_id": "run-1", "seq": 1, "batch_index": 1}
    assert seqs(client.read()) == [0, 1]


def test_a_run_id_is_recorded_once(client: LedgerClient) -> None:
    client.append(run(1))
    again = dataclasses.replace(run(1), event_id="run-1-again")
    error = fails_with(ErrorCode.RUN_ALREADY_RECORDED, lambda: client.append(again))
    assert error.category is Category.STATE_CONTENTION
    assert dict(error.details) == {"seq": 1, "batch_index": 0}
    assert seqs(client.read()) == [0, 1]


def test_data_json_cannot_smuggle_envelope_members(client: LedgerClient) -> None:
    """`data_json` is one JSON value; trailing members must not override proto fields."""
    honest = run(1)
    smuggled = dataclasses.replace(
        honest, data_json=honest.data_json + ', "stream": "hijacked", "event_id": "other"'
    )
    error = fails_with(ErrorCode.INVALID_JSON, lambda: client.append(smuggled))
    assert dict(error.details) == {"field": "$.data", "batch_index": 0}
    assert seqs(client.read()) == [0]
    fails_with(ErrorCode.NOT_FOUND, lambda: client.get_event(event_id="other"))
    # Surrounding whitespace is still fine: it is one JSON value.
    spaced = dataclasses.replace(honest, data_json=f"  {honest.data_json}\n")
    assert client.append(spaced).seq == 1
    assert client.get_event(seq=1).event == honest


@pytest.mark.parametrize(
    ("data_json", "code"),
    [
        ("[" * 100_000 + "]" * 100_000, ErrorCode.INVALID_JSON),
        ('{"a": tru}', ErrorCode.INVALID_JSON),
        ("", ErrorCode.INVALID_EVENT),
        ("[]", ErrorCode.INVALID_EVENT),
    ],
    ids=["nested-100k-deep", "malformed", "empty", "not-an-object"],
)
def test_bad_data_json_is_invalid_input(
    client: LedgerClient, data_json: str, code: ErrorCode
) -> None:
    error = fails_with(
        code, lambda: client.append(dataclasses.replace(run(1), data_json=data_json))
    )
    assert error.category is Category.INVALID_INPUT
    assert error.details["field"] in {"$", "$.data"}
    assert seqs(client.read()) == [0]


def test_unknown_type_and_schema_version(client: LedgerClient) -> None:
    unknown_type = dataclasses.replace(run(1), type="run.unheard_of")
    fails_with(ErrorCode.UNKNOWN_EVENT_TYPE, lambda: client.append(unknown_type))
    unknown_version = dataclasses.replace(run(1), schema_version="9.9")
    fails_with(ErrorCode.UNKNOWN_SCHEMA_VERSION, lambda: client.append(unknown_version))
    assert seqs(client.read()) == [0]


RESERVED_CASES: list[tuple[dict[str, str], str]] = [
    ({"type": "ledger.started", "stream": "elsewhere"}, "$.type"),
    ({"stream": "ledgerd"}, "$.stream"),
    ({"event_id": "ledger.started:3"}, "$.event_id"),
    ({"event_id": "ledger.started:0"}, "$.event_id"),
]


def test_the_daemons_own_records_cannot_be_appended(client: LedgerClient) -> None:
    started = client.get_event(seq=0).event
    for changes, field in RESERVED_CASES:
        if changes.get("type") == "ledger.started":
            base = dataclasses.replace(started, event_id="my-started")
        else:
            base = run(1)
        event = dataclasses.replace(base, **changes)
        error = fails_with(ErrorCode.INVALID_EVENT, lambda event=event: client.append(event))
        assert dict(error.details) == {"field": field, "batch_index": 0}, changes
    assert seqs(client.read()) == [0]


def test_a_client_cannot_stop_the_daemon_from_restarting(tmp_path: Path) -> None:
    """Were `ledger.started:<size>` ids open to clients, one could block the next start."""
    process = DaemonProcess(tmp_path / "data").start()
    try:
        with LedgerClient(process.address) as client:
            client.append(run(1))
            squatter = dataclasses.replace(run(2), event_id="ledger.started:3")
            fails_with(ErrorCode.INVALID_EVENT, lambda: client.append(squatter))
            client.append(run(2))
        assert process.stop() == 0
        process.restart()
        assert process.announcement["tree_size"] == 4
        with LedgerClient(process.address) as client:
            assert client.get_event(event_id="ledger.started:3").seq == 3
    finally:
        process.kill()


def test_the_reserved_names_are_the_ones_the_daemon_uses() -> None:
    from ledger.clock import FixedClock
    from ledger.server import service
    from ledger.server.config import load_config
    from ledger.server.daemon import started_event

    config = load_config(overrides={"data_dir": "/d"}, environ={})
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    record = started_event(config, SignerKey.generate(ORIGIN), 7, clock)
    assert record.type == service.RESERVED_TYPE
    assert record.stream == service.RESERVED_STREAM
    assert record.event_id == f"{service.RESERVED_ID_PREFIX}7"


def test_an_empty_append_is_refused(client: LedgerClient) -> None:
    error = fails_with(ErrorCode.EMPTY_BATCH, lambda: client.append_batch([]))
    assert error.category is Category.INVALID_INPUT


# Read ----------------------------------------------------------------------------------

# Seqs of the populated log: 1 run-1 (runs/test-agent), 2 run-2 (runs/docs-agent),
# 3 run-3 (runs/fixer-agent), 4 finding-1 (findings/change-1), 5 run-4 (runs/test-agent),
# 6 finding-2 (findings/change-2), 7 run-5 (runs/docs-agent), 8 finding-3
# (findings/change-0), 9 run-6 (runs/fixer-agent).
READS: list[tuple[dict[str, Any], list[int]]] = [
    ({}, list(range(10))),
    ({"from_seq": 3}, [3, 4, 5, 6, 7, 8, 9]),
    ({"from_seq": 3, "to_seq": 7}, [3, 4, 5, 6]),
    ({"to_seq": 1}, [0]),
    ({"to_seq": 0}, []),
    ({"from_seq": 7, "to_seq": 3}, []),
    ({"from_seq": 10}, []),
    ({"from_seq": 2**64 - 1}, []),
    ({"to_seq": 2**64 - 1}, list(range(10))),
    ({"stream": "runs/test-agent"}, [1, 5]),
    ({"stream": "runs/test-agent", "from_version": 2}, [5]),
    ({"stream": "runs/test-agent", "from_version": 0}, [1, 5]),
    ({"stream": "runs/test-agent", "from_version": 3}, []),
    ({"stream": "runs/test-agent", "from_version": 2**64 - 1}, []),
    ({"stream": "runs/docs-agent", "from_seq": 3}, [7]),
    ({"stream": "runs/docs-agent", "to_seq": 7}, [2]),
    ({"stream": "runs/docs-agent", "from_seq": 2, "to_seq": 8}, [2, 7]),
    ({"stream": "runs/fixer-agent", "limit": 1}, [3]),
    ({"stream": "ledgerd"}, [0]),
    ({"type": "finding.reported"}, [4, 6, 8]),
    ({"type": "ledger.started"}, [0]),
    ({"type": "finding.reported", "from_seq": 5, "to_seq": 8}, [6]),
    ({"type": "run.recorded", "limit": 2}, [1, 2]),
    ({"type": "run.recorded", "from_seq": 4, "limit": 2}, [5, 7]),
    ({"limit": 3}, [0, 1, 2]),
    ({"limit": 100}, list(range(10))),
    ({"from_seq": 8, "limit": 5}, [8, 9]),
    ({"stream": "findings/change-2", "type": "finding.reported"}, [6]),
    ({"stream": "findings/change-0", "type": "run.recorded"}, []),
    ({"stream": "runs/docs-agent", "type": "run.recorded", "from_version": 2}, [7]),
    ({"stream": "no/such-stream"}, []),
    ({"stream": "x" * 10_000}, []),
    ({"type": "no.such_type"}, []),
    # A stream name holding NUL would alias another stream's index keys; there is none.
    ({"stream": "runs/test-agent\x00" + "\x00" * 6}, []),
    ({"stream": "runs/test-agent\x00"}, []),
]


@pytest.mark.parametrize(("selection", "expected"), READS, ids=[str(r[0])[:60] for r in READS])
def test_read_selects_exactly(
    populated: Populated, selection: dict[str, Any], expected: list[int]
) -> None:
    entries = list(populated.client.read(**selection))
    assert seqs(entries) == expected
    for entry in entries:
        assert entry == populated.entries[entry.seq]


def test_every_entry_is_its_leaf_and_the_chain_links(populated: Populated) -> None:
    entries = populated.entries
    assert seqs(entries) == list(range(SIZE))
    for entry, envelope, previous in zip(entries[1:], ENVELOPES, entries[:-1], strict=True):
        assert_stored(entry, envelope, previous)


def test_seq_0_is_the_daemons_started_event(populated: Populated) -> None:
    started = populated.entries[0]
    announcement = populated.daemon.announcement
    assert started.seq == 0
    assert started.prev == GENESIS_PREV
    assert started.leaf_hash == leaf_hash(started.leaf)
    event = started.event
    assert (event.event_id, event.stream, event.type, event.schema_version, event.producer) == (
        "ledger.started:0",
        "ledgerd",
        "ledger.started",
        "1.0",
        "ledgerd",
    )
    assert event.occurred_at == RECORDED_AT
    assert event.data == {
        "daemon_version": announcement["version"],
        "config_fingerprint": announcement["config_fingerprint"],
        "origin": ORIGIN,
    }


# GetEvent ------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", range(SIZE))
def test_get_event_by_seq_and_by_id(populated: Populated, seq: int) -> None:
    expected = populated.entries[seq]
    assert populated.client.get_event(seq=seq) == expected
    assert populated.client.get_event(event_id=expected.event.event_id) == expected


@pytest.mark.parametrize(
    "key",
    [
        {"seq": SIZE},
        {"seq": 2**63},
        {"seq": 2**64 - 1},
        {"event_id": "run-999"},
        {"event_id": ""},
        {"event_id": "x" * 10_000},
        {"event_id": "é" * 5_000},
        {"event_id": "run-1\x00"},
    ],
    ids=["size", "2^63", "2^64-1", "unknown", "empty", "10k-chars", "5k-two-byte", "nul"],
)
def test_get_event_not_found(populated: Populated, key: dict[str, Any]) -> None:
    error = fails_with(ErrorCode.NOT_FOUND, lambda: populated.client.get_event(**key))
    assert error.category is Category.INVALID_INPUT
    assert error.retryable is False
    # The message quotes the key, but stays small enough for gRPC's trailer limit.
    assert len(error.message.encode()) <= 512


# Checkpoints ---------------------------------------------------------------------------


def verifier(populated: Populated) -> VerifierKey:
    return VerifierKey.parse(str(populated.daemon.announcement["verifier_key"]))


def test_latest_checkpoint_is_signed_and_has_the_rfc6962_root(populated: Populated) -> None:
    info = populated.client.checkpoint()
    assert (info.origin, info.tree_size) == (ORIGIN, SIZE)
    assert info.root_hash == populated.tree.root(SIZE)
    assert info.root_hash == ref.mth([entry.leaf for entry in populated.entries])
    opened = open_checkpoint(info.note, verifier(populated))
    assert opened == Checkpoint(ORIGIN, SIZE, info.root_hash)


@pytest.mark.parametrize("size", [0, 1, 2, 5, 8, SIZE])
def test_checkpoint_at_a_size(populated: Populated, size: int) -> None:
    info = populated.client.checkpoint(size)
    expected_root = populated.tree.root(size) if size else ref.EMPTY_ROOT
    assert (info.origin, info.tree_size, info.root_hash) == (ORIGIN, size, expected_root)
    assert open_checkpoint(info.note, verifier(populated)) == Checkpoint(
        ORIGIN, size, expected_root
    )


def test_a_checkpoint_does_not_open_with_another_key(populated: Populated) -> None:
    stranger = SignerKey.generate(ORIGIN).verifier()
    with pytest.raises(LedgerError) as caught:
        open_checkpoint(populated.client.checkpoint().note, stranger)
    assert caught.value.category is Category.VERIFICATION_FAILED


@pytest.mark.parametrize("size", [SIZE + 1, 2**63, 2**64 - 1])
def test_checkpoint_beyond_the_log(populated: Populated, size: int) -> None:
    error = fails_with(ErrorCode.INVALID_PROOF_REQUEST, lambda: populated.client.checkpoint(size))
    assert error.category is Category.INVALID_INPUT


# Proofs --------------------------------------------------------------------------------


def test_every_inclusion_proof_verifies(populated: Populated) -> None:
    tree = populated.tree
    for size in range(1, SIZE + 1):
        for index in range(size):
            proof = populated.client.inclusion_proof(index, size)
            assert (proof.leaf_index, proof.tree_size) == (index, size)
            assert proof.leaf_hash == tree.leaf_hash(index)
            assert proof.root == tree.root(size)
            assert list(proof.hashes) == tree.path(index, size)
            verify_inclusion(index, size, proof.leaf_hash, proof.hashes, proof.root)
            assert ref.verify_inclusion(index, size, proof.leaf_hash, proof.hashes, proof.root)


def test_inclusion_proof_defaults_to_the_latest_tree(populated: Populated) -> None:
    proof = populated.client.inclusion_proof(3)
    assert proof.tree_size == SIZE
    assert list(proof.hashes) == populated.tree.path(3, SIZE)


def test_every_consistency_proof_verifies(populated: Populated) -> None:
    tree = populated.tree
    for second in range(1, SIZE + 1):
        for first in range(1, second + 1):
            proof = populated.client.consistency_proof(first, second)
            assert (proof.first_size, proof.second_size) == (first, second)
            assert proof.first_root == tree.root(first)
            assert proof.second_root == tree.root(second)
            assert list(proof.hashes) == tree.proof(first, second)
            verify_consistency(first, second, proof.first_root, proof.second_root, proof.hashes)
            assert ref.verify_consistency(
                first, second, proof.first_root, proof.second_root, proof.hashes
            )


def test_consistency_proof_defaults_to_the_latest_tree(populated: Populated) -> None:
    proof = populated.client.consistency_proof(4)
    assert (proof.first_size, proof.second_size) == (4, SIZE)
    assert list(proof.hashes) == populated.tree.proof(4, SIZE)


@pytest.mark.parametrize(
    ("index", "size"),
    [(SIZE, None), (3, 3), (0, 0), (0, SIZE + 1), (2**64 - 1, None), (0, 2**64 - 1)],
)
def test_inclusion_proof_bad_request(populated: Populated, index: int, size: int | None) -> None:
    error = fails_with(
        ErrorCode.INVALID_PROOF_REQUEST, lambda: populated.client.inclusion_proof(index, size)
    )
    assert error.category is Category.INVALID_INPUT


@pytest.mark.parametrize(
    ("first", "second"),
    [(0, None), (0, 3), (4, 3), (SIZE + 1, None), (1, SIZE + 1), (2**64 - 1, None), (1, 2**64 - 1)],
)
def test_consistency_proof_bad_request(
    populated: Populated, first: int, second: int | None
) -> None:
    error = fails_with(
        ErrorCode.INVALID_PROOF_REQUEST,
        lambda: populated.client.consistency_proof(first, second),
    )
    assert error.category is Category.INVALID_INPUT


# Subscribe -----------------------------------------------------------------------------


class Subscriber:
    """`LedgerClient.subscribe` on a thread of its own, delivering entries to a queue."""

    def __init__(self, address: str, from_seq: int, stop_after_seq: int) -> None:
        self.entries: queue.Queue[Entry | BaseException] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, args=(address, from_seq, stop_after_seq), daemon=True
        )
        self._thread.start()

    def _run(self, address: str, from_seq: int, stop_after_seq: int) -> None:
        try:
            with LedgerClient(address) as client:
                for entry in client.subscribe(from_seq):
                    self.entries.put(entry)
                    if entry.seq >= stop_after_seq:
                        return
        except BaseException as exc:  # handed to the test thread
            self.entries.put(exc)

    def take(self, count: int) -> list[Entry]:
        taken = []
        for _ in range(count):
            item = self.entries.get(timeout=15)
            if isinstance(item, BaseException):
                raise item
            taken.append(item)
        return taken

    def join(self) -> None:
        self._thread.join(timeout=15)
        assert not self._thread.is_alive()


def test_subscribe_catches_up_then_follows_live(
    client: LedgerClient, daemon: DaemonProcess
) -> None:
    client.append_batch([run(1), run(2)])
    subscriber = Subscriber(daemon.address, from_seq=0, stop_after_seq=6)
    caught_up = subscriber.take(3)
    assert seqs(caught_up) == [0, 1, 2]
    assert caught_up == list(client.read())
    client.append(run(3))
    assert [(e.seq, e.event.event_id) for e in subscriber.take(1)] == [(3, "run-3")]
    client.append_batch([finding(1), run(4), finding(2)])
    live = subscriber.take(3)
    assert [(e.seq, e.event.event_id) for e in live] == [
        (4, "finding-1"),
        (5, "run-4"),
        (6, "finding-2"),
    ]
    assert live == list(client.read(from_seq=4))
    subscriber.join()
    assert subscriber.entries.empty()


def test_subscribe_from_the_log_size_waits_for_the_next_event(
    client: LedgerClient, daemon: DaemonProcess
) -> None:
    client.append(run(1))
    subscriber = Subscriber(daemon.address, from_seq=2, stop_after_seq=2)
    time.sleep(0.3)
    assert subscriber.entries.empty()
    client.append(run(2))
    (entry,) = subscriber.take(1)
    assert (entry.seq, entry.event.event_id) == (2, "run-2")
    assert entry == client.get_event(seq=2)
    subscriber.join()


def test_subscribe_from_the_middle(client: LedgerClient, daemon: DaemonProcess) -> None:
    client.append_batch([run(1), run(2), run(3)])
    subscriber = Subscriber(daemon.address, from_seq=2, stop_after_seq=3)
    assert seqs(subscriber.take(2)) == [2, 3]
    subscriber.join()


@pytest.mark.parametrize("from_seq", [2, 3, 2**64 - 1])
def test_subscribe_beyond_the_log_is_refused(client: LedgerClient, from_seq: int) -> None:
    assert client.checkpoint().tree_size == 1
    started = time.monotonic()
    error = fails_with(ErrorCode.INVALID_ARGUMENT, lambda: next(iter(client.subscribe(from_seq))))
    assert error.category is Category.INVALID_INPUT
    assert dict(error.details) == {"tree_size": 1}
    assert time.monotonic() - started < 5  # refused, not retried


# The asyncio client --------------------------------------------------------------------


def test_the_async_client_does_it_all(daemon: DaemonProcess) -> None:
    key = VerifierKey.parse(str(daemon.announcement["verifier_key"]))

    async def scenario() -> None:
        async with AsyncLedgerClient(daemon.address) as client:
            first = await client.append(run(1))
            assert (first.seq, first.stream_version, first.duplicate) == (1, 1, False)
            outcome = await client.append_batch([finding(1), run(4), run(1)])
            assert [(r.seq, r.stream_version, r.duplicate) for r in outcome.results] == [
                (2, 1, False),
                (3, 2, False),
                (1, 1, True),
            ]
            assert outcome.tree_size == 4
            with pytest.raises(LedgerError) as caught:
                await client.append(run(7, expected_version=0))
            assert caught.value.code == ErrorCode.WRONG_EXPECTED_VERSION

            entries = [entry async for entry in client.read()]
            assert seqs(entries) == [0, 1, 2, 3]
            for entry, envelope, previous in zip(
                entries[1:],
                [sample_run(1), sample_finding(1), sample_run(4)],
                entries[:-1],
                strict=True,
            ):
                assert_stored(entry, envelope, previous)
            assert seqs([e async for e in client.read(stream="runs/test-agent")]) == [1, 3]
            assert seqs([e async for e in client.read(type="finding.reported")]) == [2]

            assert await client.get_event(seq=2) == entries[2]
            assert await client.get_event(event_id="run-4") == entries[3]
            with pytest.raises(LedgerError) as caught:
                await client.get_event(seq=2**64 - 1)
            assert caught.value.code == ErrorCode.NOT_FOUND

            tree = ref.ReferenceTree.from_entries(entry.leaf for entry in entries)
            info = await client.checkpoint()
            assert open_checkpoint(info.note, key) == Checkpoint(ORIGIN, 4, tree.root(4))
            inclusion = await client.inclusion_proof(1, 3)
            assert list(inclusion.hashes) == tree.path(1, 3)
            verify_inclusion(1, 3, inclusion.leaf_hash, inclusion.hashes, tree.root(3))
            consistency = await client.consistency_proof(2)
            assert list(consistency.hashes) == tree.proof(2, 4)
            verify_consistency(2, 4, tree.root(2), tree.root(4), consistency.hashes)
            with pytest.raises(LedgerError) as caught:
                await client.consistency_proof(5)
            assert caught.value.code == ErrorCode.INVALID_PROOF_REQUEST

            # Subscribe: catch up on 2 and 3, then follow the next append live.
            received: list[Entry] = []

            async def follow() -> None:
                async for entry in client.subscribe(2):
                    received.append(entry)
                    if entry.seq == 4:
                        return

            task = asyncio.create_task(follow())
            for _ in range(100):
                if len(received) == 2:
                    break
                await asyncio.sleep(0.05)
            assert received == entries[2:]
            live = await client.append(run(2))
            assert live.seq == 4
            await asyncio.wait_for(task, timeout=15)
            assert [(e.seq, e.event.event_id) for e in received] == [
                (2, "finding-1"),
                (3, "run-4"),
                (4, "run-2"),
            ]

            with pytest.raises(LedgerError) as caught:
                async for _ in client.subscribe(99):
                    pass
            assert caught.value.code == ErrorCode.INVALID_ARGUMENT

    asyncio.run(scenario())


def test_reads_work_from_a_fresh_client_after_a_restart(tmp_path: Path) -> None:
    """The log outlives the daemon: a restart appends one more ledger.started, nothing else."""
    process = DaemonProcess(tmp_path / "data").start()
    try:
        with LedgerClient(process.address) as client:
            client.append(run(1))
        assert process.stop() == 0
        process.restart()
        with LedgerClient(process.address) as client:
            entries = list(client.read())
            assert [(e.seq, e.event.event_id) for e in entries] == [
                (0, "ledger.started:0"),
                (1, "run-1"),
                (2, "ledger.started:2"),
            ]
            assert_stored(entries[1], sample_run(1), entries[0])
            assert entries[2].prev == entries[1].leaf_hash.hex()
    finally:
        process.kill()


def test_a_subscription_opens_with_an_empty_message_carrying_the_log_size(
    client: LedgerClient, daemon: DaemonProcess
) -> None:
    client.append_batch([Event.from_envelope(sample_finding(i)) for i in range(3)])
    with grpc.insecure_channel(daemon.address) as channel:
        stream = channel.unary_stream(
            SUBSCRIBE.path,
            request_serializer=pb.SubscribeRequest.SerializeToString,
            response_deserializer=pb.SubscribeResponse.FromString,
        )
        call = stream(pb.SubscribeRequest(from_seq=1), timeout=10)
        opening = next(call)
        first = next(call)
        call.cancel()
    # Nothing to deliver yet in the opening message, whatever the backlog.
    assert (len(opening.entries), opening.tree_size) == (0, 4)
    assert [e.seq for e in first.entries] == [1, 2, 3]
