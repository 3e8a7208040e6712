"""The agent hook: record a run in the ledger, or keep it in the spool; never fail the run.

`emit_run_record` hashes the run's input and output files, computes the
composite `input_context_sha`, reads the workspace's git HEAD, builds a
RunRecord event (schema 1.1 when it names the run's subject, else 1.0) and
validates it locally. It then appends it through a
retrying `LedgerClient` and reads it back, checking that the stored leaf holds
exactly the event that was sent.

What raises and what does not:

- Stored (or already stored, as on a retry) and read back equal: `recorded` /
  `duplicate`, `verified=True`.
- Stored, but the read-back could not be made (the daemon went away): the
  same outcome with `verified=False`; `error` says why.
- The ledger unreachable after the retries, misconfigured (network_permanent),
  failing on its side (internal, io) or busy (a state_contention that is a lock
  held for now, such as DATA_DIR_LOCKED): `spooled`, written to the spool;
  `error` says why.
- The record is invalid, or conflicts with the log (a reused run or event id):
  raises invalid_input / state_contention. It is the caller's bug, and a spool
  could never fix it, so it is raised before (or instead of) being kept. These
  are exactly the refusals a flush would dead-letter (`refused_for_good`).
- The stored event differs from the one sent, or is missing: raises
  verification_failed. An integrity failure is never reported as success.
- The ledger unavailable *and* the spool unwritable: raises the spool's
  io_failure / SPOOL_LOCKED. A record is never dropped silently. The hook's
  spool waits `HOOK_SPOOL_LOCK_WAIT_S` for its append lock, longer than a
  plain `Spool`: appenders and compactions hold it only for a write and a sync,
  so a wait that long means a stalled disk or a stopped holder, and waiting
  costs the agent less than a failure.

So an agent is never failed by the ledger being down or slow: it gets a
`spooled` result, and `ledgerctl spool flush` (or `Spool.flush`) lands the
record later, exactly once, because its event id is fixed here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from clients.client import LedgerClient
from clients.event import Event
from clients.retry import RetryPolicy
from clients.spool import Spool, refused_for_good
from clients.verified import check_served_entry
from ledger.clock import Clock, FixedClock, SystemClock, format_utc
from ledger.errors import (
    Category,
    ErrorCode,
    InvalidInput,
    IoFailure,
    LedgerError,
    VerificationFailed,
)
from ledger.model import (
    BestEffortMetadata,
    Envelope,
    FileDigest,
    decode_envelope,
    encode_envelope,
    input_context_sha,
)
from ledger.model.envelope import decode_payload
from ledger.model.run_record import HealReason, RunMode, RunStatus

#: The hook's default: an agent should not wait long for a ledger that is down,
#: since its record is safe in the spool anyway.
HOOK_RETRY = RetryPolicy(max_attempts=4, overall_deadline_s=5.0, call_timeout_s=5.0)
RUN_RECORDED = "run.recorded"
#: A run record without a subject keeps the schema every earlier producer wrote.
RUN_RECORDED_V1_0 = "1.0"
#: The first schema with the run's `subject`.
RUN_RECORDED_V1_1 = "1.1"

#: How long the hook's spool waits for its append lock before the emit fails.
HOOK_SPOOL_LOCK_WAIT_S = 30.0

Outcome = Literal["recorded", "duplicate", "spooled"]

# Failures that mean "the ledger is not usable now", not "this record is wrong": the
# record is kept in the spool. So is a state_contention that is only a lock held for
# now (DATA_DIR_LOCKED: the daemon's data directory busy); see `_spools`.
_SPOOL_ON = frozenset(
    {
        Category.NETWORK_TRANSIENT,
        Category.NETWORK_PERMANENT,
        Category.INTERNAL_FAILURE,
        Category.IO_FAILURE,
        Category.DEPENDENCY_MISSING,
    }
)
_GIT_HEAD = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})")
# Variables that point git at another repository; a hook run from inside a git hook
# inherits them, and must still read the workspace's own HEAD.
_GIT_REDIRECTS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
)
_GIT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class EmitResult:
    """What became of an emitted event. `error` is why it was spooled, or left unverified."""

    outcome: Outcome
    event: Event
    seq: int | None = None
    verified: bool = False
    spool_path: Path | None = None
    error: LedgerError | None = None

    @property
    def event_id(self) -> str:
        return self.event.event_id

    def to_dict(self) -> dict[str, object]:
        """The `ledgerctl emit --json` document."""
        data = self.event.data
        body: dict[str, object] = {
            "ok": True,
            "outcome": self.outcome,
            "event_id": self.event.event_id,
            "stream": self.event.stream,
            "seq": self.seq,
            "verified": self.verified,
            "spool": str(self.spool_path) if self.spool_path is not None else None,
        }
        if self.event.type == RUN_RECORDED:
            body["run_id"] = data.get("run_id")
            body["input_context_sha"] = data.get("input_context_sha")
            body["git_head"] = data.get("git_head")
        body["reason"] = (
            None
            if self.error is None
            else {
                "error": self.error.message,
                "error_code": str(self.error.code),
                "error_category": str(self.error.category),
            }
        )
        return body


# --- building the record --------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (outputs can be large)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise IoFailure(
            ErrorCode.FILE_UNREADABLE,
            f"could not read run file {path}: {exc.strerror or exc}",
            hint="list only files that exist and are readable when the run is recorded",
        ) from None
    return digest.hexdigest()


def _relative_path(workspace: Path, path: Path | str) -> tuple[str, Path]:
    """The workspace-relative POSIX path of `path`, and where to read it."""
    given = Path(path)
    # Lexically normalised (`a/../b` is `b`), so `..` cannot climb out unnoticed.
    candidate = Path(os.path.abspath(given if given.is_absolute() else workspace / given))
    # Compare against both spellings of the workspace: as given, and with its links
    # resolved (as on systems where /tmp is a link), so either kind of absolute path works.
    for root in (Path(os.path.abspath(workspace)), workspace.resolve()):
        if candidate.is_relative_to(root) and candidate != root:
            return candidate.relative_to(root).as_posix(), candidate
    raise InvalidInput(
        ErrorCode.INVALID_ARGUMENT,
        f"{str(path)!r} is not a file inside the workspace {workspace}",
        hint="list run files by paths inside the workspace (relative to it, or absolute)",
        details={"path": str(path)},
    )


def file_digests(workspace: Path, paths: Sequence[Path | str]) -> list[FileDigest]:
    """Each file's workspace-relative path and content digest, in the order given."""
    if isinstance(paths, str | Path):
        # A lone string is a Sequence too; hashing its characters as paths helps nobody.
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"run files must be a list of paths, not the single path {str(paths)!r}",
            hint="wrap a single file in a list: inputs=[path]",
        )
    digests: list[FileDigest] = []
    for path in paths:
        relative, location = _relative_path(workspace, path)
        digests.append(FileDigest(path=relative, sha256=file_sha256(location)))
    return digests


def git_head(workspace: Path) -> str | None:
    """The commit the workspace's HEAD names; None without git, a repository or a commit."""
    git = shutil.which("git")
    if git is None:
        return None
    environ = {k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS}
    try:
        # A fixed argv and no shell: the workspace is only ever an argument.
        done = subprocess.run(  # noqa: S603
            [git, "-C", str(workspace), "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
            capture_output=True,
            env=environ,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    head = done.stdout.decode("ascii", "replace").strip()
    return head if done.returncode == 0 and _GIT_HEAD.fullmatch(head) else None


def config_sha256(config: Mapping[str, Any]) -> str:
    """The `config_fingerprint` of a configuration: SHA-256 of its compact JSON, keys sorted."""
    try:
        canonical = msgspec.json.encode(config, order="sorted")
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"the run configuration is not JSON-shaped: {exc}",
            hint="pass plain dicts, lists, strings, numbers, booleans and null",
        ) from None
    return hashlib.sha256(canonical).hexdigest()


def _utc(value: datetime | str) -> str:
    return format_utc(value) if isinstance(value, datetime) else value


def build_run_record(
    *,
    agent: str,
    status: RunStatus,
    workspace: Path | str = ".",
    status_before: str = "unknown",
    status_after: str = "unknown",
    started_at: datetime | str | None = None,
    config_fingerprint: str | None = None,
    config: Mapping[str, Any] | None = None,
    ended_at: datetime | str | None = None,
    inputs: Sequence[Path | str] = (),
    outputs: Sequence[Path | str] = (),
    mode: RunMode = "strict",
    best_effort: BestEffortMetadata | Mapping[str, Any] | None = None,
    input_refs: Sequence[str] = (),
    output_refs: Sequence[str] = (),
    exit_code: int = 0,
    heal_reason: HealReason | None = None,
    subject: str | None = None,
    notes: str = "",
    run_id: str | None = None,
    head: str | None = None,
    detect_git_head: bool = True,
    producer: str | None = None,
    stream: str | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
    clock: Clock | None = None,
) -> Event:
    """The `run.recorded` event for a run, validated; raises invalid_input naming the field.

    `agent` is the record's `agent_name` and `status` its `run_status`. Run
    files are paths relative to `workspace` (absolute ones must lie inside it).
    `config_fingerprint` is the digest of the run's configuration; pass `config`
    instead to have it computed (`config_sha256`); with neither, it is the
    digest of the empty configuration `{}`. `head` overrides the detected git
    HEAD; with `detect_git_head=False` and no `head`, it is null. `ended_at`
    defaults to now and `started_at` to `ended_at`; the statuses before and
    after to `unknown`; the run id to a new UUID; the producer to the agent;
    the stream to `runs/<agent>`. `subject` names what the run worked on (a
    change, PR or commit, as findings name it); a record with a subject is
    schema 1.1, one without stays 1.0.
    """
    if config_fingerprint is not None and config is not None:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            "give config_fingerprint or config, not both",
            hint="config_fingerprint is the SHA-256 of the run's canonical configuration",
        )
    fingerprint = (
        config_fingerprint if config_fingerprint is not None else config_sha256(config or {})
    )
    now = (clock or SystemClock()).now()
    ended = _utc(ended_at if ended_at is not None else now)
    root = Path(workspace)
    if not root.is_dir():
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"the workspace {root} is not a directory",
            hint="pass the directory the run worked in",
        )
    input_files = file_digests(root, inputs)
    output_files = file_digests(root, outputs)
    if head is None and detect_git_head:
        head = git_head(root)
    data: dict[str, object] = {
        "run_id": run_id or str(uuid.uuid4()),
        "agent_name": agent,
        "run_status": status,
        "status_before": status_before,
        "status_after": status_after,
        "started_at": _utc(started_at) if started_at is not None else ended,
        "ended_at": ended,
        "input_files": [msgspec.to_builtins(f) for f in input_files],
        "output_files": [msgspec.to_builtins(f) for f in output_files],
        "input_context_sha": input_context_sha(input_files),
        "git_head": head,
        "config_fingerprint": fingerprint,
        "mode": mode,
        "best_effort": msgspec.to_builtins(best_effort) if best_effort is not None else None,
        "input_refs": list(input_refs),
        "output_refs": list(output_refs),
        "exit_code": exit_code,
        "heal_reason": heal_reason,
        "notes": notes,
    }
    schema_version = RUN_RECORDED_V1_0
    if subject is not None:
        data["subject"] = subject
        schema_version = RUN_RECORDED_V1_1
    event = Event.create(
        stream=stream or f"runs/{agent}",
        type=RUN_RECORDED,
        schema_version=schema_version,
        data=data,
        producer=producer or agent,
        correlation_id=correlation_id,
        event_id=event_id,
        clock=FixedClock(now),
    )
    # The payload first, so that a bad agent name is reported as `$.data.agent_name`
    # rather than as the stream and producer made from it.
    decode_payload(RUN_RECORDED, event.schema_version, event.data_json.encode("utf-8"))
    decode_envelope(event.to_json())
    return event


# --- sending it -----------------------------------------------------------------------


def _mismatch(event_id: str, seq: int, what: str) -> VerificationFailed:
    return VerificationFailed(
        ErrorCode.SERVED_EVENT_MISMATCH,
        f"event {event_id}, acknowledged at seq {seq}, read back from the ledger {what}",
        hint="the ledger did not store what was sent: audit it with `ledgerctl verify`",
        details={"event_id": event_id, "seq": seq},
    )


def spoolable(error: LedgerError) -> bool:
    """Whether a failed append keeps the record in the spool rather than raising.

    The rule mirrors the flush's: what a flush would dead-letter (the record is
    wrong or conflicts with the log) raises here, since the caller can still fix
    it. A state_contention that is not such a conflict is a lock held for now,
    which a later flush gets past, so it spools. verification_failed,
    policy_blocked and approval_required raise: the ledger is reachable and
    answering, and what it says needs a person, not a retry.
    """
    if error.category is Category.STATE_CONTENTION:
        return not refused_for_good(error)
    return error.category in _SPOOL_ON


def _verify_stored(client: LedgerClient, event: Event, sent: Envelope, seq: int) -> None:
    """Read the event back by id and check the stored leaf holds exactly what was sent.

    `check_served_entry` checks the entry agrees with itself (leaf hash, decoded
    leaf, the id asked for); what only the hook knows is what it sent, and at
    which seq the append was acknowledged.
    """
    entry = client.get_event(event_id=event.event_id)
    try:
        leaf = check_served_entry(entry, event_id=event.event_id)
    except VerificationFailed as exc:
        raise exc.add_context(
            where=f"event {event.event_id}, acknowledged at seq {seq}, read back from the ledger",
            hint="; audit the ledger with `ledgerctl verify`",
            event_id=event.event_id,
            acknowledged_seq=seq,
        ) from None
    if leaf.seq != seq:
        raise _mismatch(event.event_id, seq, f"is at seq {leaf.seq}")
    if encode_envelope(leaf.envelope) != encode_envelope(sent):
        raise _mismatch(event.event_id, seq, "differs from the event that was sent")


def emit_event(
    event: Event,
    *,
    server: str | None = None,
    client: LedgerClient | None = None,
    retry: RetryPolicy | None = None,
    spool: Spool | Path | str | None = None,
) -> EmitResult:
    """Append `event`, verify it read back, or spool it if the ledger cannot take it now.

    `client` reuses a connection (its own retry policy applies); otherwise one
    is made to `server` ($LEDGER_SERVER, 127.0.0.1:7700) with `retry`
    (default `HOOK_RETRY`). `spool` defaults to `default_spool_path()`.
    See the module docstring for what raises.
    """
    sent = decode_envelope(event.to_json())
    connection = client or LedgerClient(server, retry=retry or HOOK_RETRY)
    try:
        try:
            result = connection.append(event)
        except LedgerError as exc:
            if not spoolable(exc):
                raise
            target = (
                spool
                if isinstance(spool, Spool)
                else Spool(spool, lock_wait_s=HOOK_SPOOL_LOCK_WAIT_S)
            )
            try:
                target.append(event)
            except LedgerError as spool_error:
                raise spool_error.add_context(
                    where=f"the ledger failed ({exc.code}: {exc.message}) and so did the spool",
                    hint="; the record was not kept anywhere",
                    ledger_error_code=str(exc.code),
                ) from None
            return EmitResult("spooled", event, spool_path=target.path, error=exc)
        outcome: Outcome = "duplicate" if result.duplicate else "recorded"
        try:
            _verify_stored(connection, event, sent, result.seq)
        except LedgerError as exc:
            if exc.category is Category.VERIFICATION_FAILED:
                raise
            if exc.code is ErrorCode.NOT_FOUND:
                raise _mismatch(event.event_id, result.seq, "is not there") from None
            # The append itself was acknowledged as durable; only the check is missing.
            return EmitResult(outcome, event, seq=result.seq, verified=False, error=exc)
        return EmitResult(outcome, event, seq=result.seq, verified=True)
    finally:
        if client is None:
            connection.close()


def emit_run_record(
    *,
    agent: str,
    status: RunStatus,
    workspace: Path | str = ".",
    status_before: str = "unknown",
    status_after: str = "unknown",
    started_at: datetime | str | None = None,
    config_fingerprint: str | None = None,
    config: Mapping[str, Any] | None = None,
    ended_at: datetime | str | None = None,
    inputs: Sequence[Path | str] = (),
    outputs: Sequence[Path | str] = (),
    mode: RunMode = "strict",
    best_effort: BestEffortMetadata | Mapping[str, Any] | None = None,
    input_refs: Sequence[str] = (),
    output_refs: Sequence[str] = (),
    exit_code: int = 0,
    heal_reason: HealReason | None = None,
    subject: str | None = None,
    notes: str = "",
    run_id: str | None = None,
    head: str | None = None,
    detect_git_head: bool = True,
    producer: str | None = None,
    stream: str | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
    clock: Clock | None = None,
    server: str | None = None,
    client: LedgerClient | None = None,
    retry: RetryPolicy | None = None,
    spool: Spool | Path | str | None = None,
) -> EmitResult:
    """Record one agent run: `build_run_record`, then `emit_event` (see both).

    Raises only for the caller's own mistakes (invalid fields, unreadable run
    files, a reused run or event id), an integrity failure, or a record that
    could be neither stored nor spooled; never because the ledger is down.
    """
    event = build_run_record(
        agent=agent,
        status=status,
        workspace=workspace,
        status_before=status_before,
        status_after=status_after,
        started_at=started_at,
        config_fingerprint=config_fingerprint,
        config=config,
        ended_at=ended_at,
        inputs=inputs,
        outputs=outputs,
        mode=mode,
        best_effort=best_effort,
        input_refs=input_refs,
        output_refs=output_refs,
        exit_code=exit_code,
        heal_reason=heal_reason,
        subject=subject,
        notes=notes,
        run_id=run_id,
        head=head,
        detect_git_head=detect_git_head,
        producer=producer,
        stream=stream,
        correlation_id=correlation_id,
        event_id=event_id,
        clock=clock,
    )
    return emit_event(event, server=server, client=client, retry=retry, spool=spool)
