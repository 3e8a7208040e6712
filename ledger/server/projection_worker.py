"""The projection worker: the daemon's child process that folds the log into the projections.

Folding is CPU work in Python; in the daemon's own process it would share one
GIL with every Append. In a child process it runs on another core, reading the
log through LMDB (which serves many processes) and writing the projections
environment, which only it writes while the daemon runs. The daemon reads the
projections read-only.

The two talk over a pipe, in small tuples:

- daemon -> worker: `("wake",)` (new events were committed), `("rebuild", token,
  names)`, `("stop",)`;
- worker -> daemon: `("positions", {name: position})` after each committed
  chunk (and after a rebuild's reset), `("rebuilt", token, positions)` once a
  rebuild has caught up with the log, `("failed", token | None, error)` with
  the error as `(code, message, hint, details)`.

A rebuild is a reset followed by the worker's ordinary, interruptible
catch-up, so a long rebuild still hears new messages between chunks. The
worker exits when told to stop, when the pipe closes, or when its parent is
gone (a SIGKILLed daemon), always between chunks, so what it folded stays
committed. If it cannot even open the projections it says why, then exits.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ledger.errors import ErrorCode, InternalFailure, LedgerError
from ledger.projections import ProjectionEngine
from ledger.store import LmdbEventLog

#: After a failed fold, wait this long for a message before trying again.
_RETRY_AFTER_S = 1.0


def error_tuple(exc: BaseException) -> tuple[str, str, str, dict[str, Any]]:
    """A LedgerError as plain values that cross the pipe (anything else becomes INTERNAL)."""
    if not isinstance(exc, LedgerError):
        exc = InternalFailure(
            ErrorCode.INTERNAL,
            f"the projection worker failed unexpectedly: {type(exc).__name__}: {exc}",
            hint="this is a bug in ledgerd; the daemon log has the worker's trace",
        )
    return str(exc.code), exc.message, exc.hint, dict(exc.details)


def run(data_dir: str, chunk: int, conn: Connection) -> None:
    """The worker's main loop (the target of the daemon's child process)."""
    # Ctrl-C reaches the whole process group; the daemon decides when the worker stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def interrupted() -> bool:
        return conn.poll() or os.getppid() != parent

    try:
        log = LmdbEventLog(Path(data_dir), readonly=True)
    except Exception as exc:  # the daemon hears why, then starts another worker later
        conn.send(("failed", None, error_tuple(exc)))
        raise SystemExit(1) from None
    try:
        with ProjectionEngine(log, chunk=chunk) as engine:
            _Worker(engine, log, conn, interrupted).serve()
    except Exception as exc:
        conn.send(("failed", None, error_tuple(exc)))
        raise SystemExit(1) from None
    finally:
        log.close()


class _Worker:
    def __init__(
        self,
        engine: ProjectionEngine,
        log: LmdbEventLog,
        conn: Connection,
        interrupted: Callable[[], bool],
    ) -> None:
        self._engine = engine
        self._log = log
        self._conn = conn
        self._interrupted = interrupted
        #: Rebuilds reset and waiting for the catch-up to reach the log's end.
        self._rebuilds: list[int] = []

    def serve(self) -> None:
        conn = self._conn
        conn.send(("positions", self._engine.positions()))
        retry_in: float | None = None
        while True:
            if retry_in is None:
                retry_in = self._catch_up()
            if not conn.poll(retry_in):
                retry_in = None  # the wait for a retry is over
                continue
            try:
                # Everything waiting, at once: a burst of commits is one catch-up.
                messages = [conn.recv()]
                while conn.poll():
                    messages.append(conn.recv())
            except EOFError:
                return
            for message in messages:
                if message[0] == "stop":
                    return
                if message[0] == "rebuild":
                    self._start_rebuild(message[1], message[2])
            retry_in = None

    def _catch_up(self) -> float | None:
        """Fold what there is; the seconds to wait before retrying a failure, or None."""
        conn = self._conn
        try:
            positions = self._engine.catch_up(
                stop=self._interrupted, on_chunk=lambda p: conn.send(("positions", p))
            )
        except Exception as exc:  # reported to the daemon, then retried
            conn.send(("failed", None, error_tuple(exc)))
            return _RETRY_AFTER_S
        conn.send(("positions", positions))
        if self._rebuilds and min(positions.values()) >= self._log.size():
            for token in self._rebuilds:
                conn.send(("rebuilt", token, positions))
            self._rebuilds.clear()
        return None

    def _start_rebuild(self, token: int, names: list[str]) -> None:
        try:
            positions = self._engine.reset(names)
        except Exception as exc:  # the rebuild's caller hears why
            self._conn.send(("failed", token, error_tuple(exc)))
            return
        self._conn.send(("positions", positions))
        self._rebuilds.append(token)
