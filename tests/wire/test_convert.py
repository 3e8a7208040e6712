"""`ledger.wire.convert`: what a proto Event becomes, and how stored leaves go out."""

from __future__ import annotations

import json

import msgspec
import pytest

from clients.event import Event
from ledger.errors import ErrorCode, InvalidInput, VerificationFailed
from ledger.model import encode_envelope, prepare_event, prepare_json
from ledger.samples import sample_run
from ledger.tree.hashing import leaf_hash
from ledger.v1 import ledger_pb2 as pb
from ledger.wire.convert import event_json, log_entry


def proto_event(**changes: str) -> pb.Event:
    event = Event.from_envelope(sample_run(1)).to_proto()
    for name, value in changes.items():
        setattr(event, name, value)
    return event


def test_an_event_becomes_the_envelope_it_stands_for() -> None:
    prepared = prepare_json(event_json(proto_event()))
    expected = prepare_event(sample_run(1))
    assert prepared.canonical == expected.canonical == encode_envelope(sample_run(1))


def test_data_json_is_spliced_verbatim_and_correlation_id_only_when_set() -> None:
    data = '{ "keep" : [1, 2.50, "é"] }'
    raw = event_json(proto_event(data_json=data, correlation_id=""))
    assert raw.endswith(b'"data":' + data.encode() + b"}")
    assert "correlation_id" not in json.loads(raw)
    assert json.loads(event_json(proto_event()))["correlation_id"] == "pipeline-0"


@pytest.mark.parametrize(
    "data_json",
    [
        '{}, "stream": "hijacked"',
        '{"a": 1}, "event_id": "other", "x": {}',
        "{} {}",
        "{",
        "[" * 50_000 + "]" * 50_000,
    ],
)
def test_data_json_must_be_exactly_one_json_value(data_json: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        event_json(proto_event(data_json=data_json))
    assert caught.value.code is ErrorCode.INVALID_JSON
    assert dict(caught.value.details) == {"field": "$.data"}


@pytest.mark.parametrize("data_json", ["", "   ", "\n"])
def test_empty_data_json_is_an_invalid_event(data_json: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        event_json(proto_event(data_json=data_json))
    assert caught.value.code is ErrorCode.INVALID_EVENT


def _leaf(seq: int) -> bytes:
    body = {
        "seq": seq,
        "prev": "0" * 64,
        "recorded_at": "2026-01-01T12:00:00.000000Z",
        **json.loads(encode_envelope(sample_run(1))),
    }
    return msgspec.json.encode(body)


def test_a_stored_leaf_goes_out_with_its_exact_bytes() -> None:
    leaf = _leaf(4)
    entry = log_entry(leaf, leaf_hash(leaf), seq=4)
    assert (entry.seq, entry.leaf, entry.leaf_hash) == (4, leaf, leaf_hash(leaf))
    assert Event.from_proto(entry.event) == Event.from_envelope(sample_run(1))


@pytest.mark.parametrize("leaf", [b"{not json", b"[]", b'{"seq": 1}', b""])
def test_a_leaf_that_does_not_parse_is_damage(leaf: bytes) -> None:
    with pytest.raises(VerificationFailed) as caught:
        log_entry(leaf, leaf_hash(leaf), seq=1)
    assert caught.value.code is ErrorCode.LEAF_UNREADABLE
    assert dict(caught.value.details) == {"seq": 1}


def test_a_leaf_stored_at_another_seq_is_damage() -> None:
    leaf = _leaf(4)
    with pytest.raises(VerificationFailed) as caught:
        log_entry(leaf, leaf_hash(leaf), seq=5)
    assert caught.value.code is ErrorCode.SEQ_MISMATCH
    assert dict(caught.value.details) == {"seq": 5}
