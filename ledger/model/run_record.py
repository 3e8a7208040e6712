"""RunRecord v1.0 and v1.1: what one agent or CI run consumed, did and produced (`run.recorded`).

Version 1.1 adds the run's `subject`; 1.0 stays as it was written, since readers
accept every version ever written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Annotated, Literal

import msgspec

from ledger.model._rules import (
    Digest,
    ExitCode,
    GitObjectId,
    Identifier,
    Label,
    Text,
    TextLine,
    UtcTime,
    Uuid,
    check_relative_path,
    parse_utc,
)
from ledger.model.payload import Payload

RunStatus = Literal["SUCCESS", "PARTIAL", "FAILED", "SKIPPED"]
RunMode = Literal["strict", "best_effort"]
HealReason = Literal[
    "ship",
    "stuck",
    "unknown_rule",
    "max_iterations",
    "weakening_detected",
    "build_failed",
    "test_failed",
]

_MAX_FILES = 100_000
_MAX_REFS = 10_000


class FileDigest(Payload, frozen=True):
    """One file a run read or wrote, by workspace-relative path and content digest."""

    path: str
    sha256: Digest

    def __post_init__(self) -> None:
        check_relative_path(self.path, "path")


class BestEffortMetadata(Payload, frozen=True):
    """What makes a best-effort run non-reproducible: its entropy sources and seeds."""

    entropy_sources: Annotated[list[TextLine], msgspec.Meta(max_length=256)]
    seeds: Annotated[dict[Label, int], msgspec.Meta(max_length=256)]


def input_context_sha(files: Iterable[FileDigest]) -> str:
    """The composite digest over a run's inputs (specs/run-record-v1.md, "input_context_sha").

    SHA-256 over the inputs sorted by the UTF-8 bytes of their paths, each
    contributing `path || 0x00 || sha256-hex || 0x0A`.
    """
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.path.encode("utf-8")):
        digest.update(item.path.encode("utf-8") + b"\x00" + item.sha256.encode("ascii") + b"\n")
    return digest.hexdigest()


def _check_unique_paths(files: list[FileDigest], field: str) -> None:
    seen: set[str] = set()
    for item in files:
        if item.path in seen:
            raise ValueError(f"`{field}` lists {item.path!r} more than once")
        seen.add(item.path)


class RunRecordV1(Payload, frozen=True):
    """`run.recorded` schema 1.0."""

    run_id: Uuid
    agent_name: Label
    run_status: RunStatus
    status_before: Label
    status_after: Label
    started_at: UtcTime
    ended_at: UtcTime
    input_files: Annotated[list[FileDigest], msgspec.Meta(max_length=_MAX_FILES)]
    output_files: Annotated[list[FileDigest], msgspec.Meta(max_length=_MAX_FILES)]
    input_context_sha: Digest
    git_head: GitObjectId | None
    config_fingerprint: Digest
    mode: RunMode
    best_effort: BestEffortMetadata | None
    input_refs: Annotated[list[Identifier], msgspec.Meta(max_length=_MAX_REFS)]
    output_refs: Annotated[list[Identifier], msgspec.Meta(max_length=_MAX_REFS)]
    exit_code: ExitCode
    heal_reason: HealReason | None = None
    notes: Text = ""

    def __post_init__(self) -> None:
        started = parse_utc(self.started_at, "started_at")
        ended = parse_utc(self.ended_at, "ended_at")
        if ended < started:
            raise ValueError("`ended_at` must not be before `started_at`")
        _check_unique_paths(self.input_files, "input_files")
        _check_unique_paths(self.output_files, "output_files")
        expected = input_context_sha(self.input_files)
        if self.input_context_sha != expected:
            raise ValueError(
                "`input_context_sha` does not match the composite digest of `input_files` "
                f"(expected {expected})"
            )
        if self.mode == "best_effort" and self.best_effort is None:
            raise ValueError("`best_effort` metadata is required when `mode` is best_effort")
        if self.mode == "strict" and self.best_effort is not None:
            raise ValueError("`best_effort` metadata must be null when `mode` is strict")


class RunRecordV1_1(RunRecordV1, frozen=True):
    """`run.recorded` schema 1.1: 1.0 plus the subject the run worked on.

    `subject` names a change, PR or commit exactly as findings name it, so that a
    healing run can be tied to the subject it healed (specs/verdicts.md §7).
    """

    subject: TextLine | None = None
