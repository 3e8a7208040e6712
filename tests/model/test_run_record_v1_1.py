"""RunRecord v1.1: 1.0 plus the run's subject, registered beside 1.0, which stays as it was.

The contract cases (fields, rules, the unique run id across versions) are in
specs/run-record-v1.md; here is what they do not show: how the versions relate in the
registry, the canonical encoding of a 1.1 record, and that 1.0 records decode and
encode exactly as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.errors import ErrorCode, InvalidInput
from ledger.model import (
    RunRecordV1,
    RunRecordV1_1,
    decode_envelope,
    encode_envelope,
    prepare_json,
    schema_for,
)
from lifecycle_events import run_recorded, uuid_for

V1_FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "events-v1.0.jsonl"


def test_both_versions_are_registered_with_one_run_id_constraint() -> None:
    old, new = schema_for("run.recorded", "1.0"), schema_for("run.recorded", "1.1")
    assert (old.payload, new.payload) == (RunRecordV1, RunRecordV1_1)
    assert issubclass(RunRecordV1_1, RunRecordV1)
    assert old.unique is not None
    assert new.unique is old.unique
    run_id = uuid_for("one")
    assert old.unique.key(run_recorded(run_id).data) == f"run_id:{run_id}"
    assert new.unique.key(run_recorded(run_id, subject="pr-7").data) == f"run_id:{run_id}"


def test_an_unknown_version_names_both_known_ones() -> None:
    with pytest.raises(InvalidInput) as raised:
        schema_for("run.recorded", "1.2")
    assert raised.value.code is ErrorCode.UNKNOWN_SCHEMA_VERSION
    assert raised.value.hint == "known versions of run.recorded: 1.0, 1.1"


def test_a_1_1_record_encodes_the_subject_last_and_round_trips() -> None:
    envelope = run_recorded(uuid_for("healing"), subject="pr-7", heal_reason="stuck")
    assert envelope.schema_version == "1.1"
    canonical = encode_envelope(envelope)
    data = json.loads(canonical)["data"]
    assert list(data)[-3:] == ["heal_reason", "notes", "subject"]
    assert data["subject"] == "pr-7"
    back = decode_envelope(canonical)
    assert back == envelope
    assert isinstance(back.data, RunRecordV1_1)
    assert prepare_json(canonical).canonical == canonical


def test_1_0_records_are_untouched_by_the_new_version() -> None:
    plain = run_recorded(uuid_for("plain"))
    assert plain.schema_version == "1.0"
    assert type(plain.data) is RunRecordV1
    assert "subject" not in json.loads(encode_envelope(plain))["data"]
    for line in V1_FIXTURE.read_bytes().splitlines():
        envelope = decode_envelope(line)
        if envelope.type == "run.recorded":
            assert type(envelope.data) is RunRecordV1
            assert "subject" not in json.loads(encode_envelope(envelope))["data"]
