"""The `csv` export: findings and runs of a snapshot as one RFC 4180 table (specs/exports.md §3).

One header, then one row per finding and one per run; `record_type` says which,
and the columns that do not apply to a row are empty. Text cells that a
spreadsheet would read as a formula are prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

from gate.snapshot import Json, RunEntry, Snapshot

#: Every column, in order.
COLUMNS = (
    "record_type",
    "subject",
    "finding_id",
    "status",
    "severity",
    "category",
    "evidence",
    "file",
    "line",
    "rule_id",
    "stage",
    "what",
    "why",
    "when",
    "proposed_fix",
    "waivers",
    "resolution",
    "first_seq",
    "seq",
    "run_id",
    "producer",
    "event_id",
    "recorded_at",
    "agent_name",
    "run_status",
    "status_before",
    "status_after",
    "started_at",
    "ended_at",
    "mode",
    "exit_code",
    "heal_reason",
    "git_head",
    "config_fingerprint",
    "input_context_sha",
    "input_file_count",
    "output_file_count",
    "input_refs",
    "output_refs",
)

#: First characters that make a spreadsheet evaluate a cell (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

_FINDING_MEMBERS = (
    "subject",
    "finding_id",
    "status",
    "severity",
    "category",
    "evidence",
    "file",
    "line",
    "rule_id",
    "stage",
    "what",
    "why",
    "when",
    "proposed_fix",
    "first_seq",
    "run_id",
    "producer",
)

_RUN_MEMBERS = (
    "run_id",
    "agent_name",
    "run_status",
    "status_before",
    "status_after",
    "started_at",
    "ended_at",
    "mode",
    "exit_code",
    "heal_reason",
    "git_head",
    "config_fingerprint",
    "input_context_sha",
)


def neutralise_cell(value: object) -> str:
    """The text of one cell: integers as decimals, None empty, formula-like text behind `'`."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def render_csv(snapshot: Snapshot) -> bytes:
    """The table of `snapshot`: findings (in `Snapshot.findings` order), then runs (log order)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for row in _rows(snapshot):
        writer.writerow([neutralise_cell(row.get(column)) for column in COLUMNS])
    return buffer.getvalue().encode("utf-8")


def _rows(snapshot: Snapshot) -> Iterator[Mapping[str, Any]]:
    for finding in snapshot.findings():
        yield _finding_row(finding)
    for run in snapshot.runs:
        yield _run_row(run)


def _finding_row(finding: Json) -> dict[str, Any]:
    row: dict[str, Any] = {name: finding[name] for name in _FINDING_MEMBERS}
    resolution = finding["resolution"]
    row.update(
        record_type="finding",
        seq=finding["reported_seq"],
        waivers=";".join(f"{w['waiver_id']}={w['status']}" for w in finding["waivers"]),
        resolution=resolution["resolution"] if resolution else None,
    )
    return row


def _run_row(run: RunEntry) -> dict[str, Any]:
    record = run.record
    row: dict[str, Any] = {name: record[name] for name in _RUN_MEMBERS}
    row.update(
        record_type="run",
        # A run names its subject only in newer records; older ones leave the cell empty.
        subject=record.get("subject"),
        seq=run.seq,
        producer=run.producer,
        event_id=run.event_id,
        recorded_at=run.recorded_at,
        input_file_count=len(record["input_files"]),
        output_file_count=len(record["output_files"]),
        input_refs=" ".join(record["input_refs"]),
        output_refs=" ".join(record["output_refs"]),
    )
    return row
