"""The gate's command-line edges: `gate inspect-diff`, `report`, `export`, and `gate run`'s
refusals, each through the real `ledgerctl` against a real log or daemon."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from clients.client import LedgerClient
from clients.event import Event
from conftest import run_ledgerctl
from daemon import DaemonProcess
from gate_snapshots import HEALER_RUN, SUBJECT, story_log, subject_story

CHEATING_DIFF = b"""diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a + b
+    return a - b  # noqa
"""

CLEAN_DIFF = b"""diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a + b
+    return b + a
"""


def _json(done: subprocess.CompletedProcess[bytes]) -> dict[str, object]:
    document: dict[str, object] = json.loads(done.stdout)
    return document


def _size(data_dir: Path) -> int:
    done = run_ledgerctl("tail", "--data-dir", str(data_dir), "--json")
    return len([line for line in done.stdout.splitlines() if line.strip()])


# inspect-diff ---------------------------------------------------------------------------


def test_inspect_diff_clean_from_stdin_exits_0() -> None:
    done = run_ledgerctl("gate", "inspect-diff", "-", "--json", stdin=CLEAN_DIFF)
    assert done.returncode == 0, done.stderr.decode()
    document = _json(done)
    assert document["verdict"] == "CLEAN"
    assert document["edits"] == []
    assert document["recorded"] is None


def test_inspect_diff_unsafe_exits_policy_blocked_with_the_edits(tmp_path: Path) -> None:
    patch = tmp_path / "cheat.diff"
    patch.write_bytes(CHEATING_DIFF)
    done = run_ledgerctl("gate", "inspect-diff", str(patch), "--json")
    assert done.returncode == 4
    document = _json(done)
    assert document["error_code"] == "UNSAFE_PATCH_ATTEMPT"
    assert document["verdict"] == "UNSAFE_PATCH_ATTEMPT"
    assert [(e["type"], e["file"], e["line"]) for e in document["edits"]] == [  # type: ignore[attr-defined]
        ("suppression_insertion", "src/app.py", 2)
    ]
    text = run_ledgerctl("gate", "inspect-diff", str(patch))
    assert text.returncode == 4
    assert "suppression_insertion" in text.stdout.decode()
    assert "UNSAFE_PATCH_ATTEMPT" in text.stderr.decode()


def test_inspect_diff_refuses_a_malformed_diff() -> None:
    done = run_ledgerctl("gate", "inspect-diff", "-", "--json", stdin=b"not a diff at all\n")
    assert done.returncode == 2
    assert _json(done)["error_code"] == "INVALID_DIFF"


def test_inspect_diff_record_needs_a_subject(tmp_path: Path) -> None:
    done = run_ledgerctl(
        "gate", "inspect-diff", "--record", "--data-dir", str(tmp_path), "--json", stdin=CLEAN_DIFF
    )
    assert done.returncode == 2
    assert _json(done)["error_code"] == "INVALID_ARGUMENT"


def test_inspect_diff_record_appends_the_inspection_and_its_findings(tmp_path: Path) -> None:
    data_dir = story_log(tmp_path / "data")
    before = _size(data_dir)
    done = run_ledgerctl(
        "gate",
        "inspect-diff",
        "--automated",
        "--record",
        "--subject",
        "pr-9",
        "--data-dir",
        str(data_dir),
        "--json",
        stdin=CHEATING_DIFF,
    )
    assert done.returncode == 4
    recorded = _json(done)["recorded"]
    assert recorded == {
        "run_id": recorded["run_id"],  # type: ignore[index]
        "first_seq": before,
        "last_seq": before + 1,
        "events": 2,
    }
    verdict = _json(run_ledgerctl("verdict", "pr-9", "--data-dir", str(data_dir), "--json"))
    assert verdict["verdict"]["production_readiness"] == "not_ready"  # type: ignore[index]
    assert verdict["patch_inspection"]["verdict"] == "UNSAFE_PATCH_ATTEMPT"  # type: ignore[index]
    opened = verdict["findings"]["open"]  # type: ignore[index]
    assert [(f["rule_id"], f["severity"]) for f in opened] == [
        ("guard/suppression_insertion", "P1")
    ]


def test_inspect_diff_with_a_bad_config_records_nothing(tmp_path: Path) -> None:
    data_dir = story_log(tmp_path / "data")
    config = tmp_path / "gate.toml"
    config.write_text("[guard]\nstrickt = true\n")
    before = _size(data_dir)
    done = run_ledgerctl(
        "gate",
        "inspect-diff",
        "--config",
        str(config),
        "--record",
        "--subject",
        "pr-9",
        "--data-dir",
        str(data_dir),
        "--json",
        stdin=CHEATING_DIFF,
    )
    assert done.returncode == 2
    assert _json(done)["error_code"] == "INVALID_CONFIG"
    assert _size(data_dir) == before


# report and export ------------------------------------------------------------------------


def _served_story(daemon: DaemonProcess) -> None:
    with LedgerClient(daemon.address) as client:
        client.append_batch([Event.from_envelope(e) for e in subject_story()])


@pytest.mark.parametrize("fmt", ["bundle", "csv", "sarif", "openlineage", "intoto"])
def test_export_bytes_are_the_same_offline_and_online(
    fmt: str, tmp_path: Path, daemon: DaemonProcess
) -> None:
    _served_story(daemon)
    at = "2026-01-02T00:00:00Z"
    online = tmp_path / f"online.{fmt}"
    done = run_ledgerctl(
        "export", "--format", fmt, "--out", str(online), "--server", daemon.address, "--at", at
    )
    assert done.returncode == 0, done.stderr.decode()
    daemon.stop()
    offline = tmp_path / f"offline.{fmt}"
    done = run_ledgerctl(
        "export",
        "--format",
        fmt,
        "--out",
        str(offline),
        "--data-dir",
        str(daemon.data_dir),
        "--at",
        at,
        "--json",
    )
    assert done.returncode == 0, done.stderr.decode()
    summary = _json(done)
    assert summary["bytes"] == offline.stat().st_size > 0
    # Online the checkpoint names its origin; offline nothing is signed. Everything else agrees.
    online_text = re.sub(r'("origin": ?)"ledgerd\.local/log"', r"\1null", online.read_text())
    assert online_text != online.read_text() or fmt == "csv"
    assert offline.read_text() == online_text


def test_report_offline_names_the_sections_in_order(tmp_path: Path) -> None:
    data_dir = story_log(tmp_path / "data")
    done = run_ledgerctl("report", SUBJECT, "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr.decode()
    headings = [line for line in done.stdout.decode().splitlines() if line.startswith("## ")]
    assert headings == [
        "## Scope Notes",
        "## Command Execution Log",
        "## Findings",
        "## Synthesis",
        "## Spec Candidates (YAML)",
        "## Classification Labels",
        "## Reject / Defer List",
        "## Raw Output",
    ]
    out = tmp_path / "report.json"
    done = run_ledgerctl(
        "report", SUBJECT, "--format", "json", "--out", str(out), "--data-dir", str(data_dir)
    )
    assert done.returncode == 0
    assert json.loads(out.read_text())["checkpoint"]["tree_size"] == _size(data_dir)


def test_export_refuses_two_scopes_and_unknown_runs(tmp_path: Path) -> None:
    data_dir = story_log(tmp_path / "data")
    out = tmp_path / "x.json"
    both = run_ledgerctl(
        "export", "--format", "bundle", "--subject", SUBJECT, "--run", HEALER_RUN,
        "--out", str(out), "--data-dir", str(data_dir), "--json",
    )  # fmt: skip
    assert both.returncode == 2
    assert _json(both)["error_code"] == "INVALID_ARGUMENT"
    unknown = run_ledgerctl(
        "export", "--format", "intoto", "--run", "00000000-0000-4000-8000-000000000000",
        "--out", str(out), "--data-dir", str(data_dir), "--json",
    )  # fmt: skip
    assert unknown.returncode == 2
    assert _json(unknown)["error_code"] == "NOT_FOUND"
    assert not out.exists()


def test_export_into_a_missing_directory_is_an_io_failure(tmp_path: Path) -> None:
    data_dir = story_log(tmp_path / "data")
    out = tmp_path / "missing" / "x.sarif"
    done = run_ledgerctl(
        "export", "--format", "sarif", "--out", str(out), "--data-dir", str(data_dir), "--json"
    )
    assert done.returncode == 7
    assert _json(done)["error_code"] == "FILE_WRITE_FAILED"


def test_an_export_replaces_the_old_file_whole(tmp_path: Path) -> None:
    data_dir = story_log(tmp_path / "data")
    out = tmp_path / "x.csv"
    out.write_text("stale\n" * 10_000)
    done = run_ledgerctl(
        "export", "--format", "csv", "--out", str(out), "--data-dir", str(data_dir)
    )
    assert done.returncode == 0
    assert "stale" not in out.read_text()
    assert out.read_text().startswith("record_type,")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".x.csv")] == []


# gate run's refusals --------------------------------------------------------------------


def test_gate_run_needs_a_server(tmp_path: Path) -> None:
    config = tmp_path / "gate.toml"
    config.write_text("")
    done = run_ledgerctl(
        "gate", "run", "--config", str(config), "--subject", "s", "--json",
        env={"LEDGER_SERVER": ""},
    )  # fmt: skip
    assert done.returncode == 2
    assert _json(done)["error_code"] == "INVALID_ARGUMENT"
