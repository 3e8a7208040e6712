"""Keeps the projections caught up from inside the daemon, and lets queries wait for a seq.

The folding itself runs in a child process (`projection_worker`), so appends
never share a GIL with it. This side starts the worker (and starts it again
if it dies), wakes it after each group commit, and publishes the positions it
reports to the event loop, where a query with `min_seq` waits (without
polling) until its seq is folded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from ledger.errors import (
    CODE_CATEGORY,
    ERROR_CLASSES,
    ErrorCode,
    InternalFailure,
    LedgerError,
    NetworkTransient,
)
from ledger.projections import ProjectionEngine, ProjectionStatus
from ledger.server import projection_worker

_log = logging.getLogger("ledgerd")
#: A worker that died is started again after this long, doubled for each death in a
#: row (up to the cap), and back to the start once a worker reports positions.
_RESTART_AFTER_S = 1.0
_RESTART_CAP_S = 30.0
#: How long a stopping worker gets to finish its chunk before it is killed.
_STOP_GRACE_S = 10.0


def _unavailable(why: str) -> NetworkTransient:
    return NetworkTransient(
        ErrorCode.SERVER_UNAVAILABLE,
        f"{why}; the rebuild was not started",
        hint="retry the rebuild",
    )


def _error(parts: tuple[str, str, str, dict[str, Any]]) -> LedgerError:
    code_text, message, hint, details = parts
    code = ErrorCode(code_text)
    return ERROR_CLASSES[CODE_CATEGORY[code]](code, message, hint=hint, details=details)


class Projector:
    """The daemon's side of the projection worker (see the module docstring).

    `reader` is the daemon's read-only view of the same projections: queries
    read it, and rebuild requests are checked against it before they are sent.
    """

    def __init__(
        self,
        data_dir: Path,
        chunk: int,
        reader: ProjectionEngine,
        committed: Callable[[], int],
    ) -> None:
        self._data_dir = data_dir
        self._chunk = chunk
        self.engine = reader
        #: The log's committed size, to tell whether the worker has seen it all.
        self._committed = committed
        self._context = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        #: A wake is on its way and the worker has not reported since: another adds nothing.
        self._wake_pending = False
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: threading.Thread | None = None
        self.positions = reader.positions()
        self.failure: LedgerError | None = None
        #: How often the worker died and was started again; deaths since it last worked.
        self.restarts = 0
        self._deaths_in_a_row = 0
        self._changed = asyncio.Event()
        self._tokens = itertools.count(1)
        self._rebuilds: dict[int, asyncio.Future[dict[str, int]]] = {}

    # The worker ---------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._spawn()

    def _spawn(self) -> None:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=projection_worker.run,
            args=(str(self._data_dir), self._chunk, theirs),
            name="ledgerd-projections",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._process, self._conn = process, ours
        self._listener = threading.Thread(
            target=self._listen, args=(ours, process), name="ledgerd-projector", daemon=True
        )
        self._listener.start()

    def _listen(self, conn: Connection, process: BaseProcess) -> None:
        """Relay the worker's reports to the event loop until it exits."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            self._on_loop(self._receive, message)
        process.join()
        if not self._stopping:
            self._on_loop(self._worker_died, process.exitcode)

    def _on_loop(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        # The loop may close between the check and the call; then nobody is waiting.
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback, *args)

    def _receive(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "positions":
            self._wake_pending = False
            self._deaths_in_a_row = 0
            self._publish(message[1], None)
            # A commit may have landed after the worker last read the log's size,
            # while this wake was still pending (so its poke sent nothing).
            if min(message[1].values(), default=0) < self._committed():
                self.poke()
        elif kind == "rebuilt":
            _, token, positions = message
            self._publish(positions, None)
            self._settle(token, positions)
        elif kind == "failed":
            _, token, parts = message
            error = _error(parts)
            if token is None:
                _log.error("folding the projections failed: %s", error)
                self._publish(self.positions, error)
            else:
                self._settle(token, error)

    def _worker_died(self, exitcode: int | None) -> None:
        # Queries keep waiting (up to their deadlines) for the next worker, which
        # resumes from the committed positions; a failure the worker reported
        # before it died (it could not open the projections) stays visible.
        self.restarts += 1
        self._deaths_in_a_row += 1
        delay = min(_RESTART_AFTER_S * 2 ** (self._deaths_in_a_row - 1), _RESTART_CAP_S)
        _log.error(
            "the projection worker exited unexpectedly (exit code %s); starting it again in %g s",
            exitcode,
            delay,
        )
        # Not retryable: a retry would reset the projections again, while the
        # restarted worker goes on folding the ones this rebuild reset.
        interrupted = InternalFailure(
            ErrorCode.INTERNAL,
            f"the projection worker exited (exit code {exitcode}) during the rebuild",
            hint="the rebuild goes on in the restarted worker; "
            "`ledgerctl projections status` shows its progress",
            details={"worker_restarts": self.restarts},
        )
        for token in list(self._rebuilds):
            self._settle(token, interrupted)
        loop = self._loop
        if loop is not None and not self._stopping:
            loop.call_later(delay, self._restart)

    def _restart(self) -> None:
        if self._stopping:
            return
        self._wake_pending = False
        try:
            self._spawn()
        except Exception as exc:  # e.g. out of processes: say so, and try again later
            _log.exception("could not start the projection worker")
            self._publish(
                self.positions,
                InternalFailure(
                    ErrorCode.INTERNAL,
                    f"the projection worker cannot be started: {type(exc).__name__}: {exc}",
                    hint="check the daemon's resources (processes, memory, file descriptors)",
                ),
            )
            self._worker_died(None)

    def _send(self, message: tuple[Any, ...]) -> bool:
        """Send to the worker; False when it cannot hear (dead, or being restarted)."""
        conn = self._conn
        if conn is None:
            return False
        with self._send_lock:
            try:
                conn.send(message)
            except (OSError, ValueError):
                return False
        return True

    def poke(self) -> None:
        """New events were committed: have the worker fold them."""
        if not self._wake_pending:
            self._wake_pending = True
            self._send(("wake",))

    async def stop(self) -> None:
        """Stop the worker (between chunks); what it folded stays committed."""
        self._stopping = True
        for token in list(self._rebuilds):
            self._settle(token, _unavailable("the daemon is shutting down"))
        process, listener = self._process, self._listener
        self._send(("stop",))
        if process is not None:
            await asyncio.to_thread(process.join, _STOP_GRACE_S)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join)
        if listener is not None:
            await asyncio.to_thread(listener.join)
        if self._conn is not None:
            self._conn.close()

    # Waiting for positions ----------------------------------------------------------------

    def _publish(self, positions: dict[str, int], failure: LedgerError | None) -> None:
        self.positions = dict(positions)
        self.failure = failure
        self._changed.set()
        self._changed = asyncio.Event()

    def saw_position(self, name: str, position: int) -> None:
        """A reader found `name` at `position`: never wait on a higher one published earlier."""
        if position < self.positions.get(name, 0):
            self.positions[name] = position

    async def wait_for(self, name: str, seq: int, timeout_s: float) -> None:
        """Return once event `seq` is folded into `name`; PROJECTION_BEHIND after the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.positions.get(name, 0) <= seq:
            if self.failure is not None:
                failure = self.failure
                raise type(failure)(
                    failure.code, failure.message, hint=failure.hint, details=failure.details
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                position = self.positions.get(name, 0)
                raise NetworkTransient(
                    ErrorCode.PROJECTION_BEHIND,
                    f"projection {name} has folded {position} events, not yet seq {seq}",
                    hint="retry, or give the call a longer deadline; "
                    "`ledgerctl projections status` shows the lag",
                    details={
                        "projection": name,
                        "position": position,
                        "min_seq": seq,
                        "worker_restarts": self.restarts,
                    },
                )
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    # Rebuilds ------------------------------------------------------------------------------

    def _settle(self, token: int, outcome: dict[str, int] | LedgerError) -> None:
        future = self._rebuilds.pop(token, None)
        if future is None or future.done():
            return
        if isinstance(outcome, LedgerError):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    async def rebuild(self, names: Sequence[str]) -> list[ProjectionStatus]:
        """Fold the named projections again from seq 0 (all when empty); their status after."""
        chosen = self.engine.check_names(names)
        token = next(self._tokens)
        future: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
        self._rebuilds[token] = future
        if not self._send(("rebuild", token, chosen)):
            self._settle(token, _unavailable("the projection worker is being restarted"))
        await future
        return await asyncio.to_thread(self.engine.status)
