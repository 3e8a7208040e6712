"""Shared fixtures: real LMDB directories in temp dirs, a pinned clock, and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clients.client import LedgerClient
from daemon import DaemonProcess
from ledger.clock import FixedClock
from ledger.store import LmdbEventLog

PINNED = "2026-01-01T12:00:00Z"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def open_log(clock: FixedClock) -> Iterator[Callable[..., LmdbEventLog]]:
    """Opens logs (for writing unless readonly=True) and closes them all at teardown."""
    opened: list[LmdbEventLog] = []

    def _open(path: Path, **kwargs: object) -> LmdbEventLog:
        kwargs.setdefault("clock", clock)
        log = LmdbEventLog(path, **kwargs)  # type: ignore[arg-type]
        opened.append(log)
        return log

    yield _open
    for log in opened:
        log.close()


@pytest.fixture
def log(open_log: Callable[..., LmdbEventLog], data_dir: Path) -> LmdbEventLog:
    return open_log(data_dir)


def run_ledgerctl(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run the real `ledgerctl` in a child process (argv list, no shell)."""
    full_env = {**os.environ, "LEDGERD_CLOCK": f"fixed:{PINNED}", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.fixture
def ledgerctl() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    return run_ledgerctl


def json_lines(output: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.decode().splitlines() if line.strip()]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A real ledgerd on a free loopback port, over a fresh LMDB directory, pinned clock."""
    process = DaemonProcess(tmp_path / "served").start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[LedgerClient]:
    with LedgerClient(daemon.address) as connected:
        yield connected
