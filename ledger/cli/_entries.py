"""Stored entries for `tail` and `get`, read from a data directory or a daemon, and their JSON.

Both targets yield `StoredEvent`s. Online, the entry is rebuilt from the leaf
bytes the daemon served (the bytes that are hashed and proven), not from its
decoded copy of the event, so the same log prints the same output either way.
These reads are not verified: `ledgerctl verify --server` is the check.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import replace

import msgspec

from clients._calls import Entry
from clients.client import LedgerClient
from ledger.cli._common import ServerTarget, Target
from ledger.cli._output import b64
from ledger.model import decode_leaf, encode_envelope
from ledger.store import StoredEvent

#: How often an offline `tail --follow` looks for new leaves: LMDB has no change feed.
FOLLOW_POLL_S = 0.5


def stored_from_entry(entry: Entry) -> StoredEvent:
    return StoredEvent(
        seq=entry.seq,
        leaf_bytes=entry.leaf,
        leaf_hash=entry.leaf_hash,
        leaf=decode_leaf(entry.leaf),
    )


def entry_document(item: StoredEvent) -> dict[str, object]:
    """One entry as `tail --json` prints it (specs/ledger-format.md §7)."""
    return {
        "seq": item.seq,
        "leaf_b64": b64(item.leaf_bytes),
        "leaf_hash": item.leaf_hash.hex(),
        "prev": item.leaf.prev,
        "recorded_at": item.leaf.recorded_at,
        "event": msgspec.json.decode(encode_envelope(item.leaf.envelope)),
    }


def read_entries(target: Target, start: int, end: int | None) -> Generator[StoredEvent, None, None]:
    """Entries with `start <= seq < end` (`end` None: to the current end of the log)."""
    if isinstance(target, ServerTarget):
        with target.client() as client:
            for entry in client.read(from_seq=start, to_seq=end):
                yield stored_from_entry(entry)
        return
    with target.reader() as log:
        yield from log.read(start, end)


def follow_entries(target: Target, start: int) -> Generator[StoredEvent, None, None]:
    """Every entry from `start` on, then each new one as it is appended; never ends by itself."""
    if isinstance(target, ServerTarget):
        # A follower outlives daemon restarts: only the retry deadline bounds an
        # outage, not the handful of attempts that suits a single call.
        riding = replace(target.retry, max_attempts=None)
        with LedgerClient(target.address, retry=riding) as client:
            # Subscribe resumes after a daemon restart, each entry exactly once, in order.
            for entry in client.subscribe(from_seq=start):
                yield stored_from_entry(entry)
        return
    next_seq = start
    with target.reader() as log:
        while True:
            # Each read is a fresh LMDB read transaction, so it sees what the writer
            # (another process) has committed since the last one.
            for item in log.read(next_seq):
                yield item
                next_seq = item.seq + 1
            time.sleep(FOLLOW_POLL_S)


def get_entry(target: Target, *, seq: int | None, event_id: str | None) -> StoredEvent:
    """One entry by seq or by event id (exactly one of them)."""
    if isinstance(target, ServerTarget):
        with target.client() as client:
            return stored_from_entry(client.get_event(seq=seq, event_id=event_id))
    with target.reader() as log:
        if seq is not None:
            return log.get(seq)
        assert event_id is not None  # the command checks that exactly one is given
        return log.get_by_event_id(event_id)
