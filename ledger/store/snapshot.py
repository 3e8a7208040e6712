"""A consistent read-only view of the log: one LMDB transaction, read through the layout."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import lmdb

from ledger.errors import ErrorCode, InvalidInput, LedgerError, VerificationFailed
from ledger.model import decode_leaf
from ledger.store._layout import (
    read_event_id_value,
    read_u64,
    stream_event_key,
    stream_prefix,
    tree_key,
    u64,
)
from ledger.store.types import ConsistencyProof, InclusionProof, StoredEvent, StoredLeaf
from ledger.tree import stored
from ledger.tree.hashing import leaf_hash


def decoded_event(seq: int, raw: bytes) -> StoredEvent:
    """The stored leaf at `seq`, decoded; one that does not parse is damage, named by seq."""
    try:
        leaf = decode_leaf(raw)
    except LedgerError as exc:
        raise VerificationFailed(
            ErrorCode.LEAF_UNREADABLE,
            f"seq {seq}: stored leaf does not parse: {exc.message}",
            hint="the data directory is damaged; run `ledgerctl verify` and restore it",
            details={"seq": seq},
        ) from None
    return StoredEvent(seq=seq, leaf_bytes=raw, leaf_hash=leaf_hash(raw), leaf=leaf)


# LMDB's default maximum key size.
_MAX_KEY = 511


class LogSnapshot:
    """The log as of one transaction. Reads only; also used inside the append transaction."""

    def __init__(self, txn: lmdb.Transaction, dbs: dict[str, Any]) -> None:
        self._txn = txn
        self._dbs = dbs
        cursor = txn.cursor(db=dbs["leaves"])
        self.size: int = read_u64(cursor.key(), "leaf key") + 1 if cursor.last() else 0

    def _get(self, database: str, key: bytes) -> bytes | None:
        if not 0 < len(key) <= _MAX_KEY:
            return None  # no such key can be stored; LMDB would refuse to look it up
        value = self._txn.get(key, db=self._dbs[database])
        return bytes(value) if value is not None else None

    def leaf_bytes(self, seq: int) -> bytes | None:
        return self._get("leaves", u64(seq))

    def stored_hash(self, level: int, index: int) -> bytes | None:
        return self._get("tree", tree_key(level, index))

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
        if not cursor.set_range(u64(start)):
            return
        for key, value in cursor:
            yield read_u64(key, "leaf key"), bytes(value)

    def event_id_entry(self, event_id: str) -> tuple[int, int, bytes] | None:
        """(seq, stream version, content digest) recorded for an event id."""
        value = self._get("event_ids", event_id.encode("utf-8"))
        return read_event_id_value(value) if value is not None else None

    def unique_key_seq(self, key: str) -> int | None:
        """The seq holding a unique-constraint key, if any."""
        value = self._get("unique_keys", key.encode("utf-8"))
        return read_u64(value, "unique key entry") if value is not None else None

    def stream_version(self, stream: str) -> int:
        value = self._get("streams", stream.encode("utf-8"))
        return read_u64(value, "stream version") if value is not None else 0

    def stream_seq(self, stream: str, version: int) -> int | None:
        """The seq of a stream's event at `version`, if indexed."""
        value = self._get("stream_events", stream_event_key(stream, version))
        return read_u64(value, "stream index entry") if value is not None else None

    def stream_seqs(self, stream: str, from_version: int) -> Iterator[tuple[int, int]]:
        """(version, seq) of a stream's events from `from_version` on."""
        prefix = stream_prefix(stream)
        if not 0 < len(prefix) + 8 <= _MAX_KEY:
            return
        cursor = self._txn.cursor(db=self._dbs["stream_events"])
        if not cursor.set_range(stream_event_key(stream, from_version)):
            return
        for key, value in cursor:
            key = bytes(key)
            if not key.startswith(prefix):
                return
            yield (
                read_u64(key[len(prefix) :], "stream index key"),
                read_u64(value, "stream index entry"),
            )

    def entry_count(self, database: str) -> int:
        """How many entries one of the named databases holds."""
        return int(self._txn.stat(self._dbs[database])["entries"])

    def _existing_leaf(self, seq: int) -> bytes:
        raw = self.leaf_bytes(seq) if 0 <= seq < 1 << 64 else None
        if raw is None:
            raise InvalidInput(
                ErrorCode.NOT_FOUND,
                f"no event at seq {seq}; the log has {self.size}",
                hint=f"seqs run from 0 to {self.size - 1}" if self.size else "the log is empty",
            )
        return raw

    def leaf(self, seq: int) -> StoredLeaf:
        """The leaf at `seq` as stored, with its stored leaf hash; not decoded."""
        return StoredLeaf(seq, self._existing_leaf(seq), self.read_hash(0, seq))

    def leaf_range(self, start: int, stop: int) -> list[StoredLeaf]:
        """Leaves start <= seq < stop with their stored leaf hashes, by two cursor walks.

        The bulk path behind reads and subscriptions: walking the leaves and the
        level-0 hashes side by side costs far less than two lookups per seq.
        """
        if not 0 <= start < stop <= self.size:
            return []
        leaves = self._txn.cursor(db=self._dbs["leaves"])
        hashes = self._txn.cursor(db=self._dbs["tree"])
        found: list[StoredLeaf] = []
        if not (leaves.set_key(u64(start)) and hashes.set_key(tree_key(0, start))):
            # A missing leaf or hash: let the single-seq path name the damage.
            return [self.leaf(start)]
        seq = start
        for (leaf_key, leaf), (hash_key, hashed) in zip(leaves, hashes, strict=False):
            if leaf_key != u64(seq) or hash_key != tree_key(0, seq):
                return [*found, self.leaf(seq)]
            found.append(StoredLeaf(seq, bytes(leaf), bytes(hashed)))
            seq += 1
            if seq == stop:
                return found
        return [*found, self.leaf(seq)]

    def leaf_bytes_range(self, start: int, stop: int) -> list[bytes]:
        """The leaf bytes of start <= seq < stop, by one cursor walk, without their hashes.

        For readers that check each leaf's own `seq` member (the projections), so
        the keys need not be compared: a missing leaf shows as a leaf out of place.
        """
        if not 0 <= start < stop <= self.size:
            return []
        cursor = self._txn.cursor(db=self._dbs["leaves"])
        if not cursor.set_key(u64(start)):
            return [self._existing_leaf(start)]
        return [
            bytes(value) for value in itertools.islice(cursor.iternext(keys=False), stop - start)
        ]

    def event(self, seq: int) -> StoredEvent:
        return decoded_event(seq, self._existing_leaf(seq))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise InvalidInput(
                ErrorCode.INVALID_PROOF_REQUEST,
                f"tree size {size} is beyond the log size {self.size}",
                hint="ask for a size the log has reached",
            )

    def root(self, size: int) -> bytes:
        self._check_size(size)
        return stored.root_at(self.read_hash, size)

    def inclusion_proof(self, index: int, size: int) -> InclusionProof:
        hashes = stored.inclusion_proof(self.read_hash, index, size, self.size)
        return InclusionProof(
            leaf_index=index,
            tree_size=size,
            leaf_hash=self.read_hash(0, index),
            root=self.root(size),
            hashes=tuple(hashes),
        )

    def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        hashes = stored.consistency_proof(self.read_hash, first, second, self.size)
        return ConsistencyProof(
            first_size=first,
            second_size=second,
            first_root=self.root(first),
            second_root=self.root(second),
            hashes=tuple(hashes),
        )
