"""Real snapshots for the report and export tests: a real log, real projections, real views.

`subject_story()` appends a small but complete story about one subject (a healer's
run and the gate's run, findings of every severity and evidence, one waived and
one resolved, a failing and a passing probe, an unsafe patch inspection) plus a
second subject, and `snapshot_of()` takes a `Snapshot` of it exactly as
`ledgerctl report` and `ledgerctl export` do offline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gate.snapshot import Scope, Snapshot, take_snapshot
from ledger.cli._common import DataDirTarget
from ledger.cli._projection_source import open_projection_source
from ledger.clock import FixedClock
from ledger.model import Envelope
from ledger.store import AppendRequest, LmdbEventLog
from lifecycle_events import (
    command_executed,
    finding_reported,
    finding_resolved,
    patch_edit,
    patch_inspected,
    run_recorded,
    uuid_for,
    waiver_granted,
)

SUBJECT = "github.com/acme/app/pull/7"
OTHER_SUBJECT = "github.com/acme/app/pull/8"
AT = datetime(2026, 1, 2, 0, 0, 0, tzinfo=UTC)
HEALER_RUN = uuid_for("healer-run-1")
GATE_RUN = uuid_for("gate-run-1")
OTHER_RUN = uuid_for("other-run-1")


def subject_story() -> list[Envelope]:
    """The events of the story in the module docstring, in log order."""
    return [
        run_recorded(
            HEALER_RUN,
            agent="healer",
            status="PARTIAL",
            heal_reason="test_failed",
            inputs={"src/app.py": "a" * 64, "tests/test_app.py": "b" * 64},
            outputs={"src/app.py": "c" * 64},
        ),
        run_recorded(GATE_RUN, agent="ledger-gate", inputs={"gate.toml": "d" * 64}),
        finding_reported(
            "F-P0",
            SUBJECT,
            severity="P0",
            run_id=GATE_RUN,
            what="SQL built from | user input\nwith <b>html</b>",
            why="injection: an attacker reads every row",
        ),
        finding_reported("F-P1", SUBJECT, severity="P1", run_id=GATE_RUN, evidence="hypothesis"),
        finding_reported("F-P2", SUBJECT, severity="P2", run_id=GATE_RUN),
        finding_reported("F-P3", SUBJECT, severity="P3", run_id=GATE_RUN),
        finding_reported("F-WAIVED", SUBJECT, severity="P1", run_id=GATE_RUN),
        waiver_granted("W-1", "F-WAIVED"),
        finding_reported("F-FIXED", SUBJECT, severity="P2", run_id=GATE_RUN),
        finding_resolved("F-FIXED"),
        command_executed(SUBJECT, "unit-tests", run_id=GATE_RUN),
        command_executed(
            SUBJECT,
            "lint",
            status="failed",
            summary="src/app.py:3: E501 | line too long",
            run_id=GATE_RUN,
        ),
        patch_inspected(
            SUBJECT,
            run_id=GATE_RUN,
            edits=[patch_edit("suppression_insertion", file="src/app.py", line=12)],
        ),
        run_recorded(OTHER_RUN, agent="fixer-agent"),
        finding_reported("F-OTHER", OTHER_SUBJECT, severity="P3", run_id=OTHER_RUN),
    ]


def story_log(data_dir: Path) -> Path:
    """A data directory holding `subject_story()`; returns it."""
    with LmdbEventLog(data_dir, clock=FixedClock(datetime(2026, 1, 1, 12, tzinfo=UTC))) as log:
        log.append([AppendRequest(envelope) for envelope in subject_story()])
    return data_dir


def snapshot_of(data_dir: Path, scope: Scope = "subject", ref: str | None = SUBJECT) -> Snapshot:
    """The snapshot `ledgerctl report`/`export` would take of `data_dir` offline at `AT`."""
    with open_projection_source(DataDirTarget(data_dir), progress=False) as source:
        return take_snapshot(source, scope=scope, ref=ref, at=AT)
