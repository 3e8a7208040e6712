"""The git commands a gate needs: resolve a revision, diff two, all as argv, never a shell."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ledger.errors import ErrorCode, InvalidInput

#: A diff or rev-parse that takes longer than this is a wedged repository, not a big change.
GIT_TIMEOUT_S = 300.0


#: git sees no user or system config and no replace refs: what it reports is the
#: repository's objects as they are, not as a configuration or a `git replace`
#: written by the change under inspection would present them.
_GIT_ENV = {
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_NO_REPLACE_OBJECTS": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def _git(repo: Path, *args: str, ok_codes: tuple[int, ...] = (0,)) -> bytes:
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
            env=_GIT_ENV,
        )
    except subprocess.TimeoutExpired:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"git {args[0]} in {repo} did not finish in {GIT_TIMEOUT_S:.0f} s",
            hint="check the repository (a lock, a network filesystem) and run the gate again",
        ) from None
    if done.returncode not in ok_codes:
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


def head_commit(repo: Path) -> str:
    """The commit checked out in `repo`'s work tree."""
    return resolve_revision(repo, "HEAD")


def has_tracked_changes(repo: Path) -> bool:
    """Whether tracked files differ from HEAD, in the index or the work tree."""
    return bool(_git(repo, "status", "--porcelain", "--untracked-files=no").strip())


def untracked_files(repo: Path) -> list[str]:
    """Files git does not track and does not ignore, by path relative to `repo`."""
    listed = _git(repo, "ls-files", "--others", "--exclude-standard", "-z")
    return sorted(name for name in listed.decode("utf-8", "surrogateescape").split("\0") if name)


#: Options for every diff the guard reads: whole files as text (a `.gitattributes` in the
#: change could otherwise mark a file binary, or give it a driver, to hide its lines),
#: renames found, full object ids, git's own prefixes, no colour, no external driver and
#: no textconv filter.
_DIFF_OPTIONS = (
    "--text",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "-M",
    "--full-index",
    # The repository's own config could set `diff.noprefix` or mnemonic prefixes.
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


def diff(repo: Path, base: str, head: str | None) -> bytes:
    """The change from `base` to `head` as git writes it, for the honesty guard.

    With `head` None the change is the work tree's: tracked files against
    `base` (index and work tree), plus every untracked, unignored file as a new
    file, since a probe would see those too.
    """
    if head is not None:
        return _git(repo, "diff", *_DIFF_OPTIONS, base, head, "--")
    tracked = _git(repo, "diff", *_DIFF_OPTIONS, base, "--")
    # `git diff --no-index` exits 1 when the files differ, which they always do here.
    added = [
        _git(repo, "diff", "--no-index", *_DIFF_OPTIONS, "--", "/dev/null", name, ok_codes=(0, 1))
        for name in untracked_files(repo)
    ]
    return b"".join([tracked, *added])
