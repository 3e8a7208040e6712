"""Event storage: the append-only log and the values it takes and returns."""

from __future__ import annotations

from ledger.store.lmdb_store import LmdbEventLog
from ledger.store.snapshot import LogSnapshot
from ledger.store.types import (
    ANY_VERSION,
    NO_STREAM,
    AppendOutcome,
    AppendRequest,
    AppendResult,
    ConsistencyProof,
    ExpectedVersion,
    InclusionProof,
    StoredEvent,
    StoredLeaf,
)

__all__ = [
    "ANY_VERSION",
    "NO_STREAM",
    "AppendOutcome",
    "AppendRequest",
    "AppendResult",
    "ConsistencyProof",
    "ExpectedVersion",
    "InclusionProof",
    "LmdbEventLog",
    "LogSnapshot",
    "StoredEvent",
    "StoredLeaf",
]
