"""The sample events used by the demo, benchmarks and tests are valid and deterministic."""

from __future__ import annotations

import uuid

from ledger.model import encode_envelope, prepare_event
from ledger.samples import sample_events, sample_run, sample_uuid7


def test_sample_runs_stay_valid_across_midnight() -> None:
    for index in (86_339, 86_340, 86_399, 172_800):
        prepare_event(sample_run(index))


def test_samples_are_deterministic_and_ids_unique() -> None:
    first, second = sample_events(50), sample_events(50)
    assert [encode_envelope(e) for e in first] == [encode_envelope(e) for e in second]
    assert len({e.event_id for e in first}) == 50


def test_sample_run_ids_are_uuid7() -> None:
    assert uuid.UUID(sample_uuid7(12)).version == 7
    assert sample_uuid7(12) != sample_uuid7(13)
