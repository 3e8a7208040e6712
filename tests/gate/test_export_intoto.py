"""The intoto export: an in-toto Statement v1 with SLSA provenance v1 per run record."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from contract_kinds.exports import FAILED_RUN, SKIPPED_RUN, edge_log
from gate.exports.intoto import record_digest, render_intoto
from gate.snapshot import Snapshot
from gate_snapshots import GATE_RUN, HEALER_RUN, snapshot_of, story_log
from schemas import intoto_problems


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return story_log(tmp_path_factory.mktemp("story") / "data")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return edge_log(tmp_path_factory.mktemp("edge") / "data")


def _statements(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    lines = render_intoto(snapshot).decode("utf-8").split("\n")
    assert lines[-1] == ""
    statements = [json.loads(line) for line in lines[:-1]]
    for statement in statements:
        assert intoto_problems(statement) == []
    invocations = [s["predicate"]["runDetails"]["metadata"]["invocationId"] for s in statements]
    assert invocations == [run.run_id for run in snapshot.runs]
    return dict(zip(invocations, statements, strict=True))


def test_a_statement_describes_its_run(story: Path) -> None:
    snapshot = snapshot_of(story, "all", None)
    statement = _statements(snapshot)[HEALER_RUN]
    entry = snapshot.run(HEALER_RUN)
    assert entry is not None
    record = entry.record
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"] == [{"name": "src/app.py", "digest": {"sha256": "c" * 64}}]
    build = statement["predicate"]["buildDefinition"]
    assert build["buildType"] == "urn:ledgerd:buildtype:run-record:v1"
    assert build["externalParameters"] == {
        "agent_name": "healer",
        "mode": "strict",
        "best_effort": None,
        "status_before": "failing",
        "input_refs": [],
    }
    assert build["internalParameters"] == {
        "config_fingerprint": record["config_fingerprint"],
        "input_context_sha": record["input_context_sha"],
    }
    assert build["resolvedDependencies"] == [
        {"name": "src/app.py", "digest": {"sha256": "a" * 64}},
        {"name": "tests/test_app.py", "digest": {"sha256": "b" * 64}},
        {"name": "git_head", "digest": {"gitCommit": record["git_head"]}},
    ]
    details = statement["predicate"]["runDetails"]
    assert details["builder"] == {"id": "urn:ledgerd:producer:healer"}
    assert details["metadata"] == {
        "invocationId": HEALER_RUN,
        "startedOn": record["started_at"],
        "finishedOn": record["ended_at"],
    }
    (byproduct,) = details["byproducts"]
    assert byproduct["name"] == f"run.recorded/{HEALER_RUN}"
    assert byproduct["digest"] == {"sha256": record_digest(record)}
    assert byproduct["mediaType"] == "application/json"
    assert byproduct["annotations"] == {
        "seq": entry.seq,
        "event_id": entry.event_id,
        "recorded_at": entry.recorded_at,
        "producer": "healer",
        "run_status": "PARTIAL",
        "status_after": "failing",
        "exit_code": 1,
        "heal_reason": "test_failed",
        "output_refs": [],
        "checkpoint": snapshot.checkpoint.to_json(),
    }


def test_the_record_digest_is_of_the_canonical_json(story: Path) -> None:
    record = dict(snapshot_of(story, "run", GATE_RUN).runs[0].record)
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert record_digest(record) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    shuffled = dict(reversed(list(record.items())))
    assert record_digest(shuffled) == record_digest(record)
    changed = {**record, "notes": "é"}
    assert record_digest(changed) != record_digest(record)


def test_a_run_scope_is_one_json_document(story: Path) -> None:
    snapshot = snapshot_of(story, "run", GATE_RUN)
    data = render_intoto(snapshot)
    assert data.count(b"\n") == 1
    assert data.endswith(b"\n")
    statement = json.loads(data)
    assert intoto_problems(statement) == []
    assert statement["predicate"]["runDetails"]["metadata"]["invocationId"] == GATE_RUN


def test_a_run_without_outputs_attests_its_record(edge: Path) -> None:
    snapshot = snapshot_of(edge, "all", None)
    statements = _statements(snapshot)
    entry = snapshot.run(SKIPPED_RUN)
    assert entry is not None
    skipped = statements[SKIPPED_RUN]
    name = f"run.recorded/{SKIPPED_RUN}"
    assert skipped["subject"] == [{"name": name, "digest": {"sha256": record_digest(entry.record)}}]
    # No git head recorded: no git dependency.
    assert skipped["predicate"]["buildDefinition"]["resolvedDependencies"] == [
        {"name": item["path"], "digest": {"sha256": item["sha256"]}}
        for item in entry.record["input_files"]
    ]
    failed = statements[FAILED_RUN]
    assert failed["subject"] == [{"name": "dist/app.whl", "digest": {"sha256": "2" * 64}}]
    assert failed["predicate"]["buildDefinition"]["resolvedDependencies"][0]["name"] == "src/a b.py"


def test_a_scope_without_runs_is_an_empty_file(story: Path) -> None:
    assert render_intoto(snapshot_of(story, "subject", "nobody")) == b""


def _broken(statement: dict[str, Any], change) -> list[str]:
    copied = copy.deepcopy(statement)
    change(copied)
    return intoto_problems(copied)


def test_the_validator_is_not_vacuous(story: Path) -> None:
    (statement,) = _statements(snapshot_of(story, "run", GATE_RUN)).values()
    subject = "subject"
    build = "buildDefinition"
    cases = {
        "an empty subject list": lambda s: s.update(subject=[]),
        "a subject without a digest": lambda s: s[subject][0].pop("digest"),
        "an upper-case digest": lambda s: s[subject][0]["digest"].update(sha256="A" * 64),
        "a short digest": lambda s: s[subject][0]["digest"].update(sha256="a" * 63),
        "an unknown field in a descriptor": lambda s: s[subject][0].update(path="x"),
        "a dependency with neither uri, digest nor content": lambda s: s["predicate"][build][
            "resolvedDependencies"
        ][0].pop("digest"),
        "another statement type": lambda s: s.update(_type="https://in-toto.io/Statement/v0.1"),
        "a missing build type": lambda s: s["predicate"][build].pop("buildType"),
        "a build type that is no URI": lambda s: s["predicate"][build].update(
            buildType="run record"
        ),
        "missing external parameters": lambda s: s["predicate"][build].pop("externalParameters"),
        "a builder without an id": lambda s: s["predicate"]["runDetails"]["builder"].pop("id"),
        "a finish time that is no RFC 3339": lambda s: s["predicate"]["runDetails"][
            "metadata"
        ].update(finishedOn="2026-01-01 11:00:00"),
        "an unknown predicate field": lambda s: s["predicate"].update(extra=1),
        "a duplicate subject name": lambda s: s[subject].append(copy.deepcopy(s[subject][0])),
    }
    for name, change in cases.items():
        assert _broken(statement, change), name
