"""The csv export: one RFC 4180 table of findings and runs, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from contract_kinds.exports import EDGE_SUBJECT, FAILED_RUN, edge_log
from gate.exports.csv_export import COLUMNS, FORMULA_TRIGGERS, neutralise_cell, render_csv
from gate.snapshot import Snapshot
from gate_snapshots import HEALER_RUN, SUBJECT, snapshot_of, story_log


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return story_log(tmp_path_factory.mktemp("story") / "data")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return edge_log(tmp_path_factory.mktemp("edge") / "data")


def _table(snapshot: Snapshot) -> list[dict[str, str]]:
    text = render_csv(snapshot).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(COLUMNS)
    assert all(len(row) == len(COLUMNS) for row in rows)
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


def _unprefixed(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_TRIGGERS) else cell


def test_findings_come_first_then_runs_in_log_order(story: Path) -> None:
    snapshot = snapshot_of(story, "all", None)
    table = _table(snapshot)
    findings = list(snapshot.findings())
    assert [row["record_type"] for row in table] == ["finding"] * len(findings) + ["run"] * len(
        snapshot.runs
    )
    assert [row["finding_id"] for row in table[: len(findings)]] == [
        f["finding_id"] for f in findings
    ]
    assert [row["run_id"] for row in table[len(findings) :]] == [r.run_id for r in snapshot.runs]
    assert [row["seq"] for row in table[len(findings) :]] == [str(r.seq) for r in snapshot.runs]


def test_finding_rows(story: Path) -> None:
    snapshot = snapshot_of(story)
    rows = {row["finding_id"]: row for row in _table(snapshot) if row["record_type"] == "finding"}
    waived = rows["F-WAIVED"]
    assert waived["status"] == "waived"
    assert waived["waivers"] == "W-1=active"
    assert waived["line"] == "3"
    assert waived["severity"] == "P1"
    assert waived["subject"] == SUBJECT
    assert rows["F-FIXED"]["status"] == "resolved"
    assert rows["F-FIXED"]["resolution"] == "fixed"
    assert rows["F-P0"]["resolution"] == ""
    assert rows["F-P1"]["evidence"] == "hypothesis"
    for finding in snapshot.findings():
        row = rows[finding["finding_id"]]
        assert row["seq"] == str(finding["reported_seq"])
        assert row["first_seq"] == str(finding["first_seq"])
        assert row["what"] == finding["what"]
        assert row["agent_name"] == row["exit_code"] == row["event_id"] == ""


def test_run_rows(story: Path) -> None:
    snapshot = snapshot_of(story, "all", None)
    rows = {row["run_id"]: row for row in _table(snapshot) if row["record_type"] == "run"}
    healer = rows[HEALER_RUN]
    entry = snapshot.run(HEALER_RUN)
    assert entry is not None
    record = entry.record
    assert healer["agent_name"] == "healer"
    assert healer["run_status"] == "PARTIAL"
    assert healer["heal_reason"] == "test_failed"
    assert healer["exit_code"] == "1"
    assert healer["input_file_count"] == "2"
    assert healer["output_file_count"] == "1"
    assert healer["git_head"] == record["git_head"]
    assert healer["event_id"] == entry.event_id
    assert healer["recorded_at"] == entry.recorded_at
    assert healer["producer"] == "healer"
    assert healer["subject"] == (record.get("subject") or "")
    assert healer["finding_id"] == healer["severity"] == healer["what"] == ""


def test_records_end_with_crlf_and_line_breaks_stay_inside_quotes(story: Path) -> None:
    snapshot = snapshot_of(story, "all", None)
    data = render_csv(snapshot)
    records = 1 + len(list(snapshot.findings())) + len(snapshot.runs)
    assert data.endswith(b"\r\n")
    assert data.count(b"\r\n") == records
    assert b'"SQL built from | user input\nwith <b>html</b>"' in data


def test_formula_like_text_is_neutralised_and_numbers_are_not(edge: Path) -> None:
    snapshot = snapshot_of(edge, "all", None)
    table = _table(snapshot)
    cell = next(row for row in table if row["finding_id"] == "F-FILE")
    assert cell["what"] == '\'=HYPERLINK("http://evil.example")'
    assert cell["why"] == "'+cmd|' /C calc'!A0"
    assert cell["when"] == "'-1"
    assert cell["proposed_fix"] == "'@SUM(1)"
    assert cell["line"] == ""
    assert cell["file"] == "docs/my file é.md"
    failed = next(
        row for row in table if row["run_id"] == FAILED_RUN and row["record_type"] == "run"
    )
    assert failed["exit_code"] == "-1"
    assert failed["run_status"] == "FAILED"


def test_the_original_text_comes_back_by_removing_one_prefix(edge: Path) -> None:
    snapshot = snapshot_of(edge, "subject", EDGE_SUBJECT)
    rows = {row["finding_id"]: row for row in _table(snapshot) if row["record_type"] == "finding"}
    for finding in snapshot.findings():
        row = rows[finding["finding_id"]]
        for member in ("what", "why", "when", "proposed_fix", "file"):
            assert _unprefixed(row[member]) == finding[member]
    assert rows["F-BRACES"]["what"] == '{x} is, "quoted"'
    assert b'"{x} is, ""quoted"""' in render_csv(snapshot)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=already", "'=already"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("", ""),
        (None, ""),
        (-7, "-7"),
        (0, "0"),
    ],
)
def test_neutralise_cell(value: object, cell: str) -> None:
    assert neutralise_cell(value) == cell
