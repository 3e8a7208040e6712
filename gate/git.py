"""The git commands a gate needs: resolve a revision, diff two, all as argv, never a shell."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ledger.errors import ErrorCode, InvalidInput

#: A diff or rev-parse that takes longer than this is a wedged repository, not a big change.
GIT_TIMEOUT_S = 300.0


def _git(repo: Path, *args: str) -> bytes:
    program = shutil.which("git")
    if program is None:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            "git is not installed, so the gate cannot diff the change",
            hint="install git, or run the gate where git is on PATH",
        )
    try:
        done = subprocess.run(  # noqa: S603 - argv list, no shell
            [program, "-C", str(repo), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1"},
        )
    except subprocess.TimeoutExpired:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"git {args[0]} in {repo} did not finish in {GIT_TIMEOUT_S:.0f} s",
            hint="check the repository (a lock, a network filesystem) and run the gate again",
        ) from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"git {' '.join(args[:1])} failed in {repo}: {message[-1] if message else 'no output'}",
            hint="pass --repo at a git work tree and --base/--head as revisions it has",
            details={"exit_code": done.returncode},
        )
    return done.stdout


def resolve_revision(repo: Path, revision: str) -> str:
    """The full commit id `revision` names in `repo` (INVALID_ARGUMENT when it names none)."""
    if revision.startswith("-"):
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"{revision!r} is not a revision",
            hint="pass a commit id, branch or tag",
        )
    found = _git(repo, "rev-parse", "--verify", "--end-of-options", f"{revision}^{{commit}}")
    return found.decode("ascii").strip()


def diff(repo: Path, base: str, head: str | None) -> bytes:
    """`git diff` from `base` to `head` (to the work tree and index when `head` is None).

    Renames are detected, binary files marked, and no external diff driver,
    colour or textconv filter runs, so the bytes are what the guard expects.
    """
    args = ["diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M", "--full-index", base]
    if head is not None:
        args.append(head)
    return _git(repo, *args, "--")
