"""An allowance's edits travel from `patch.inspected` through the verdict view into the report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gate.report import render_report
from gate.snapshot import take_snapshot
from ledger.cli._common import DataDirTarget
from ledger.cli._projection_source import open_projection_source
from ledger.clock import FixedClock
from ledger.store import AppendRequest, LmdbEventLog
from lifecycle_events import patch_edit, patch_inspected

AT = datetime(2026, 1, 2, tzinfo=UTC)


def test_allowed_edits_are_shown_and_do_not_block(tmp_path: Path) -> None:
    allowed = patch_edit(
        "suppression_insertion",
        severity="high",
        file="src/generated/table.py",
        line=7,
        evidence="x = 1  # noqa: E501",
    )
    data_dir = tmp_path / "data"
    with LmdbEventLog(data_dir, clock=FixedClock(AT)) as log:
        log.append([AppendRequest(patch_inspected("pr-5", automated=False, allowed=[allowed]))])
    with open_projection_source(DataDirTarget(data_dir), progress=False) as source:
        snapshot = take_snapshot(source, scope="subject", ref="pr-5", at=AT)
    (verdict,) = snapshot.verdicts
    inspection = verdict["patch_inspection"]
    assert inspection["verdict"] == "CLEAN"
    assert inspection["edits"] == []
    assert inspection["allowed"] == [
        {
            "type": "suppression_insertion",
            "severity": "high",
            "file": "src/generated/table.py",
            "line": 7,
            "evidence": "x = 1  # noqa: E501",
        }
    ]
    assert verdict["verdict"]["production_readiness"] == "ready"
    report = render_report(snapshot, fmt="md").decode()
    let_through = report.split("### Forbidden edits an allowance let through", 1)[1]
    assert "src/generated/table.py" in let_through.split("\n## ", 1)[0]
