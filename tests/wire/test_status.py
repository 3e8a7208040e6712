"""`ledger.wire.status`: LedgerError <-> gRPC status, and trailers that always fit."""

from __future__ import annotations

import base64

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from ledger.errors import CODE_CATEGORY, ERROR_CLASSES, ErrorCode, InvalidInput
from ledger.wire.status import (
    DETAILS_KEY,
    MAX_DETAILS_BYTES,
    MAX_HINT_BYTES,
    MAX_MESSAGE_BYTES,
    clip,
    error_from_status,
    status_code_for,
    status_details,
    wire_message,
)

# What gRPC refuses outright (the hard limit); the soft limit (8 KiB) starts dropping.
SOFT_LIMIT = 8 << 10


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("eleven char", 10, "eleven \u2026"),  # the ellipsis takes 3 bytes
        ("ééééé", 7, "éé\u2026"),  # 2-byte characters are never split
        ("€€€", 6, "€\u2026"),
        ("€€€", 5, "\u2026"),
        ("", 3, ""),
    ],
)
def test_clip_bounds_utf8_bytes(text: str, limit: int, expected: str) -> None:
    clipped = clip(text, limit)
    assert clipped == expected
    assert len(clipped.encode()) <= limit


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_round_trips_through_the_trailer(code: ErrorCode) -> None:
    error = ERROR_CLASSES[CODE_CATEGORY[code]](
        code, "what went wrong", hint="what to do", details={"seq": 3, "stream": "s"}
    )
    status = status_code_for(error)
    back = error_from_status(status, "what went wrong", [(DETAILS_KEY, status_details(error))])
    assert type(back) is type(error)
    assert (back.code, back.message, back.hint, dict(back.details)) == (
        code,
        "what went wrong",
        "what to do",
        {"seq": 3, "stream": "s"},
    )


def test_a_huge_error_still_fits_in_a_trailer() -> None:
    error = InvalidInput(
        ErrorCode.INVALID_EVENT,
        "invalid enum value '" + "Q" * 100_000 + "'",
        hint="h" * 10_000,
        details={
            "field": "$." + "x" * 10_000,
            "batch_index": 7,
            "many": list(range(5_000)),
        },
    )
    blob = status_details(error)
    message = wire_message(error)
    # grpc-message is percent-encoded, -bin trailers base64: both together stay far below 8 KiB.
    assert len(message.encode()) <= MAX_MESSAGE_BYTES
    assert 3 * len(message.encode()) + len(base64.b64encode(blob)) < SOFT_LIMIT
    status = status_pb2.Status.FromString(blob)
    assert status.message == message
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "INVALID_EVENT"
    assert len(info.metadata["hint"].encode()) <= MAX_HINT_BYTES
    assert len(info.metadata["details"].encode()) <= MAX_DETAILS_BYTES
    back = error_from_status(grpc.StatusCode.INVALID_ARGUMENT, message, [(DETAILS_KEY, blob)])
    assert back.code is ErrorCode.INVALID_EVENT
    # Small details survive whole; a long string is clipped; what cannot fit is left out.
    assert back.details["batch_index"] == 7
    assert str(back.details["field"]).startswith("$.xxx")
    assert str(back.details["field"]).endswith("\u2026")
    assert "many" not in back.details


def test_a_small_error_is_sent_unchanged() -> None:
    error = InvalidInput(
        ErrorCode.NOT_FOUND, "no event with id 'run-9'", hint="check the id", details={}
    )
    assert wire_message(error) == error.message
    status = status_pb2.Status.FromString(status_details(error))
    assert (status.code, status.message) == (grpc.StatusCode.NOT_FOUND.value[0], error.message)


@pytest.mark.parametrize(
    "trailers",
    [
        [],
        [(DETAILS_KEY, b"\xff not a status")],
        [(DETAILS_KEY, status_pb2.Status(code=5, message="m").SerializeToString())],
        [("other-key", b"x")],
    ],
)
def test_a_status_without_ledgerd_details_is_classified_by_its_code(
    trailers: list[tuple[str, bytes]],
) -> None:
    error = error_from_status(grpc.StatusCode.UNAVAILABLE, "gone", trailers)
    assert (error.code, error.retryable) == (ErrorCode.SERVER_UNAVAILABLE, True)
    error = error_from_status(grpc.StatusCode.INTERNAL, "boom", trailers)
    assert error.code is ErrorCode.PROTOCOL_ERROR
