"""An attacker's tools for tests: edit a ledger's LMDB files behind the store's back."""

from __future__ import annotations

import struct
from pathlib import Path

import lmdb

_DB_NAMES = ("leaves", "tree", "event_ids", "streams", "stream_events", "unique_keys", "meta")


def _raw_leaf(data_dir: Path, seq: int) -> bytes | None:
    env = lmdb.open(str(data_dir), readonly=True, max_dbs=len(_DB_NAMES), lock=False)
    try:
        leaves = env.open_db(b"leaves", create=False)
        with env.begin() as txn:
            value = txn.get(struct.pack(">Q", seq), db=leaves)
            return bytes(value) if value is not None else None
    finally:
        env.close()


def flip_byte_in_leaf(data_dir: Path, seq: int, marker: bytes, offset: int = 0) -> None:
    """Flip the low bit of one byte of leaf `seq` in data.mdb, found via `marker`.

    LMDB is copy-on-write, so stale copies of a page may hold the same bytes;
    each occurrence is tried until the live leaf changes, leaving exactly one
    byte of the file different.
    """
    db_file = data_dir / "data.mdb"
    original = _raw_leaf(data_dir, seq)
    if original is None or marker not in original:
        raise AssertionError(f"leaf {seq} does not contain {marker!r}")
    raw = bytearray(db_file.read_bytes())
    start = 0
    while (found := raw.find(marker, start)) >= 0:
        raw[found + offset] ^= 0x01
        db_file.write_bytes(bytes(raw))
        if _raw_leaf(data_dir, seq) != original:
            return
        raw[found + offset] ^= 0x01
        db_file.write_bytes(bytes(raw))
        start = found + 1
    raise AssertionError(f"no live copy of {marker!r} found for leaf {seq}")


def edit(data_dir: Path, db: str, key: bytes, value: bytes | None) -> None:
    """Put (or, with None, delete) one raw key in one of the store's named databases."""
    env = lmdb.open(str(data_dir), max_dbs=len(_DB_NAMES))
    try:
        handle = env.open_db(db.encode(), create=False)
        with env.begin(write=True) as txn:
            if value is None:
                txn.delete(key, db=handle)
            else:
                txn.put(key, value, db=handle)
    finally:
        env.close()


def u64(value: int) -> bytes:
    return struct.pack(">Q", value)


def tree_key(level: int, index: int) -> bytes:
    return struct.pack(">BQ", level, index)
