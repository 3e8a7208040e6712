"""Schema 1.0 events written by hand stay readable forever, in every field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ledger.model import FindingV1, RunRecordV1, decode_envelope, encode_envelope

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "events-v1.0.jsonl"


def _lines() -> list[bytes]:
    return [line for line in FIXTURE.read_bytes().splitlines() if line.strip()]


def test_every_v1_fixture_event_decodes() -> None:
    events = [decode_envelope(line) for line in _lines()]
    assert [e.type for e in events] == ["run.recorded", "finding.reported", "finding.reported"]
    run = events[0].data
    assert isinstance(run, RunRecordV1)
    assert run.mode == "best_effort"
    assert run.best_effort is not None
    assert run.best_effort.seeds == {"sampler": 1234}
    assert run.heal_reason == "max_iterations"
    finding = events[2].data
    assert isinstance(finding, FindingV1)
    assert finding.line is None


def test_the_fixture_input_context_sha_follows_the_documented_algorithm() -> None:
    record = json.loads(_lines()[0])["data"]
    digest = hashlib.sha256()
    for item in sorted(record["input_files"], key=lambda f: f["path"].encode()):
        digest.update(f"{item['path']}\0{item['sha256']}\n".encode())
    assert record["input_context_sha"] == digest.hexdigest()


def test_decoding_then_encoding_keeps_every_field_value() -> None:
    for line in _lines():
        original = json.loads(line)
        encoded = json.loads(encode_envelope(decode_envelope(line)))
        assert {k: encoded[k] for k in original} == original
        # The canonical form writes every field; omitted optional ones become null.
        assert {k: v for k, v in encoded.items() if k not in original} in (
            {},
            {"correlation_id": None},
        )
