"""`clients.verified.VerifiedLog` against real daemons: honest logs pass, rivals are named.

The rivals (tests/histories.py) are real logs signed with the honest log's key:
a fork with more entries, a fork of the same size, a cut-back log, and the honest
history signed by another key. Altered events are made by editing a stopped
daemon's LMDB files, then serving them again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.client import LedgerClient
from clients.event import Event
from clients.verified import VerifiedLog, check_served_entry, load_trusted
from daemon import DaemonProcess
from histories import HONEST, ORIGIN, Rivals, append_all, serve, serve_rivals
from ledger.checkpoint import SignerKey, VerifierKey
from ledger.errors import ErrorCode, LedgerError, VerificationFailed
from ledger.model import encode_leaf
from ledger.samples import sample_finding, sample_run
from tamper import edit, flip_byte_in_leaf, tree_key, u64


def _write_key(path: Path, origin: str = ORIGIN) -> VerifierKey:
    key = SignerKey.generate(origin)
    path.write_text(key.to_text() + "\n")
    path.chmod(0o600)
    return key.verifier()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, VerifierKey, Path]:
    root = tmp_path_factory.mktemp("keys")
    verifier = _write_key(root / "log.key")
    _write_key(root / "other.key")
    return root / "log.key", verifier, root / "other.key"


@pytest.fixture(scope="module")
def rivals(
    tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, VerifierKey, Path]
) -> Iterator[Rivals]:
    key_file, _, other_key_file = keys
    with serve_rivals(tmp_path_factory.mktemp("rivals"), key_file, other_key_file) as served:
        yield served


@pytest.fixture
def verifier(keys: tuple[Path, VerifierKey, Path]) -> VerifierKey:
    return keys[1]


def _pin(address: str, verifier: VerifierKey, state: Path) -> int:
    """Verify `address` once with a fresh state file (trust on first use); the pinned size."""
    with LedgerClient(address) as client:
        return VerifiedLog(client, verifier, state).refresh().size


def _refresh_failure(address: str, verifier: VerifierKey, state: Path) -> VerificationFailed:
    with LedgerClient(address) as client, pytest.raises(VerificationFailed) as caught:
        VerifiedLog(client, verifier, state).refresh()
    return caught.value


def test_the_first_refresh_trusts_and_saves_the_checkpoint(rivals, verifier, tmp_path):
    state = tmp_path / "state.json"
    with LedgerClient(rivals.honest.address) as client:
        log = VerifiedLog(client, verifier, state)
        assert log.trusted is None
        checkpoint = log.refresh()
    assert checkpoint.origin == ORIGIN
    assert checkpoint.size == 1 + len(HONEST)
    saved = json.loads(state.read_text())
    assert saved["tree_size"] == checkpoint.size
    trusted = load_trusted(state, verifier)
    assert trusted is not None
    assert trusted.checkpoint == checkpoint


def test_a_log_that_grew_honestly_is_proven_consistent(daemon, tmp_path):
    verifier = VerifierKey.parse((daemon.data_dir / "checkpoint.key.pub").read_text().strip())
    state = tmp_path / "state.json"
    first = _pin(daemon.address, verifier, state)
    append_all(daemon.address, [sample_run(i) for i in range(7)])
    with LedgerClient(daemon.address) as client:
        log = VerifiedLog(client, verifier, state)
        assert log.trusted is not None
        assert log.trusted.checkpoint.size == first
        assert log.refresh().size == first + 7
    assert json.loads(state.read_text())["tree_size"] == first + 7


def test_a_fork_with_more_entries_fails_the_consistency_proof(rivals, verifier, tmp_path):
    state = tmp_path / "state.json"
    pinned = _pin(rivals.honest.address, verifier, state)
    before = state.read_bytes()
    error = _refresh_failure(rivals.longer_fork.address, verifier, state)
    assert error.code is ErrorCode.CONSISTENCY_PROOF_INVALID
    assert error.details["trusted_size"] == pinned
    assert error.details["served_size"] > pinned
    assert state.read_bytes() == before, "a failed refresh must not move the pin"


def test_a_fork_of_the_same_size_is_two_roots_for_one_size(rivals, verifier, tmp_path):
    state = tmp_path / "state.json"
    pinned = _pin(rivals.honest.address, verifier, state)
    error = _refresh_failure(rivals.same_size_fork.address, verifier, state)
    assert error.code is ErrorCode.CONSISTENCY_PROOF_INVALID
    assert error.details == {"trusted_size": pinned, "served_size": pinned}


def test_a_log_cut_back_is_a_rollback(rivals, verifier, tmp_path):
    state = tmp_path / "state.json"
    pinned = _pin(rivals.honest.address, verifier, state)
    error = _refresh_failure(rivals.shorter.address, verifier, state)
    assert error.code is ErrorCode.CHECKPOINT_ROLLBACK
    assert error.details["served_size"] < error.details["trusted_size"] == pinned


def test_a_checkpoint_signed_by_another_key_is_refused(rivals, verifier, tmp_path):
    error = _refresh_failure(rivals.other_key.address, verifier, tmp_path / "state.json")
    assert error.code is ErrorCode.CHECKPOINT_SIGNATURE_INVALID
    assert not (tmp_path / "state.json").exists()


def test_a_state_file_pinned_under_another_key_is_refused(rivals, keys, tmp_path):
    state = tmp_path / "state.json"
    _pin(rivals.honest.address, keys[1], state)
    stranger = _write_key(tmp_path / "stranger.key")
    with pytest.raises(VerificationFailed) as caught:
        load_trusted(state, stranger)
    assert caught.value.code is ErrorCode.CHECKPOINT_SIGNATURE_INVALID


def test_every_honest_event_verifies_by_seq_and_by_event_id(rivals, verifier, tmp_path):
    with LedgerClient(rivals.honest.address) as client:
        log = VerifiedLog(client, verifier, tmp_path / "state.json")
        size = log.refresh().size
        for seq in range(size):
            verified = log.verify_event(seq=seq)
            assert verified.seq == seq
            assert verified.checkpoint.size == size
        by_id = log.verify_event(event_id=HONEST[2].event_id)
    assert by_id.seq == 3
    assert by_id.leaf.envelope == HONEST[2]


@pytest.fixture
def tampered(tmp_path: Path, keys: tuple[Path, VerifierKey, Path]) -> Iterator[DaemonProcess]:
    """A daemon over an honest log of 6 entries whose state is pinned in tmp_path/state.json."""
    process = serve(tmp_path / "data", keys[0])
    try:
        append_all(
            process.address,
            [sample_run(i, notes="TARGET-NOTE-TEXT") for i in range(3)] + [sample_finding(0)],
        )
        _pin(process.address, keys[1], tmp_path / "state.json")
        yield process
    finally:
        process.kill()


def test_an_altered_leaf_is_a_served_event_mismatch(tampered, verifier, tmp_path):
    tampered.stop()
    flip_byte_in_leaf(tampered.data_dir, 2, b"TARGET-NOTE-TEXT", offset=3)
    tampered.restart()
    with LedgerClient(tampered.address) as client:
        log = VerifiedLog(client, verifier, tmp_path / "state.json")
        log.verify_event(seq=1)  # its neighbours still verify
        with pytest.raises(VerificationFailed) as caught:
            log.verify_event(seq=2)
    assert caught.value.code is ErrorCode.SERVED_EVENT_MISMATCH
    assert caught.value.details["seq"] == 2


def test_a_leaf_rewritten_with_its_hash_fails_the_inclusion_proof(tampered, verifier, tmp_path):
    """The forger also updates the stored leaf hash, so only the tree above can catch it."""
    with LedgerClient(tampered.address) as client:
        original = client.get_event(seq=3)
    forged = encode_leaf(3, original.prev, original.recorded_at, sample_run(40))
    tampered.stop()
    edit(tampered.data_dir, "leaves", u64(3), forged)
    edit(tampered.data_dir, "tree", tree_key(0, 3), hashlib.sha256(b"\x00" + forged).digest())
    tampered.restart()
    with LedgerClient(tampered.address) as client:
        log = VerifiedLog(client, verifier, tmp_path / "state.json")
        with pytest.raises(LedgerError) as caught:
            log.verify_event(seq=3)
    assert caught.value.code is ErrorCode.INCLUSION_PROOF_INVALID
    assert caught.value.details["seq"] == 3


@pytest.mark.parametrize(
    "member",
    ["data_json", "producer", "occurred_at", "correlation_id", "schema_version", "stream"],
)
def test_every_decoded_member_must_match_the_leaf(client: LedgerClient, member: str) -> None:
    client.append(Event.from_envelope(sample_run(3)))
    served = client.get_event(seq=1)
    assert check_served_entry(served, seq=1).seq == 1  # the honest entry passes
    altered = {
        "data_json": served.event.data_json.replace('"SUCCESS"', '"SKIPPED"'),
        "producer": "someone-else",
        "occurred_at": "2026-01-01T00:00:01Z",
        "correlation_id": "forged",
        "schema_version": "9.9",
        "stream": "runs/elsewhere",
    }[member]
    assert altered != getattr(served.event, member)
    forged_event = dataclasses.replace(served.event, **{member: altered})
    lying = dataclasses.replace(served, event=forged_event)
    with pytest.raises(VerificationFailed) as caught:
        check_served_entry(lying, seq=1)
    assert caught.value.code is ErrorCode.SERVED_EVENT_MISMATCH
