"""Projection state: ordered byte-keyed tables that projections fold events into.

A projection reads and writes its state only through these small interfaces,
so the same fold runs against LMDB (the live, incremental state) and against
memory (a replay up to a past seq, for `as_of` queries), and the same queries
read both.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Iterator
from typing import Any, Protocol, TypeVar, cast

import lmdb
import msgspec

from ledger.projections._rows import RowCodec

_Row = TypeVar("_Row", bound=msgspec.Struct)

#: Separates the parts of a key. Labels, identifiers and text lines never contain it.
_SEP = "\x1f"
#: Marks a part replaced by its digest; it can never start a real part.
_HASHED = "\x1e"
# LMDB keys are at most 511 bytes; any part longer than this is stored by digest.
_MAX_PART_BYTES = 160
# A part of at most this many characters is surely at most _MAX_PART_BYTES in UTF-8.
_SHORT_PART = _MAX_PART_BYTES // 4
DIGEST_DOMAIN = b"ledgerd-projection-state/1\n"


@functools.lru_cache(maxsize=1 << 16)
def state_key(table: str, *parts: str) -> bytes:
    """The key of a row: its table and parts, each part short enough for LMDB.

    Cached: folds build the keys of the same busy rows (a subject, a source, a
    probe) for event after event.
    """
    # Folds build keys for every event: the common case (short parts) is one join.
    for part in parts:
        if len(part) > _SHORT_PART:
            return _SEP.join((table, *(_part(p) for p in parts))).encode("utf-8")
    return _SEP.join((table, *parts)).encode("utf-8")


def table_prefix(table: str, *parts: str) -> bytes:
    """The prefix shared by every key in `table` (under `parts`), for scans."""
    return state_key(table, *parts) + _SEP.encode()


def seq_part(seq: int) -> str:
    """A seq as a key part that sorts numerically."""
    return f"{seq:016x}"


def _part(text: str) -> str:
    if len(text) <= _SHORT_PART or len(text.encode("utf-8")) <= _MAX_PART_BYTES:
        return text
    return _HASHED + hashlib.sha256(text.encode("utf-8")).hexdigest()


class StateReader(Protocol):
    """Read access to one projection's table."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Rows whose key starts with `prefix`, in key order."""
        ...

    def scan_back(self, prefix: bytes, below: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Rows whose key starts with `prefix` (and is less than `below`), last key first.

        For newest-first pages over seq-ordered keys: the cost is the page, not the table.
        """
        ...

    def rows(self) -> Iterator[tuple[bytes, bytes]]:
        """Every row, in key order."""
        ...


class StateWriter(Protocol):
    """What a fold may do to its state: point reads and writes, nothing else.

    Rows are read and written either as bytes or as structs through their
    codec; a key is always used one way.
    """

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def get_row(self, key: bytes, codec: RowCodec[_Row]) -> _Row | None: ...

    def put_row(self, key: bytes, row: _Row, codec: RowCodec[_Row]) -> None: ...


class MemoryState:
    """A table in memory: the target of `as_of` replays, readable like the stored one."""

    def __init__(self) -> None:
        self._rows: dict[bytes, bytes] = {}
        #: The keys in order, kept until a key is added or removed (scans bisect it).
        self._ordered: list[bytes] | None = None

    def get(self, key: bytes) -> bytes | None:
        return self._rows.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        if key not in self._rows:
            self._ordered = None
        self._rows[key] = value

    def delete(self, key: bytes) -> None:
        if self._rows.pop(key, None) is not None:
            self._ordered = None

    def get_row(self, key: bytes, codec: RowCodec[_Row]) -> _Row | None:
        raw = self._rows.get(key)
        return codec.decode(raw) if raw is not None else None

    def put_row(self, key: bytes, row: _Row, codec: RowCodec[_Row]) -> None:
        self.put(key, codec.encode(row))

    def _sorted(self) -> list[bytes]:
        if self._ordered is None:
            self._ordered = sorted(self._rows)
        return self._ordered

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        ordered = self._sorted()
        for position in range(bisect.bisect_left(ordered, prefix), len(ordered)):
            key = ordered[position]
            if not key.startswith(prefix):
                return
            yield key, self._rows[key]

    def scan_back(self, prefix: bytes, below: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        ordered = self._sorted()
        upper = _upper_bound(prefix, below)
        start = len(ordered) if upper is None else bisect.bisect_left(ordered, upper)
        for position in range(start - 1, -1, -1):
            key = ordered[position]
            if not key.startswith(prefix):
                return
            yield key, self._rows[key]

    def rows(self) -> Iterator[tuple[bytes, bytes]]:
        return self.scan(b"")


def _upper_bound(prefix: bytes, below: bytes | None) -> bytes | None:
    """The least key above every key with `prefix` (and not above `below`); None: no bound."""
    stem = prefix.rstrip(b"\xff")
    after = stem[:-1] + bytes([stem[-1] + 1]) if stem else None
    if below is None:
        return after
    return below if after is None else min(below, after)


class LmdbState:
    """One projection's LMDB sub-database, read through a transaction."""

    def __init__(self, txn: lmdb.Transaction, db: lmdb._Database) -> None:
        self._txn = txn
        self._db = db

    def get(self, key: bytes) -> bytes | None:
        value = self._txn.get(key, db=self._db)
        return bytes(value) if value is not None else None

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        cursor = self._txn.cursor(db=self._db)
        if not cursor.set_range(prefix):
            return
        for key, value in cursor:
            found = bytes(key)
            if not found.startswith(prefix):
                return
            yield found, bytes(value)

    def scan_back(self, prefix: bytes, below: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        cursor = self._txn.cursor(db=self._db)
        upper = _upper_bound(prefix, below)
        # set_range finds the first key at or above the bound; the rows wanted are before it.
        placed = cursor.prev() if upper is not None and cursor.set_range(upper) else cursor.last()
        while placed:
            key = bytes(cursor.key())
            if not key.startswith(prefix):
                return
            yield key, bytes(cursor.value())
            placed = cursor.prev()

    def rows(self) -> Iterator[tuple[bytes, bytes]]:
        return self.scan(b"")


_MISSING = object()


class WriteBuffer:
    """Collects a chunk's writes over the stored state, then writes each key once.

    A fold touches the same few rows (a subject, a source) over and over; keeping
    them here, decoded, until the chunk commits turns thousands of LMDB writes
    and row encodings into one per row.
    """

    def __init__(self, base: StateReader) -> None:
        self._base = base
        self._pending: dict[bytes, bytes | None] = {}
        #: Rows decoded or written as structs in this chunk (None: known absent).
        self._rows: dict[bytes, Any] = {}
        #: The codec of each row written as a struct, to encode it at flush.
        self._codecs: dict[bytes, RowCodec[Any]] = {}

    def get(self, key: bytes) -> bytes | None:
        codec = self._codecs.get(key)
        if codec is not None:
            return codec.encode(self._rows[key])
        if key in self._pending:
            return self._pending[key]
        return self._base.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value
        self._rows.pop(key, None)
        self._codecs.pop(key, None)

    def delete(self, key: bytes) -> None:
        self._pending[key] = None
        self._rows[key] = None
        self._codecs.pop(key, None)

    def get_row(self, key: bytes, codec: RowCodec[_Row]) -> _Row | None:
        row = self._rows.get(key, _MISSING)
        if row is _MISSING:
            raw = self.get(key)
            row = codec.decode(raw) if raw is not None else None
            self._rows[key] = row
        return cast("_Row | None", row)

    def put_row(self, key: bytes, row: _Row, codec: RowCodec[_Row]) -> None:
        self._rows[key] = row
        self._codecs[key] = codec

    def flush(self, txn: lmdb.Transaction, db: lmdb._Database) -> None:
        """Write the pending rows into `txn`, in key order (kind to LMDB's B-tree)."""
        for key, codec in self._codecs.items():
            self._pending[key] = codec.encode(self._rows[key])
        for key in sorted(self._pending):
            value = self._pending[key]
            if value is None:
                txn.delete(key, db=db)
            else:
                txn.put(key, value, db=db)
        self._pending.clear()
        self._rows.clear()
        self._codecs.clear()


def state_digest(state: StateReader) -> str:
    """SHA-256 over every row in key order: equal digests mean equal states."""
    digest = hashlib.sha256(DIGEST_DOMAIN)
    for key, value in state.rows():
        digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(8, "big") + value)
    return digest.hexdigest()
