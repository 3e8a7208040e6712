"""The event log on LMDB: atomic batched appends, the hash chain and the stored Merkle tree.

Named databases in one environment (specs/ledger-format.md, "Storage"); every
integer is an unsigned 64-bit big-endian value unless said otherwise:

- `leaves`:        seq -> the exact leaf bytes
- `tree`:          level (1 byte) || index -> 32-byte subtree hash
- `event_ids`:     event_id -> seq || stream version || SHA-256 of the canonical envelope
- `streams`:       stream -> current stream version
- `stream_events`: stream || 0x00 || stream version -> seq
- `unique_keys`:   constraint key (e.g. `run_id:<uuid>`) -> seq
- `meta`:          b"format" -> the storage format name

The log size is not stored: it is the last leaf's seq + 1, so it can never
disagree with the leaves.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb

from ledger.clock import Clock, SystemClock, format_utc
from ledger.errors import (
    ErrorCode,
    InvalidInput,
    IoFailure,
    LedgerError,
    StateContention,
    VerificationFailed,
)
from ledger.model import (
    GENESIS_PREV,
    PreparedEvent,
    decode_leaf,
    leaf_from_canonical,
    prepare_event,
)
from ledger.model.registry import schema_for
from ledger.store.lock import WriterLock
from ledger.store.types import (
    AppendOutcome,
    AppendRequest,
    AppendResult,
    ExpectedVersion,
    StoredEvent,
)
from ledger.tree import stored
from ledger.tree.hashing import leaf_hash

FORMAT = b"ledgerd-lmdb/1"
DEFAULT_MAP_SIZE = 256 << 20
MAX_BATCH = 10_000
_READ_CHUNK = 512
_DB_NAMES = ("leaves", "tree", "event_ids", "streams", "stream_events", "unique_keys", "meta")
_U64 = struct.Struct(">Q")
_TREE_KEY = struct.Struct(">BQ")
_EVENT_ID_VALUE = struct.Struct(">QQ32s")

# LMDB forbids opening one environment twice in a process; we refuse it up front, clearly.
_OPEN_DIRS: set[Path] = set()
_OPEN_DIRS_LOCK = threading.Lock()


def _claim_in_process(data_dir: Path) -> Path:
    key = data_dir.resolve()
    with _OPEN_DIRS_LOCK:
        if key in _OPEN_DIRS:
            raise StateContention(
                ErrorCode.DATA_DIR_LOCKED,
                f"data directory {data_dir} is already open in this process",
                hint="share the open LmdbEventLog instead of opening the directory twice",
                details={"holder_pid": os.getpid()},
            )
        _OPEN_DIRS.add(key)
    return key


def _release_in_process(key: Path) -> None:
    with _OPEN_DIRS_LOCK:
        _OPEN_DIRS.discard(key)


def _u64(value: int) -> bytes:
    return _U64.pack(value)


def _storage_error(exc: lmdb.Error, doing: str) -> IoFailure:
    return IoFailure(
        ErrorCode.STORAGE_FAILURE,
        f"LMDB failed while {doing}: {exc}",
        hint="check disk space and permissions of the data directory",
    )


class _TxnGate:
    """Lets many transactions run at once, but none while the map is being resized.

    LMDB's `mdb_env_set_mapsize` is only safe with no transaction open in this
    process; this gate makes that true.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._resizing = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._resizing)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
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


@dataclass(frozen=True)
class _Prepared:
    event: PreparedEvent
    unique_key: bytes | None
    unique_conflict: ErrorCode | None


def _prepare(request: AppendRequest) -> _Prepared:
    event = request.event
    prepared = event if isinstance(event, PreparedEvent) else prepare_event(event)
    envelope = prepared.envelope
    unique = schema_for(envelope.type, envelope.schema_version).unique
    return _Prepared(
        event=prepared,
        unique_key=unique.key(envelope.data).encode("utf-8") if unique else None,
        unique_conflict=unique.conflict_code if unique else None,
    )


class LogSnapshot:
    """A consistent read-only view of the log inside one LMDB read transaction."""

    def __init__(self, txn: lmdb.Transaction, dbs: dict[str, Any]) -> None:
        self._txn = txn
        self._dbs = dbs
        cursor = txn.cursor(db=dbs["leaves"])
        self.size: int = _U64.unpack(cursor.key())[0] + 1 if cursor.last() else 0

    def leaf_bytes(self, seq: int) -> bytes | None:
        value = self._txn.get(_u64(seq), db=self._dbs["leaves"])
        return bytes(value) if value is not None else None

    def stored_hash(self, level: int, index: int) -> bytes | None:
        value = self._txn.get(_TREE_KEY.pack(level, index), db=self._dbs["tree"])
        return bytes(value) if value is not None else None

    def read_hash(self, level: int, index: int) -> bytes:
        """A stored subtree hash that the tree layout says must exist."""
        value = self.stored_hash(level, index)
        if value is None:
            raise VerificationFailed(
                ErrorCode.TREE_HASH_MISMATCH,
                f"stored tree hash at level {level}, index {index} is missing",
                hint="the store is damaged; run `ledgerctl verify` to find where",
            )
        return value

    def iter_leaves(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """(seq, leaf bytes) in key order from `start`, exactly as stored, gaps and all."""
        cursor = self._txn.cursor(db=self._dbs["leaves"])
        if not cursor.set_range(_u64(start)):
            return
        for key, value in cursor:
            yield _U64.unpack(key)[0], bytes(value)

    def event_id_entry(self, event_id: str) -> tuple[int, int, bytes] | None:
        """(seq, stream version, content digest) recorded for an event id."""
        value = self._txn.get(event_id.encode("utf-8"), db=self._dbs["event_ids"])
        if value is None:
            return None
        seq, version, digest = _EVENT_ID_VALUE.unpack(value)
        return seq, version, digest

    def unique_key_seq(self, key: str) -> int | None:
        """The seq holding a unique-constraint key, if any."""
        value = self._txn.get(key.encode("utf-8"), db=self._dbs["unique_keys"])
        return _U64.unpack(value)[0] if value is not None else None

    def stream_version(self, stream: str) -> int:
        value = self._txn.get(stream.encode("utf-8"), db=self._dbs["streams"])
        return _U64.unpack(value)[0] if value is not None else 0

    def stream_seq(self, stream: str, version: int) -> int | None:
        """The seq of a stream's event at `version`, if indexed."""
        key = stream.encode("utf-8") + b"\x00" + _u64(version)
        value = self._txn.get(key, db=self._dbs["stream_events"])
        return _U64.unpack(value)[0] if value is not None else None

    def entry_count(self, database: str) -> int:
        """How many entries one of the named databases holds."""
        return int(self._txn.stat(self._dbs[database])["entries"])

    def stream_seqs(self, stream: str, from_version: int) -> Iterator[tuple[int, int]]:
        """(version, seq) of a stream's events from `from_version` on."""
        prefix = stream.encode("utf-8") + b"\x00"
        cursor = self._txn.cursor(db=self._dbs["stream_events"])
        if not cursor.set_range(prefix + _u64(from_version)):
            return
        for key, value in cursor:
            if not bytes(key).startswith(prefix):
                return
            yield _U64.unpack(key[len(prefix) :])[0], _U64.unpack(value)[0]

    def root(self, size: int) -> bytes:
        return stored.root_at(self.read_hash, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return stored.inclusion_proof(self.read_hash, index, size, self.size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        return stored.consistency_proof(self.read_hash, first, second, self.size)

    def event(self, seq: int) -> StoredEvent:
        raw = self.leaf_bytes(seq)
        if raw is None:
            raise InvalidInput(
                ErrorCode.NOT_FOUND,
                f"no event at seq {seq}; the log has {self.size}",
                hint=f"seqs run from 0 to {self.size - 1}" if self.size else "the log is empty",
            )
        return StoredEvent(seq=seq, leaf_bytes=raw, leaf_hash=leaf_hash(raw), leaf=decode_leaf(raw))


class LmdbEventLog:
    """An append-only, hash-chained, Merkle-tree-backed event log in one LMDB directory.

    Opened for writing, it holds the directory's writer lock until closed.
    Thread-safe: appends are serialised, reads run concurrently with them.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        readonly: bool = False,
        clock: Clock | None = None,
        map_size: int = DEFAULT_MAP_SIZE,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.readonly = readonly
        self._clock = clock or SystemClock()
        self._gate = _TxnGate()
        self._write_mutex = threading.Lock()
        self._lock: WriterLock | None = None
        self._closed = False
        if readonly and not (self.data_dir / "data.mdb").is_file():
            raise InvalidInput(
                ErrorCode.DATA_DIR_NOT_FOUND,
                f"{self.data_dir} holds no ledger",
                hint="check --data-dir; a ledger is created by its first append or import",
            )
        if not readonly:
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise IoFailure(
                    ErrorCode.STORAGE_FAILURE,
                    f"cannot create data directory {self.data_dir}: {exc.strerror}",
                    hint="check the path and its permissions",
                ) from None
        self._claim = _claim_in_process(self.data_dir)
        try:
            if not readonly:
                self._lock = WriterLock(self.data_dir)
            self._env = lmdb.open(
                str(self.data_dir),
                map_size=map_size,
                max_dbs=len(_DB_NAMES),
                max_readers=1024,
                readonly=readonly,
                sync=True,
                metasync=True,
                lock=True,
            )
            self._dbs = {
                name: self._env.open_db(name.encode(), create=not readonly) for name in _DB_NAMES
            }
            self._check_format()
        except lmdb.Error as exc:
            self._release_claims()
            raise _storage_error(exc, f"opening {self.data_dir}") from None
        except LedgerError:
            self._release_claims()
            raise

    def _check_format(self) -> None:
        with self._env.begin(write=not self.readonly) as txn:
            found = txn.get(b"format", db=self._dbs["meta"])
            if found is None and not self.readonly:
                txn.put(b"format", FORMAT, db=self._dbs["meta"])
                return
        if found is not None and bytes(found) != FORMAT:
            raise InvalidInput(
                ErrorCode.DATA_DIR_NOT_FOUND,
                f"{self.data_dir} holds storage format {bytes(found)!r}, not {FORMAT!r}",
                hint="open it with the ledgerd version that wrote it",
            )

    @property
    def recovered_stale_lock_from(self) -> int | None:
        """The pid of a dead writer whose lock this instance took over, if any."""
        return self._lock.recovered_from_pid if self._lock else None

    def _release_claims(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        _release_in_process(self._claim)

    def close(self) -> None:
        """Close the environment and give up the writer lock; safe to call twice."""
        if self._closed:
            return
        with self._gate.exclusive():
            self._env.close()
            self._closed = True
        self._release_claims()

    def __enter__(self) -> LmdbEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Reads -------------------------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[LogSnapshot]:
        """A consistent read view; keep it short, it pins the pages it sees."""
        for _ in range(3):
            with self._gate.shared():
                try:
                    txn = self._env.begin(write=False)
                except lmdb.MapResizedError:
                    txn = None
                except lmdb.Error as exc:
                    raise _storage_error(exc, "starting a read") from None
                if txn is not None:
                    try:
                        yield LogSnapshot(txn, self._dbs)
                    finally:
                        txn.abort()
                    return
            # The writer, in another process, grew the map: adopt its new size.
            with self._gate.exclusive():
                self._env.set_mapsize(0)
        raise IoFailure(
            ErrorCode.STORAGE_FAILURE,
            "the LMDB map kept being resized while starting a read",
            hint="retry; the writer is growing the database quickly",
        )

    def size(self) -> int:
        with self.snapshot() as view:
            return view.size

    def get(self, seq: int) -> StoredEvent:
        with self.snapshot() as view:
            return view.event(seq)

    def get_by_event_id(self, event_id: str) -> StoredEvent:
        with self.snapshot() as view:
            entry = view.event_id_entry(event_id)
            if entry is None:
                raise InvalidInput(
                    ErrorCode.NOT_FOUND,
                    f"no event with id {event_id!r}",
                    hint="check the id, or look the event up by seq",
                )
            return view.event(entry[0])

    def stream_version(self, stream: str) -> int:
        with self.snapshot() as view:
            return view.stream_version(stream)

    def read(self, start: int = 0, end: int | None = None) -> Iterator[StoredEvent]:
        """Events with start <= seq < end (end defaults to the size at the first read).

        Reads in chunks of short transactions, so a slow consumer never pins
        the whole database.
        """
        if start < 0:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT, "start seq must be >= 0", hint="pass --from 0 or more"
            )
        position = start
        while True:
            with self.snapshot() as view:
                stop = view.size if end is None else min(end, view.size)
                end = stop
                batch = [
                    view.event(seq) for seq in range(position, min(stop, position + _READ_CHUNK))
                ]
            yield from batch
            position += len(batch)
            if position >= stop or not batch:
                return

    def read_stream(self, stream: str, from_version: int = 1) -> Iterator[StoredEvent]:
        """A stream's events in version order, from `from_version` (1-based)."""
        version = max(from_version, 1)
        while True:
            with self.snapshot() as view:
                batch = []
                for found_version, seq in view.stream_seqs(stream, version):
                    batch.append(view.event(seq))
                    version = found_version + 1
                    if len(batch) >= _READ_CHUNK:
                        break
            yield from batch
            if len(batch) < _READ_CHUNK:
                return

    def root(self, size: int | None = None) -> tuple[int, bytes]:
        """(size, root hash) at `size`, or at the current size."""
        with self.snapshot() as view:
            at = view.size if size is None else size
            if not 0 <= at <= view.size:
                raise InvalidInput(
                    ErrorCode.INVALID_PROOF_REQUEST,
                    f"tree size {at} is beyond the log size {view.size}",
                    hint="ask for a size the log has reached",
                )
            return at, view.root(at)

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[int, list[bytes]]:
        with self.snapshot() as view:
            at = view.size if size is None else size
            return at, view.inclusion_proof(index, at)

    def consistency_proof(self, first: int, second: int | None = None) -> tuple[int, list[bytes]]:
        with self.snapshot() as view:
            at = view.size if second is None else second
            return at, view.consistency_proof(first, at)

    # Writes ------------------------------------------------------------------------------

    def append(self, requests: Sequence[AppendRequest]) -> AppendOutcome:
        """Append a batch atomically and durably: all of it, or (on any error) none of it."""
        if self.readonly:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                "this log was opened read-only",
                hint="open it for writing to append",
            )
        if not requests:
            raise InvalidInput(
                ErrorCode.EMPTY_BATCH, "an append needs at least one event", hint="send 1 or more"
            )
        if len(requests) > MAX_BATCH:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                f"batch of {len(requests)} events exceeds the limit of {MAX_BATCH}",
                hint="split the batch",
            )
        prepared = []
        for position, request in enumerate(requests):
            try:
                prepared.append(_prepare(request))
            except LedgerError as exc:
                if len(requests) > 1:
                    exc.details = {**exc.details, "batch_index": position}
                raise
        with self._write_mutex:
            while True:
                try:
                    with self._gate.shared():
                        return self._append_txn(requests, prepared)
                except lmdb.MapFullError:
                    self._grow_map()
                except lmdb.Error as exc:
                    raise _storage_error(exc, "appending") from None

    def _grow_map(self) -> None:
        with self._gate.exclusive():
            self._env.set_mapsize(self._env.info()["map_size"] * 2)

    def _append_txn(
        self, requests: Sequence[AppendRequest], prepared: Sequence[_Prepared]
    ) -> AppendOutcome:
        recorded_at = format_utc(self._clock.now())
        with self._env.begin(write=True) as txn:
            batch = _BatchWriter(txn, self._dbs, recorded_at)
            results = tuple(
                batch.add(position, request.expected_version, item)
                for position, (request, item) in enumerate(zip(requests, prepared, strict=True))
            )
            batch.finish()
        return AppendOutcome(results=results, tree_size=batch.size)


class _BatchWriter:
    """Writes one batch inside one write transaction, enforcing the append rules in order."""

    def __init__(self, txn: lmdb.Transaction, dbs: dict[str, Any], recorded_at: str) -> None:
        self._txn = txn
        self._dbs = dbs
        self._view = LogSnapshot(txn, dbs)
        self._recorded_at = recorded_at
        self.size = self._start = self._view.size
        self._prev = (
            GENESIS_PREV if self.size == 0 else self._view.read_hash(0, self.size - 1).hex()
        )
        # Stream versions are read once and written once per batch, not once per event.
        self._versions: dict[str, int] = {}

    def add(self, position: int, expected: ExpectedVersion, item: _Prepared) -> AppendResult:
        envelope = item.event.envelope
        duplicate = self._duplicate_of(position, item)
        if duplicate is not None:
            return duplicate
        current = self._version(envelope.stream)
        if expected is not None and expected != current:
            raise StateContention(
                ErrorCode.WRONG_EXPECTED_VERSION,
                f"stream {envelope.stream!r} is at version {current}, not {expected}",
                hint="re-read the stream and decide again; this error is not retried",
                details={
                    "stream": envelope.stream,
                    "expected_version": expected,
                    "current_version": current,
                    "batch_index": position,
                },
            )
        self._claim_unique(position, item)
        return self._write(item, current + 1)

    def _duplicate_of(self, position: int, item: _Prepared) -> AppendResult | None:
        event_id = item.event.envelope.event_id
        existing = self._view.event_id_entry(event_id)
        if existing is None:
            return None
        seq, version, digest = existing
        if digest != item.event.digest:
            in_batch = seq >= self._start
            where = (
                "appears earlier in this batch" if in_batch else f"is already stored at seq {seq}"
            )
            raise StateContention(
                ErrorCode.EVENT_ID_CONFLICT,
                f"event id {event_id!r} {where} with different content",
                hint="an event id names one event forever; generate a new id for a new event",
                details={
                    "event_id": event_id,
                    "batch_index": position,
                    **({} if in_batch else {"seq": seq}),
                },
            )
        return AppendResult(seq=seq, stream_version=version, duplicate=True)

    def _version(self, stream: str) -> int:
        if stream not in self._versions:
            self._versions[stream] = self._view.stream_version(stream)
        return self._versions[stream]

    def _claim_unique(self, position: int, item: _Prepared) -> None:
        if item.unique_key is None or item.unique_conflict is None:
            return
        holder = self._txn.get(item.unique_key, db=self._dbs["unique_keys"])
        if holder is not None:
            seq = _U64.unpack(holder)[0]
            raise StateContention(
                item.unique_conflict,
                f"{item.unique_key.decode()} is already recorded at seq {seq}",
                hint="this value may be recorded once; use a new one for a new record",
                details={"seq": seq, "batch_index": position},
            )
        self._txn.put(item.unique_key, _u64(self.size), db=self._dbs["unique_keys"])

    def _write(self, item: _Prepared, version: int) -> AppendResult:
        txn, dbs, seq = self._txn, self._dbs, self.size
        envelope = item.event.envelope
        leaf = leaf_from_canonical(seq, self._prev, self._recorded_at, item.event.canonical)
        hashed = leaf_hash(leaf)
        txn.put(_u64(seq), leaf, db=dbs["leaves"], append=True)
        txn.put(
            envelope.event_id.encode("utf-8"),
            _EVENT_ID_VALUE.pack(seq, version, item.event.digest),
            db=dbs["event_ids"],
        )
        stream_key = envelope.stream.encode("utf-8")
        txn.put(stream_key + b"\x00" + _u64(version), _u64(seq), db=dbs["stream_events"])
        for level, index, value in stored.hashes_to_store(seq, hashed, self._view.read_hash):
            txn.put(_TREE_KEY.pack(level, index), value, db=dbs["tree"])
        self._versions[envelope.stream] = version
        self._prev = hashed.hex()
        self.size += 1
        return AppendResult(seq=seq, stream_version=version, duplicate=False)

    def finish(self) -> None:
        """Write each stream's final version (a stream only looked at stays absent)."""
        for stream, version in self._versions.items():
            if version:
                self._txn.put(stream.encode("utf-8"), _u64(version), db=self._dbs["streams"])
