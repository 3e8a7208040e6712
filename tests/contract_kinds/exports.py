"""Checkers of the `export_mapping` contract kind (specs/exports.md §7), and snapshot builders.

A case names a `mapping` and describes a finding, a run record or a cell value
as a few members over the block's `finding` / `run` bases; the checker renders
it with the real export code and compares what the spec says it becomes: a
SARIF result's level, fingerprint, location and suppressions (or its absence),
an OpenLineage eventType, an in-toto subject list, a CSV cell and field.

`snapshot_of_findings` and `run_entry` build snapshots and run entries without
a log, for the export tests that need shapes a real log makes slowly (thousands
of findings); `edge_log` writes a real log of the cases tests/gate_snapshots.py
lacks.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from gate.exports.csv_export import neutralise_cell, render_csv
from gate.exports.intoto import subjects_of
from gate.exports.openlineage import run_event
from gate.exports.sarif import render_sarif
from gate.snapshot import FINDING_GROUPS, CheckpointRef, Json, RunEntry, Snapshot
from ledger.clock import FixedClock
from ledger.model import Envelope
from ledger.store import AppendRequest, LmdbEventLog
from lifecycle_events import finding_reported, run_recorded, uuid_for, waiver_granted

CHECKPOINT = CheckpointRef(origin=None, tree_size=1, root_hash="0" * 64)
EVALUATED_AT = "2026-01-02T00:00:00.000000Z"


def verdict_document(subject: str, findings: Iterable[Json], template: Json | None = None) -> Json:
    """A verdict document for `subject` holding `findings` (grouped by their status).

    With a `template` (a real verdict document), every other member is the
    template's; without, only `subject` and `findings`, all the exports read.
    """
    groups: dict[str, list[Json]] = {group: [] for group in FINDING_GROUPS}
    for finding in sorted(findings, key=lambda f: f["finding_id"]):
        groups[finding["status"]].append(finding)
    document = copy.deepcopy(template) if template is not None else {}
    document.update(subject=subject, findings=groups)
    return document


def snapshot_of_findings(findings: Iterable[Json], *, template: Json | None = None) -> Snapshot:
    """A scope-`all` snapshot of `findings` (one verdict per subject), without runs."""
    by_subject: dict[str, list[Json]] = {}
    for finding in findings:
        by_subject.setdefault(finding["subject"], []).append(finding)
    return Snapshot(
        scope="all",
        scope_ref=None,
        checkpoint=CHECKPOINT,
        evaluated_at=EVALUATED_AT,
        verdicts=tuple(
            verdict_document(subject, items, template)
            for subject, items in sorted(by_subject.items())
        ),
        runs=(),
    )


def run_entry(record: Mapping[str, Any], entry: Mapping[str, Any]) -> RunEntry:
    """A `RunEntry` of `record` with the log position `entry` gives (seq, event_id, ...)."""
    return RunEntry(
        seq=entry["seq"],
        event_id=entry["event_id"],
        recorded_at=entry["recorded_at"],
        producer=entry["producer"],
        record=dict(record),
    )


EDGE_SUBJECT = "github.com/acme/app/pull/9"
FAILED_RUN = uuid_for("edge-failed-run")
SKIPPED_RUN = uuid_for("edge-skipped-run")
SUCCESS_RUN = uuid_for("edge-success-run")


def _bare(envelope: Envelope, event_id: str) -> Envelope:
    """`envelope`'s run record without output files and git head (the builders always add both)."""
    data = msgspec.structs.replace(envelope.data, output_files=[], git_head=None)
    return msgspec.structs.replace(envelope, data=data, event_id=event_id)


def edge_story() -> list[Envelope]:
    """Edge cases for exports, about `EDGE_SUBJECT`.

    A failed run (exit code -1) with a path needing URI escapes; a skipped run with no
    output files and no git head; a P2 finding whose only waiver has expired by
    `gate_snapshots.AT`; a file-level P3 finding whose texts start like spreadsheet
    formulas, in a file with a space and a non-ASCII letter; a P0 finding whose text
    has braces, a comma and quotes; a P1 security finding with two active waivers.
    """
    return [
        run_recorded(
            FAILED_RUN,
            agent="builder",
            status="FAILED",
            exit_code=-1,
            inputs={"src/a b.py": "1" * 64},
            outputs={"dist/app.whl": "2" * 64},
        ),
        _bare(run_recorded(SKIPPED_RUN, agent="builder", status="SKIPPED"), "run-skipped"),
        run_recorded(SUCCESS_RUN, agent="fixer-agent", heal_reason="ship"),
        finding_reported("F-EXPIRED", EDGE_SUBJECT, severity="P2", run_id=SUCCESS_RUN),
        waiver_granted("W-OLD", "F-EXPIRED", expiry="2026-01-01T12:30:00Z"),
        finding_reported(
            "F-FILE",
            EDGE_SUBJECT,
            severity="P3",
            file="docs/my file é.md",
            line=None,
            what='=HYPERLINK("http://evil.example")',
            why="+cmd|' /C calc'!A0",
            when="-1",
            proposed_fix="@SUM(1)",
            run_id=FAILED_RUN,
        ),
        finding_reported(
            "F-BRACES",
            EDGE_SUBJECT,
            severity="P0",
            what='{x} is, "quoted"',
            proposed_fix="",
            run_id=FAILED_RUN,
        ),
        finding_reported(
            "F-TWICE", EDGE_SUBJECT, severity="P1", category="security", run_id=SUCCESS_RUN
        ),
        waiver_granted("W-B", "F-TWICE", justification="accepted by {team} until March"),
        waiver_granted("W-A", "F-TWICE", owner="team-security"),
    ]


def edge_log(data_dir: Path) -> Path:
    """A data directory holding `edge_story()`, on the clock tests/gate_snapshots.py uses."""
    with LmdbEventLog(data_dir, clock=FixedClock(datetime(2026, 1, 1, 12, tzinfo=UTC))) as log:
        log.append([AppendRequest(envelope) for envelope in edge_story()])
    return data_dir


def _merged(base: Mapping[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**copy.deepcopy(dict(base)), **copy.deepcopy(dict(changes or {}))}


def _sarif_result(block: Json, c: Json) -> None:
    finding = _merged(block["finding"], c.get("finding"))
    document = json.loads(render_sarif(snapshot_of_findings([finding])))
    results = document["runs"][0]["results"]
    expect = c["expect"]
    if expect.get("omitted"):
        assert results == []
        return
    (result,) = results
    assert result["level"] == expect["level"]
    assert result["partialFingerprints"] == expect.get(
        "fingerprint", {"ledgerdFindingId/v1": finding["finding_id"]}
    )
    assert result.get("suppressions", []) == expect.get("suppressions", [])
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {
        "uri": expect.get("uri", finding["file"]),
        "uriBaseId": "%SRCROOT%",
    }
    assert physical.get("region", {}).get("startLine") == expect.get("start_line", finding["line"])
    if "message" in expect:
        assert result["message"]["text"] == expect["message"]


def _openlineage_event_type(block: Json, c: Json) -> None:
    record = _merged(block["run"], c.get("run"))
    event = run_event(run_entry(record, block["entry"]), CHECKPOINT)
    assert event["eventType"] == c["expect"]
    assert event["eventTime"] == record["ended_at"]


def _intoto_subjects(block: Json, c: Json) -> None:
    record = _merged(block["run"], c.get("run"))
    assert subjects_of(run_entry(record, block["entry"])) == c["expect"]


def _csv_cell(block: Json, c: Json) -> None:
    assert neutralise_cell(c["value"]) == c["expect"]
    if "field" in c:
        finding = _merged(block["finding"], {"what": c["value"]})
        table = render_csv(snapshot_of_findings([finding])).decode("utf-8")
        assert f",{c['field']}," in table, table


_MAPPINGS: dict[str, Callable[[Json, Json], None]] = {
    "sarif_result": _sarif_result,
    "openlineage_event_type": _openlineage_event_type,
    "intoto_subjects": _intoto_subjects,
    "csv_cell": _csv_cell,
}


def check_export_mapping(case: Any) -> None:
    _MAPPINGS[case.case["mapping"]](case.block, case.case)


CHECKERS = {"export_mapping": check_export_mapping}
NEEDS_TMP: set[str] = set()
