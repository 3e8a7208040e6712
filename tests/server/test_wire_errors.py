"""Errors on the wire: raw statuses and `ErrorInfo` trailers, garbage in, limits, deadlines.

These tests talk to a real daemon over a raw channel (no serializers), so they
see exactly what any gRPC client would: the status code, the message and the
`grpc-status-details-bin` trailer. The client's mapping back to LedgerError is
checked on the same trailers.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tamper
from clients._calls import rpc_error
from clients.client import LedgerClient
from clients.event import Event
from clients.retry import RetryPolicy
from daemon import DaemonProcess, free_port
from ledger.errors import CODE_CATEGORY, Category, ErrorCode, LedgerError
from ledger.samples import sample_finding, sample_run
from ledger.v1 import ledger_pb2 as pb
from ledger.wire.status import DETAILS_KEY, DOMAIN, error_from_status


def run(index: int, *, expected_version: int | None = None, notes: str = "") -> Event:
    return Event.from_envelope(sample_run(index, notes=notes), expected_version=expected_version)


def append_bytes(*events: Event) -> bytes:
    request = pb.AppendRequest(
        items=[
            pb.AppendItem(event=event.to_proto(), expected_version=event.expected_version)
            for event in events
        ]
    )
    return request.SerializeToString()


# The raw channel -----------------------------------------------------------------------

UNARY = ("Append", "GetEvent", "GetCheckpoint", "GetInclusionProof", "GetConsistencyProof")
STREAMING = ("Read", "Subscribe")
METHODS = UNARY + STREAMING


@dataclasses.dataclass
class Outcome:
    """What one raw call came back with."""

    code: grpc.StatusCode
    message: str
    trailers: tuple[tuple[str, str | bytes], ...]
    replies: list[bytes]

    @property
    def ok(self) -> bool:
        return self.code is grpc.StatusCode.OK

    def info(self) -> tuple[status_pb2.Status, error_details_pb2.ErrorInfo]:
        """The google.rpc.Status and its ErrorInfo; fails the test when they are missing."""
        blobs = [value for key, value in self.trailers if key == DETAILS_KEY]
        assert len(blobs) == 1, f"no {DETAILS_KEY} trailer on {self.code}: {self.message}"
        assert isinstance(blobs[0], bytes)
        status = status_pb2.Status.FromString(blobs[0])
        assert len(status.details) == 1
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        return status, info


class Raw:
    """Sends raw bytes to any method of ledger.v1.Ledger and records the outcome."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)

    def close(self) -> None:
        self.channel.close()

    def call(
        self, method: str, data: bytes, *, timeout: float = 10.0, first_only: bool = False
    ) -> Outcome:
        path = f"/ledger.v1.Ledger/{method}"
        replies: list[bytes] = []
        if method in UNARY:
            stub = self.channel.unary_unary(
                path, request_serializer=None, response_deserializer=None
            )
            try:
                reply, call = stub.with_call(data, timeout=timeout)
            except grpc.RpcError as exc:
                return _failed(exc, replies)
            replies.append(reply)
            return Outcome(
                call.code(), call.details() or "", tuple(call.trailing_metadata() or ()), replies
            )
        stream = self.channel.unary_stream(
            path, request_serializer=None, response_deserializer=None
        )
        responses = stream(data, timeout=timeout)
        try:
            for reply in responses:
                replies.append(reply)
                if first_only:
                    responses.cancel()
                    return Outcome(grpc.StatusCode.OK, "", (), replies)
        except grpc.RpcError as exc:
            return _failed(exc, replies)
        return Outcome(
            responses.code(),
            responses.details() or "",
            tuple(responses.trailing_metadata() or ()),
            replies,
        )


def _failed(exc: grpc.RpcError, replies: list[bytes]) -> Outcome:
    call: Any = exc
    return Outcome(
        call.code(), call.details() or "", tuple(call.trailing_metadata() or ()), replies
    )


def delivered_seqs(
    outcome: Outcome, response: type[pb.ReadResponse | pb.SubscribeResponse]
) -> list[int]:
    return [entry.seq for reply in outcome.replies for entry in response.FromString(reply).entries]


def assert_classified(
    outcome: Outcome,
    *,
    status: grpc.StatusCode,
    reason: ErrorCode,
    details: dict[str, object] | None = None,
) -> dict[str, object]:
    """The outcome is `status` with a complete ledgerd ErrorInfo for `reason`; returns details."""
    assert outcome.code is status, (outcome.code, outcome.message)
    rpc_status, info = outcome.info()
    category = CODE_CATEGORY[reason]
    assert rpc_status.code == status.value[0]
    assert rpc_status.message == outcome.message
    assert info.reason == str(reason)
    assert info.domain == DOMAIN == "ledgerd"
    assert set(info.metadata) == {"category", "retryable", "hint", "details"}
    assert info.metadata["category"] == str(category)
    retryable = category is Category.NETWORK_TRANSIENT
    assert info.metadata["retryable"] == ("true" if retryable else "false")
    assert info.metadata["hint"].strip()
    found = json.loads(info.metadata["details"])
    assert isinstance(found, dict)
    if details is not None:
        assert found == details
    # The client reads the same trailer back into the same error.
    error = error_from_status(outcome.code, outcome.message, list(outcome.trailers))
    assert (error.code, error.category, error.retryable) == (reason, category, retryable)
    assert error.hint == info.metadata["hint"]
    assert dict(error.details) == found
    assert error.message == outcome.message
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """A daemon holding run-1 at seq 1 (stream runs/test-agent at version 1)."""
    process = DaemonProcess(tmp_path_factory.mktemp("wire") / "data").start()
    try:
        with LedgerClient(process.address) as client:
            client.append(run(1))
        yield process
    finally:
        process.kill()


@pytest.fixture(scope="module")
def raw(served: DaemonProcess) -> Iterator[Raw]:
    connection = Raw(served.address)
    yield connection
    connection.close()


def log_size(raw: Raw) -> int:
    outcome = raw.call("GetCheckpoint", b"")
    assert outcome.ok
    return pb.Checkpoint.FromString(outcome.replies[0]).tree_size


# Each error the daemon produces: status code and ErrorInfo ----------------------------

_bad_severity = dataclasses.replace(
    Event.from_envelope(sample_finding(1)),
    data_json=Event.from_envelope(sample_finding(1)).data_json.replace('"P1"', '"P9"'),
)

ERROR_CASES: list[tuple[str, str, bytes, grpc.StatusCode, ErrorCode, dict[str, object] | None]] = [
    (
        "garbage",
        "Append",
        b"\xff\xff",
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_REQUEST,
        {},
    ),
    ("no-key", "GetEvent", b"", grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.INVALID_REQUEST, {}),
    ("empty-batch", "Append", b"", grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.EMPTY_BATCH, {}),
    (
        "item-without-event",
        "Append",
        pb.AppendRequest(items=[pb.AppendItem()]).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_EVENT,
        {"field": "$", "batch_index": 0},
    ),
    (
        "invalid-event",
        "Append",
        append_bytes(run(2), _bad_severity),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_EVENT,
        {"field": "$.data.severity", "batch_index": 1},
    ),
    (
        "invalid-json",
        "Append",
        append_bytes(dataclasses.replace(run(2), data_json="{")),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_JSON,
        {"field": "$.data", "batch_index": 0},
    ),
    (
        "unknown-type",
        "Append",
        append_bytes(dataclasses.replace(run(2), type="no.such_type")),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.UNKNOWN_EVENT_TYPE,
        None,
    ),
    (
        "unknown-schema-version",
        "Append",
        append_bytes(dataclasses.replace(run(2), schema_version="7.0")),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.UNKNOWN_SCHEMA_VERSION,
        None,
    ),
    (
        "not-found-seq",
        "GetEvent",
        pb.GetEventRequest(seq=2**64 - 1).SerializeToString(),
        grpc.StatusCode.NOT_FOUND,
        ErrorCode.NOT_FOUND,
        {},
    ),
    (
        "not-found-id",
        "GetEvent",
        pb.GetEventRequest(event_id="x" * 10_000).SerializeToString(),
        grpc.StatusCode.NOT_FOUND,
        ErrorCode.NOT_FOUND,
        {},
    ),
    (
        "checkpoint-beyond",
        "GetCheckpoint",
        pb.GetCheckpointRequest(tree_size=3).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_PROOF_REQUEST,
        {},
    ),
    (
        "inclusion-beyond",
        "GetInclusionProof",
        pb.GetInclusionProofRequest(leaf_index=2).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_PROOF_REQUEST,
        {},
    ),
    (
        "consistency-from-0",
        "GetConsistencyProof",
        b"",
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_PROOF_REQUEST,
        {},
    ),
    (
        "subscribe-beyond",
        "Subscribe",
        pb.SubscribeRequest(from_seq=3).SerializeToString(),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_ARGUMENT,
        {"tree_size": 2},
    ),
    (
        "wrong-expected-version",
        "Append",
        append_bytes(run(4, expected_version=0)),
        grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.WRONG_EXPECTED_VERSION,
        {
            "stream": "runs/test-agent",
            "expected_version": 0,
            "current_version": 1,
            "batch_index": 0,
        },
    ),
    (
        "event-id-conflict",
        "Append",
        append_bytes(run(1, notes="other content")),
        grpc.StatusCode.ALREADY_EXISTS,
        ErrorCode.EVENT_ID_CONFLICT,
        {"event_id": "run-1", "seq": 1, "batch_index": 0},
    ),
    (
        "run-already-recorded",
        "Append",
        append_bytes(dataclasses.replace(run(1), event_id="run-1-bis")),
        grpc.StatusCode.ALREADY_EXISTS,
        ErrorCode.RUN_ALREADY_RECORDED,
        {"seq": 1, "batch_index": 0},
    ),
]


@pytest.mark.parametrize(
    ("method", "data", "status", "reason", "details"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_each_error_has_its_status_and_error_info(
    raw: Raw,
    method: str,
    data: bytes,
    status: grpc.StatusCode,
    reason: ErrorCode,
    details: dict[str, object] | None,
) -> None:
    outcome = raw.call(method, data)
    assert outcome.replies == []
    assert_classified(outcome, status=status, reason=reason, details=details)
    assert log_size(raw) == 2  # no failed call wrote anything


def test_a_long_quoted_value_cannot_push_the_error_past_the_trailer_limit(
    served: DaemonProcess, raw: Raw
) -> None:
    """gRPC refuses trailers over 8-16 KiB; an error quoting 100 kB of input must still arrive."""
    event = Event.from_envelope(sample_finding(1))
    huge = dataclasses.replace(
        event, data_json=event.data_json.replace('"P1"', '"' + "Q" * 100_000 + '"')
    )
    outcome = raw.call("Append", append_bytes(huge))
    found = assert_classified(
        outcome, status=grpc.StatusCode.INVALID_ARGUMENT, reason=ErrorCode.INVALID_EVENT
    )
    assert found == {"field": "$.data.severity", "batch_index": 0}
    assert len(outcome.message.encode()) <= 512
    assert outcome.message.endswith("\u2026")
    # And through the client, the same: not a RESOURCE_EXHAUSTED misread as REQUEST_TOO_LARGE.
    with LedgerClient(served.address) as client, pytest.raises(LedgerError) as caught:
        client.append(huge)
    assert caught.value.code == ErrorCode.INVALID_EVENT


# Damaged storage: verification_failed is DATA_LOSS --------------------------------------


def test_damaged_storage_is_data_loss_not_internal(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    process = DaemonProcess(data_dir).start()
    try:
        with LedgerClient(process.address) as client:
            client.append_batch([run(1), run(2), run(3)])
        assert process.stop() == 0
        tamper.edit(data_dir, "leaves", tamper.u64(1), b"{this is not a leaf")
        tamper.edit(data_dir, "tree", tamper.tree_key(0, 2), None)
        process.restart()
        raw = Raw(process.address)
        try:
            unreadable = raw.call("GetEvent", pb.GetEventRequest(seq=1).SerializeToString())
            assert_classified(
                unreadable,
                status=grpc.StatusCode.DATA_LOSS,
                reason=ErrorCode.LEAF_UNREADABLE,
                details={"seq": 1},
            )
            missing = raw.call("GetEvent", pb.GetEventRequest(seq=2).SerializeToString())
            assert_classified(
                missing, status=grpc.StatusCode.DATA_LOSS, reason=ErrorCode.TREE_HASH_MISMATCH
            )
            # A read delivers what is sound, then stops at the damage...
            read = raw.call("Read", pb.ReadRequest(to_seq=2).SerializeToString())
            assert delivered_seqs(read, pb.ReadResponse) == [0]
            assert_classified(
                read,
                status=grpc.StatusCode.DATA_LOSS,
                reason=ErrorCode.LEAF_UNREADABLE,
                details={"seq": 1},
            )
            # ... where the store sees it: it reads leaves and their hashes in chunks.
            read = raw.call("Read", b"")
            assert delivered_seqs(read, pb.ReadResponse) == []
            assert_classified(
                read, status=grpc.StatusCode.DATA_LOSS, reason=ErrorCode.TREE_HASH_MISMATCH
            )
            assert raw.call("GetEvent", pb.GetEventRequest(seq=3).SerializeToString()).ok
        finally:
            raw.close()
        assert not any("unexpected failure" in line for line in process.stderr_lines)
    finally:
        process.kill()


# Shutdown: network_transient with where to resume ---------------------------------------


def test_a_subscription_ends_retryably_when_the_daemon_stops(tmp_path: Path) -> None:
    process = DaemonProcess(tmp_path / "data").start()
    try:
        with LedgerClient(process.address) as client:
            client.append(run(1))
        raw = Raw(process.address)
        outcomes: queue.Queue[Outcome] = queue.Queue()
        request = pb.SubscribeRequest(from_seq=0).SerializeToString()
        thread = threading.Thread(
            target=lambda: outcomes.put(raw.call("Subscribe", request, timeout=30)), daemon=True
        )
        thread.start()
        time.sleep(0.5)  # the subscriber is caught up and waiting
        assert process.stop() == 0
        outcome = outcomes.get(timeout=30)
        delivered = [
            e.seq for r in outcome.replies for e in pb.SubscribeResponse.FromString(r).entries
        ]
        assert delivered == [0, 1]
        assert_classified(
            outcome,
            status=grpc.StatusCode.UNAVAILABLE,
            reason=ErrorCode.SERVER_UNAVAILABLE,
            details={"next_seq": 2},
        )
        raw.close()
    finally:
        process.kill()


# Garbage in: every method, classified, and the daemon serves on ------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes = b"") -> bytes:
    return _varint(number << 3 | wire_type) + payload


def _string(number: int, value: bytes) -> bytes:
    return _field(number, 2, _varint(len(value)) + value)


BAD_UTF8 = b"\xc3\x28\xff\xfe\xed\xa0\x80"  # a broken pair, 0xff/0xfe, an encoded surrogate


def _nested(depth: int) -> bytes:
    data = b""
    for _ in range(depth):
        data = _string(1, data)
    return data


def _append_with_event_field(number: int, value: bytes) -> bytes:
    event = _string(number, value)
    item = _string(1, event)
    return _string(1, item)


NASTY: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("one-ff", b"\xff"),
    ("truncated-varint", b"\x08\x80"),
    ("truncated-varint-long", b"\x08" + b"\x80" * 9),
    ("varint-11-bytes", b"\x08" + b"\xff" * 10 + b"\x01"),
    ("u64-max", _field(1, 0, _varint(2**64 - 1))),
    ("tag-without-value", b"\x08"),
    ("field-number-0", b"\x00\x01"),
    ("huge-length-prefix", b"\x0a" + _varint(2**32) + b"abc"),
    ("length-beyond-end", b"\x0a\x10abc"),
    ("length-2^63", b"\x12" + _varint(2**63) + b"x"),
    ("bad-utf8-field-2", _string(2, BAD_UTF8)),
    ("bad-utf8-field-3", _string(3, BAD_UTF8)),
    ("bad-utf8-field-5", _string(5, BAD_UTF8)),
    ("bad-utf8-event-id", _append_with_event_field(1, BAD_UTF8)),
    ("bad-utf8-data-json", _append_with_event_field(8, BAD_UTF8)),
    ("nul-in-strings", _string(3, b"a\x00b") + _string(2, b"\x00")),
    ("wrong-wire-type-fixed32", _field(1, 5, b"\x01\x02\x03\x04")),
    ("wrong-wire-type-fixed64", _field(1, 1, b"\x01" * 8)),
    ("wrong-wire-type-length", _string(1, b"\x01\x02")),
    ("wrong-wire-type-varint-for-message", _field(1, 0, b"\x05")),
    ("truncated-fixed64", _field(1, 1, b"\x01\x02")),
    ("reserved-wire-type-6", _field(1, 6, b"\x00")),
    ("reserved-wire-type-7", _field(2, 7)),
    ("open-group", _field(1, 3)),
    ("stray-end-group", _field(1, 4)),
    ("nested-groups", _field(9, 3) * 500 + _field(9, 4) * 500),
    ("nested-messages", _nested(200)),
    ("unknown-fields", _field(1000, 0, b"\x01") + _string(2**29 - 1, b"x")),
    ("repeated-oneof", _field(1, 0, b"\x05") + _string(2, b"run-1") + _field(1, 0, b"\x01")),
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """A daemon of its own for garbage: some random appends are valid and land."""
    process = DaemonProcess(tmp_path_factory.mktemp("fuzzed") / "data").start()
    try:
        with LedgerClient(process.address) as client:
            client.append(run(1))
        yield process
    finally:
        process.kill()


@pytest.fixture(scope="module")
def fuzz_raw(fuzzed: DaemonProcess) -> Iterator[Raw]:
    connection = Raw(fuzzed.address)
    yield connection
    connection.close()


#: What garbage may legitimately provoke: bad input, or (for a random but valid
#: append) a clash with what is stored. Never damage, I/O or internal failure.
GARBAGE_CATEGORIES = {Category.INVALID_INPUT, Category.STATE_CONTENTION}


def _waits_for_next_event(raw: Raw, method: str, data: bytes) -> bool:
    """Whether `data` is a valid subscription from the log's current end (it waits, rightly)."""
    if method != "Subscribe":
        return False
    try:
        request = pb.SubscribeRequest.FromString(data)
    except Exception:
        return False
    return request.from_seq == log_size(raw)


def expect_classified_or_ok(raw: Raw, method: str, data: bytes) -> Outcome:
    """A reply, or a ledgerd error with full ErrorInfo; never a bare or INTERNAL status."""
    subscribe = method == "Subscribe"
    outcome = raw.call(method, data, timeout=2 if subscribe else 10, first_only=subscribe)
    if outcome.ok:
        return outcome
    if outcome.code is grpc.StatusCode.DEADLINE_EXCEEDED and _waits_for_next_event(
        raw, method, data
    ):
        return outcome
    assert outcome.code not in {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}, (
        method,
        data[:40],
        outcome.code,
        outcome.message,
    )
    _, info = outcome.info()
    assert info.domain == DOMAIN
    code = ErrorCode(info.reason)
    assert CODE_CATEGORY[code] in GARBAGE_CATEGORIES, (method, data[:40], code, outcome.message)
    assert code is not ErrorCode.INTERNAL
    return outcome


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("name", "data"), NASTY, ids=[name for name, _ in NASTY])
def test_nasty_bytes_are_classified(fuzz_raw: Raw, method: str, name: str, data: bytes) -> None:
    before = log_size(fuzz_raw)
    outcome = expect_classified_or_ok(fuzz_raw, method, data)
    if name in {"one-ff", "truncated-varint", "truncated-varint-long", "huge-length-prefix"}:
        # These do not parse as any message: always INVALID_REQUEST.
        assert outcome.info()[1].reason == "INVALID_REQUEST"
    if name in {"bad-utf8-field-2", "bad-utf8-field-3", "bad-utf8-field-5"} and (
        (method, name)
        in {
            ("GetEvent", "bad-utf8-field-2"),
            ("Read", "bad-utf8-field-3"),
            ("Read", "bad-utf8-field-5"),
        }
    ):
        # Invalid UTF-8 in a string field of the method's own message.
        assert outcome.info()[1].reason == "INVALID_REQUEST"
    assert log_size(fuzz_raw) == before


def _wire_field() -> st.SearchStrategy[bytes]:
    """One protobuf field with a random number, wire type (valid or not) and payload."""
    number = st.integers(min_value=0, max_value=20)
    return st.one_of(
        st.builds(lambda n, v: _field(n, 0, _varint(v)), number, st.integers(0, 2**64 - 1)),
        st.builds(lambda n, v: _string(n, v), number, st.binary(max_size=40)),
        st.builds(lambda n, v: _string(n, v.encode()), number, st.text(max_size=40)),
        st.builds(lambda n, v: _field(n, 1, v), number, st.binary(min_size=8, max_size=8)),
        st.builds(lambda n, v: _field(n, 5, v), number, st.binary(min_size=4, max_size=4)),
        st.builds(lambda n, w: _field(n, w), number, st.sampled_from([3, 4, 6, 7])),
    )


def _event_message() -> st.SearchStrategy[bytes]:
    """An AppendRequest with one item whose Event fields are random text (or valid values)."""
    text = st.text(max_size=60)
    sample = Event.from_envelope(sample_run(7))

    def build(fields: dict[str, str], expected: int | None) -> bytes:
        event = pb.Event(**fields)
        return pb.AppendRequest(
            items=[pb.AppendItem(event=event, expected_version=expected)]
        ).SerializeToString()

    return st.builds(
        build,
        st.fixed_dictionaries(
            {},
            optional={
                "event_id": st.one_of(text, st.just(sample.event_id)),
                "stream": st.one_of(text, st.just(sample.stream)),
                "type": st.one_of(text, st.just(sample.type)),
                "schema_version": st.one_of(text, st.just(sample.schema_version)),
                "occurred_at": st.one_of(text, st.just(sample.occurred_at)),
                "producer": st.one_of(text, st.just(sample.producer)),
                "correlation_id": text,
                "data_json": st.one_of(text, st.just(sample.data_json), st.just("{}")),
            },
        ),
        st.one_of(st.none(), st.integers(0, 2**64 - 1)),
    )


PAYLOADS = st.one_of(
    st.binary(max_size=64),
    st.lists(_wire_field(), max_size=6).map(b"".join),
    _event_message(),
)


@pytest.mark.parametrize("method", METHODS)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(data=PAYLOADS)
def test_random_bytes_never_get_a_bare_or_internal_status(
    fuzz_raw: Raw, method: str, data: bytes
) -> None:
    expect_classified_or_ok(fuzz_raw, method, data)


def test_the_daemon_serves_normally_after_all_that(fuzzed: DaemonProcess) -> None:
    with LedgerClient(fuzzed.address) as client:
        size = client.checkpoint().tree_size
        result = client.append(run(2))
        assert (result.seq, result.stream_version, result.duplicate) == (size, 1, False)
        assert client.get_event(seq=size).event == run(2)
        assert client.get_event(seq=1).event == run(1)
    assert fuzzed.process is not None
    assert fuzzed.process.poll() is None
    assert not any("unexpected failure" in line for line in fuzzed.stderr_lines)


# Limits --------------------------------------------------------------------------------

LIMITS = {
    "LEDGERD_MAX_BATCH_EVENTS": "3",
    "LEDGERD_MAX_EVENT_BYTES": "3000",
    "LEDGERD_MAX_MESSAGE_BYTES": "8192",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = DaemonProcess(tmp_path_factory.mktemp("limited") / "data", env=LIMITS).start()
    try:
        yield process
    finally:
        process.kill()


def event_of_size(index: int, size: int) -> Event:
    """sample_run(index) padded with notes so that its JSON envelope is exactly `size` bytes."""
    base = len(run(index).to_json())
    event = run(index, notes="n" * (size - base))
    assert len(event.to_json()) == size
    return event


def test_a_batch_over_the_limit_is_too_large(limited: DaemonProcess) -> None:
    raw = Raw(limited.address)
    try:
        before = log_size(raw)
        outcome = raw.call("Append", append_bytes(*(run(i) for i in range(100, 104))))
        assert_classified(
            outcome,
            status=grpc.StatusCode.RESOURCE_EXHAUSTED,
            reason=ErrorCode.REQUEST_TOO_LARGE,
            details={"limit": 3},
        )
        assert log_size(raw) == before
        assert raw.call("Append", append_bytes(*(run(i) for i in range(100, 103)))).ok
        assert log_size(raw) == before + 3
    finally:
        raw.close()


def test_an_event_over_the_limit_is_too_large(limited: DaemonProcess) -> None:
    raw = Raw(limited.address)
    try:
        before = log_size(raw)
        # The envelope as the daemon builds it is the client's JSON, byte for byte.
        outcome = raw.call("Append", append_bytes(run(200), event_of_size(201, 3001)))
        assert_classified(
            outcome,
            status=grpc.StatusCode.RESOURCE_EXHAUSTED,
            reason=ErrorCode.REQUEST_TOO_LARGE,
            details={"limit": 3000, "batch_index": 1},
        )
        assert log_size(raw) == before
        assert raw.call("Append", append_bytes(event_of_size(201, 3000))).ok
        assert log_size(raw) == before + 1
    finally:
        raw.close()


def test_a_message_over_the_limit_is_refused_by_grpc_and_read_as_too_large(
    limited: DaemonProcess,
) -> None:
    events = [event_of_size(300 + i, 2900) for i in range(3)]
    assert len(append_bytes(*events)) > 8192
    with LedgerClient(limited.address, retry=RetryPolicy(max_attempts=1)) as client:
        before = client.checkpoint().tree_size
        error = None
        with pytest.raises(LedgerError) as caught:
            client.append_batch(events)
        error = caught.value
        assert error.code == ErrorCode.REQUEST_TOO_LARGE
        assert error.category is Category.INVALID_INPUT
        assert dict(error.details) == {"grpc_status": "RESOURCE_EXHAUSTED"}
        assert client.checkpoint().tree_size == before
        # One at a time they fit.
        assert [client.append(e).seq for e in events] == [before, before + 1, before + 2]


def test_reads_and_subscriptions_fit_every_message_under_the_limit(limited: DaemonProcess) -> None:
    """Entries are chunked by their encoded size, not just by leaf bytes or count."""
    with LedgerClient(limited.address) as client:
        for i in range(3):
            client.append(event_of_size(400 + i, 2800))
        size = client.checkpoint().tree_size
        expected = [entry.seq for entry in client.read()]
    assert expected == list(range(size))
    raw = Raw(limited.address)
    try:
        read = raw.call("Read", b"")
        assert read.ok, read.message
        assert all(len(reply) <= 8192 for reply in read.replies)
        assert len(read.replies) > 1
        seqs = [e.seq for r in read.replies for e in pb.ReadResponse.FromString(r).entries]
        assert seqs == expected
        # A subscription's catch-up is chunked the same way.
        subscription = raw.channel.unary_stream(
            "/ledger.v1.Ledger/Subscribe", request_serializer=None, response_deserializer=None
        )(pb.SubscribeRequest(from_seq=0).SerializeToString(), timeout=10)
        delivered: list[int] = []
        for reply in subscription:
            assert len(reply) <= 8192
            delivered += [e.seq for e in pb.SubscribeResponse.FromString(reply).entries]
            if len(delivered) == size:
                subscription.cancel()
                break
        assert delivered == expected
    finally:
        raw.close()


def test_an_entry_too_large_for_the_message_limit_is_classified(tmp_path: Path) -> None:
    """A log written under larger limits is read under smaller ones: stop at the entry, say so."""
    data_dir = tmp_path / "data"
    process = DaemonProcess(data_dir).start()
    try:
        with LedgerClient(process.address) as client:
            client.append_batch([run(1), event_of_size(2, 5000), run(3)])
        assert process.stop() == 0
        process = DaemonProcess(data_dir, env={"LEDGERD_MAX_MESSAGE_BYTES": "8192"}).start()
        raw = Raw(process.address)
        try:
            read = raw.call("Read", b"")
            delivered = [e.seq for r in read.replies for e in pb.ReadResponse.FromString(r).entries]
            assert delivered == [0, 1]
            assert_classified(
                read,
                status=grpc.StatusCode.RESOURCE_EXHAUSTED,
                reason=ErrorCode.REQUEST_TOO_LARGE,
                details={"limit": 8192, "seq": 2},
            )
            after = raw.call("Read", pb.ReadRequest(from_seq=3).SerializeToString())
            assert [
                e.seq for r in after.replies for e in pb.ReadResponse.FromString(r).entries
            ] == [3, 4]
        finally:
            raw.close()
    finally:
        process.kill()


# Deadlines and unreachable servers ------------------------------------------------------


def test_a_waiting_subscription_past_its_deadline_is_deadline_exceeded(
    served: DaemonProcess, raw: Raw
) -> None:
    size = log_size(raw)
    stream = raw.channel.unary_stream(
        "/ledger.v1.Ledger/Subscribe",
        request_serializer=pb.SubscribeRequest.SerializeToString,
        response_deserializer=pb.SubscribeResponse.FromString,
    )
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        list(stream(pb.SubscribeRequest(from_seq=size), timeout=0.3))
    assert 0.25 < time.monotonic() - started < 5
    error = rpc_error(caught.value)
    assert (error.code, error.category, error.retryable) == (
        ErrorCode.DEADLINE_EXCEEDED,
        Category.NETWORK_TRANSIENT,
        True,
    )


def test_an_append_past_its_deadline_is_retryable_and_stays_idempotent(tmp_path: Path) -> None:
    process = DaemonProcess(tmp_path / "data").start()
    try:
        events = [Event.from_envelope(sample_run(1000 + i)) for i in range(3000)]
        hurried = RetryPolicy(max_attempts=1, call_timeout_s=0.01)
        with (
            LedgerClient(process.address, retry=hurried) as client,
            pytest.raises(LedgerError) as caught,
        ):
            client.append_batch(events)
        assert caught.value.code == ErrorCode.DEADLINE_EXCEEDED
        assert caught.value.retryable is True
        with LedgerClient(process.address) as client:
            outcome = client.append_batch(events)
            # All or nothing: either the timed-out commit had begun and every event is
            # a duplicate now, or it was dropped and every event is new.
            assert len({r.duplicate for r in outcome.results}) == 1
            assert [r.seq for r in outcome.results] == list(range(1, 3001))
            assert outcome.tree_size == 3001
            assert client.checkpoint().tree_size == 3001
            # Reading those 3001 entries (some 5 MB) cannot finish within 10 ms.
            with pytest.raises(LedgerError) as caught:
                list(client.read(timeout_s=0.01))
        error = caught.value
        assert error.code == ErrorCode.DEADLINE_EXCEEDED
        assert error.category is Category.NETWORK_TRANSIENT
        assert error.retryable is True
        assert dict(error.details) == {"grpc_status": "DEADLINE_EXCEEDED"}
    finally:
        process.kill()


def _unreachable() -> str:
    return f"127.0.0.1:{free_port()}"


def test_an_unreachable_server_is_unavailable_after_the_retries() -> None:
    policy = RetryPolicy(
        max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05, call_timeout_s=2.0
    )
    started = time.monotonic()
    with LedgerClient(_unreachable(), retry=policy) as client, pytest.raises(LedgerError) as caught:
        client.checkpoint()
    assert time.monotonic() - started < 10
    error = caught.value
    assert error.code == ErrorCode.SERVER_UNAVAILABLE
    assert error.category is Category.NETWORK_TRANSIENT
    assert error.retryable is True
    assert dict(error.details) == {"grpc_status": "UNAVAILABLE"}


def test_an_unreachable_server_ends_a_subscription_after_the_retries() -> None:
    policy = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02)
    with LedgerClient(_unreachable(), retry=policy) as client, pytest.raises(LedgerError) as caught:
        next(iter(client.subscribe(0)))
    assert caught.value.code == ErrorCode.SERVER_UNAVAILABLE


def test_unknown_method_is_a_protocol_error(raw: Raw) -> None:
    stub = raw.channel.unary_unary(
        "/ledger.v1.Ledger/Delete", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub(b"", timeout=5)
    error = rpc_error(caught.value)
    assert (error.code, error.category) == (ErrorCode.PROTOCOL_ERROR, Category.NETWORK_PERMANENT)
