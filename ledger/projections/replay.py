"""Replay checks: would a run, started again in this workspace, see the inputs it recorded?

Each input file the run record lists is hashed again in the workspace and
compared with the recorded sha256: `match`, `drift` (different content) or
`missing` (absent, not a regular file, unreadable, or outside the workspace).
This runs where the workspace is, so the CLI does it, not the daemon.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ledger.errors import ErrorCode, InvalidInput, VerificationFailed

ReplayMode = Literal["strict", "best_effort"]
FileStatus = Literal["match", "drift", "missing"]
_CHUNK = 1 << 20


def _current_sha256(root: Path, relative: str) -> tuple[str | None, str | None]:
    """The file's sha256 now, or (None, why it cannot be read)."""
    if "\x00" in relative:
        return None, "not a path (it holds a NUL)"
    path = root / relative
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None, "no such file"
    if not resolved.is_relative_to(root):
        return None, "resolves outside the workspace"
    # Checked before opening: opening a named pipe for reading would wait for a writer.
    if not resolved.is_file():
        return None, "not a regular file"
    try:
        fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return None, f"cannot be opened: {exc.strerror}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, "not a regular file"
        # A directory on the way may have been swapped for a link since it was
        # resolved: trust only what the open file really is.
        opened = _opened_path(fd)
        if opened is not None and not opened.is_relative_to(root):
            return None, "resolves outside the workspace"
        digest = hashlib.sha256()
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
        return digest.hexdigest(), None
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror}"
    finally:
        os.close(fd)


def _opened_path(fd: int) -> Path | None:
    """Where an open file really is, where the system can say (Linux: /proc)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def check_inputs(inputs: Sequence[Mapping[str, str]], workspace: Path) -> list[dict[str, Any]]:
    """Each recorded input (`path`, `sha256`) against the workspace, in path order."""
    try:
        root = workspace.resolve(strict=True)
    except (OSError, RuntimeError):
        root = None
    if root is None or not root.is_dir():
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"workspace {workspace} is not a directory",
            hint="pass --workspace DIR, the directory the run's input paths are relative to",
            details={"field": "workspace"},
        )
    checked = []
    for item in sorted(inputs, key=lambda i: i["path"].encode("utf-8")):
        current, why = _current_sha256(root, item["path"])
        status: FileStatus = "missing"
        if current is not None:
            status = "match" if current == item["sha256"] else "drift"
        entry: dict[str, Any] = {
            "path": item["path"],
            "recorded_sha256": item["sha256"],
            "current_sha256": current,
            "status": status,
        }
        if why is not None:
            entry["reason"] = why
        checked.append(entry)
    return checked


def replay_report(
    run: Mapping[str, Any], workspace: Path, mode: ReplayMode | None
) -> dict[str, Any]:
    """The run document (from `ProjectionQueries.run`) with the replay check added.

    `mode` defaults to the run's own: a strict run is replayed strictly.
    """
    chosen: ReplayMode = mode or ("strict" if run["run"]["mode"] == "strict" else "best_effort")
    inputs = check_inputs(run["record"]["input_files"], workspace)
    summary = {
        status: sum(1 for item in inputs if item["status"] == status)
        for status in ("match", "drift", "missing")
    }
    clean = summary["drift"] == 0 and summary["missing"] == 0
    return {
        **run,
        "replay": {
            "workspace": str(workspace),
            "mode": chosen,
            "summary": summary,
            "inputs": inputs,
            "ok": clean or chosen == "best_effort",
            "warnings": []
            if clean
            else [
                f"{item['path']}: {item['status']}" for item in inputs if item["status"] != "match"
            ],
        },
    }


def replay_failure(report: Mapping[str, Any]) -> VerificationFailed | None:
    """The error a strict replay that found drift or missing inputs ends with, else None."""
    replay = report["replay"]
    if replay["ok"]:
        return None
    summary = replay["summary"]
    return VerificationFailed(
        ErrorCode.REPLAY_INPUT_DRIFT,
        f"run {report['run']['run_id']}: {summary['drift']} input(s) drifted and "
        f"{summary['missing']} missing in {replay['workspace']}",
        hint="restore the recorded inputs, or pass --best-effort to report drift without failing",
        details={"drift": summary["drift"], "missing": summary["missing"]},
    )
