"""The offline audit catches every kind of tampering and names the first bad seq."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from conftest import json_lines
from ledger.audit import audit_log
from ledger.checkpoint import Checkpoint, SignerKey
from ledger.errors import ErrorCode, VerificationFailed
from ledger.model import content_digest, encode_leaf
from ledger.samples import sample_events, sample_finding, sample_run
from ledger.store import AppendRequest, LmdbEventLog
from tamper import edit, flip_byte_in_leaf, tree_key, u64

KEY = SignerKey.generate("audit.test/log")


def _fill(log: LmdbEventLog, count: int, *, tampered_notes: int | None = None) -> None:
    events = sample_events(count)
    if tampered_notes is not None:
        events[2 * tampered_notes] = sample_run(tampered_notes, notes="TARGET-NOTE-TEXT")
    log.append([AppendRequest(e) for e in events])


def _audit_failure(data_dir: Path, open_log: Callable[..., LmdbEventLog]) -> VerificationFailed:
    reader = open_log(data_dir, readonly=True)
    with pytest.raises(VerificationFailed) as caught:
        audit_log(reader)
    return caught.value


def test_a_clean_log_audits_and_reports_size_and_root(log: LmdbEventLog) -> None:
    _fill(log, 50)
    seen: list[tuple[int, int]] = []
    report = audit_log(log, progress=lambda done, total: seen.append((done, total)))
    assert report.size == 50
    assert report.root == log.root()[1]
    assert seen[-1] == (50, 50)


def test_an_empty_log_audits(log: LmdbEventLog) -> None:
    assert audit_log(log).size == 0


def test_one_changed_byte_in_a_leaf_fails_naming_its_seq(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog], ledgerctl
) -> None:
    _fill(log, 40, tampered_notes=7)  # the run record at seq 14
    log.close()
    flip_byte_in_leaf(data_dir, 14, b"TARGET-NOTE-TEXT", offset=3)
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.LEAF_HASH_MISMATCH
    assert error.details["seq"] == 14
    assert "seq 14" in error.message

    result = ledgerctl("verify", "--data-dir", str(data_dir), "--json")
    assert result.returncode == 3
    (envelope,) = json_lines(result.stdout)
    assert envelope["error_category"] == "verification_failed"
    assert envelope["details"] == {"seq": 14}
    human = ledgerctl("verify", "--data-dir", str(data_dir))
    assert human.returncode == 3
    assert b"seq 14" in human.stderr


def test_a_leaf_that_no_longer_parses_fails_naming_its_seq(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 20, tampered_notes=3)
    log.close()
    # Turn the closing quote before TARGET into a control character: the JSON breaks.
    flip_byte_in_leaf(data_dir, 6, b'"TARGET-NOTE-TEXT', offset=0)
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.LEAF_UNREADABLE
    assert error.details["seq"] == 6


def _forge_leaf_4(log: LmdbEventLog, data_dir: Path) -> bytes:
    """Rewrite leaf 4 (same id, other notes) and make its own tree hash match it."""
    old = log.get(4)
    envelope = old.leaf.envelope
    forged_envelope = msgspec.structs.replace(
        envelope, data=msgspec.structs.replace(envelope.data, notes="rewritten")
    )
    forged = encode_leaf(4, old.leaf.prev, old.leaf.recorded_at, forged_envelope)
    log.close()
    edit(data_dir, "leaves", u64(4), forged)
    edit(data_dir, "tree", tree_key(0, 4), hashlib.sha256(b"\x00" + forged).digest())
    return content_digest(forged_envelope)


def test_a_rewritten_leaf_is_caught_by_the_idempotency_index(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 10)
    _forge_leaf_4(log, data_dir)
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.INDEX_MISMATCH
    assert error.details["seq"] == 4


def test_a_rewritten_leaf_with_patched_indexes_breaks_the_chain_at_the_next_seq(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 10)
    digest = _forge_leaf_4(log, data_dir)
    # run-2 is the first event of its stream, so stream version 1.
    edit(data_dir, "event_ids", b"run-2", u64(4) + u64(1) + digest)
    error = _audit_failure(data_dir, open_log)
    # Leaf 5 still names the original leaf 4's hash as its prev.
    assert error.code is ErrorCode.CHAIN_BROKEN
    assert error.details["seq"] == 5


def test_a_deleted_leaf_is_a_gap(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 10)
    log.close()
    edit(data_dir, "leaves", u64(6), None)
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.SEQ_GAP
    assert error.details["seq"] == 6


def test_a_leaf_moved_to_another_seq_is_caught(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 10)
    moved = log.get(3).leaf_bytes
    log.close()
    edit(data_dir, "leaves", u64(5), moved)
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.SEQ_MISMATCH
    assert error.details["seq"] == 5


def test_a_changed_interior_tree_hash_is_caught(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 16)
    log.close()
    edit(data_dir, "tree", tree_key(2, 1), b"\x00" * 32)
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.TREE_HASH_MISMATCH
    assert error.details["seq"] == 7, "the leaf that completes subtree (2, 1) is seq 7"


def test_a_damaged_event_id_index_is_caught(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 10)
    log.close()
    edit(data_dir, "event_ids", b"finding-2", u64(1) + u64(1) + b"\x00" * 32)
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.INDEX_MISMATCH
    assert error.details["seq"] == 5


def test_a_damaged_run_id_index_is_caught(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 10)
    run_id = log.get(4).leaf.envelope.data.run_id  # type: ignore[attr-defined]
    log.close()
    edit(data_dir, "unique_keys", f"run_id:{run_id}".encode(), None)
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.INDEX_MISMATCH
    assert error.details["seq"] == 4


def test_a_planted_event_id_entry_is_caught_before_it_can_swallow_an_append(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 10)
    future = sample_finding(500)
    log.close()
    # An attacker pre-registers an event id, pointing at an existing seq.
    edit(data_dir, "event_ids", b"finding-500", u64(0) + u64(1) + content_digest(future))
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.INDEX_MISMATCH
    assert "event_ids database holds 11 entries" in error.message


def test_a_rewritten_stream_index_entry_is_caught(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 10)
    stream = log.get(0).leaf.envelope.stream
    log.close()
    edit(data_dir, "stream_events", stream.encode() + b"\x00" + u64(1), u64(3))
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.INDEX_MISMATCH
    assert error.details["seq"] == 0


def test_an_extra_stored_tree_hash_is_caught(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    _fill(log, 10)
    log.close()
    edit(data_dir, "tree", tree_key(3, 1), b"\x00" * 32)
    error = _audit_failure(data_dir, open_log)
    assert error.code is ErrorCode.TREE_HASH_MISMATCH
    assert "holds 19 entries" in error.message


def test_a_checkpoint_signed_earlier_still_matches_a_grown_log(log: LmdbEventLog) -> None:
    _fill(log, 10)
    note = Checkpoint(KEY.name, 10, log.root(10)[1]).sign(KEY)
    log.append([AppendRequest(sample_run(500))])
    report = audit_log(log, checkpoint_note=note, verifier=KEY.verifier())
    assert report.checkpoint is not None
    assert (report.checkpoint.size, report.size) == (10, 11)


def test_a_log_cut_back_fails_against_a_checkpoint_signed_earlier(
    open_log: Callable[..., LmdbEventLog], tmp_path: Path
) -> None:
    full = open_log(tmp_path / "full")
    _fill(full, 10)
    note = Checkpoint(KEY.name, 10, full.root()[1]).sign(KEY)
    # The same events under the same pinned clock: a byte-identical prefix of the log.
    cut = open_log(tmp_path / "cut")
    cut.append([AppendRequest(e) for e in sample_events(7)])
    assert cut.root()[1] == full.root(7)[1]
    assert audit_log(cut).size == 7, "the cut log is internally consistent"
    with pytest.raises(VerificationFailed) as caught:
        audit_log(cut, checkpoint_note=note, verifier=KEY.verifier())
    assert caught.value.code is ErrorCode.CHECKPOINT_BEYOND_LOG


def test_a_log_cut_back_in_place_fails_against_the_checkpoint(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog], ledgerctl, tmp_path
) -> None:
    _fill(log, 10)
    note = Checkpoint(KEY.name, 10, log.root()[1]).sign(KEY)
    log.close()
    for seq in (7, 8, 9):
        edit(data_dir, "leaves", u64(seq), None)
    (tmp_path / "cp").write_text(note)
    result = ledgerctl(
        "verify",
        "--data-dir",
        str(data_dir),
        "--checkpoint",
        str(tmp_path / "cp"),
        "--vkey",
        KEY.verifier().to_text(),
        "--json",
    )
    assert result.returncode == 3
    (envelope,) = json_lines(result.stdout)
    assert envelope["error_category"] == "verification_failed"


def test_rewritten_history_of_the_same_size_fails_against_the_checkpoint(
    open_log: Callable[..., LmdbEventLog], tmp_path: Path
) -> None:
    honest = open_log(tmp_path / "honest")
    _fill(honest, 10)
    note = Checkpoint(KEY.name, 10, honest.root()[1]).sign(KEY)
    forged = open_log(tmp_path / "forged")
    events = sample_events(10)
    events[3] = msgspec.structs.replace(events[3], producer="gate-lane-2")
    forged.append([AppendRequest(e) for e in events])
    with pytest.raises(VerificationFailed) as caught:
        audit_log(forged, checkpoint_note=note, verifier=KEY.verifier())
    assert caught.value.code is ErrorCode.CHECKPOINT_ROOT_MISMATCH


def test_a_checkpoint_by_another_key_or_edited_is_refused(log: LmdbEventLog) -> None:
    _fill(log, 4)
    note = Checkpoint(KEY.name, 4, log.root()[1]).sign(KEY)
    other = SignerKey.generate(KEY.name)
    with pytest.raises(VerificationFailed) as wrong_key:
        audit_log(log, checkpoint_note=note, verifier=other.verifier())
    assert wrong_key.value.code is ErrorCode.CHECKPOINT_SIGNATURE_INVALID
    edited = note.replace("\n4\n", "\n3\n")
    assert edited != note
    with pytest.raises(VerificationFailed) as edited_note:
        audit_log(log, checkpoint_note=edited, verifier=KEY.verifier())
    assert edited_note.value.code is ErrorCode.CHECKPOINT_SIGNATURE_INVALID
