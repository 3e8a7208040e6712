"""Keeps transactions out while the LMDB map is resized.

`mdb_env_set_mapsize` is only safe with no transaction open in the process.
Many transactions may run at once; a resize waits for all of them to end and
holds new ones back until it is done. A thread that holds a transaction and
then asks for a resize would wait for itself forever, so that is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ledger.errors import ErrorCode, InternalFailure


class TxnGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._resizing = False
        self._held = threading.local()

    def _held_here(self) -> int:
        return int(getattr(self._held, "count", 0))

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            # A thread already inside may nest without waiting on a resize it would block.
            if not self._held_here():
                self._cond.wait_for(lambda: not self._resizing)
            self._active += 1
        self._held.count = self._held_here() + 1
        try:
            yield
        finally:
            self._held.count = self._held_here() - 1
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        if self._held_here():
            raise InternalFailure(
                ErrorCode.INTERNAL,
                "the LMDB map must grow, but this thread still holds a read snapshot",
                hint="end the snapshot (leave its `with` block) before appending or closing",
            )
        with self._cond:
            self._cond.wait_for(lambda: not self._resizing)
            self._resizing = True
            self._cond.wait_for(lambda: self._active == 0)
        try:
            yield
        finally:
            with self._cond:
                self._resizing = False
                self._cond.notify_all()
