"""The Projections service's own edges over gRPC: freshness, status, bad requests."""

from __future__ import annotations

import time

import grpc
import pytest

from clients import Event, LedgerClient, RetryPolicy
from ledger.errors import ErrorCode, InvalidInput, LedgerError, NetworkTransient
from lifecycle_events import finding_reported

SUBJECT = "github.com/acme/app/pull/7"
_NO_RETRY_SHORT = RetryPolicy(max_attempts=1, call_timeout_s=1.0, overall_deadline_s=1.0)


def _append_finding(client: LedgerClient, finding_id: str) -> int:
    event = Event.from_envelope(finding_reported(finding_id, subject=SUBJECT))
    return client.append(event).seq


def test_a_query_reflects_the_append_it_names(client: LedgerClient) -> None:
    seq = _append_finding(client, "F-1")
    verdict = client.projections.verdict(SUBJECT, min_seq=seq)
    assert verdict["log_position"] > seq
    assert [f["finding_id"] for f in verdict["findings"]["open"]] == ["F-1"]


def test_min_seq_beyond_the_log_ends_in_projection_behind(daemon: object) -> None:
    address = daemon.address  # type: ignore[attr-defined]
    with LedgerClient(address, retry=_NO_RETRY_SHORT) as impatient:
        started = time.monotonic()
        with pytest.raises(NetworkTransient) as raised:
            impatient.projections.verdict(SUBJECT, min_seq=10_000)
        waited = time.monotonic() - started
    assert raised.value.code is ErrorCode.PROJECTION_BEHIND
    assert raised.value.retryable
    assert raised.value.details["min_seq"] == 10_000
    # It waited for the event, up to the call's deadline, not for ever.
    assert waited < 10


def test_allow_stale_answers_at_once_and_says_where_it_stands(client: LedgerClient) -> None:
    document = client.projections.verdict(SUBJECT, allow_stale=True)
    assert document["log_position"] >= 0
    assert document["known"] is False


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.projections.verdict(SUBJECT, min_seq=-1), "min_seq"),
        (lambda c: c.projections.verdict("two\nlines"), "subject"),
        (lambda c: c.projections.findings(statuses=["closed"]), "status"),
        (lambda c: c.projections.runs(limit=100_000), "limit"),
        (lambda c: c.projections.history("findings/pr-7", as_of=99_999), None),
    ],
)
def test_bad_arguments_are_invalid_and_change_nothing(
    client: LedgerClient, call: object, field: str | None
) -> None:
    before = [s.digest for s in client.projections.status()]
    with pytest.raises(InvalidInput) as raised:
        call(client)  # type: ignore[operator]
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    if field is not None:
        assert raised.value.details["field"] == field
    assert [s.digest for s in client.projections.status()] == before


def test_an_evaluation_time_without_a_timezone_is_refused(client: LedgerClient) -> None:
    channel = grpc.insecure_channel(client.target)
    from ledger.v1 import projections_pb2 as pb

    call = channel.unary_unary(
        "/ledger.v1.Projections/GetVerdict",
        request_serializer=pb.GetVerdictRequest.SerializeToString,
        response_deserializer=pb.ViewResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as raised:
        call(pb.GetVerdictRequest(subject=SUBJECT, evaluated_at="2026-03-01T12:00:00"), timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    channel.close()


def test_status_without_digests_skips_only_the_digests(client: LedgerClient) -> None:
    _append_finding(client, "F-2")
    client.projections.verdict(SUBJECT)
    full = client.projections.status()
    light = client.projections.status(digests=False)
    assert [s.digest for s in light] == ["", "", ""]
    assert all(len(s.digest) == 64 for s in full)
    assert [(s.name, s.position, s.rows) for s in light] == [
        (s.name, s.position, s.rows) for s in full
    ]


def test_bytes_that_are_not_the_request_are_invalid_request(client: LedgerClient) -> None:
    channel = grpc.insecure_channel(client.target)
    raw = channel.unary_unary("/ledger.v1.Projections/GetVerdict")
    with pytest.raises(grpc.RpcError) as raised:
        raw(b"\xff\xff\xff", timeout=10)
    channel.close()
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    from clients._calls import rpc_error

    error: LedgerError = rpc_error(raised.value)
    assert error.code is ErrorCode.INVALID_REQUEST


def test_a_naive_evaluation_time_is_refused_before_any_call() -> None:
    from datetime import datetime

    # No daemon listens here: the refusal must come before the call.
    with (
        LedgerClient("127.0.0.1:9", retry=_NO_RETRY_SHORT) as nowhere,
        pytest.raises(InvalidInput) as raised,
    ):
        nowhere.projections.verdict(SUBJECT, at=datetime(2026, 3, 1, 12))
    assert raised.value.details["field"] == "at"
