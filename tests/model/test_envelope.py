"""Envelope decoding: strictness, and errors that name the field and the rule."""

from __future__ import annotations

import json
import sys
from types import FrameType
from typing import Any

import msgspec
import pytest

from ledger.errors import ErrorCode, InvalidInput
from ledger.model import (
    GENESIS_PREV,
    content_digest,
    decode_envelope,
    decode_leaf,
    encode_envelope,
    encode_leaf,
    envelope_from_object,
    prepare_event,
    prepare_json,
)
from ledger.model.envelope import MAX_EVENT_BYTES, decode_payload
from ledger.samples import sample_finding, sample_run


def _object(envelope: Any) -> dict[str, Any]:
    return json.loads(encode_envelope(envelope))


def _error(obj: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        envelope_from_object(obj)  # type: ignore[arg-type]
    return caught.value


def test_round_trip_is_identity() -> None:
    for envelope in (sample_run(3), sample_finding(5)):
        assert decode_envelope(encode_envelope(envelope)) == envelope


def test_key_order_does_not_change_content() -> None:
    obj = _object(sample_run(1))
    shuffled = dict(reversed(list(obj.items())))
    shuffled["data"] = dict(reversed(list(obj["data"].items())))
    assert content_digest(envelope_from_object(shuffled)) == content_digest(sample_run(1))
    assert encode_envelope(envelope_from_object(shuffled)) == encode_envelope(sample_run(1))


def test_errors_name_the_nested_field() -> None:
    obj = _object(sample_run(1))
    obj["data"]["input_files"][1]["sha256"] = "ABC"
    error = _error(obj)
    assert error.code is ErrorCode.INVALID_EVENT
    assert error.details["field"] == "$.data.input_files[1].sha256"
    assert "$.data.input_files[1].sha256" in error.message


def test_unknown_fields_are_refused_at_both_levels() -> None:
    obj = _object(sample_finding(1))
    obj["extra"] = 1
    assert "unknown field `extra`" in _error(obj).message
    obj = _object(sample_finding(1))
    obj["data"]["extra"] = 1
    error = _error(obj)
    assert error.details["field"] == "$.data.extra"
    assert "`extra`" in error.message


def test_unknown_type_and_unknown_version_are_invalid_input() -> None:
    obj = _object(sample_finding(1))
    obj["type"] = "finding.deleted"
    assert _error(obj).code is ErrorCode.UNKNOWN_EVENT_TYPE
    obj = _object(sample_finding(1))
    obj["schema_version"] = "9.0"
    error = _error(obj)
    assert error.code is ErrorCode.UNKNOWN_SCHEMA_VERSION
    assert "1.0" in error.hint


def test_cross_field_rules_explain_themselves() -> None:
    obj = _object(sample_run(1))
    obj["data"]["ended_at"] = "2025-01-01T00:00:00Z"
    assert "`ended_at` must not be before `started_at`" in _error(obj).message
    obj = _object(sample_run(1))
    obj["data"]["input_context_sha"] = "0" * 64
    assert "input_context_sha" in _error(obj).message
    obj = _object(sample_run(1))
    obj["data"]["mode"] = "best_effort"
    assert "`best_effort` metadata is required" in _error(obj).message


def test_impossible_dates_are_refused() -> None:
    obj = _object(sample_finding(1))
    obj["occurred_at"] = "2026-02-30T00:00:00Z"
    assert "occurred_at" in _error(obj).message


def test_not_json_and_too_large_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_envelope(b'{"event_id": ')
    assert caught.value.code is ErrorCode.INVALID_JSON
    with pytest.raises(InvalidInput) as large:
        decode_envelope(b" " * (MAX_EVENT_BYTES + 1))
    assert "limit" in large.value.message


def test_python_built_envelopes_are_rechecked() -> None:
    bad = msgspec.structs.replace(sample_finding(1), producer="has space")
    with pytest.raises(InvalidInput) as caught:
        prepare_event(bad)
    assert caught.value.details["field"] == "$.producer"


def test_json_shaped_objects_only() -> None:
    assert _error({"event_id": object()}).code is ErrorCode.INVALID_EVENT


def test_unknown_and_missing_fields_are_named_in_the_field_path() -> None:
    obj = _object(sample_finding(1))
    obj["data"]["colour"] = "blue"
    assert _error(obj).details["field"] == "$.data.colour"
    obj = _object(sample_finding(1))
    del obj["producer"]
    assert _error(obj).details["field"] == "$.producer"


# JSON nested deeper than the decoder follows -----------------------------------------------

_DEEP = 10_000


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _with_deep_data(base: bytes, depth: int = _DEEP) -> bytes:
    """`base` (an object ending in its `data` member) with `data` replaced by deep arrays."""
    head, found, _ = base.rpartition(b'"data":')
    assert found, base
    return head + b'"data":' + _nested(depth) + b"}"


def _assert_too_deep(error: InvalidInput, field: str | None) -> None:
    assert error.code is ErrorCode.INVALID_JSON
    assert error.message == "event is not valid JSON: nested too deeply"
    assert error.hint
    assert error.details.get("field") == field


@pytest.mark.parametrize("depth", [_DEEP, 100_000])
def test_deeply_nested_json_is_invalid_json_not_a_crash(depth: int) -> None:
    raw = _with_deep_data(encode_envelope(sample_run(1)), depth)
    with pytest.raises(InvalidInput) as caught:
        decode_envelope(raw)
    _assert_too_deep(caught.value, None)
    with pytest.raises(InvalidInput) as prepared:
        prepare_json(raw)
    _assert_too_deep(prepared.value, None)


def test_deeply_nested_objects_are_refused_by_envelope_from_object() -> None:
    deep: list[Any] = []
    for _ in range(_DEEP):
        deep = [deep]
    obj = _object(sample_finding(1))
    obj["data"] = deep
    _assert_too_deep(_error(obj), None)


def test_deeply_nested_leaf_bytes_are_invalid_json_not_a_crash() -> None:
    leaf = encode_leaf(0, GENESIS_PREV, "2026-01-01T12:00:00Z", sample_run(1))
    assert decode_leaf(leaf).envelope == sample_run(1)
    with pytest.raises(InvalidInput) as caught:
        decode_leaf(_with_deep_data(leaf))
    _assert_too_deep(caught.value, None)


def _python_frames() -> int:
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def test_decode_payload_refuses_what_it_cannot_follow_near_the_recursion_limit() -> None:
    """A typed payload cannot itself nest deeply, but the depth msgspec follows is what is
    left of the interpreter's recursion limit: called with little stack to spare, the
    decoder runs out, and that must be the classified error, never a RecursionError."""
    envelope = sample_run(1)
    raw = msgspec.json.encode(envelope.data)
    outcomes: list[str] = []
    # The interpreter's depth also counts C calls in progress, so it is a little more than
    # the Python frames: limits below it are refused by setrecursionlimit and skipped.
    start = _python_frames()
    for limit in range(start, start + 120):
        saved = sys.getrecursionlimit()
        try:
            sys.setrecursionlimit(limit)
        except RecursionError:
            continue
        try:
            decode_payload(envelope.type, envelope.schema_version, raw)
            failure: BaseException | None = None
        except (InvalidInput, RecursionError) as exc:
            failure = exc
        finally:
            sys.setrecursionlimit(saved)
        if isinstance(failure, InvalidInput):
            _assert_too_deep(failure, "$.data")
            outcomes.append("refused")
        elif failure is not None:
            # Too little stack even to reach the decoder: that RecursionError is this
            # test's own doing (in the schema lookup before it), not the decoder's.
            assert "refused" not in outcomes, "a RecursionError escaped with more stack to spare"
            outcomes.append("no stack")
        else:
            outcomes.append("decoded")
    assert "refused" in outcomes
    assert outcomes[-1] == "decoded"
