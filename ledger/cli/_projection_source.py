"""Where the projection commands get their answers: a data directory or a daemon.

Both sources answer with the same JSON documents (specs/projections.md §6), so
a command is written once and prints the same bytes offline and online.

Offline, the data directory is opened for writing (the projections are folded
by the directory's one writer), the projections are caught up with everything
the log holds, and `ProjectionQueries` answers. A running daemon holds that
lock: then the command must ask the daemon (`--server`). Online, the daemon
answers through `LedgerClient.projections`.

Evaluation time: offline, an unset `--at` is the ledger's clock now
(`LEDGERD_CLOCK`); online it is left to the daemon's clock. Either way the
document says which time it used (`evaluated_at`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any, Protocol

from clients.client import LedgerClient
from clients.projections import ProjectionsClient
from clients.verified import check_served_entry
from gate.snapshot import CheckpointRef, RunEntry, SnapshotSource, run_entry
from ledger.cli._common import DataDirTarget, ServerTarget, Target
from ledger.cli._output import progress_bar
from ledger.clock import clock_from_env
from ledger.errors import ErrorCode, InvalidInput, StateContention
from ledger.projections import ProjectionEngine, ProjectionQueries, ProjectionStatus
from ledger.store import LmdbEventLog

Json = dict[str, Any]


class ProjectionSource(SnapshotSource, Protocol):
    """The projection views, from either target (see the module docstring).

    `verdict`, `findings`, `runs`, `run_event` and `checkpoint_at` come from
    `SnapshotSource`: reports and exports read a source through that part.
    """

    def health(
        self,
        *,
        source: str | None,
        at: datetime | None,
        as_of: int | None,
        min_seq: int | None,
    ) -> Json: ...

    def suppressions(
        self, source: str, *, at: datetime | None, as_of: int | None, min_seq: int | None
    ) -> Json: ...

    def replay(self, run_id: str, *, as_of: int | None, min_seq: int | None) -> Json: ...

    def history(self, stream: str, *, from_version: int, limit: int, as_of: int | None) -> Json: ...

    def status(self) -> list[Json]: ...

    def rebuild(self, names: Sequence[str]) -> list[Json]: ...


def _status_json(found: ProjectionStatus) -> Json:
    """One projection's status, member for member as the daemon reports it."""
    return {
        "name": found.name,
        "version": found.version,
        "position": found.position,
        "log_size": found.log_size,
        "lag": found.lag,
        "digest": found.digest,
        "rows": found.rows,
    }


# Offline -------------------------------------------------------------------------------


class OfflineSource:
    """`ProjectionQueries` over a data directory held for writing.

    The projections are caught up once, before the first view that reads their
    stored state. `status` reports that state as it is; `rebuild` folds anyway;
    `history` and answers `as_of` a seq read the log itself.
    """

    def __init__(self, log: LmdbEventLog, engine: ProjectionEngine, *, progress: bool) -> None:
        self._log = log
        self._engine = engine
        self._queries = ProjectionQueries(engine, log)
        self._progress = progress
        self._caught_up = False

    def _ready(self, min_seq: int | None, as_of: int | None = None) -> ProjectionQueries:
        size = self._log.size()
        if min_seq is not None and min_seq >= size:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                f"--min-seq {min_seq} is not in the log (size {size})",
                hint=(
                    f"pass a seq from 0 to {size - 1}; offline, every stored event is folded"
                    if size
                    else "the log is empty"
                ),
                details={"field": "min_seq", "min_seq": min_seq, "log_size": size},
            )
        if as_of is None and not self._caught_up:
            self._catch_up()
            self._caught_up = True
        return self._queries

    def _catch_up(self) -> None:
        engine = self._engine
        with progress_bar("folding projections", enabled=self._progress) as advance:

            def report() -> bool:
                # Called between chunks: report how far the slowest projection is, never stop.
                advance(min(engine.positions().values(), default=0), self._log.size())
                return False

            engine.catch_up(stop=report)

    def _at(self, at: datetime | None) -> datetime:
        return at if at is not None else clock_from_env().now()

    def verdict(
        self, subject: str, *, at: datetime | None, as_of: int | None, min_seq: int | None
    ) -> Json:
        return self._ready(min_seq, as_of).verdict(subject, at=self._at(at), as_of=as_of)

    def findings(
        self,
        *,
        subject: str | None,
        statuses: Sequence[str],
        severities: Sequence[str],
        at: datetime | None,
        as_of: int | None,
        min_seq: int | None,
    ) -> Json:
        return self._ready(min_seq, as_of).findings(
            at=self._at(at),
            as_of=as_of,
            subject=subject,
            statuses=statuses,
            severities=severities,
        )

    def health(
        self,
        *,
        source: str | None,
        at: datetime | None,
        as_of: int | None,
        min_seq: int | None,
    ) -> Json:
        return self._ready(min_seq, as_of).health(at=self._at(at), as_of=as_of, source=source)

    def suppressions(
        self, source: str, *, at: datetime | None, as_of: int | None, min_seq: int | None
    ) -> Json:
        return self._ready(min_seq, as_of).suppressions(source, at=self._at(at), as_of=as_of)

    def replay(self, run_id: str, *, as_of: int | None, min_seq: int | None) -> Json:
        return self._ready(min_seq, as_of).replay(run_id, as_of=as_of)

    def runs(
        self,
        *,
        agent: str | None,
        status: str | None,
        subject: str | None,
        before_seq: int | None,
        limit: int,
        as_of: int | None,
        min_seq: int | None,
    ) -> Json:
        return self._ready(min_seq, as_of).runs(
            agent=agent,
            status=status,
            subject=subject,
            before_seq=before_seq,
            limit=limit,
            as_of=as_of,
        )

    def history(self, stream: str, *, from_version: int, limit: int, as_of: int | None) -> Json:
        return self._queries.history(stream, from_version=from_version, limit=limit, as_of=as_of)

    def run(self, run_id: str, *, as_of: int | None, min_seq: int | None) -> Json:
        return self._ready(min_seq, as_of).run(run_id, as_of=as_of)

    def run_event(self, seq: int) -> RunEntry:
        return run_entry(self._log.get(seq).leaf)

    def checkpoint_at(self, tree_size: int) -> CheckpointRef:
        size, root = self._log.root(tree_size)
        return CheckpointRef(origin=None, tree_size=size, root_hash=root.hex())

    def status(self) -> list[Json]:
        return [_status_json(found) for found in self._engine.status()]

    def rebuild(self, names: Sequence[str]) -> list[Json]:
        self._engine.rebuild(list(names))
        self._caught_up = True
        return self.status()


def _open_log(target: DataDirTarget) -> LmdbEventLog:
    """The data directory for writing; never created here, and refused while a daemon holds it."""
    if not (target.data_dir / "data.mdb").is_file():
        raise InvalidInput(
            ErrorCode.DATA_DIR_NOT_FOUND,
            f"{target.data_dir} holds no ledger",
            hint="check --data-dir; a ledger is created by its first append or import",
        )
    try:
        return target.writer()
    except StateContention as exc:
        if exc.code != ErrorCode.DATA_DIR_LOCKED:
            raise
        raise StateContention(
            ErrorCode.DATA_DIR_LOCKED,
            exc.message,
            hint="the projections are folded by the data directory's one writer: while a "
            "ledgerd serves it, ask the daemon with --server HOST:PORT (or $LEDGER_SERVER)",
            details=exc.details,
        ) from None


# Online --------------------------------------------------------------------------------


class OnlineSource:
    """The daemon's Projections service: each view waits until it reflects `min_seq`
    (default: everything the log held when the call arrived)."""

    def __init__(self, target: ServerTarget, client: LedgerClient) -> None:
        self._target = target
        self._client = client
        self._calls: ProjectionsClient = client.projections

    def run(self, run_id: str, *, as_of: int | None, min_seq: int | None) -> Json:
        return self._calls.run(run_id, as_of=as_of, min_seq=min_seq)

    def run_event(self, seq: int) -> RunEntry:
        # The served bytes must hash to the served leaf hash and decode to what was served.
        return run_entry(check_served_entry(self._client.get_event(seq=seq), seq=seq))

    def checkpoint_at(self, tree_size: int) -> CheckpointRef:
        served = self._client.checkpoint(tree_size)
        return CheckpointRef(
            origin=served.origin, tree_size=served.tree_size, root_hash=served.root_hash.hex()
        )

    def verdict(
        self, subject: str, *, at: datetime | None, as_of: int | None, min_seq: int | None
    ) -> Json:
        return self._calls.verdict(subject, at=at, as_of=as_of, min_seq=min_seq)

    def findings(
        self,
        *,
        subject: str | None,
        statuses: Sequence[str],
        severities: Sequence[str],
        at: datetime | None,
        as_of: int | None,
        min_seq: int | None,
    ) -> Json:
        return self._calls.findings(
            subject=subject,
            statuses=statuses,
            severities=severities,
            at=at,
            as_of=as_of,
            min_seq=min_seq,
        )

    def health(
        self,
        *,
        source: str | None,
        at: datetime | None,
        as_of: int | None,
        min_seq: int | None,
    ) -> Json:
        return self._calls.health(source=source, at=at, as_of=as_of, min_seq=min_seq)

    def suppressions(
        self, source: str, *, at: datetime | None, as_of: int | None, min_seq: int | None
    ) -> Json:
        return self._calls.suppressions(source, at=at, as_of=as_of, min_seq=min_seq)

    def replay(self, run_id: str, *, as_of: int | None, min_seq: int | None) -> Json:
        return self._calls.replay(run_id, as_of=as_of, min_seq=min_seq)

    def runs(
        self,
        *,
        agent: str | None,
        status: str | None,
        subject: str | None,
        before_seq: int | None,
        limit: int,
        as_of: int | None,
        min_seq: int | None,
    ) -> Json:
        return self._calls.runs(
            agent=agent,
            status=status,
            subject=subject,
            before_seq=before_seq,
            limit=limit,
            as_of=as_of,
            min_seq=min_seq,
        )

    def history(self, stream: str, *, from_version: int, limit: int, as_of: int | None) -> Json:
        return self._calls.history(stream, from_version=from_version, limit=limit, as_of=as_of)

    def status(self) -> list[Json]:
        return [dataclasses.asdict(state) for state in self._calls.status()]

    def rebuild(self, names: Sequence[str]) -> list[Json]:
        # A rebuild answers once it is done, which can take long: its one call may use
        # the whole deadline, and is not started again half-way by a retry.
        retry = dataclasses.replace(
            self._target.retry, call_timeout_s=self._target.retry.overall_deadline_s
        )
        with LedgerClient(self._target.address, retry=retry) as client:
            return [dataclasses.asdict(state) for state in client.projections.rebuild(names)]


@contextmanager
def open_projection_source(target: Target, *, progress: bool) -> Iterator[ProjectionSource]:
    """The source for `target`; offline, a catch-up draws a progress bar if `progress`
    (and standard error is a terminal). Closes the engine, then the log."""
    if isinstance(target, ServerTarget):
        with target.client() as client:
            yield OnlineSource(target, client)
        return
    with ExitStack() as stack:
        log = stack.enter_context(_open_log(target))
        engine = stack.enter_context(ProjectionEngine(log))
        yield OfflineSource(log, engine, progress=progress)
