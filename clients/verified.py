"""Verified reads: trust the log's key and the math, never the server.

The client pins the log's verifier key (from its own configuration, never from
the server) and remembers the last checkpoint it verified in a small state file,
written atomically. Each refresh checks the new checkpoint's signature and a
consistency proof from the remembered one; each verified event also checks the
leaf's hash and an inclusion proof under the verified checkpoint. A server that
rewrites history, signs a fork, rolls back, or serves an altered event is
reported as verification_failed.

The first checkpoint a fresh state file sees is trusted on first use; pass an
auditor's checkpoint as the initial state to avoid even that.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import msgspec

from clients._calls import Entry
from clients.client import LedgerClient
from clients.event import Event
from ledger.checkpoint import Checkpoint, VerifierKey, open_checkpoint
from ledger.errors import ErrorCode, InvalidInput, LedgerError, VerificationFailed
from ledger.fsutil import read_file, write_file_atomic
from ledger.model import Leaf, decode_leaf
from ledger.tree.hashing import leaf_hash
from ledger.tree.verify import verify_consistency, verify_inclusion


class _StateFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    origin: str
    tree_size: int
    root_hash: str
    note: str


@dataclass(frozen=True)
class VerifiedEvent:
    """An event proven to be in the log under a checkpoint signed by the pinned key."""

    seq: int
    leaf: Leaf
    leaf_bytes: bytes
    checkpoint: Checkpoint


@dataclass(frozen=True)
class TrustedCheckpoint:
    """The last verified checkpoint and the signed note that vouched for it."""

    checkpoint: Checkpoint
    note: str


def load_trusted(path: Path, key: VerifierKey) -> TrustedCheckpoint | None:
    """The checkpoint remembered in `path` (re-verified with `key`), or None if no file."""
    if not path.exists():
        return None
    try:
        state = msgspec.json.decode(read_file(path, what="verifier state"), type=_StateFile)
    except msgspec.MsgspecError as exc:
        raise InvalidInput(
            ErrorCode.INVALID_CHECKPOINT,
            f"verifier state {path} is malformed: {exc}",
            hint="restore it from a backup, or delete it to trust the next checkpoint on first use",
        ) from None
    checkpoint = open_checkpoint(state.note, key)
    return TrustedCheckpoint(checkpoint, state.note)


def save_trusted(path: Path, trusted: TrustedCheckpoint) -> None:
    checkpoint = trusted.checkpoint
    state = _StateFile(
        origin=checkpoint.origin,
        tree_size=checkpoint.size,
        root_hash=base64.b64encode(checkpoint.root).decode("ascii"),
        note=trusted.note,
    )
    write_file_atomic(path, msgspec.json.encode(state) + b"\n", mode=0o644)


def _mismatch(message: str, seq: int) -> VerificationFailed:
    return VerificationFailed(
        ErrorCode.SERVED_EVENT_MISMATCH,
        message,
        hint="the server altered an event; do not trust it, and keep this output as evidence",
        details={"seq": seq},
    )


class VerifiedLog:
    """Reads through a `LedgerClient`, verified against a pinned key and remembered checkpoint."""

    def __init__(
        self, client: LedgerClient, verifier: VerifierKey, state_file: Path | None = None
    ) -> None:
        self._client = client
        self._key = verifier
        self._state_file = state_file
        self.trusted = load_trusted(state_file, verifier) if state_file else None

    def refresh(self) -> Checkpoint:
        """Fetch, verify and remember the server's latest checkpoint."""
        note = self._client.checkpoint().note
        checkpoint = open_checkpoint(note, self._key)
        if self.trusted is not None:
            self._check_extends(self.trusted.checkpoint, checkpoint)
            if checkpoint == self.trusted.checkpoint:
                return checkpoint  # nothing new to remember
        self.trusted = TrustedCheckpoint(checkpoint, note)
        if self._state_file is not None:
            save_trusted(self._state_file, self.trusted)
        return checkpoint

    def _check_extends(self, old: Checkpoint, new: Checkpoint) -> None:
        details = {"trusted_size": old.size, "served_size": new.size}
        if new.size < old.size:
            raise VerificationFailed(
                ErrorCode.CHECKPOINT_ROLLBACK,
                f"the server's log has {new.size} entries, but {old.size} were already verified",
                hint="the log was cut back or replaced; keep both checkpoints as evidence",
                details=details,
            )
        if new.size == old.size:
            if new.root != old.root:
                raise VerificationFailed(
                    ErrorCode.CONSISTENCY_PROOF_INVALID,
                    f"two different roots are signed for tree size {new.size}: a fork",
                    hint="the log was rewritten; keep both checkpoints as evidence",
                    details=details,
                )
            return
        if old.size == 0:
            return
        proof = self._client.consistency_proof(old.size, new.size)
        try:
            verify_consistency(old.size, new.size, old.root, new.root, proof.hashes)
        except VerificationFailed as exc:
            raise exc.add_context(
                where=f"the log at {new.size} does not extend the verified log at {old.size}",
                hint="; history was rewritten or forked: keep both checkpoints as evidence",
                **details,
            ) from None

    def verify_event(
        self,
        *,
        seq: int | None = None,
        event_id: str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> VerifiedEvent:
        """Fetch one event and prove it is in the log the pinned key vouches for.

        Proves it under `checkpoint` (one this instance verified, e.g. to check
        many events against one refresh), or else under a fresh `refresh()`.
        """
        entry = self._client.get_event(seq=seq, event_id=event_id)
        checkpoint = checkpoint or self.refresh()
        if entry.seq >= checkpoint.size:
            raise _mismatch(
                f"seq {entry.seq} is beyond the signed tree size {checkpoint.size}", entry.seq
            )
        leaf = check_served_entry(entry, seq=seq, event_id=event_id)
        proof = self._client.inclusion_proof(entry.seq, checkpoint.size)
        try:
            verify_inclusion(
                entry.seq, checkpoint.size, entry.leaf_hash, proof.hashes, checkpoint.root
            )
        except LedgerError as exc:
            raise exc.add_context(where=f"seq {entry.seq}", seq=entry.seq) from None
        return VerifiedEvent(entry.seq, leaf, entry.leaf, checkpoint)


def check_served_entry(
    entry: Entry, *, seq: int | None = None, event_id: str | None = None
) -> Leaf:
    """The leaf a served entry carries, once it is shown to agree with everything served.

    Its bytes must hash to the served leaf hash and decode to the served seq,
    chain members and event, member for member; and it must be the seq or
    event id that was asked for. Inclusion is a separate proof.
    """
    if leaf_hash(entry.leaf) != entry.leaf_hash:
        raise _mismatch(f"seq {entry.seq}: the leaf bytes do not hash to the leaf hash", entry.seq)
    try:
        leaf = decode_leaf(entry.leaf)
    except LedgerError as exc:
        message = f"seq {entry.seq}: the leaf does not parse: {exc.message}"
        raise _mismatch(message, entry.seq) from None
    if (
        leaf.seq != entry.seq
        or (seq is not None and leaf.seq != seq)
        or (event_id is not None and leaf.envelope.event_id != event_id)
        or Event.from_envelope(leaf.envelope) != entry.event
        or leaf.prev != entry.prev
        or leaf.recorded_at != entry.recorded_at
    ):
        raise _mismatch(
            f"seq {entry.seq}: the decoded event does not match its leaf bytes", entry.seq
        )
    return leaf
