"""The offline audit: re-derive everything the log claims from the stored leaf bytes alone.

For every leaf, in seq order: it parses, its seq is its position, its `prev` is
the previous leaf's hash, and every subtree hash it completes equals the stored
one. The secondary indexes must agree with the leaves. Optionally a signed
checkpoint must verify and name the root that the recomputed tree has at its size.
The first problem found is raised as verification_failed, naming its seq.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint, VerifierKey, open_checkpoint
from ledger.errors import ErrorCode, LedgerError, VerificationFailed
from ledger.model import GENESIS_PREV, Envelope, content_digest, decode_leaf
from ledger.model.registry import schema_for
from ledger.store import LmdbEventLog, LogSnapshot
from ledger.tree.hashing import EMPTY_ROOT, leaf_hash
from ledger.tree.stored import CompactRange

ProgressCallback = Callable[[int, int], None]
_PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class AuditReport:
    """What a successful audit established."""

    size: int
    root: bytes
    checkpoint: Checkpoint | None


def _failed(code: ErrorCode, seq: int | None, message: str, hint: str) -> VerificationFailed:
    where = f"seq {seq}: " if seq is not None else ""
    return VerificationFailed(
        code, where + message, hint=hint, details={"seq": seq} if seq is not None else None
    )


_TAMPER_HINT = "the stored log differs from what was appended; restore it from a trusted copy"
_INDEX_HINT = "the indexes are damaged; restore the data directory from a trusted copy"


class _Auditor:
    def __init__(self, view: LogSnapshot, checkpoint: Checkpoint | None) -> None:
        self.view = view
        self.checkpoint = checkpoint
        self.tree = CompactRange()
        self.prev = GENESIS_PREV
        self.stream_versions: dict[str, int] = {}
        self.unique_keys = 0
        self.checkpoint_root: bytes | None = None
        self._seq = 0

    def _check_stored_hash(self, level: int, index: int, computed: bytes) -> None:
        stored = self.view.stored_hash(level, index)
        if stored == computed:
            return
        if level == 0:
            raise _failed(
                ErrorCode.LEAF_HASH_MISMATCH,
                self._seq,
                f"leaf bytes hash to {computed.hex()}, but the tree recorded "
                f"{stored.hex() if stored else 'nothing'}",
                _TAMPER_HINT,
            )
        first, last = index << level, ((index + 1) << level) - 1
        raise _failed(
            ErrorCode.TREE_HASH_MISMATCH,
            self._seq,
            f"stored hash of the subtree over seqs {first}..{last} (level {level}) does not match "
            "the leaves",
            _TAMPER_HINT,
        )

    def check_leaf(self, seq: int, raw: bytes) -> None:
        self._seq = seq
        if seq != self.tree.size:
            raise _failed(
                ErrorCode.SEQ_GAP,
                self.tree.size,
                f"leaf is missing (the next stored leaf is seq {seq})",
                _TAMPER_HINT,
            )
        try:
            leaf = decode_leaf(raw)
        except LedgerError as exc:
            raise _failed(
                ErrorCode.LEAF_UNREADABLE, seq, f"leaf does not parse: {exc.message}", _TAMPER_HINT
            ) from None
        if leaf.seq != seq:
            raise _failed(
                ErrorCode.SEQ_MISMATCH, seq, f"leaf says it is seq {leaf.seq}", _TAMPER_HINT
            )
        if leaf.prev != self.prev:
            raise _failed(
                ErrorCode.CHAIN_BROKEN,
                seq,
                f"prev is {leaf.prev}, but the previous leaf hashes to {self.prev}",
                _TAMPER_HINT,
            )
        hashed = leaf_hash(raw)
        self.tree.append(hashed, self._check_stored_hash)
        self.prev = hashed.hex()
        self._check_indexes(seq, leaf.envelope)
        if self.checkpoint is not None and self.tree.size == self.checkpoint.size:
            self.checkpoint_root = self.tree.root()

    def _check_indexes(self, seq: int, envelope: Envelope) -> None:
        version = self.stream_versions.get(envelope.stream, 0) + 1
        self.stream_versions[envelope.stream] = version
        entry = self.view.event_id_entry(envelope.event_id)
        if entry is None or entry[0] != seq or entry[1] != version:
            raise _failed(
                ErrorCode.INDEX_MISMATCH,
                seq,
                f"the event id index does not point at this leaf for {envelope.event_id!r}",
                _INDEX_HINT,
            )
        if entry[2] != content_digest(envelope):
            raise _failed(
                ErrorCode.INDEX_MISMATCH,
                seq,
                f"the content digest indexed for {envelope.event_id!r} is not this leaf's",
                _INDEX_HINT,
            )
        if self.view.stream_seq(envelope.stream, version) != seq:
            raise _failed(
                ErrorCode.INDEX_MISMATCH,
                seq,
                f"the index of stream {envelope.stream!r} does not give this leaf as "
                f"version {version}",
                _INDEX_HINT,
            )
        unique = schema_for(envelope.type, envelope.schema_version).unique
        if unique is None:
            return
        self.unique_keys += 1
        if self.view.unique_key_seq(unique.key(envelope.data)) != seq:
            raise _failed(
                ErrorCode.INDEX_MISMATCH,
                seq,
                f"the {unique.describe} uniqueness index does not point at this leaf",
                _INDEX_HINT,
            )

    def finish(self) -> AuditReport:
        for stream, version in self.stream_versions.items():
            if self.view.stream_version(stream) != version:
                raise _failed(
                    ErrorCode.INDEX_MISMATCH,
                    None,
                    f"stream {stream!r} index says version {self.view.stream_version(stream)}, "
                    f"the leaves give {version}",
                    _INDEX_HINT,
                )
        self._check_no_extra_entries()
        if self.checkpoint is not None:
            self._check_checkpoint(self.checkpoint)
        # Every stored subtree hash was compared as it completed, so the stored root is
        # the recomputed one.
        return AuditReport(size=self.tree.size, root=self.tree.root(), checkpoint=self.checkpoint)

    def _check_no_extra_entries(self) -> None:
        """Each leaf was found in every index; equal counts mean nothing else is in them."""
        size = self.tree.size
        expected = {
            "event_ids": size,
            "stream_events": size,
            "streams": len(self.stream_versions),
            "unique_keys": self.unique_keys,
            # One stored hash per complete subtree: sum of floor(n / 2^level) = 2n - popcount(n).
            "tree": 2 * size - size.bit_count(),
        }
        for database, count in expected.items():
            found = self.view.entry_count(database)
            if found != count:
                raise _failed(
                    ErrorCode.INDEX_MISMATCH
                    if database != "tree"
                    else ErrorCode.TREE_HASH_MISMATCH,
                    None,
                    f"the {database} database holds {found} entries; "
                    f"the leaves account for {count}",
                    _INDEX_HINT,
                )

    def _check_checkpoint(self, checkpoint: Checkpoint) -> None:
        if checkpoint.size > self.tree.size:
            raise _failed(
                ErrorCode.CHECKPOINT_BEYOND_LOG,
                None,
                f"the signed checkpoint vouches for {checkpoint.size} entries, but the log has "
                f"only {self.tree.size}: entries were removed",
                "the log was cut back after the checkpoint was signed; restore it",
            )
        expected = self.checkpoint_root if checkpoint.size else EMPTY_ROOT
        if expected != checkpoint.root:
            raise _failed(
                ErrorCode.CHECKPOINT_ROOT_MISMATCH,
                checkpoint.size - 1 if checkpoint.size else None,
                f"the log's root at size {checkpoint.size} is not the signed root: the first "
                f"{checkpoint.size} entries were rewritten",
                "the log's history differs from what was signed; restore it from a trusted copy",
            )


def audit_log(
    log: LmdbEventLog,
    *,
    checkpoint_note: str | None = None,
    verifier: VerifierKey | None = None,
    progress: ProgressCallback | None = None,
) -> AuditReport:
    """Audit the whole log, and a signed checkpoint against it when one is given."""
    checkpoint = None
    if checkpoint_note is not None:
        if verifier is None:
            raise ValueError("a checkpoint is audited against a verifier key")
        checkpoint = open_checkpoint(checkpoint_note, verifier)
    with log.snapshot() as view:
        auditor = _Auditor(view, checkpoint)
        total = view.size
        for seq, raw in view.iter_leaves():
            auditor.check_leaf(seq, raw)
            if progress is not None and (seq + 1) % _PROGRESS_EVERY == 0:
                progress(seq + 1, total)
        if progress is not None:
            progress(auditor.tree.size, total)
        return auditor.finish()
