"""`gate.run.decide` against a real daemon: whose evidence a decision rests on, and what a
failure to read the verdict leaves behind."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clients.client import LedgerClient
from clients.retry import RetryPolicy
from clients.spool import Spool
from daemon import DaemonProcess, free_port
from gate.config import parse_gate_config
from gate.run import GateRequest, collect, decide
from ledger.clock import FixedClock
from ledger.errors import LedgerError

CLOCK = FixedClock(datetime(2026, 1, 1, 12, tzinfo=UTC))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", *args],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "app.py").write_text("x = 1\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    return repo


def _request(repo: Path, exit_code: int) -> GateRequest:
    argv = json.dumps([sys.executable, "-c", f"raise SystemExit({exit_code})"])
    config = parse_gate_config(f'[[probe]]\nname = "unit"\nargv = {argv}\n')
    return GateRequest(config=config, config_sha256="0" * 64, subject="pr-1", repo=repo)


def test_a_run_is_judged_on_its_own_evidence_not_a_later_one(
    tmp_path: Path, daemon: DaemonProcess
) -> None:
    repo = _repo(tmp_path)
    failing = collect(_request(repo, 1), clock=CLOCK, environ={"PATH": "/usr/bin:/bin"})
    passing = collect(_request(repo, 0), clock=CLOCK, environ={"PATH": "/usr/bin:/bin"})
    with LedgerClient(daemon.address) as client:
        # The failing run's evidence lands first, a concurrent passing run's after it,
        # and only then does the failing run read its verdict.
        client.append_batch(list(failing.events))
        client.append_batch(list(passing.events))
        judged = decide(failing, client, clock=CLOCK, spool=None)
        later = decide(passing, client, clock=CLOCK, spool=None)
    assert judged.evaluation.production_readiness == "not_ready"
    assert judged.passed is False
    assert later.passed is True


def test_an_unreadable_verdict_records_no_decision(tmp_path: Path, daemon: DaemonProcess) -> None:
    repo = _repo(tmp_path)
    evidence = collect(_request(repo, 0), clock=CLOCK, environ={"PATH": "/usr/bin:/bin"})
    spool = Spool(tmp_path / "spool")
    dead = RetryPolicy(max_attempts=1, overall_deadline_s=0.5, call_timeout_s=0.5)
    with (
        LedgerClient(daemon.address) as client,
        LedgerClient(f"127.0.0.1:{free_port()}", retry=dead) as reader,
    ):
        with pytest.raises(LedgerError) as raised:
            decide(evidence, client, clock=CLOCK, spool=spool, reader=reader)
        types = [e.event.type for e in client.read()]
    assert raised.value.code == "SERVER_UNAVAILABLE"
    assert "could not read the verdict" in raised.value.message
    # The evidence is recorded; no decision is, and nothing went to the spool.
    assert types.count("command.executed") == 1
    assert "gate.evaluated" not in types
    assert spool.status().entries == 0
