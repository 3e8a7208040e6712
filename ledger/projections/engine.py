"""The projection engine: folds the log into every projection, exactly once, in seq order.

Projections live in their own LMDB environment, `<data dir>/projections`, one
sub-database each, beside a `positions` database. A chunk of events is folded
and written together with the new positions in one write transaction, so a
crash at any moment leaves each projection's state matching its position: on
restart it resumes from there, and no event is ever folded twice or skipped.

The holder of the data directory's writer lock folds: an offline `ledgerctl`
command in its own process, the daemon through its projection worker (a child
process that opens the log read-only while the daemon opens the projections
read-only). So there is one folding process, as there is one writer of the log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lmdb
import msgspec

from ledger.errors import ErrorCode, InvalidInput, IoFailure
from ledger.projections.base import Projection
from ledger.projections.facts import Fact, read_fact
from ledger.projections.runs import RunsProjection
from ledger.projections.sources import SourcesProjection
from ledger.projections.state import (
    LmdbState,
    MemoryState,
    StateReader,
    WriteBuffer,
    state_digest,
)
from ledger.projections.subjects import SubjectsProjection
from ledger.store import LmdbEventLog
from ledger.txn_gate import TxnGate

_POSITIONS = b"positions"
#: Events folded per write transaction while keeping up, unless told otherwise.
DEFAULT_CHUNK = 4096
#: A chunk also ends once its facts hold this many bytes of leaves.
CHUNK_BYTES = 64 << 20
#: While further behind than one chunk (a rebuild, a restart after a bulk import),
#: transactions take this many chunks: each commit is synced, so a backlog folds
#: faster in fewer, bigger ones.
BACKLOG_CHUNKS = 16
_INITIAL_MAP = 1 << 30


def default_projections() -> tuple[Projection, ...]:
    """The projections a ledger keeps: verdicts, health and runs."""
    return (SubjectsProjection(), SourcesProjection(), RunsProjection())


class _PositionsMoved(Exception):
    """The stored positions changed between reading them and folding a chunk."""


class _Position(msgspec.Struct, frozen=True, array_like=True):
    """How far a projection has folded, by which fold, over which log."""

    next_seq: int
    version: int
    #: The log's Merkle root at `next_seq` (empty at 0): a projections directory
    #: beside a log it was not folded from (a restored backup, a copied
    #: directory) is noticed, and folded again.
    root: bytes = b""


_POSITION_CODEC = msgspec.msgpack.Decoder(_Position)
#: The version a position that does not decode reads as: never a projection's own.
_DAMAGED = -1
_ENCODER = msgspec.msgpack.Encoder()


@dataclass(frozen=True)
class ProjectionStatus:
    """Where a projection stands against the log, and a digest of its whole state."""

    name: str
    version: int
    position: int
    log_size: int
    digest: str
    rows: int

    @property
    def lag(self) -> int:
        return max(self.log_size - self.position, 0)


@dataclass(frozen=True)
class ProjectionView:
    """A projection's state as of `position` (the number of log events folded into it)."""

    name: str
    position: int
    state: StateReader


def check_as_of(as_of: int, size: int) -> None:
    """An `as_of` must name a seq the log holds (0 to size - 1)."""
    if not 0 <= as_of < size:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"as_of seq {as_of} is not in the log (size {size})",
            hint=f"pass a seq from 0 to {size - 1}" if size else "the log is empty",
            details={"as_of": as_of, "log_size": size},
        )


def unknown_projection(name: str, known: Sequence[str]) -> InvalidInput:
    """The error for a projection name no projection has."""
    return InvalidInput(
        ErrorCode.INVALID_ARGUMENT,
        f"no projection named {name!r}",
        hint=f"known projections: {', '.join(known)}",
        details={"projection": name},
    )


def _storage_error(exc: lmdb.Error, doing: str) -> IoFailure:
    return IoFailure(
        ErrorCode.STORAGE_FAILURE,
        f"LMDB failed while {doing} the projections: {exc}",
        hint="check disk space and permissions; projections can always be rebuilt from the log",
    )


class ProjectionEngine:
    """Keeps projections caught up with one log and answers reads of their state.

    Thread-safe: folding (catch-up, rebuild) is serialised; views and replays
    run concurrently with it. Opened `readonly`, it only reads, while another
    process (the daemon's projection worker) folds into the same directory.
    """

    def __init__(
        self,
        log: LmdbEventLog,
        projections: Sequence[Projection] | None = None,
        *,
        directory: Path | None = None,
        chunk: int = DEFAULT_CHUNK,
        readonly: bool = False,
    ) -> None:
        self._log = log
        self._chunk = chunk
        self.readonly = readonly
        self._projections = {p.name: p for p in projections or default_projections()}
        self.directory = directory or log.data_dir / "projections"
        self._gate = TxnGate()
        self._fold_lock = threading.Lock()
        self._closed = False
        try:
            if not readonly:
                self.directory.mkdir(parents=True, exist_ok=True)
            self._env = lmdb.open(
                str(self.directory),
                map_size=_INITIAL_MAP,
                max_dbs=len(self._projections) + 1,
                max_readers=1024,
                readonly=readonly,
                # Each commit is written before the next; the meta page is not
                # synced, so power loss can lose the last fold, never mix two.
                sync=True,
                metasync=False,
            )
            create = not readonly
            self._dbs = {
                name: self._env.open_db(name.encode(), create=create) for name in self._projections
            }
            self._positions_db = self._env.open_db(_POSITIONS, create=create)
        except OSError as exc:
            raise IoFailure(
                ErrorCode.STORAGE_FAILURE,
                f"cannot open the projections in {self.directory}: {exc.strerror or exc}",
                hint="check the data directory's permissions",
            ) from None
        except lmdb.Error as exc:
            raise _storage_error(exc, "opening") from None
        if readonly:
            return
        stale = [
            name
            for name, position in self._read_positions().items()
            if position.version != self._projections[name].version
            or not self._folded_from_this_log(position)
        ]
        if stale:
            self._reset(stale)

    def _folded_from_this_log(self, position: _Position) -> bool:
        if position.next_seq == 0:
            return True
        if position.next_seq > self._log.size():
            return False
        return self._log.root(position.next_seq)[1] == position.root

    @property
    def names(self) -> list[str]:
        return list(self._projections)

    def close(self) -> None:
        with self._fold_lock, self._gate.exclusive():
            if not self._closed:
                self._closed = True
                self._env.close()

    def __enter__(self) -> ProjectionEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Positions ---------------------------------------------------------------------------

    def _read_positions(self) -> dict[str, _Position]:
        with self._read_txn() as txn:
            return {name: self._position_in(txn, name) for name in self._projections}

    def _position_in(self, txn: lmdb.Transaction, name: str) -> _Position:
        raw = txn.get(name.encode(), db=self._positions_db)
        if raw is None:
            return _Position(0, self._projections[name].version)
        try:
            return _POSITION_CODEC.decode(bytes(raw))
        except msgspec.MsgspecError:
            # Damaged: read as position 0 of no version, so opening for writing
            # empties the projection and folds it again.
            return _Position(0, _DAMAGED)

    def positions(self) -> dict[str, int]:
        """How many log events each projection has folded."""
        return {name: p.next_seq for name, p in self._read_positions().items()}

    def check_names(self, names: Sequence[str] | None) -> list[str]:
        """The projections `names` means (empty or None: all), each checked to exist."""
        chosen = list(names) if names else self.names
        for name in chosen:
            self._check_name(name)
        return chosen

    def _check_writable(self) -> None:
        if self.readonly:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                "these projections were opened read-only",
                hint="fold through the process that owns the data directory",
            )

    def _check_name(self, name: str) -> Projection:
        projection = self._projections.get(name)
        if projection is None:
            raise unknown_projection(name, self.names)
        return projection

    # Folding -----------------------------------------------------------------------------

    def catch_up(
        self,
        *,
        stop: Callable[[], bool] | None = None,
        on_chunk: Callable[[dict[str, int]], None] | None = None,
    ) -> dict[str, int]:
        """Fold every event the log holds now into every projection; returns the positions.

        Works in chunks, each committed on its own, so `stop` (checked between
        chunks) can end a long catch-up early without losing what was done;
        `on_chunk` hears the positions after each commit.
        """
        self._check_writable()
        with self._fold_lock:
            while True:
                positions = self._read_positions()
                start = min(p.next_seq for p in positions.values())
                size = self._log.size()
                behind = size - start > self._chunk
                end = min(size, start + self._chunk * (BACKLOG_CHUNKS if behind else 1))
                if start >= end or (stop is not None and stop()):
                    return {name: p.next_seq for name, p in positions.items()}
                folded = self._fold_chunk(positions, start, end)
                if folded is not None and on_chunk is not None:
                    on_chunk({name: max(p.next_seq, folded) for name, p in positions.items()})

    def _fold_chunk(self, positions: dict[str, _Position], start: int, end: int) -> int | None:
        """Fold start <= seq < some end <= `end`; that end, or None if positions moved."""
        facts, end = self._facts(start, end)
        _, root = self._log.root(end)
        for _ in range(8):
            try:
                with self._gate.shared(), self._env.begin(write=True) as txn:
                    # Another process may have folded since the positions were read
                    # (a daemon's worker still finishing its chunk after the daemon
                    # died): folding from stale positions would fold events twice.
                    for name, position in positions.items():
                        if self._position_in(txn, name) != position:
                            raise _PositionsMoved
                    self._fold_into(txn, positions, facts, end, root)
                return end
            except _PositionsMoved:
                return None  # aborted: the caller reads the positions again
            except lmdb.MapFullError:
                pass  # aborted; grow the map outside the transaction and fold the chunk again
            except lmdb.Error as exc:
                raise _storage_error(exc, "writing") from None
            self._grow()
        raise IoFailure(
            ErrorCode.STORAGE_FAILURE,
            "the projections map kept filling up while folding one chunk",
            hint="check free disk space",
        )

    def _facts(self, start: int, end: int) -> tuple[list[Fact], int]:
        """The facts of start <= seq < end that some projection folds, and where they end.

        They end early once they hold CHUNK_BYTES of leaves: a chunk of large
        run records must not hold the whole backlog in memory.
        """
        wanted = frozenset().union(*(p.event_types for p in self._projections.values()))
        facts: list[Fact] = []
        held = 0
        for seq, raw in self._log.leaf_bytes(start, end):
            fact = read_fact(seq, raw)
            if fact.type in wanted:
                facts.append(fact)
                held += len(raw)
                if held >= CHUNK_BYTES:
                    return facts, seq + 1
        return facts, end

    def _fold_into(
        self,
        txn: lmdb.Transaction,
        positions: dict[str, _Position],
        facts: Sequence[Fact],
        end: int,
        root: bytes,
    ) -> None:
        folding = [
            (name, projection, WriteBuffer(LmdbState(txn, self._dbs[name])))
            for name, projection in self._projections.items()
            if positions[name].next_seq < end
        ]
        # Fact by fact, each into every projection that folds its type: a payload
        # several projections read is then decoded once (`PayloadReader`).
        by_type: dict[str, list[tuple[int, Callable[[Fact, WriteBuffer], None], WriteBuffer]]] = {}
        for name, projection, buffer in folding:
            for event_type in projection.event_types:
                by_type.setdefault(event_type, []).append(
                    (positions[name].next_seq, projection.apply, buffer)
                )
        for fact in facts:
            for begin, apply, buffer in by_type.get(fact.type, ()):
                if fact.seq >= begin:
                    apply(fact, buffer)
        for name, projection, buffer in folding:
            buffer.flush(txn, self._dbs[name])
            position = _Position(end, projection.version, root)
            txn.put(name.encode(), _ENCODER.encode(position), db=self._positions_db)

    def _grow(self) -> None:
        with self._gate.exclusive():
            try:
                self._env.set_mapsize(self._env.info()["map_size"] * 2)
            except lmdb.Error as exc:
                raise _storage_error(exc, "growing") from None

    def _reset(self, names: Sequence[str]) -> None:
        """Empty the named projections and set them back to seq 0, in one transaction."""
        with self._gate.shared(), self._env.begin(write=True) as txn:
            for name in names:
                txn.drop(self._dbs[name], delete=False)
                position = _Position(0, self._projections[name].version)
                txn.put(name.encode(), _ENCODER.encode(position), db=self._positions_db)

    def reset(self, names: Sequence[str] | None = None) -> dict[str, int]:
        """Empty the named projections (default: all) and set them back to seq 0.

        The first half of a rebuild; the next catch-up folds them again.
        Returns the positions after.
        """
        chosen = self.check_names(names)
        self._check_writable()
        with self._fold_lock:
            self._reset(chosen)
        return self.positions()

    def rebuild(self, names: Sequence[str] | None = None) -> dict[str, int]:
        """Fold the named projections (default: all) again from seq 0; returns the positions."""
        self.reset(names)
        return self.catch_up()

    # Reading -----------------------------------------------------------------------------

    @contextmanager
    def _read_txn(self) -> Iterator[lmdb.Transaction]:
        for _ in range(3):
            with self._gate.shared():
                if self._closed:
                    raise InvalidInput(
                        ErrorCode.INVALID_ARGUMENT,
                        "the projections are closed",
                        hint="open the data directory again",
                    )
                try:
                    txn = self._env.begin(write=False)
                except lmdb.MapResizedError:
                    txn = None
                except lmdb.Error as exc:
                    raise _storage_error(exc, "reading") from None
                if txn is not None:
                    try:
                        yield txn
                    finally:
                        txn.abort()
                    return
            # The folding process grew the map: adopt its new size.
            self._adopt_map_size()
        raise IoFailure(
            ErrorCode.STORAGE_FAILURE,
            "the projections map kept being resized while starting a read",
            hint="retry; the projections are growing quickly",
        )

    def _adopt_map_size(self) -> None:
        with self._gate.exclusive():
            try:
                self._env.set_mapsize(0)
            except lmdb.Error as exc:
                raise _storage_error(exc, "adopting the map size of") from None

    @contextmanager
    def view(self, name: str) -> Iterator[ProjectionView]:
        """The stored state of one projection, consistent with the position it reports."""
        self._check_name(name)
        with self._read_txn() as txn:
            position = self._position_in(txn, name).next_seq
            yield ProjectionView(name, position, LmdbState(txn, self._dbs[name]))

    def replay(self, name: str, through_seq: int) -> ProjectionView:
        """The state as it was once seq `through_seq` was folded: a fold, in memory, from 0.

        Uses the very fold that built the stored state, so a replay to the
        stored position gives the same rows (and digest) as the stored state.
        """
        projection = self._check_name(name)
        check_as_of(through_seq, self._log.size())
        state = MemoryState()
        types = projection.event_types
        for seq, raw in self._log.leaf_bytes(0, through_seq + 1):
            fact = read_fact(seq, raw)
            if fact.type in types:
                projection.apply(fact, state)
        return ProjectionView(name, through_seq + 1, state)

    def status(self, *, digests: bool = True) -> list[ProjectionStatus]:
        """Position, lag and state digest of every projection.

        A digest reads every row; `digests=False` leaves it empty, for monitoring.
        """
        size = self._log.size()
        found = []
        with self._read_txn() as txn:
            for name, projection in self._projections.items():
                state = LmdbState(txn, self._dbs[name])
                rows = txn.stat(self._dbs[name])["entries"]
                found.append(
                    ProjectionStatus(
                        name=name,
                        version=projection.version,
                        position=self._position_in(txn, name).next_seq,
                        log_size=size,
                        digest=state_digest(state) if digests else "",
                        rows=int(rows),
                    )
                )
        return found
