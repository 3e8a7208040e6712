"""Group commit: concurrent Append calls share one LMDB write transaction and one sync.

Each call queues its (already validated) batch and awaits a future. One commit
task takes everything queued, up to a size bound, and hands it to a single
writer thread, which commits it with `LmdbEventLog.append_batches`; while that
thread waits for the disk, new calls queue up for the next commit. A call
learns its outcome only after the sync, so an acknowledged event is durable.
A call whose caller gave up (deadline, cancel) before its commit started is
dropped unwritten, which is safe: appends are idempotent by event id.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ledger.errors import ErrorCode, InternalFailure, LedgerError, NetworkTransient
from ledger.store import AppendOutcome, AppendRequest, LmdbEventLog


@dataclass
class _Pending:
    requests: Sequence[AppendRequest]
    future: asyncio.Future[AppendOutcome] = field(repr=False)


def _internal(exc: BaseException) -> InternalFailure:
    return InternalFailure(
        ErrorCode.INTERNAL,
        f"the commit failed unexpectedly: {type(exc).__name__}: {exc}",
        hint="this is a bug in ledgerd; nothing in this commit was acknowledged",
    )


def _fresh(error: LedgerError) -> LedgerError:
    """A copy of `error` for one caller: one instance raised by many handlers would
    pile up their tracebacks and context on it."""
    return type(error)(error.code, error.message, hint=error.hint, details=error.details)


class LogWatch:
    """Lets readers wait, without polling, for the log to grow past a size."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._grown = asyncio.Event()

    def advance(self, size: int) -> None:
        if size > self.size:
            self.size = size
            self._grown.set()
            self._grown = asyncio.Event()

    async def wait_beyond(self, size: int) -> None:
        """Return once the log holds more than `size` entries."""
        while self.size <= size:
            await self._grown.wait()


class GroupCommitter:
    """Queues batches from many calls and commits them together (see module docstring)."""

    def __init__(
        self,
        log: LmdbEventLog,
        *,
        max_events: int,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._log = log
        #: Called after each group commit (the daemon wakes its projection worker).
        self.on_commit = on_commit
        self._max_events = max_events
        self._queue: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledgerd-commit")
        self.watch = LogWatch(log.size())
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def submit(self, requests: Sequence[AppendRequest]) -> AppendOutcome:
        """Queue one batch; returns its outcome once durable, or raises its error."""
        if self._closing:
            raise NetworkTransient(
                ErrorCode.SERVER_UNAVAILABLE,
                "the daemon is shutting down",
                hint="retry; the client reconnects when the daemon is back",
            )
        future: asyncio.Future[AppendOutcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(requests, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Commit everything already queued, then stop the writer thread."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self._writer.shutdown(wait=True)

    def _take(self) -> list[_Pending]:
        taken: list[_Pending] = []
        events = 0
        while self._queue:
            pending = self._queue[0]
            if taken and events + len(pending.requests) > self._max_events:
                break
            self._queue.popleft()
            if pending.future.done():  # the caller gave up before the commit began
                continue
            taken.append(pending)
            events += len(pending.requests)
        return taken

    async def _run(self) -> None:
        try:
            await self._commit_forever()
        except BaseException as exc:
            # The committer must never die silently: every queued call would wait out
            # its deadline. Fail them all now, and refuse new ones.
            self._closing = True
            failure = exc if isinstance(exc, LedgerError) else _internal(exc)
            while self._queue:
                pending = self._queue.popleft()
                if not pending.future.done():
                    pending.future.set_exception(_fresh(failure))
            raise

    async def _commit_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                taken = self._take()
                if not taken:
                    continue
                try:
                    outcomes = await loop.run_in_executor(
                        self._writer, self._log.append_batches, [p.requests for p in taken]
                    )
                except Exception as exc:
                    failure = exc if isinstance(exc, LedgerError) else _internal(exc)
                    for pending in taken:
                        if not pending.future.done():
                            pending.future.set_exception(_fresh(failure))
                    continue
                if self.on_commit is not None:
                    self.on_commit()
                for pending, outcome in zip(taken, outcomes, strict=True):
                    if isinstance(outcome, AppendOutcome):
                        self.watch.advance(outcome.tree_size)
                    if pending.future.done():
                        continue
                    if isinstance(outcome, LedgerError):
                        pending.future.set_exception(outcome)
                    else:
                        pending.future.set_result(outcome)
            if self._closing:
                return
