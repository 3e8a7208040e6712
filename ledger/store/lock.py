"""The single-writer lock on a data directory.

An advisory `flock` on `<data dir>/writer.lock`, holding the owner's pid. The
kernel drops the lock when its holder dies, however it dies, so a lock left by
a killed process is recovered simply by taking it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ledger.errors import ErrorCode, IoFailure, StateContention

LOCK_FILE = "writer.lock"


class WriterLock:
    """Exclusive write access to one data directory for the life of this object."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self.recovered_from_pid: int | None = None
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise IoFailure(
                ErrorCode.STORAGE_FAILURE,
                f"cannot open the writer lock {self.path}: {exc.strerror}",
                hint="check that the data directory is writable",
            ) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._recorded_pid()
            os.close(self._fd)
            who = f"process {holder}" if holder is not None else "another process"
            raise StateContention(
                ErrorCode.DATA_DIR_LOCKED,
                f"data directory {data_dir} is already open for writing by {who}",
                hint="stop that process (or talk to it over gRPC) instead of opening the "
                "directory twice; read-only commands work alongside it",
                details={"holder_pid": holder} if holder is not None else None,
            ) from None
        # A clean release empties the file, so a pid still in it belongs to a holder that
        # died, even one that had our pid (as a restarted container's daemon often does).
        self.recovered_from_pid = self._recorded_pid()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(self._fd)

    def _recorded_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(os.pread(self._fd, 32, 0).decode().strip())
        return None

    def release(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = -1
