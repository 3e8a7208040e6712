"""One append batch inside one write transaction: the append rules, in order, and the writes."""

from __future__ import annotations

from typing import Any

import lmdb

from ledger.errors import ErrorCode, StateContention
from ledger.model import GENESIS_PREV, PreparedEvent, leaf_from_canonical
from ledger.store._layout import event_id_value, stream_event_key, tree_key, u64
from ledger.store.snapshot import LogSnapshot
from ledger.store.types import AppendResult, ExpectedVersion
from ledger.tree import stored
from ledger.tree.hashing import leaf_hash


class BatchWriter:
    """Writes one batch; any error raised leaves the caller to abort the whole transaction."""

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

    def add(self, position: int, expected: ExpectedVersion, event: PreparedEvent) -> AppendResult:
        duplicate = self._duplicate_of(position, event)
        if duplicate is not None:
            return duplicate
        stream = event.envelope.stream
        current = self._version(stream)
        if expected is not None and expected != current:
            raise StateContention(
                ErrorCode.WRONG_EXPECTED_VERSION,
                f"stream {stream!r} is at version {current}, not {expected}",
                hint="re-read the stream and decide again; this error is not retried",
                details={
                    "stream": stream,
                    "expected_version": expected,
                    "current_version": current,
                    "batch_index": position,
                },
            )
        self._claim_unique(position, event)
        return self._write(event, current + 1)

    def _duplicate_of(self, position: int, event: PreparedEvent) -> AppendResult | None:
        event_id = event.envelope.event_id
        existing = self._view.event_id_entry(event_id)
        if existing is None:
            return None
        seq, version, digest = existing
        if digest != event.digest:
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

    def _claim_unique(self, position: int, event: PreparedEvent) -> None:
        key = event.unique_key
        unique = event.schema.unique
        if key is None or unique is None:
            return
        holder = self._view.unique_key_seq(key)
        if holder is not None:
            raise StateContention(
                unique.conflict_code,
                f"{unique.describe} {key.partition(':')[2]} is already recorded at seq {holder}",
                hint=f"a {unique.describe} is recorded once; use a new one for a new record",
                details={"seq": holder, "batch_index": position},
            )
        self._txn.put(key.encode("utf-8"), u64(self.size), db=self._dbs["unique_keys"])

    def _write(self, event: PreparedEvent, version: int) -> AppendResult:
        txn, dbs, seq = self._txn, self._dbs, self.size
        envelope = event.envelope
        leaf = leaf_from_canonical(seq, self._prev, self._recorded_at, event.canonical)
        hashed = leaf_hash(leaf)
        txn.put(u64(seq), leaf, db=dbs["leaves"], append=True)
        txn.put(
            envelope.event_id.encode("utf-8"),
            event_id_value(seq, version, event.digest),
            db=dbs["event_ids"],
        )
        txn.put(stream_event_key(envelope.stream, version), u64(seq), db=dbs["stream_events"])
        for level, index, value in stored.hashes_to_store(seq, hashed, self._view.read_hash):
            txn.put(tree_key(level, index), value, db=dbs["tree"])
        self._versions[envelope.stream] = version
        self._prev = hashed.hex()
        self.size += 1
        return AppendResult(seq=seq, stream_version=version, duplicate=False)

    def finish(self) -> None:
        """Write each stream's final version."""
        for stream, version in self._versions.items():
            self._txn.put(stream.encode("utf-8"), u64(version), db=self._dbs["streams"])
