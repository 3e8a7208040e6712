"""The real `ledgerd` in a child process, on a free loopback port, for tests and benchmarks.

`DaemonProcess.start()` waits for the daemon's one-line JSON announcement on
standard output, so a test never races the bind. A fixed port can be kept across
restarts (`restart()`), which is how clients see "the same server" come back.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PINNED = "2026-01-01T12:00:00Z"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DaemonProcess:
    """One `ledgerd serve` child. Use as a context manager, or call stop()/kill()."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        pinned_clock: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.port = port if port is not None else free_port()
        self.args = args
        self.env = {**os.environ, **(env or {})}
        if pinned_clock:
            self.env.setdefault("LEDGERD_CLOCK", f"fixed:{PINNED}")
        self.process: subprocess.Popen[bytes] | None = None
        self.announcement: dict[str, object] = {}
        self.stderr_lines: list[str] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> DaemonProcess:
        command = [
            sys.executable,
            "-m",
            "ledger.server",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            self.address,
            *self.args,
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=REPO,
        )
        threading.Thread(target=self._drain_stderr, args=(self.process,), daemon=True).start()
        line = self._read_announcement(timeout)
        self.announcement = json.loads(line)
        return self

    def _drain_stderr(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            self.stderr_lines.append(raw.decode("utf-8", "replace"))

    def _read_announcement(self, timeout: float) -> bytes:
        assert self.process is not None
        assert self.process.stdout is not None
        result: list[bytes] = []
        reader = threading.Thread(
            target=lambda: result.append(self.process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        if not result or not result[0]:
            self.kill()
            raise RuntimeError(
                f"ledgerd did not announce itself within {timeout}s; stderr:\n"
                + "".join(self.stderr_lines)
            )
        return result[0]

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: the clean shutdown. Returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: the crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def restart(self, timeout: float = 30.0) -> DaemonProcess:
        return self.start(timeout)

    def __enter__(self) -> DaemonProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.kill()
