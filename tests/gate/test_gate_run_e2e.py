"""`ledgerctl gate run` end to end: a real git repository, a real daemon, real probes.

Each scenario gates its own subject, so verdicts do not leak between them, and
checks the exit code, the report printed and the events the log holds after.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.client import LedgerClient
from conftest import run_ledgerctl
from daemon import DaemonProcess

_UNIT_PROBE = (
    "import pathlib, sys; sys.exit(1 if 'BROKEN' in pathlib.Path('src/app.py').read_text() else 0)"
)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "GIT_AUTHOR_NAME": "dev",
            "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "dev",
            "GIT_COMMITTER_EMAIL": "dev@example.com",
            "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
            "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
        },
    )
    return done.stdout.decode().strip()


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "gate.toml").write_text(
        "[gate]\n"
        'name = "ci-gate"\n'
        "[[probe]]\n"
        'name = "unit"\n'
        f"argv = {json.dumps([sys.executable, '-c', _UNIT_PROBE])}\n"
        "timeout_s = 60\n"
        "[[probe]]\n"
        'name = "version"\n'
        f"argv = {json.dumps([sys.executable, '--version'])}\n"
        "[[findings]]\n"
        'path = "reports/scan.sarif"\n'
        'format = "sarif"\n'
        "optional = true\n"
    )
    _commit(
        root,
        {
            "src/app.py": "def add(a, b):\n    return a + b\n",
            "specs/add.md": "add(1, 2) == 3\n",
        },
        "base",
    )
    return root


@pytest.fixture
def served(tmp_path: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess(tmp_path / "served").start()
    try:
        yield process
    finally:
        process.kill()


def _gate(
    repo: Path, server: str, subject: str, base: str, head: str, *extra: str
) -> subprocess.CompletedProcess[bytes]:
    return run_ledgerctl(
        "gate",
        "run",
        "--config",
        str(repo / "gate.toml"),
        "--subject",
        subject,
        "--repo",
        str(repo),
        "--base",
        base,
        "--head",
        head,
        "--server",
        server,
        "--spool",
        str(repo.parent / "spool"),
        *extra,
    )


def _events(server: str) -> list[dict[str, object]]:
    with LedgerClient(server) as client:
        return [
            {"seq": e.seq, "type": e.event.type, **json.loads(e.event.data_json)}
            for e in client.read()
        ]


def _of_subject(events: list[dict[str, object]], subject: str) -> list[dict[str, object]]:
    return [e for e in events if e.get("subject") == subject]


def test_a_clean_change_passes_and_is_recorded(repo: Path, served: DaemonProcess) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    head = _commit(
        repo,
        {"src/app.py": "def add(a, b):\n    return a + b\n\n\ndef neg(a):\n    return -a\n"},
        "neg",
    )
    done = _gate(repo, served.address, "pr-clean", base, head)
    assert done.returncode == 0, done.stderr.decode()
    report = done.stdout.decode()
    assert "## Scope Notes" in report
    assert "| production\\_readiness | ready | READY-7 |" in report

    events = _of_subject(_events(served.address), "pr-clean")
    kinds = [e["type"] for e in events]
    assert kinds.count("command.executed") == 2
    assert kinds.count("patch.inspected") == 1
    assert kinds.count("run.recorded") == 1
    assert kinds[-1] == "gate.evaluated"
    inspected = next(e for e in events if e["type"] == "patch.inspected")
    assert inspected["verdict"] == "CLEAN"
    evaluated = events[-1]
    assert evaluated["passed"] is True
    assert evaluated["production_readiness"] == "ready"
    run = next(e for e in events if e["type"] == "run.recorded")
    assert run["agent_name"] == "ci-gate"
    assert run["git_head"] == head
    assert evaluated["run_id"] == run["run_id"] == inspected["run_id"]
    # The decision was taken over a log that already held all of the run's evidence.
    assert evaluated["log_position"] > max(int(str(e["seq"])) for e in events[:-1])


def test_a_cheating_patch_is_blocked(repo: Path, served: DaemonProcess) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    head = _commit(
        repo,
        {
            "src/app.py": "def add(a, b):\n    return a - b  # noqa\n",
            "specs/add.md": "add(1, 2) == -1\n",
        },
        "make the spec agree with the bug",
    )
    done = _gate(repo, served.address, "pr-cheat", base, head, "--json")
    assert done.returncode == 4, done.stderr.decode()
    document = json.loads(done.stdout)
    assert document["error_code"] == "GATE_BLOCKED"

    events = _of_subject(_events(served.address), "pr-cheat")
    inspected = next(e for e in events if e["type"] == "patch.inspected")
    assert inspected["verdict"] == "UNSAFE_PATCH_ATTEMPT"
    assert {edit["type"] for edit in inspected["edits"]} == {  # type: ignore[attr-defined]
        "spec_modification",
        "suppression_insertion",
    }
    findings = {e["rule_id"]: e["severity"] for e in events if e["type"] == "finding.reported"}
    assert findings == {"guard/spec_modification": "P0", "guard/suppression_insertion": "P1"}
    evaluated = events[-1]
    assert evaluated["type"] == "gate.evaluated"
    assert evaluated["passed"] is False
    assert evaluated["production_readiness"] == "not_ready"


def test_a_failing_probe_blocks(repo: Path, served: DaemonProcess) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    head = _commit(repo, {"src/app.py": "BROKEN = True\n"}, "break it")
    done = _gate(repo, served.address, "pr-broken", base, head)
    assert done.returncode == 4
    assert "GATE_BLOCKED" in done.stderr.decode()
    events = _of_subject(_events(served.address), "pr-broken")
    probes = {e["probe"]: e["status"] for e in events if e["type"] == "command.executed"}
    assert probes == {"unit": "failed", "version": "passed"}
    assert events[-1]["type"] == "gate.evaluated"
    assert events[-1]["passed"] is False


def test_conditionally_ready_passes_unless_strict(repo: Path, served: DaemonProcess) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    sarif = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "scanner", "rules": [{"id": "style-1"}]}},
                "results": [
                    {
                        "ruleId": "style-1",
                        "level": "warning",
                        "message": {"text": "name could be clearer"},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": "src/app.py"},
                                    "region": {"startLine": 1},
                                }
                            }
                        ],
                    }
                ],
            }
        ],
    }
    head = _commit(
        repo,
        {
            "src/app.py": "def plus(a, b):\n    return a + b\n",
            "reports/scan.sarif": json.dumps(sarif),
        },
        "rename",
    )
    relaxed = _gate(repo, served.address, "pr-minor", base, head)
    strict = _gate(repo, served.address, "pr-minor", base, head, "--strict")
    events = _of_subject(_events(served.address), "pr-minor")
    evaluations = [e for e in events if e["type"] == "gate.evaluated"]
    assert [e["production_readiness"] for e in evaluations] == ["conditionally_ready"] * 2
    assert [(e["strict"], e["passed"]) for e in evaluations] == [(False, True), (True, False)]
    assert relaxed.returncode == 0, relaxed.stderr.decode()
    assert strict.returncode == 4


def test_ledger_down_fails_closed_and_loses_nothing(repo: Path, served: DaemonProcess) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    head = _commit(repo, {"src/app.py": "def add(a, b):\n    return b + a\n"}, "commute")
    address = served.address
    served.stop()

    done = _gate(repo, address, "pr-offline", base, head, "--retry-deadline", "1", "--json")
    assert done.returncode == 9, done.stderr.decode()
    failure = json.loads(done.stdout)
    assert failure["error_code"] == "SERVER_UNAVAILABLE"
    assert failure["details"]["spooled"] == 4  # two probes, the inspection, the run record

    served.start()
    flushed = run_ledgerctl(
        "spool", "flush", "--server", address, "--spool", str(repo.parent / "spool"), "--json"
    )
    assert flushed.returncode == 0, flushed.stderr.decode()
    events = _of_subject(_events(address), "pr-offline")
    assert sorted(e["type"] for e in events) == [
        "command.executed",
        "command.executed",
        "patch.inspected",
        "run.recorded",
    ]
    # No verdict was recorded for a gate that could not reach the ledger.
    assert not [e for e in events if e["type"] == "gate.evaluated"]
    again = run_ledgerctl(
        "spool", "flush", "--server", address, "--spool", str(repo.parent / "spool"), "--json"
    )
    assert again.returncode == 0
    assert len(_of_subject(_events(address), "pr-offline")) == 4


def test_a_fixed_patch_passes_on_the_next_run(repo: Path, served: DaemonProcess) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    cheat = _commit(repo, {"src/app.py": "def add(a, b):\n    return a + b  # noqa\n"}, "silence")
    first = _gate(repo, served.address, "pr-again", base, cheat, "--json")
    assert first.returncode == 4
    fixed = _commit(repo, {"src/app.py": "def add(a, b):\n    return a + b\n"}, "unsilence")
    second = _gate(repo, served.address, "pr-again", base, fixed, "--json")
    assert second.returncode == 0, second.stdout.decode()
    document = json.loads(second.stdout)
    assert document["passed"] is True
    # The guard's finding from the first run is resolved by the second, which no longer sees it.
    (resolved,) = document["resolved_findings"]
    events = _events(served.address)
    closing = [e for e in events if e["type"] == "finding.resolved"]
    assert [(e["finding_id"], e["resolution"]) for e in closing] == [(resolved, "fixed")]
    reported = [e for e in events if e["type"] == "finding.reported"]
    assert [e["finding_id"] for e in reported] == [resolved]


def test_the_work_tree_includes_untracked_files(repo: Path, served: DaemonProcess) -> None:
    (repo / "src" / "extra.py").write_text("import os  # noqa\n")
    done = _gate_work_tree(repo, served.address, "pr-untracked")
    assert done.returncode == 4
    inspected = next(
        e
        for e in _of_subject(_events(served.address), "pr-untracked")
        if e["type"] == "patch.inspected"
    )
    assert [(e["type"], e["file"]) for e in inspected["edits"]] == [  # type: ignore[attr-defined]
        ("suppression_insertion", "src/extra.py")
    ]


def _gate_work_tree(repo: Path, server: str, subject: str) -> subprocess.CompletedProcess[bytes]:
    return run_ledgerctl(
        "gate", "run", "--config", str(repo / "gate.toml"), "--subject", subject,
        "--repo", str(repo), "--server", server, "--spool", str(repo.parent / "spool"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("head-not-checked-out", "INVALID_ARGUMENT"),
        ("unknown-revision", "INVALID_ARGUMENT"),
        ("bad-findings-file", "INVALID_FINDINGS"),
        ("bad-config", "INVALID_CONFIG"),
        ("bad-subject", "INVALID_ARGUMENT"),
    ],
)
def test_refusals_record_nothing(repo: Path, served: DaemonProcess, setup: str, code: str) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    head = _commit(repo, {"src/app.py": "def add(a, b):\n    return b + a\n"}, "commute")
    subject = "pr-refused"
    if setup == "head-not-checked-out":
        _git(repo, "checkout", "-q", base)
    elif setup == "unknown-revision":
        head = "no-such-branch"
    elif setup == "bad-findings-file":
        (repo / "reports").mkdir()
        (repo / "reports" / "scan.sarif").write_text('{"version": "2.1.0", "runs": 7}')
    elif setup == "bad-config":
        (repo / "gate.toml").write_text("[[probe]]\nname = 'x'\n")
    else:
        subject = "two\nlines"
    before = len(_events(served.address))
    done = _gate(repo, served.address, subject, base, head, "--json")
    assert done.returncode == 2, done.stdout.decode()
    assert json.loads(done.stdout)["error_code"] == code
    assert len(_events(served.address)) == before
    assert not (repo.parent / "spool").exists() or not any((repo.parent / "spool").iterdir())


def test_ledger_and_spool_both_failing_says_so(repo: Path, served: DaemonProcess) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    head = _commit(repo, {"src/app.py": "def add(a, b):\n    return b + a\n"}, "commute")
    address = served.address
    served.stop()
    blocker = repo.parent / "blocker"
    blocker.write_text("a file where the spool's parent directory should be")
    # The last --spool wins: one that cannot be created.
    spool = ("--spool", str(blocker / "spool"))
    done = _gate(repo, address, "pr-nowhere", base, head, "--retry-deadline", "1", *spool, "--json")
    assert done.returncode == 7, done.stdout.decode()
    failure = json.loads(done.stdout)
    assert failure["error_category"] == "io_failure"
    assert "SERVER_UNAVAILABLE" in failure["error"]
    assert failure["details"]["ledger_error_code"] == "SERVER_UNAVAILABLE"


def test_a_change_to_the_gates_own_config_is_blocked(repo: Path, served: DaemonProcess) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    # The change lowers the gate's own bar: no probes, nothing protected, every file allowed.
    head = _commit(
        repo,
        {
            "gate.toml": '[gate]\nname = "ci-gate"\n[guard]\nprotected = []\n',
            "specs/add.md": "add(1, 2) == -1\n",
        },
        "relax the gate",
    )
    done = _gate(repo, served.address, "pr-relax", base, head, "--json")
    assert done.returncode == 4, done.stdout.decode()
    inspected = next(
        e
        for e in _of_subject(_events(served.address), "pr-relax")
        if e["type"] == "patch.inspected"
    )
    edits = {(e["type"], e["file"], e["severity"]) for e in inspected["edits"]}  # type: ignore[attr-defined]
    assert ("gate_config_weaken", "gate.toml", "critical") in edits
