"""The openlineage export: one valid OpenLineage 2-0-2 RunEvent per run record, JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contract_kinds.exports import (
    CHECKPOINT,
    FAILED_RUN,
    SKIPPED_RUN,
    SUCCESS_RUN,
    edge_log,
    run_entry,
)
from gate.exports.openlineage import RUN_EVENT_SCHEMA_URL, render_openlineage, run_event
from gate.snapshot import Snapshot
from gate_snapshots import GATE_RUN, HEALER_RUN, SUBJECT, snapshot_of, story_log
from schemas import openlineage_event_validator, openlineage_validator


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return story_log(tmp_path_factory.mktemp("story") / "data")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return edge_log(tmp_path_factory.mktemp("edge") / "data")


def _problems(event: dict[str, Any]) -> list[str]:
    """Every schema error of the event, its run facets and its dataset facets."""
    found = [e.message for e in openlineage_event_validator().iter_errors(event)]
    found += [e.message for e in openlineage_validator(RUN_EVENT_SCHEMA_URL).iter_errors(event)]
    facets = list(event["run"]["facets"].values())
    for dataset in event["inputs"] + event["outputs"]:
        facets += list(dataset["facets"].values())
    for facet in facets:
        found += [e.message for e in openlineage_validator(facet["_schemaURL"]).iter_errors(facet)]
    return found


def _events(snapshot: Snapshot) -> list[dict[str, Any]]:
    data = render_openlineage(snapshot)
    lines = data.decode("utf-8").split("\n")
    assert lines[-1] == ""
    events = [json.loads(line) for line in lines[:-1]]
    assert len(events) == len(snapshot.runs)
    for event in events:
        assert _problems(event) == []
    return events


def test_one_valid_event_per_run_in_log_order(story: Path) -> None:
    snapshot = snapshot_of(story, "all", None)
    events = _events(snapshot)
    assert [e["run"]["runId"] for e in events] == [r.run_id for r in snapshot.runs]
    assert b" " not in render_openlineage(snapshot).split(b"\n")[0][:40]


def test_an_event_carries_its_run(story: Path) -> None:
    snapshot = snapshot_of(story, "all", None)
    entry = snapshot.run(HEALER_RUN)
    assert entry is not None
    event = next(e for e in _events(snapshot) if e["run"]["runId"] == HEALER_RUN)
    assert list(event) == [
        "eventType",
        "eventTime",
        "run",
        "job",
        "inputs",
        "outputs",
        "producer",
        "schemaURL",
    ]
    assert event["eventType"] == "COMPLETE"
    assert event["eventTime"] == entry.record["ended_at"]
    assert event["job"] == {"namespace": "healer", "name": "healer"}
    assert event["producer"] == "pkg:generic/ledgerd@0.1.0"
    assert (
        event["schemaURL"] == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    )
    assert [
        (d["namespace"], d["name"], d["facets"]["ledgerd_file"]["sha256"]) for d in event["inputs"]
    ] == [
        ("file", "src/app.py", "a" * 64),
        ("file", "tests/test_app.py", "b" * 64),
    ]
    assert [(d["name"], d["facets"]["ledgerd_file"]["sha256"]) for d in event["outputs"]] == [
        ("src/app.py", "c" * 64)
    ]
    facet = event["run"]["facets"]["ledgerd_run"]
    assert facet["seq"] == entry.seq
    assert facet["eventId"] == entry.event_id
    assert facet["runStatus"] == "PARTIAL"
    assert facet["healReason"] == "test_failed"
    assert facet["exitCode"] == 1
    assert facet["gitHead"] == entry.record["git_head"]
    assert facet["checkpoint"] == {
        "origin": None,
        "treeSize": snapshot.checkpoint.tree_size,
        "rootHash": snapshot.checkpoint.root_hash,
    }
    assert event["run"]["facets"]["tags"]["tags"] == [
        {"key": "ledgerd.agent", "value": "healer", "source": "LEDGERD"},
        {"key": "ledgerd.run_status", "value": "PARTIAL", "source": "LEDGERD"},
        {"key": "ledgerd.mode", "value": "strict", "source": "LEDGERD"},
        {"key": "ledgerd.heal_reason", "value": "test_failed", "source": "LEDGERD"},
    ]


def test_run_statuses_become_event_types(edge: Path) -> None:
    events = {e["run"]["runId"]: e for e in _events(snapshot_of(edge, "all", None))}
    assert events[FAILED_RUN]["eventType"] == "FAIL"
    assert events[SKIPPED_RUN]["eventType"] == "ABORT"
    assert events[SUCCESS_RUN]["eventType"] == "COMPLETE"
    assert events[SKIPPED_RUN]["outputs"] == []
    assert events[SKIPPED_RUN]["run"]["facets"]["ledgerd_run"]["gitHead"] is None
    assert events[FAILED_RUN]["run"]["facets"]["ledgerd_run"]["exitCode"] == -1
    assert events[FAILED_RUN]["inputs"][0]["name"] == "src/a b.py"


def test_a_run_scope_has_one_event_and_a_scope_without_runs_none(story: Path) -> None:
    (event,) = _events(snapshot_of(story, "run", GATE_RUN))
    assert event["run"]["runId"] == GATE_RUN
    assert render_openlineage(snapshot_of(story, "subject", "nobody")) == b""


def test_a_subject_named_by_the_record_becomes_a_tag(story: Path) -> None:
    entry = snapshot_of(story, "run", GATE_RUN).runs[0]
    position = {
        "seq": entry.seq,
        "event_id": entry.event_id,
        "recorded_at": entry.recorded_at,
        "producer": entry.producer,
    }
    record = {k: v for k, v in entry.record.items() if k != "subject"}
    without = run_event(run_entry(record, position), CHECKPOINT)
    with_subject = run_event(run_entry({**record, "subject": SUBJECT}, position), CHECKPOINT)
    assert [t["key"] for t in without["run"]["facets"]["tags"]["tags"]] == [
        "ledgerd.agent",
        "ledgerd.run_status",
        "ledgerd.mode",
    ]
    assert with_subject["run"]["facets"]["tags"]["tags"][-1] == {
        "key": "ledgerd.subject",
        "value": SUBJECT,
        "source": "LEDGERD",
    }
    assert _problems(without) == _problems(with_subject) == []


def test_the_validators_are_not_vacuous(story: Path) -> None:
    (event,) = _events(snapshot_of(story, "run", GATE_RUN))
    broken = json.loads(json.dumps(event))
    broken["eventTime"] = "2026-13-01T00:00:00Z"
    broken["producer"] = "not a uri"
    broken["run"]["runId"] = "not-a-uuid"
    broken["eventType"] = "DONE"
    messages = [e.message for e in openlineage_validator(RUN_EVENT_SCHEMA_URL).iter_errors(broken)]
    assert any("is not a 'date-time'" in m for m in messages)
    assert any("is not a 'uri'" in m for m in messages)
    assert any("is not a 'uuid'" in m for m in messages)
    assert any("'DONE' is not one of" in m for m in messages)
    facets = broken["run"]["facets"]
    facets["ledgerd_run"]["runStatus"] = "DONE"
    del facets["tags"]["_producer"]
    facets["tags"]["tags"][0].pop("value")
    assert _problems(broken)
    assert list(
        openlineage_validator(facets["ledgerd_run"]["_schemaURL"]).iter_errors(
            facets["ledgerd_run"]
        )
    )
    assert (
        len(list(openlineage_validator(facets["tags"]["_schemaURL"]).iter_errors(facets["tags"])))
        == 2
    )
    dataset = broken["outputs"][0]["facets"]["ledgerd_file"]
    dataset["sha256"] = "A" * 64
    assert list(openlineage_validator(dataset["_schemaURL"]).iter_errors(dataset))
