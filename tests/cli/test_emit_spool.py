"""`ledgerctl emit run`, `spool status` and `spool flush` through the real CLI and a real daemon."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clients.client import LedgerClient
from clients.spool import FLUSH_LOCK_FILE
from daemon import DaemonProcess, free_port
from ledger.model import RunRecordV1, decode_leaf

Run = Callable[..., subprocess.CompletedProcess[bytes]]
Ok = Callable[[subprocess.CompletedProcess[bytes]], dict[str, Any]]
Err = Callable[[subprocess.CompletedProcess[bytes], str, str], dict[str, Any]]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_bytes(b"print(1)\n")
    (root / "out.txt").write_bytes(b"done\n")
    return root


@pytest.fixture
def spool_env(tmp_path: Path) -> dict[str, str]:
    return {"LEDGER_SPOOL": str(tmp_path / "spool")}


def emit_args(workspace: Path, server: str, *extra: str) -> list[str]:
    return [
        "emit",
        "run",
        "--agent",
        "shell-agent",
        "--status",
        "SUCCESS",
        "--workspace",
        str(workspace),
        "--input",
        "src/app.py",
        "--output",
        "out.txt",
        "--started-at",
        "2026-01-01T11:00:00Z",
        "--server",
        server,
        "--json",
        *extra,
    ]


def test_emit_records_and_reads_back(
    ledgerctl: Run, ok: Ok, daemon: DaemonProcess, workspace: Path, spool_env: dict[str, str]
) -> None:
    doc = ok(ledgerctl(*emit_args(workspace, daemon.address), env=spool_env))
    assert (doc["outcome"], doc["verified"], doc["spool"], doc["reason"]) == (
        "recorded",
        True,
        None,
        None,
    )
    digest = hashlib.sha256(b"print(1)\n").hexdigest()
    expected_context = hashlib.sha256(b"src/app.py\x00" + digest.encode() + b"\n").hexdigest()
    assert doc["input_context_sha"] == expected_context
    with LedgerClient(daemon.address) as client:
        entry = client.get_event(event_id=doc["event_id"])
    assert entry.seq == doc["seq"]
    record = decode_leaf(entry.leaf).envelope.data
    assert isinstance(record, RunRecordV1)
    assert (record.run_id, record.input_context_sha) == (doc["run_id"], expected_context)
    # LEDGERD_CLOCK pins "now", which is the default end of the run.
    assert (record.started_at, record.ended_at) == (
        "2026-01-01T11:00:00Z",
        "2026-01-01T12:00:00.000000Z",
    )


def test_emit_spools_while_the_daemon_is_down_and_flush_lands_it_once(
    ledgerctl: Run,
    ok: Ok,
    error: Err,
    tmp_path: Path,
    workspace: Path,
    spool_env: dict[str, str],
) -> None:
    port = free_port()
    down = f"127.0.0.1:{port}"
    doc = ok(ledgerctl(*emit_args(workspace, down, "--retry-deadline", "1"), env=spool_env))
    assert (doc["outcome"], doc["seq"]) == ("spooled", None)
    assert doc["spool"] == spool_env["LEDGER_SPOOL"]
    assert doc["reason"]["error_code"] == "SERVER_UNAVAILABLE"

    status = ok(ledgerctl("spool", "status", "--json", env=spool_env))
    assert (status["entries"], status["damaged"], status["dead_letters"]) == (1, 0, 0)
    assert status["oldest_occurred_at"] == "2026-01-01T12:00:00.000000Z"

    flush_down = ("spool", "flush", "--server", down, "--retry-deadline", "1", "--json")
    still_down = error(
        ledgerctl(*flush_down, env=spool_env),
        "network_transient",
        "SERVER_UNAVAILABLE",
    )
    assert still_down["details"]["remaining"] == 1
    assert ok(ledgerctl("spool", "status", "--json", env=spool_env))["entries"] == 1

    with DaemonProcess(tmp_path / "served", port=port):
        flushed = ok(ledgerctl("spool", "flush", "--server", down, "--json", env=spool_env))
        assert (flushed["delivered"], flushed["remaining"], flushed["dead_lettered"]) == (1, 0, [])
        again = ok(ledgerctl("spool", "flush", "--server", down, "--json", env=spool_env))
        assert (again["delivered"], again["duplicates"]) == (0, 0)
        with LedgerClient(down) as client:
            ids = [entry.event.event_id for entry in client.read()]
    assert ids.count(doc["event_id"]) == 1
    assert ok(ledgerctl("spool", "status", "--json", env=spool_env))["entries"] == 0


def test_text_output_says_which(
    ledgerctl: Run, workspace: Path, tmp_path: Path, spool_env: dict[str, str]
) -> None:
    args = [a for a in emit_args(workspace, f"127.0.0.1:{free_port()}") if a != "--json"]
    done = ledgerctl(*args, "--retry-deadline", "1", env=spool_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith("spooled run ")
    status = ledgerctl("spool", "status", "--spool", str(tmp_path / "spool"))
    assert "entries:      1" in status.stdout.decode()


def test_an_invalid_run_fails_and_is_not_spooled(
    ledgerctl: Run, ok: Ok, error: Err, workspace: Path, spool_env: dict[str, str]
) -> None:
    down = f"127.0.0.1:{free_port()}"
    bad = error(
        ledgerctl(*emit_args(workspace, down, "--status-after", "not a label"), env=spool_env),
        "invalid_input",
        "INVALID_EVENT",
    )
    assert bad["details"]["field"] == "$.data.status_after"
    error(
        ledgerctl(*emit_args(workspace, down, "--input", "../escape"), env=spool_env),
        "invalid_input",
        "INVALID_ARGUMENT",
    )
    both = emit_args(workspace, down, "--git-head", "0" * 40, "--no-git-head")
    error(
        ledgerctl(*both, env=spool_env),
        "invalid_input",
        "INVALID_ARGUMENT",
    )
    error(
        ledgerctl(*emit_args(workspace, down, "--seed", "no-number"), env=spool_env),
        "invalid_input",
        "INVALID_ARGUMENT",
    )
    assert ok(ledgerctl("spool", "status", "--json", env=spool_env))["entries"] == 0


def test_best_effort_runs_and_config_files(
    ledgerctl: Run, ok: Ok, daemon: DaemonProcess, workspace: Path, spool_env: dict[str, str]
) -> None:
    config = workspace / "config.json"
    config.write_text('{"temperature": 0.7, "model": "m"}')
    doc = ok(
        ledgerctl(
            *emit_args(workspace, daemon.address),
            "--mode",
            "best_effort",
            "--entropy-source",
            "llm sampling",
            "--seed",
            "sampler=7",
            "--config",
            str(config),
            "--no-git-head",
            env=spool_env,
        )
    )
    with LedgerClient(daemon.address) as client:
        record = decode_leaf(client.get_event(event_id=doc["event_id"]).leaf).envelope.data
    assert isinstance(record, RunRecordV1)
    assert record.best_effort is not None
    assert (record.best_effort.entropy_sources, record.best_effort.seeds) == (
        ["llm sampling"],
        {"sampler": 7},
    )
    canonical = b'{"model":"m","temperature":0.7}'
    assert record.config_fingerprint == hashlib.sha256(canonical).hexdigest()
    assert record.git_head is None


def test_a_second_flush_is_refused_with_spool_locked(
    ledgerctl: Run, ok: Ok, error: Err, workspace: Path, spool_env: dict[str, str]
) -> None:
    down = f"127.0.0.1:{free_port()}"
    ok(ledgerctl(*emit_args(workspace, down, "--retry-deadline", "1"), env=spool_env))
    # The other flusher: this process, holding the lock through its own descriptor.
    lock = os.open(Path(spool_env["LEDGER_SPOOL"]) / FLUSH_LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.write(lock, f"{os.getpid()}\n".encode())
        busy = error(
            ledgerctl("spool", "flush", "--server", down, "--json", env=spool_env),
            "state_contention",
            "SPOOL_LOCKED",
        )
        assert busy["details"]["holder_pid"] == os.getpid()
    finally:
        os.close(lock)


def test_emit_and_flush_read_the_retry_deadline_from_the_environment(
    ledgerctl: Run, ok: Ok, error: Err, workspace: Path, spool_env: dict[str, str]
) -> None:
    down = f"127.0.0.1:{free_port()}"
    broken = {**spool_env, "LEDGER_RETRY_DEADLINE_S": "soon"}
    error(ledgerctl(*emit_args(workspace, down), env=broken), "invalid_input", "INVALID_CONFIG")
    error(
        ledgerctl("spool", "flush", "--server", down, "--json", env=broken),
        "invalid_input",
        "INVALID_CONFIG",
    )
    # A short deadline from the environment: the daemon is down, so the record is spooled.
    quick = {**spool_env, "LEDGER_RETRY_DEADLINE_S": "0.5"}
    assert ok(ledgerctl(*emit_args(workspace, down), env=quick))["outcome"] == "spooled"
