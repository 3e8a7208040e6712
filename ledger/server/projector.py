"""Keeps the projections caught up inside the daemon, and lets queries wait for a seq.

The fold runs on its own thread, woken after each group commit, so appends
never wait for projections. Positions are published to the event loop, where a
query with `min_seq` waits (without polling) until its seq is folded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence

from ledger.errors import ErrorCode, InternalFailure, LedgerError, NetworkTransient
from ledger.projections import ProjectionEngine, ProjectionStatus

_log = logging.getLogger("ledgerd")
#: After a failed fold, wait this long before trying again (unless woken by a commit).
_RETRY_AFTER_S = 1.0


def _as_ledger_error(exc: Exception) -> LedgerError:
    if isinstance(exc, LedgerError):
        return exc
    return InternalFailure(
        ErrorCode.INTERNAL,
        f"folding the projections failed unexpectedly: {type(exc).__name__}",
        hint="this is a bug in ledgerd; the daemon log has the trace",
    )


class Projector:
    """The daemon's projection thread (see the module docstring)."""

    def __init__(self, engine: ProjectionEngine) -> None:
        self.engine = engine
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledgerd-projector", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.positions = engine.positions()
        self.failure: LedgerError | None = None
        self._changed = asyncio.Event()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()
        self.poke()

    def poke(self) -> None:
        """New events were committed: fold them soon. Safe from any thread."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop folding (between chunks); what was folded stays committed."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            failure: LedgerError | None = None
            try:
                positions = self.engine.catch_up(stop=self._stop.is_set)
            except Exception as exc:  # reported to every waiting query, then retried
                _log.exception("folding the projections failed")
                failure = _as_ledger_error(exc)
                positions = dict(self.positions)
            self._publish_threadsafe(positions, failure)
            if failure is not None and not self._stop.wait(_RETRY_AFTER_S):
                self._wake.set()

    def _publish_threadsafe(self, positions: dict[str, int], failure: LedgerError | None) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        # The loop may close between the check and the call; then nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._publish, positions, failure)

    def _publish(self, positions: dict[str, int], failure: LedgerError | None) -> None:
        self.positions = positions
        self.failure = failure
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, name: str, seq: int, timeout_s: float) -> None:
        """Return once event `seq` is folded into `name`; PROJECTION_BEHIND after the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.positions.get(name, 0) <= seq:
            if self.failure is not None:
                raise _as_ledger_error(self.failure)
            remaining = deadline - loop.time()
            if remaining <= 0:
                position = self.positions.get(name, 0)
                raise NetworkTransient(
                    ErrorCode.PROJECTION_BEHIND,
                    f"projection {name} has folded {position} events, not yet seq {seq}",
                    hint="retry, or give the call a longer deadline; "
                    "`ledgerctl projections status` shows the lag",
                    details={"projection": name, "position": position, "min_seq": seq},
                )
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                continue

    async def rebuild(self, names: Sequence[str]) -> list[ProjectionStatus]:
        """Fold the named projections again from seq 0 (all when empty); their status after."""
        positions = await asyncio.to_thread(self.engine.rebuild, list(names))
        self._publish(positions, None)
        self.poke()
        return await asyncio.to_thread(self.engine.status)
