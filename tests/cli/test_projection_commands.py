"""`ledgerctl verdict|findings|health|replay|runs|history|projections` offline and online.

A module-wide daemon serves a small log built with `tests/lifecycle_events.py`
(sources, suppressions, runs, findings, a waiver), imported through the CLI.
The daemon holds its data directory's writer lock, so the offline side works
on an exact copy of that log (an LMDB snapshot taken while the daemon runs,
`ledger.started` record included) and folds its projections itself. Every
view is asked both ways, with the same evaluation time, and the `--json`
bytes must be equal, exit code included, also when the command fails a check
(`health --strict`, a strict `replay`).

Commands run in process (`ledger.cli.main.main`, standard streams captured)
under the pinned clock, so the offline default `--at` equals the daemon's;
one test runs the real entry point in a child process.
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import lmdb
import pytest

from conftest import PINNED, run_ledgerctl
from daemon import DaemonProcess, free_port
from ledger.cli.main import main
from ledger.errors import CATEGORY_INFO, Category
from ledger.model import encode_envelope
from lifecycle_events import (
    EXPIRY,
    command_executed,
    finding_reported,
    finding_resolved,
    run_recorded,
    source_checked,
    source_registered,
    suppression_added,
    suppression_lifted,
    uuid_for,
    waiver_granted,
)

ERROR_KEYS = ("ok", "error", "error_code", "error_category", "retryable", "hint")
AFTER_EXPIRY = "2026-03-01T00:00:00Z"  # the waiver and the suppression (EXPIRY) have expired


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


RUN_A = uuid_for("cli/run-a")  # strict: a.txt and b.txt
RUN_B = uuid_for("cli/run-b")  # best effort: a.txt and gone.txt; consumes RUN_A's report

EVENTS = [
    source_registered("ci-lint", tier="required", expected_interval_s=86_400),
    source_checked("ci-lint"),
    source_registered("deploy-bot", tier="required"),  # never seen: blocks --strict
    source_checked("flaky", ok=False),  # failing (over its budget): a warning
    source_checked("legacy-ci", ok=False),  # failing too, but suppressed (S-1) until EXPIRY
    suppression_added("S-0", "legacy-ci", reason="first try"),
    suppression_lifted("S-0", "legacy-ci"),
    suppression_added("S-1", "legacy-ci", reason="the old runners are retired"),
    run_recorded(
        RUN_A,
        agent="fixer-agent",
        inputs={"a.txt": sha256("one\n"), "b.txt": sha256("two\n")},
        output_refs=["report-a"],
    ),
    run_recorded(
        RUN_B,
        agent="docs-agent",
        status="PARTIAL",
        mode="best_effort",
        inputs={"a.txt": sha256("one\n"), "gone.txt": sha256("x")},
        input_refs=["report-a", "external:1"],
    ),
    finding_reported("F-1", "pr-7", severity="P1", run_id=RUN_A),
    finding_reported("F-2", "pr-7", severity="P2", what="slow query"),
    waiver_granted("W-2", "F-2"),
    finding_reported("F-3", "pr-7", severity="P3", what="typo in a log message"),
    finding_resolved("F-3"),
    command_executed("pr-7", "unit-tests"),
    finding_reported("F-4", "pr-8", severity="P0", what="secret in the repository"),
]
#: The daemon records `ledger.started` at seq 0; event i lands at seq i + 1.
LOG_SIZE = len(EVENTS) + 1
SEQ_F1 = 11
SEQ_F2 = 12
SEQ_RUN_A = 9
SEQ_RUN_B = 10


# Running the CLI -------------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """`ledgerctl ARGS` in this process: its exit code and what it wrote on each stream."""
    out, err = io.StringIO(), io.StringIO()
    pinned = {"LEDGERD_CLOCK": f"fixed:{PINNED}", "COLUMNS": "250", **(env or {})}
    with mock.patch.dict(os.environ, pinned), redirect_stdout(out), redirect_stderr(err):
        # A context of its own, so the remembered `--json` flag does not leak between runs.
        code = contextvars.copy_context().run(main, list(args))
    return subprocess.CompletedProcess(
        list(args), code, out.getvalue().encode("utf-8"), err.getvalue().encode("utf-8")
    )


def one_json(proc: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    """The single JSON document on stdout (one line), with nothing on stderr."""
    assert proc.stderr == b"", proc.stderr
    lines = proc.stdout.decode("utf-8").splitlines()
    assert len(lines) == 1, proc.stdout
    document: dict[str, Any] = json.loads(lines[0])
    return document


def view(proc: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    """A successful `--json` view: exit 0, one document, no `ok` member added."""
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    document = one_json(proc)
    assert "ok" not in document
    return document


def failure(proc: subprocess.CompletedProcess[bytes], category: str, code: str) -> dict[str, Any]:
    """One JSON document carrying the error envelope, and the category's exit code."""
    document = one_json(proc)
    assert document["ok"] is False, document
    assert document["error_category"] == category, document
    assert document["error_code"] == code, document
    info = CATEGORY_INFO[Category(category)]
    assert proc.returncode == info.exit_code, (proc.returncode, document)
    assert document["retryable"] is info.retryable
    assert document["error"]
    assert document["hint"]
    return document


def text(proc: subprocess.CompletedProcess[bytes], code: int = 0) -> tuple[str, str]:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    return proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


def snapshot(source: Path, target: Path) -> Path:
    """A consistent copy of the LMDB log in `source`, taken beside a running writer."""
    target.mkdir(parents=True)
    env = lmdb.open(str(source), readonly=True, lock=True, max_dbs=32)
    try:
        env.copy(str(target))
    finally:
        env.close()
    return target


def write_tree(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(content, encoding="utf-8")
    return directory


# The two logs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ledgers:
    daemon: DaemonProcess
    offline_dir: Path
    #: a.txt matches; b.txt drifted; gone.txt missing.
    workspace: Path
    #: Every input of RUN_A as recorded.
    clean_workspace: Path
    root: Path

    @property
    def online(self) -> list[str]:
        return ["--server", self.daemon.address]

    @property
    def offline(self) -> list[str]:
        return ["--data-dir", str(self.offline_dir)]

    def both(self, *args: str) -> tuple[subprocess.CompletedProcess[bytes], ...]:
        """ARGS online, then offline (the daemon first: it is the reference)."""
        filled = [
            a.format(workspace=self.workspace, clean=self.clean_workspace, root=self.root)
            for a in args
        ]
        return invoke(*filled, *self.online), invoke(*filled, *self.offline)


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledgers]:
    root = tmp_path_factory.mktemp("projection-cli")
    source = root / "events.jsonl"
    source.write_bytes(b"".join(encode_envelope(e) + b"\n" for e in EVENTS))
    daemon = DaemonProcess(root / "served").start()
    try:
        imported = invoke("import", str(source), "--server", daemon.address, "--json")
        assert imported.returncode == 0, imported.stdout
        assert json.loads(imported.stdout)["tree_size"] == LOG_SIZE
        yield Ledgers(
            daemon=daemon,
            offline_dir=snapshot(daemon.data_dir, root / "offline"),
            workspace=write_tree(root / "workspace", {"a.txt": "one\n", "b.txt": "TWO\n"}),
            clean_workspace=write_tree(root / "clean", {"a.txt": "one\n", "b.txt": "two\n"}),
            root=root,
        )
    finally:
        daemon.kill()


# The same bytes offline and online -------------------------------------------------------

SAME_VIEWS = [
    ["verdict", "pr-7"],
    ["verdict", "pr-7", "--at", AFTER_EXPIRY],
    ["verdict", "pr-7", "--at", "2026-01-01T13:00:00+01:00"],
    ["verdict", "pr-7", "--as-of", str(SEQ_F1)],
    ["verdict", "never-named"],
    ["findings"],
    ["findings", "--subject", "pr-7", "--status", "open", "--status", "waived"],
    ["findings", "--severity", "P0", "--severity", "P1", "--at", AFTER_EXPIRY],
    ["findings", "--as-of", str(SEQ_F2)],
    ["health"],
    ["health", "--at", AFTER_EXPIRY],
    ["health", "--source", "flaky"],
    ["health", "--as-of", "5"],
    ["health", "--strict", "--source", "ci-lint"],
    ["health", "--explain-suppress", "legacy-ci"],
    ["health", "--explain-suppress", "legacy-ci", "--at", AFTER_EXPIRY],
    ["runs"],
    ["runs", "--agent", "docs-agent"],
    ["runs", "--status", "SUCCESS", "--limit", "1"],
    ["runs", "--limit", "1"],
    ["runs", "--before-seq", "10"],
    ["runs", "--as-of", str(SEQ_RUN_A)],
    ["history", "findings/pr-7"],
    ["history", "findings/pr-7", "--from-version", "2", "--limit", "1"],
    ["history", "findings/pr-7", "--as-of", str(SEQ_F2)],
    ["history", "no/such-stream"],
    ["replay", RUN_B, "--workspace", "{workspace}"],
    ["replay", RUN_A, "--workspace", "{workspace}", "--best-effort"],
    ["replay", RUN_A, "--workspace", "{clean}", "--strict"],
    ["replay", RUN_A, "--workspace", "{clean}", "--min-seq", "9"],
    ["replay", RUN_B, "--workspace", "{workspace}", "--as-of", str(SEQ_RUN_B)],
]


@pytest.mark.parametrize("args", SAME_VIEWS, ids=" ".join)
def test_views_are_byte_identical_offline_and_online(ledgers: Ledgers, args: list[str]) -> None:
    online, offline = ledgers.both(*args, "--json")
    view(online)
    assert offline.returncode == 0, (offline.stdout, offline.stderr)
    assert offline.stderr == b""
    assert offline.stdout == online.stdout


SAME_FAILURES = [
    # A check that fails: the view, with the error envelope's members.
    (["health", "--strict"], "policy_blocked", "SOURCE_HEALTH_BLOCKED"),
    (["health", "--strict", "--at", AFTER_EXPIRY], "policy_blocked", "SOURCE_HEALTH_BLOCKED"),
    (["replay", RUN_A, "--workspace", "{workspace}"], "verification_failed", "REPLAY_INPUT_DRIFT"),
    (
        ["replay", RUN_B, "--workspace", "{workspace}", "--strict"],
        "verification_failed",
        "REPLAY_INPUT_DRIFT",
    ),
    # Bad requests: the error envelope alone.
    (["verdict", "pr-7", "--at", "yesterday"], "invalid_input", "INVALID_ARGUMENT"),
    (["verdict", "pr-7", "--at", "2026-01-01T12:00:00"], "invalid_input", "INVALID_ARGUMENT"),
    (["findings", "--at", "soon"], "invalid_input", "INVALID_ARGUMENT"),
    (["verdict", "pr-7", "--as-of", str(LOG_SIZE)], "invalid_input", "INVALID_ARGUMENT"),
    (["health", "--as-of", "999"], "invalid_input", "INVALID_ARGUMENT"),
    (["history", "findings/pr-7", "--limit", "10001"], "invalid_input", "INVALID_ARGUMENT"),
    (["runs", "--limit", "10001"], "invalid_input", "INVALID_ARGUMENT"),
    # Not yet recorded as of the seq before it.
    (
        ["replay", RUN_B, "--workspace", "{clean}", "--as-of", str(SEQ_RUN_A)],
        "invalid_input",
        "NOT_FOUND",
    ),
    (["health", "--source", "no-such-source"], "invalid_input", "NOT_FOUND"),
    (["health", "--explain-suppress", "no-such-source"], "invalid_input", "NOT_FOUND"),
    (["replay", "no-such-run", "--workspace", "{clean}"], "invalid_input", "NOT_FOUND"),
    (["replay", RUN_A, "--workspace", "{root}/missing"], "invalid_input", "INVALID_ARGUMENT"),
    (["replay", RUN_A, "--strict", "--best-effort"], "invalid_input", "INVALID_ARGUMENT"),
    (["findings", "--status", "closed"], "invalid_input", "INVALID_ARGUMENT"),
    (["health", "--strict", "--explain-suppress", "flaky"], "invalid_input", "INVALID_ARGUMENT"),
    (["projections", "rebuild", "verdict"], "invalid_input", "INVALID_ARGUMENT"),
]


@pytest.mark.parametrize(
    ("args", "category", "code"), SAME_FAILURES, ids=[" ".join(c[0]) for c in SAME_FAILURES]
)
def test_failures_are_the_same_offline_and_online(
    ledgers: Ledgers, args: list[str], category: str, code: str
) -> None:
    online, offline = ledgers.both(*args, "--json")
    failure(online, category, code)
    assert (offline.returncode, offline.stdout, offline.stderr) == (
        online.returncode,
        online.stdout,
        online.stderr,
    )


def test_the_offline_default_time_is_the_ledger_clock(ledgers: Ledgers) -> None:
    document = view(invoke("verdict", "pr-7", "--json", *ledgers.offline))
    assert document["evaluated_at"] == "2026-01-01T12:00:00.000000Z"
    later = invoke(
        "verdict",
        "pr-7",
        "--json",
        *ledgers.offline,
        env={"LEDGERD_CLOCK": f"fixed:{AFTER_EXPIRY}"},
    )
    assert view(later)["evaluated_at"] == "2026-03-01T00:00:00.000000Z"
    assert view(later)["findings"]["expired_waiver"][0]["finding_id"] == "F-2"


# Health --strict ---------------------------------------------------------------------------


def test_health_strict_blocks_with_one_document(ledgers: Ledgers) -> None:
    plain = view(invoke("health", "--json", *ledgers.online))
    proc = invoke("health", "--strict", "--json", *ledgers.online)
    document = failure(proc, "policy_blocked", "SOURCE_HEALTH_BLOCKED")
    assert document["blocking"] == ["deploy-bot"]
    assert document["details"] == {"sources": {"deploy-bot": "NEVER_SEEN"}}
    assert "deploy-bot (NEVER_SEEN)" in document["error"]
    # The view is all there, unchanged, before the error's members.
    assert {k: v for k, v in document.items() if k not in (*ERROR_KEYS, "details")} == plain
    assert list(document)[: len(plain)] == list(plain)


def test_health_strict_passes_when_nothing_blocks(ledgers: Ledgers) -> None:
    document = view(invoke("health", "--strict", "--source", "ci-lint", "--json", *ledgers.offline))
    assert document["blocking"] == []
    assert [s["status"] for s in document["sources"]] == ["healthy"]
    out, err = text(invoke("health", "--strict", "--source", "ci-lint", *ledgers.offline))
    assert "ci-lint" in out
    assert "healthy" in out
    assert err == ""


def test_health_strict_text_names_the_blocking_sources(ledgers: Ledgers) -> None:
    out, err = text(invoke("health", "--strict", *ledgers.online), code=4)
    assert "deploy-bot" in out  # the table is printed first
    assert "error: 1 required source(s) block --strict: deploy-bot (NEVER_SEEN)" in err
    assert "policy_blocked / SOURCE_HEALTH_BLOCKED" in err
    assert "warning: flaky is failing (CONSECUTIVE_FAILURES, BUDGET_EXCEEDED)" in err


def test_health_strict_in_a_child_process_exits_4(ledgers: Ledgers) -> None:
    proc = run_ledgerctl("health", "--strict", "--json", *ledgers.online)
    failure(proc, "policy_blocked", "SOURCE_HEALTH_BLOCKED")
    offline = run_ledgerctl("health", "--strict", "--json", *ledgers.offline)
    assert (offline.returncode, offline.stdout) == (proc.returncode, proc.stdout)


def test_health_text(ledgers: Ledgers) -> None:
    out, err = text(invoke("health", *ledgers.offline))
    assert "log position" in out
    for source in ("ci-lint", "deploy-bot", "flaky", "legacy-ci", "gate-lane-1"):
        assert source in out
    for fact in ("never_seen", "failing", "required", "NEVER_SEEN", "SUPPRESSED", "100"):
        assert fact in out
    assert f"legacy-ci: SUPPRESSED: suppressed by team-infra until {EXPIRY}" in out
    assert "blocking --strict: deploy-bot" in out
    # Not healthy and not suppressed: a warning; legacy-ci is suppressed, so it is not one.
    assert "warning: flaky is failing (CONSECUTIVE_FAILURES, BUDGET_EXCEEDED)" in err
    assert "warning: deploy-bot would block --strict (NEVER_SEEN)" in err
    assert "legacy-ci" not in err
    # Once the suppression expired, legacy-ci warns too; ci-lint has gone stale and blocks.
    _, later = text(invoke("health", "--at", AFTER_EXPIRY, *ledgers.offline))
    assert "warning: legacy-ci is failing" in later
    assert "warning: ci-lint would block --strict (STALE_SINCE)" in later


def test_health_json_prints_no_warnings(ledgers: Ledgers) -> None:
    document = view(invoke("health", "--json", *ledgers.offline))
    assert document["warnings"] == ["flaky"]
    assert document["blocking"] == ["deploy-bot"]


def test_explain_suppress(ledgers: Ledgers) -> None:
    document = view(invoke("health", "--explain-suppress", "legacy-ci", "--json", *ledgers.online))
    assert document["active"] == "S-1"
    history = document["history"]
    assert [(e["suppression_id"], e["action"]) for e in history] == [
        ("S-0", "added"),
        ("S-0", "lifted"),
        ("S-1", "added"),
    ]
    assert [(e["suppression_id"], e["status_now"]) for e in history if e["action"] == "added"] == [
        ("S-0", "lifted"),
        ("S-1", "active"),
    ]
    out, err = text(invoke("health", "--explain-suppress", "legacy-ci", *ledgers.online))
    assert "suppressions of legacy-ci: S-1 active" in out
    for fact in ("the old runners are retired", "team-infra", EXPIRY, "lifted", "active"):
        assert fact in out
    assert "flaky" not in out  # not the health table
    assert err == ""
    out, _ = text(
        invoke("health", "--explain-suppress", "legacy-ci", "--at", AFTER_EXPIRY, *ledgers.online)
    )
    assert "suppressions of legacy-ci: none active" in out
    assert "expired" in out


# Verdicts and findings -----------------------------------------------------------------


def test_verdict_text(ledgers: Ledgers) -> None:
    out, err = text(invoke("verdict", "pr-7", *ledgers.offline))
    assert err == ""
    assert "subject pr-7 (known, last named at seq 16)" in out
    assert "evaluated at 2026-01-01T12:00:00.000000Z" in out
    for field in ("production_readiness", "correctness", "isolation", "blast_radius"):
        assert field in out
    assert "required_fixes_before_merge" in out
    assert "not_ready" in out
    document = view(invoke("verdict", "pr-7", "--json", *ledgers.offline))
    for field in ("production_readiness", "correctness", "isolation", "blast_radius"):
        assert document["explanation"][field]["rule"] in out
        assert document["explanation"][field]["reason"] in out
    assert "required fixes before merge:" in out
    assert "[finding F-1, P1, seq 11]" in out
    sections = {
        status: out.index(f"{status} findings")
        for status in ("open", "waived", "resolved")
        if f"{status} findings" in out
    }
    assert list(sections) == ["open", "waived", "resolved"]
    # Each finding's row is in its status's table (the explanation above names them too).
    assert sections["open"] < out.index("F-1", sections["open"]) < sections["waived"]
    assert sections["waived"] < out.index("F-2", sections["waived"]) < sections["resolved"]
    assert sections["resolved"] < out.index("F-3", sections["resolved"])
    assert "W-2 active" in out
    assert "F-4" not in out  # another subject's


def test_verdict_of_an_unknown_subject(ledgers: Ledgers) -> None:
    document = view(invoke("verdict", "never-named", "--json", *ledgers.online))
    assert document["known"] is False
    out, _ = text(invoke("verdict", "never-named", *ledgers.online))
    assert "never named in the log" in out
    assert "findings: none" in out


def test_verdict_as_of_an_earlier_seq(ledgers: Ledgers) -> None:
    document = view(invoke("verdict", "pr-7", "--as-of", str(SEQ_F1), "--json", *ledgers.offline))
    assert (document["as_of"], document["log_position"]) == (SEQ_F1, SEQ_F1 + 1)
    assert [f["finding_id"] for f in document["findings"]["open"]] == ["F-1"]
    assert document["findings"]["waived"] == []
    out, _ = text(invoke("verdict", "pr-7", "--as-of", str(SEQ_F1), *ledgers.offline))
    assert f"as of seq {SEQ_F1}" in out


def test_findings_filters_and_text(ledgers: Ledgers) -> None:
    document = view(invoke("findings", "--severity", "P0", "--json", *ledgers.online))
    assert [(f["finding_id"], f["subject"]) for f in document["findings"]] == [("F-4", "pr-8")]
    document = view(invoke("findings", "--status", "resolved", "--json", *ledgers.online))
    assert [f["finding_id"] for f in document["findings"]] == ["F-3"]
    out, err = text(invoke("findings", *ledgers.online))
    assert err == ""
    assert "findings on every subject: 2 open, 1 waived, 0 expired_waiver, 1 resolved" in out
    for fact in ("F-1", "F-2", "F-3", "F-4", "pr-8", "P0", "src/app.py:3", "secret in the"):
        assert fact in out
    out, _ = text(invoke("findings", "--subject", "pr-9", *ledgers.online))
    assert "no findings match" in out


# Replays ---------------------------------------------------------------------------------


def test_replay_strict_drift_fails_with_one_document(ledgers: Ledgers) -> None:
    proc = invoke("replay", RUN_A, "--workspace", str(ledgers.workspace), "--json", *ledgers.online)
    document = failure(proc, "verification_failed", "REPLAY_INPUT_DRIFT")
    assert document["replay"]["mode"] == "strict"  # the run's own mode
    assert document["replay"]["ok"] is False
    assert document["details"] == {"drift": 1, "missing": 0}
    assert [(i["path"], i["status"]) for i in document["replay"]["inputs"]] == [
        ("a.txt", "match"),
        ("b.txt", "drift"),
    ]


def test_replay_strict_drift_text(ledgers: Ledgers) -> None:
    out, err = text(
        invoke("replay", RUN_A, "--workspace", str(ledgers.workspace), *ledgers.offline), code=3
    )
    assert f"run {RUN_A}: fixer-agent SUCCESS (strict run)" in out
    assert "(strict replay)" in out
    assert "b.txt" in out
    assert "drift" in out
    assert "summary: 1 match, 1 drift, 0 missing: not ok" in out
    assert "warning: b.txt: drift" in err
    assert "verification_failed / REPLAY_INPUT_DRIFT" in err


def test_replay_best_effort_warns_and_exits_0(ledgers: Ledgers) -> None:
    args = ("replay", RUN_A, "--workspace", str(ledgers.workspace), "--best-effort")
    document = view(invoke(*args, "--json", *ledgers.online))
    assert document["replay"]["mode"] == "best_effort"
    assert document["replay"]["ok"] is True
    assert document["replay"]["warnings"] == ["b.txt: drift"]
    out, err = text(invoke(*args, *ledgers.online))
    assert "summary: 1 match, 1 drift, 0 missing: ok" in out
    assert err == "warning: b.txt: drift\n"


def test_replay_follows_the_runs_own_mode(ledgers: Ledgers) -> None:
    # RUN_B was a best-effort run: by default its missing input only warns.
    args = ("replay", RUN_B, "--workspace", str(ledgers.workspace))
    document = view(invoke(*args, "--json", *ledgers.offline))
    assert document["replay"]["mode"] == "best_effort"
    assert document["replay"]["summary"] == {"match": 1, "drift": 0, "missing": 1}
    out, err = text(invoke(*args, *ledgers.offline))
    assert "gone.txt" in out
    assert "no such file" in out
    assert err == "warning: gone.txt: missing\n"
    # ... and --strict overrides it.
    failure(
        invoke(*args, "--strict", "--json", *ledgers.offline),
        "verification_failed",
        "REPLAY_INPUT_DRIFT",
    )


def test_replay_clean_and_provenance(ledgers: Ledgers) -> None:
    args = ("replay", RUN_B, "--workspace", str(ledgers.clean_workspace), "--best-effort")
    document = view(invoke(*args, "--json", *ledgers.online))
    upstream = document["provenance"]["upstream"]
    assert [(u["run_id"], u["via_ref"], u["depth"]) for u in upstream] == [(RUN_A, "report-a", 1)]
    assert document["provenance"]["unresolved_refs"] == ["external:1"]
    out, _ = text(invoke(*args, *ledgers.online))
    assert "provenance:" in out
    assert f"  <- {RUN_A} (fixer-agent, SUCCESS, seq 9) via report-a" in out
    assert "unresolved refs: external:1" in out
    clean = invoke(
        "replay", RUN_A, "--workspace", str(ledgers.clean_workspace), "--strict", *ledgers.online
    )
    out, err = text(clean)
    assert "summary: 2 match, 0 drift, 0 missing: ok" in out
    assert err == ""


def test_replay_workspace_defaults_to_the_current_directory(
    ledgers: Ledgers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ledgers.clean_workspace)
    document = view(invoke("replay", RUN_A, "--json", *ledgers.offline))
    assert document["replay"]["workspace"] == "."
    assert document["replay"]["summary"] == {"match": 2, "drift": 0, "missing": 0}


def test_replay_of_a_missing_workspace(ledgers: Ledgers) -> None:
    missing = ledgers.root / "no-such-dir"
    proc = invoke("replay", RUN_A, "--workspace", str(missing), "--json", *ledgers.offline)
    document = failure(proc, "invalid_input", "INVALID_ARGUMENT")
    assert str(missing) in document["error"]
    assert not missing.exists()


# Runs and history ------------------------------------------------------------------------


def test_runs(ledgers: Ledgers) -> None:
    document = view(invoke("runs", "--json", *ledgers.online))
    assert [r["run_id"] for r in document["runs"]] == [RUN_B, RUN_A]  # newest first
    assert document["next_before_seq"] is None
    page = view(invoke("runs", "--limit", "1", "--json", *ledgers.online))
    assert page["next_before_seq"] == 10
    out, err = text(invoke("runs", "--limit", "1", *ledgers.online))
    assert err == ""
    for fact in (RUN_B, "docs-agent", "PARTIAL", "best_effort"):
        assert fact in out
    assert RUN_A not in out
    assert "more: --before-seq 10" in out
    out, _ = text(invoke("runs", "--before-seq", "10", *ledgers.online))
    assert RUN_A in out
    assert "report-a" in out


def test_history(ledgers: Ledgers) -> None:
    document = view(invoke("history", "findings/pr-7", "--json", *ledgers.offline))
    assert [(e["version"], e["seq"]) for e in document["events"]] == [(1, 11), (2, 12), (3, 14)]
    out, err = text(invoke("history", "findings/pr-7", "--limit", "2", *ledgers.offline))
    assert err == ""
    assert "stream findings/pr-7: 2 event(s)" in out
    assert "finding.reported" in out
    assert "gate-lane-1" in out
    assert "more: --from-version 3" in out


# Projection status and rebuild -----------------------------------------------------------


def _digests(proc: subprocess.CompletedProcess[bytes]) -> dict[str, tuple[int, str]]:
    document = view(proc)
    return {p["name"]: (p["position"], p["digest"]) for p in document["projections"]}


def test_status_digests_equal_after_rebuild(ledgers: Ledgers) -> None:
    view(invoke("runs", "--json", *ledgers.offline))  # offline: caught up
    online = invoke("projections", "status", "--json", *ledgers.online)
    offline = invoke("projections", "status", "--json", *ledgers.offline)
    assert offline.stdout == online.stdout
    before = _digests(online)
    assert list(before) == ["verdicts", "health", "runs"]
    assert {position for position, _ in before.values()} == {LOG_SIZE}

    rebuilt_online = invoke("projections", "rebuild", "--json", *ledgers.online)
    assert _digests(rebuilt_online) == before
    rebuilt_offline = invoke("projections", "rebuild", "verdicts", "--json", *ledgers.offline)
    assert rebuilt_offline.stdout == rebuilt_online.stdout
    assert _digests(invoke("projections", "status", "--json", *ledgers.online)) == before
    assert _digests(invoke("projections", "status", "--json", *ledgers.offline)) == before

    out, err = text(invoke("projections", "rebuild", "health", "runs", *ledgers.offline))
    assert err == ""
    assert "rebuilt health, runs" in out
    for name, (_, digest) in before.items():
        assert name in out
        assert digest in out


def test_offline_status_is_the_stored_state(ledgers: Ledgers, tmp_path: Path) -> None:
    copy = snapshot(ledgers.offline_dir, tmp_path / "copy")
    fresh = view(invoke("projections", "status", "--json", "--data-dir", str(copy)))
    assert {(p["position"], p["lag"]) for p in fresh["projections"]} == {(0, LOG_SIZE)}
    # Neither the log's own history nor an answer as of a seq reads the stored state.
    view(invoke("history", "findings/pr-7", "--json", "--data-dir", str(copy)))
    view(invoke("health", "--as-of", "5", "--json", "--data-dir", str(copy)))
    unfolded = view(invoke("projections", "status", "--json", "--data-dir", str(copy)))
    assert unfolded == fresh
    view(invoke("verdict", "pr-7", "--json", "--data-dir", str(copy)))  # folds
    caught_up = view(invoke("projections", "status", "--json", "--data-dir", str(copy)))
    assert {(p["position"], p["lag"]) for p in caught_up["projections"]} == {(LOG_SIZE, 0)}
    out, _ = text(invoke("projections", "status", "--data-dir", str(copy)))
    for name in ("verdicts", "health", "runs"):
        assert name in out


# Targets ---------------------------------------------------------------------------------


def test_data_dir_held_by_the_daemon_is_locked(ledgers: Ledgers) -> None:
    served = ["--data-dir", str(ledgers.daemon.data_dir)]
    proc = invoke("verdict", "pr-7", "--json", *served)
    document = failure(proc, "state_contention", "DATA_DIR_LOCKED")
    assert "--server" in document["hint"]
    assert document["details"]["holder_pid"] == ledgers.daemon.process.pid  # type: ignore[union-attr]
    failure(
        invoke("projections", "status", "--json", *served), "state_contention", "DATA_DIR_LOCKED"
    )


@pytest.mark.parametrize(
    "args",
    [["verdict", "pr-7"], ["health"], ["projections", "status"], ["history", "s"]],
    ids=" ".join,
)
def test_a_missing_data_dir_is_not_created(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "nothing-here"
    proc = invoke(*args, "--json", "--data-dir", str(missing))
    failure(proc, "invalid_input", "DATA_DIR_NOT_FOUND")
    assert not missing.exists()


def test_offline_min_seq_beyond_the_log(ledgers: Ledgers) -> None:
    ok = invoke("verdict", "pr-7", "--min-seq", str(LOG_SIZE - 1), "--json", *ledgers.offline)
    view(ok)
    proc = invoke("verdict", "pr-7", "--min-seq", str(LOG_SIZE), "--json", *ledgers.offline)
    document = failure(proc, "invalid_input", "INVALID_ARGUMENT")
    assert f"size {LOG_SIZE}" in document["error"]
    assert document["details"]["log_size"] == LOG_SIZE


def test_an_unreachable_daemon_is_retried_within_the_deadline() -> None:
    address = f"127.0.0.1:{free_port()}"
    args = ("verdict", "pr-7", "--server", address, "--retry-deadline", "0.3", "--json")
    failure(invoke(*args), "network_transient", "SERVER_UNAVAILABLE")


def test_read_your_writes_online(daemon: DaemonProcess) -> None:
    finding = finding_reported("F-9", "pr-9", severity="P0", what="fresh from the gate")
    appended = invoke(
        "append",
        "--event",
        encode_envelope(finding).decode("utf-8"),
        "--server",
        daemon.address,
        "--json",
    )
    assert appended.returncode == 0, appended.stdout
    seq = json.loads(appended.stdout)["results"][0]["seq"]
    server = ("--server", daemon.address)
    document = view(invoke("verdict", "pr-9", "--min-seq", str(seq), "--json", *server))
    assert document["known"] is True
    assert document["last_seq"] == seq
    assert document["log_position"] > seq
    assert [f["finding_id"] for f in document["findings"]["open"]] == ["F-9"]
    assert document["verdict"]["production_readiness"] == "not_ready"
    out, _ = text(invoke("verdict", "pr-9", "--min-seq", str(seq), *server))
    assert "F-9" in out
    assert "fresh from the gate" in out


def test_runs_as_of_a_seq_list_only_what_was_recorded_by_then(ledgers: Ledgers) -> None:
    earlier = view(invoke("runs", "--as-of", str(SEQ_RUN_A), "--json", *ledgers.online))
    assert [r["run_id"] for r in earlier["runs"]] == [RUN_A]
    assert earlier["as_of"] == SEQ_RUN_A
    assert earlier["log_position"] == SEQ_RUN_A + 1
    now = view(invoke("runs", "--json", *ledgers.online))
    assert [r["run_id"] for r in now["runs"]] == [RUN_B, RUN_A]


def test_event_text_cannot_send_escape_sequences_to_the_terminal() -> None:
    from ledger.cli._tables import _joined, _text

    # An OSC 52 clipboard write hidden in a finding's text, and a bell.
    hostile = "ok\x1b]52;c;cm0gLXJmIH4=\x07 done\nnext line"
    shown = _text(hostile)
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert shown == "ok\\x1b]52;c;cm0gLXJmIH4=\\x07 done\nnext line"
    assert "\x1b" not in _joined([hostile, "plain"])
