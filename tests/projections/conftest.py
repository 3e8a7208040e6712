"""Shared set-up for the projection engine tests: real logs, real engines, digest helpers.

Logs come from the root `open_log` fixture (real LMDB under `tmp_path`, the pinned
clock); engines opened here are closed at teardown, before their logs. Helpers are
exposed as fixtures because test modules here cannot import each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from ledger.model import Envelope
from ledger.projections import ProjectionEngine
from ledger.projections.state import MemoryState, state_digest
from ledger.store import AppendRequest, LmdbEventLog

#: The digest of a projection that holds no rows.
EMPTY_DIGEST = state_digest(MemoryState())

# Test modules here spell these types out themselves: `import conftest` is the root one.

Append = Callable[[LmdbEventLog, Sequence[Envelope]], list[int]]
Digests = Callable[[ProjectionEngine], dict[str, str]]
ReplayDigests = Callable[[ProjectionEngine, int], dict[str, str]]


def append_events(log: LmdbEventLog, envelopes: Sequence[Envelope]) -> list[int]:
    """Append `envelopes` as one batch; returns their seqs (none may be a duplicate)."""
    outcome = log.append([AppendRequest(envelope) for envelope in envelopes])
    assert not any(result.duplicate for result in outcome.results), "an event was a duplicate"
    return [result.seq for result in outcome.results]


def status_digests(engine: ProjectionEngine) -> dict[str, str]:
    """Each projection's stored-state digest, by name."""
    return {status.name: status.digest for status in engine.status()}


def replay_digests(engine: ProjectionEngine, through_seq: int) -> dict[str, str]:
    """Each projection's digest as replayed through `through_seq` (-1: before any event)."""
    if through_seq < 0:
        return dict.fromkeys(engine.names, EMPTY_DIGEST)
    return {name: state_digest(engine.replay(name, through_seq).state) for name in engine.names}


@pytest.fixture
def append() -> Append:
    return append_events


@pytest.fixture
def digests() -> Digests:
    return status_digests


@pytest.fixture
def replayed() -> ReplayDigests:
    return replay_digests


@pytest.fixture
def open_engine() -> Iterator[Callable[..., ProjectionEngine]]:
    """Opens engines (`ProjectionEngine(log, ...)`) and closes them all at teardown."""
    opened: list[ProjectionEngine] = []

    def _open(log: LmdbEventLog, *args: object, **kwargs: object) -> ProjectionEngine:
        engine = ProjectionEngine(log, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(engine)
        return engine

    yield _open
    for engine in opened:
        engine.close()


@pytest.fixture
def engine(log: LmdbEventLog, open_engine: Callable[..., ProjectionEngine]) -> ProjectionEngine:
    """The default projections over the root `log` fixture."""
    return open_engine(log)
