"""Atomic, durable file writes: a reader sees the old file or the new one, never a torn mix."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ledger.errors import ErrorCode, InvalidInput, IoFailure


def fsync_dir(directory: Path) -> None:
    """Sync a directory, so the names created or renamed in it survive a crash.

    Raises the OSError: callers know which file the entry was for and classify it.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(
    path: Path, data: bytes, *, mode: int = 0o644, overwrite: bool = True
) -> None:
    """Write `data` to `path` via a synced temp file in the same directory and a rename.

    The temp file gets `mode` before any byte is written, so a private key is
    never readable by others, not even for an instant. With `overwrite=False`
    the file is linked into place instead, which fails if anything is already
    there, even something created a moment ago by another process.
    """
    directory = path.parent
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _write_failed(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temp_name, path)
        else:
            try:
                os.link(temp_name, path)
            finally:
                os.unlink(temp_name)
        fsync_dir(directory)
    except FileExistsError:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"{path} already exists",
            hint="it is never overwritten; choose another path or move the old file away",
        ) from None
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise _write_failed(path, exc) from None


def _write_failed(path: Path, exc: OSError) -> IoFailure:
    return IoFailure(
        ErrorCode.FILE_WRITE_FAILED,
        f"could not write {path}: {exc.strerror or exc}",
        hint="check that the directory exists, is writable and has free space",
    )


def read_file(path: Path, *, what: str) -> bytes:
    """Read a whole file, turning OS errors into a classified error naming `what` it was."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise IoFailure(
            ErrorCode.FILE_UNREADABLE,
            f"{what} {path} does not exist",
            hint="check the path",
        ) from None
    except OSError as exc:
        raise IoFailure(
            ErrorCode.FILE_UNREADABLE,
            f"could not read {what} {path}: {exc.strerror or exc}",
            hint="check the path and its permissions",
        ) from None
