"""The event log on LMDB: atomic, durable, batched appends and consistent reads.

One data directory holds one LMDB environment (layout in `_layout.py`). Only one
process writes to it (`WriterLock`), and LMDB forbids opening an environment
twice in one process, so a second open here is refused up front.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb

from ledger.clock import Clock, SystemClock, format_utc
from ledger.errors import ErrorCode, InvalidInput, IoFailure, LedgerError, StateContention
from ledger.model import PreparedEvent, prepare_event
from ledger.store._batch import BatchWriter
from ledger.store._layout import DB_NAMES, FORMAT, storage_error
from ledger.store.lock import WriterLock
from ledger.store.snapshot import LogSnapshot, decoded_event
from ledger.store.types import (
    AppendOutcome,
    AppendRequest,
    ConsistencyProof,
    InclusionProof,
    StoredEvent,
    StoredLeaf,
)
from ledger.txn_gate import TxnGate

#: The initial map: address space only; the file grows as it is used.
DEFAULT_MAP_SIZE = 16 << 30
MAX_BATCH = 10_000
_READ_CHUNK = 512

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


def _not_a_ledger(data_dir: Path, why: str) -> InvalidInput:
    return InvalidInput(
        ErrorCode.DATA_DIR_NOT_FOUND,
        f"{data_dir} {why}",
        hint="check --data-dir; a ledger is created by its first append or import",
    )


def _create_databases(env: lmdb.Environment) -> dict[str, Any]:
    """Create every named database and the format marker in one write transaction.

    One transaction, so that a new ledger appears on disk whole or not at all: a
    writer killed half-way would otherwise leave some databases and no marker,
    which every later open must refuse as not a ledger.
    """
    with env.begin(write=True) as txn:
        dbs = {name: env.open_db(name.encode(), txn=txn, create=True) for name in DB_NAMES}
        txn.put(b"format", FORMAT, db=dbs["meta"])
    return dbs


def _prepare(request: AppendRequest) -> PreparedEvent:
    event = request.event
    return event if isinstance(event, PreparedEvent) else prepare_event(event)


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
        self._gate = TxnGate()
        self._write_mutex = threading.Lock()
        self._close_mutex = threading.Lock()
        self._closed = False
        self._lock: WriterLock | None = None
        self._env: lmdb.Environment | None = None
        if readonly and not (self.data_dir / "data.mdb").is_file():
            raise _not_a_ledger(self.data_dir, "holds no ledger")
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
                max_dbs=len(DB_NAMES),
                max_readers=1024,
                readonly=readonly,
                sync=True,
                metasync=True,
                lock=True,
            )
            self._dbs = self._open_databases(self._env)
        except BaseException as exc:
            self._release()
            if isinstance(exc, lmdb.Error):
                raise storage_error(exc, f"opening {self.data_dir}") from None
            raise

    def _open_databases(self, env: lmdb.Environment) -> dict[str, Any]:
        """Open the named databases, creating them only in a new, empty environment."""
        with env.begin() as txn:
            names = {bytes(key) for key, _ in txn.cursor()}
        expected = {name.encode() for name in DB_NAMES}
        if not names:
            if self.readonly:
                raise _not_a_ledger(self.data_dir, "holds no ledger")
            return _create_databases(env)
        # Some of the databases, or all without the format marker, is also what an older
        # ledgerd left when killed while creating a ledger (it made each database in its
        # own transaction). Refused like any other stranger: it cannot hold events.
        if not names <= expected or b"meta" not in names:
            raise _not_a_ledger(self.data_dir, "holds an LMDB database that is not a ledger")
        dbs = {name: env.open_db(name.encode(), create=not self.readonly) for name in DB_NAMES}
        with env.begin() as txn:
            found = txn.get(b"format", db=dbs["meta"])
        if found is None or bytes(found) != FORMAT:
            shown = bytes(found) if found is not None else "no format"
            raise _not_a_ledger(self.data_dir, f"holds storage format {shown!r}, not {FORMAT!r}")
        return dbs

    @property
    def recovered_stale_lock_from(self) -> int | None:
        """The pid of a dead writer whose lock this instance took over, if any."""
        return self._lock.recovered_from_pid if self._lock else None

    def _release(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        with _OPEN_DIRS_LOCK:
            _OPEN_DIRS.discard(self._claim)

    def close(self) -> None:
        """Close the environment and give up the writer lock; safe to call twice."""
        with self._close_mutex:
            if self._closed:
                return
            self._closed = True
        with self._write_mutex, self._gate.exclusive():
            self._release()

    def __enter__(self) -> LmdbEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_env(self) -> lmdb.Environment:
        if self._closed or self._env is None:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                f"the log in {self.data_dir} is closed",
                hint="open the data directory again",
            )
        return self._env

    # Reads -------------------------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[LogSnapshot]:
        """A consistent read view; keep it short, it pins the pages it sees."""
        for _ in range(3):
            with self._gate.shared():
                try:
                    txn = self._open_env().begin(write=False)
                except lmdb.MapResizedError:
                    txn = None
                except lmdb.Error as exc:
                    raise storage_error(exc, "starting a read") from None
                if txn is not None:
                    try:
                        yield LogSnapshot(txn, self._dbs)
                    finally:
                        txn.abort()
                    return
            # The writer, in another process, grew the map: adopt its new size.
            self._set_map_size(0)
        raise IoFailure(
            ErrorCode.STORAGE_FAILURE,
            "the LMDB map kept being resized while starting a read",
            hint="retry; the writer is growing the database quickly",
        )

    def _set_map_size(self, size: int) -> None:
        with self._gate.exclusive():
            try:
                self._open_env().set_mapsize(size)
            except lmdb.Error as exc:
                raise storage_error(exc, "resizing the map") from None

    def size(self) -> int:
        with self.snapshot() as view:
            return view.size

    def get(self, seq: int) -> StoredEvent:
        with self.snapshot() as view:
            return view.event(seq)

    def get_by_event_id(self, event_id: str) -> StoredEvent:
        with self.snapshot() as view:
            return view.event(self._seq_of(view, event_id))

    @staticmethod
    def _seq_of(view: LogSnapshot, event_id: str) -> int:
        entry = view.event_id_entry(event_id)
        if entry is None:
            raise InvalidInput(
                ErrorCode.NOT_FOUND,
                f"no event with id {event_id!r}",
                hint="check the id, or look the event up by seq",
            )
        return entry[0]

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
        for stored in self.leaves(start, end):
            yield decoded_event(stored.seq, stored.leaf_bytes)

    def read_stream(self, stream: str, from_version: int = 1) -> Iterator[StoredEvent]:
        """A stream's events in version order, from `from_version` (1-based)."""
        for stored in self.stream_leaves(stream, from_version):
            yield decoded_event(stored.seq, stored.leaf_bytes)

    def leaves(self, start: int = 0, end: int | None = None) -> Iterator[StoredLeaf]:
        """Leaves with start <= seq < end (end defaults to the size at the first read).

        Undecoded, with their stored leaf hashes; read in chunks of short
        transactions, so a slow consumer never pins the whole database.
        """
        position = max(start, 0)
        while True:
            with self.snapshot() as view:
                stop = view.size if end is None else min(end, view.size)
                end = stop
                batch = view.leaf_range(position, min(stop, position + _READ_CHUNK))
            yield from batch
            position += len(batch)
            if position >= stop or not batch:
                return

    def leaf_bytes(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(seq, leaf bytes) with start <= seq < end (end defaults to the size at the first read).

        The cheapest bulk read: no leaf hashes, no decoding, no key checks (the
        caller checks each leaf's own `seq`); chunks of short transactions.
        """
        position = max(start, 0)
        while True:
            with self.snapshot() as view:
                stop = view.size if end is None else min(end, view.size)
                end = stop
                batch = view.leaf_bytes_range(position, min(stop, position + _READ_CHUNK))
            for offset, raw in enumerate(batch):
                yield position + offset, raw
            position += len(batch)
            if position >= stop or not batch:
                return

    def stream_leaves(self, stream: str, from_version: int = 1) -> Iterator[StoredLeaf]:
        """A stream's leaves in version order from `from_version` (1-based), undecoded."""
        version = max(from_version, 1)
        while True:
            with self.snapshot() as view:
                batch = []
                for found_version, seq in view.stream_seqs(stream, version):
                    batch.append(view.leaf(seq))
                    version = found_version + 1
                    if len(batch) >= _READ_CHUNK:
                        break
            yield from batch
            if len(batch) < _READ_CHUNK:
                return

    def leaf(self, seq: int) -> StoredLeaf:
        with self.snapshot() as view:
            return view.leaf(seq)

    def leaf_by_event_id(self, event_id: str) -> StoredLeaf:
        with self.snapshot() as view:
            return view.leaf(self._seq_of(view, event_id))

    def root(self, size: int | None = None) -> tuple[int, bytes]:
        """(size, root hash) at `size`, or at the current size."""
        with self.snapshot() as view:
            at = view.size if size is None else size
            return at, view.root(at)

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """The proof that leaf `index` is in the tree of `size` leaves (default: all)."""
        with self.snapshot() as view:
            return view.inclusion_proof(index, view.size if size is None else size)

    def consistency_proof(self, first: int, second: int | None = None) -> ConsistencyProof:
        """The proof that the tree at `second` (default: all) extends the tree at `first`."""
        with self.snapshot() as view:
            return view.consistency_proof(first, view.size if second is None else second)

    # Writes ------------------------------------------------------------------------------

    def append(self, requests: Sequence[AppendRequest]) -> AppendOutcome:
        """Append a batch atomically and durably: all of it, or (on any error) none of it."""
        outcome = self.append_batches([requests])[0]
        if isinstance(outcome, LedgerError):
            raise outcome
        return outcome

    def append_batches(
        self, batches: Sequence[Sequence[AppendRequest]]
    ) -> list[AppendOutcome | LedgerError]:
        """Group commit: several independent batches in one write transaction and one sync.

        Each batch is still all or nothing on its own: one that breaks a rule is
        rolled back alone (a nested transaction) and its error returned in its
        place, while the others commit. Outcomes come back in batch order. An
        error that concerns the whole commit (storage, a closed log) is raised.
        """
        if self.readonly:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                "this log was opened read-only",
                hint="open it for writing to append",
            )
        outcomes: list[AppendOutcome | LedgerError | None] = []
        pending: list[tuple[int, Sequence[AppendRequest], list[PreparedEvent]]] = []
        for position, requests in enumerate(batches):
            try:
                pending.append((position, requests, _prepare_batch(requests)))
                outcomes.append(None)
            except LedgerError as exc:
                outcomes.append(exc)
        if pending:
            with self._write_mutex:
                committed = self._commit_with_growth(pending)
            for position, outcome in committed:
                outcomes[position] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def _commit_with_growth(
        self, pending: Sequence[tuple[int, Sequence[AppendRequest], list[PreparedEvent]]]
    ) -> list[tuple[int, AppendOutcome | LedgerError]]:
        while True:
            try:
                with self._gate.shared():
                    return self._append_txn(pending)
            except lmdb.MapFullError:
                pass  # the transaction was aborted; grow the map (outside it) and retry
            except lmdb.Error as exc:
                raise storage_error(exc, "appending") from None
            self._set_map_size(self._open_env().info()["map_size"] * 2)

    def _append_txn(
        self, pending: Sequence[tuple[int, Sequence[AppendRequest], list[PreparedEvent]]]
    ) -> list[tuple[int, AppendOutcome | LedgerError]]:
        recorded_at = format_utc(self._clock.now())
        env = self._open_env()
        # Optimistic first: every batch in one flat transaction. Nested
        # transactions cost about twice the CPU per event, and a batch that breaks
        # a rule is rare; only then is the group redone with one nested
        # transaction per batch, so that batch alone is rolled back.
        try:
            with env.begin(write=True) as txn:
                return [
                    (position, _write_batch(txn, self._dbs, recorded_at, requests, prepared))
                    for position, requests, prepared in pending
                ]
        except LedgerError as exc:
            if len(pending) == 1:
                return [(pending[0][0], exc)]
        return self._append_nested(env, recorded_at, pending)

    def _append_nested(
        self,
        env: lmdb.Environment,
        recorded_at: str,
        pending: Sequence[tuple[int, Sequence[AppendRequest], list[PreparedEvent]]],
    ) -> list[tuple[int, AppendOutcome | LedgerError]]:
        results: list[tuple[int, AppendOutcome | LedgerError]] = []
        with env.begin(write=True) as txn:
            for position, requests, prepared in pending:
                child = env.begin(write=True, parent=txn)
                try:
                    outcome = _write_batch(child, self._dbs, recorded_at, requests, prepared)
                except LedgerError as exc:
                    child.abort()
                    results.append((position, exc))
                    continue
                except BaseException:
                    child.abort()
                    raise
                child.commit()
                results.append((position, outcome))
        return results


def _prepare_batch(requests: Sequence[AppendRequest]) -> list[PreparedEvent]:
    if not requests:
        raise InvalidInput(
            ErrorCode.EMPTY_BATCH, "an append needs at least one event", hint="send 1 or more"
        )
    if len(requests) > MAX_BATCH:
        raise InvalidInput(
            ErrorCode.REQUEST_TOO_LARGE,
            f"batch of {len(requests)} events exceeds the limit of {MAX_BATCH}",
            hint="split the batch",
            details={"limit": MAX_BATCH},
        )
    prepared = []
    for position, request in enumerate(requests):
        try:
            prepared.append(_prepare(request))
        except LedgerError as exc:
            if len(requests) > 1:
                exc.add_context(batch_index=position)
            raise
    return prepared


def _write_batch(
    txn: lmdb.Transaction,
    dbs: dict[str, Any],
    recorded_at: str,
    requests: Sequence[AppendRequest],
    prepared: Sequence[PreparedEvent],
) -> AppendOutcome:
    """Write one batch in `txn`; an error leaves the caller to abort `txn`."""
    batch = BatchWriter(txn, dbs, recorded_at)
    results = tuple(
        batch.add(position, request.expected_version, event)
        for position, (request, event) in enumerate(zip(requests, prepared, strict=True))
    )
    batch.finish()
    return AppendOutcome(results=results, tree_size=batch.size)
