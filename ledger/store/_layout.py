"""The key and value layout of a ledgerd LMDB environment (specs/ledger-format.md §9).

Named databases; every integer is an unsigned 64-bit big-endian value unless said otherwise:

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

import struct

import lmdb

from ledger.errors import ErrorCode, IoFailure, VerificationFailed

FORMAT = b"ledgerd-lmdb/1"
DB_NAMES = ("leaves", "tree", "event_ids", "streams", "stream_events", "unique_keys", "meta")

_U64 = struct.Struct(">Q")
_TREE_KEY = struct.Struct(">BQ")
_EVENT_ID_VALUE = struct.Struct(">QQ32s")


def u64(value: int) -> bytes:
    return _U64.pack(value)


def tree_key(level: int, index: int) -> bytes:
    return _TREE_KEY.pack(level, index)


def stream_event_key(stream: str, version: int) -> bytes:
    # Streams are labels and never contain NUL, so the separator keeps prefixes apart.
    return stream_prefix(stream) + u64(version)


def stream_prefix(stream: str) -> bytes:
    return stream.encode("utf-8") + b"\x00"


def event_id_value(seq: int, version: int, digest: bytes) -> bytes:
    return _EVENT_ID_VALUE.pack(seq, version, digest)


def _damaged(what: str) -> VerificationFailed:
    return VerificationFailed(
        ErrorCode.INDEX_MISMATCH,
        f"stored {what} is malformed",
        hint="the data directory is damaged; run `ledgerctl verify` and restore it from a copy",
    )


def read_u64(value: bytes | memoryview, what: str) -> int:
    """Decode a stored integer, classifying a damaged value instead of crashing."""
    if len(value) != _U64.size:
        raise _damaged(what)
    return int(_U64.unpack(value)[0])


def read_event_id_value(value: bytes) -> tuple[int, int, bytes]:
    if len(value) != _EVENT_ID_VALUE.size:
        raise _damaged("event id entry")
    seq, version, digest = _EVENT_ID_VALUE.unpack(value)
    return int(seq), int(version), bytes(digest)


def storage_error(exc: lmdb.Error, doing: str) -> IoFailure:
    return IoFailure(
        ErrorCode.STORAGE_FAILURE,
        f"LMDB failed while {doing}: {exc}",
        hint="check disk space and permissions of the data directory",
    )
