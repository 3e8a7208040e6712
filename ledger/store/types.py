"""Value types the event log takes and returns."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.model import Envelope, Leaf, PreparedEvent

#: `expected_version` values: None accepts any version; NO_STREAM requires the stream
#: not to exist yet; N >= 1 requires the stream's current version to be exactly N.
ExpectedVersion = int | None
ANY_VERSION: ExpectedVersion = None
NO_STREAM: ExpectedVersion = 0


@dataclass(frozen=True)
class AppendRequest:
    """One event to append, with an optional optimistic-concurrency guard on its stream.

    The event may be an envelope (validated on append) or an already
    `PreparedEvent` (validated once, earlier, e.g. while parsing an import).
    """

    event: Envelope | PreparedEvent
    expected_version: ExpectedVersion = ANY_VERSION


@dataclass(frozen=True)
class AppendResult:
    """Where one event landed: its log seq, its stream version, and whether it was already there."""

    seq: int
    stream_version: int
    duplicate: bool


@dataclass(frozen=True)
class AppendOutcome:
    """The result of one atomic batch, in request order, and the tree size after the commit."""

    results: tuple[AppendResult, ...]
    tree_size: int


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: its seq, the exact leaf bytes, their leaf hash and the decoded leaf."""

    seq: int
    leaf_bytes: bytes
    leaf_hash: bytes
    leaf: Leaf


@dataclass(frozen=True)
class StoredLeaf:
    """A leaf exactly as stored, with its stored leaf hash, not decoded (cheap to read)."""

    seq: int
    leaf_bytes: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class InclusionProof:
    """Everything needed to check that one leaf is in the tree of `tree_size` leaves."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    root: bytes
    hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsistencyProof:
    """Everything needed to check that the tree at `second_size` extends the one at `first_size`."""

    first_size: int
    second_size: int
    first_root: bytes
    second_root: bytes
    hashes: tuple[bytes, ...]
