"""What a projection is: a named, versioned fold of log events into its own state."""

from __future__ import annotations

from typing import Protocol

from ledger.projections.facts import Fact
from ledger.projections.state import StateWriter


class Projection(Protocol):
    """A deterministic fold of events, in seq order, into one table of state.

    `apply` must depend on nothing but the fact and the state: no clock, no
    randomness, no other table. That is what makes a rebuilt state equal, byte
    for byte, to the incrementally built one, and a replay up to seq N equal to
    the state as it was at N.
    """

    #: Also the name of its LMDB sub-database and of its position.
    name: str
    #: Bump when the fold or its row formats change: state of another version is rebuilt.
    version: int
    #: The event types it folds; others pass it by (its position still advances).
    event_types: frozenset[str]

    def apply(self, fact: Fact, state: StateWriter) -> None: ...
