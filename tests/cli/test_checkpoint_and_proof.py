"""`ledgerctl checkpoint` and `ledgerctl proof`: signed tree heads and Merkle proofs.

Roots are compared with an independent RFC 6962 computation over the leaf bytes that
`tail` printed; proofs are checked with the auditor-side verifiers in ledger.tree.verify.
"""

from __future__ import annotations

import base64
import shutil

import pytest

from ledger.checkpoint import Checkpoint, VerifierKey, open_checkpoint
from ledger.errors import VerificationFailed
from ledger.tree.verify import verify_consistency, verify_inclusion

ORIGIN = "ledger.test/cli"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _checkpoint(ledgerctl, log, *extra: str, key=None):
    key_file = log.key_file if key is None else key
    return ledgerctl("checkpoint", "--data-dir", str(log.data_dir), "--key", str(key_file), *extra)


# --- checkpoint ---------------------------------------------------------------------------


def test_checkpoint_prints_a_signed_note_for_the_whole_log(checkpoint_note, populated_log):
    verifier = VerifierKey.parse(populated_log.verifier_key)
    opened = open_checkpoint(checkpoint_note, verifier)
    assert opened == Checkpoint(ORIGIN, 30, populated_log.expected_root(30))
    assert _b64(opened.root) == populated_log.verify["root"]
    body, _, signatures = checkpoint_note.partition("\n\n")
    assert body == f"{ORIGIN}\n30\n{_b64(opened.root)}"
    assert signatures.startswith(f"\u2014 {ORIGIN} ")
    assert signatures.endswith("\n")
    assert signatures.count("\n") == 1


@pytest.mark.parametrize("size", [0, 1, 7, 29])
def test_size_selects_the_root_at_that_size(ledgerctl, populated_log, ok, size):
    doc = ok(_checkpoint(ledgerctl, populated_log, "--size", str(size), "--json"))
    assert set(doc) == {"ok", "origin", "tree_size", "root", "note"}
    assert doc["origin"] == ORIGIN
    assert doc["tree_size"] == size
    assert doc["root"] == _b64(populated_log.expected_root(size))
    opened = open_checkpoint(doc["note"], VerifierKey.parse(populated_log.verifier_key))
    assert opened == Checkpoint(ORIGIN, size, populated_log.expected_root(size))


def test_json_note_is_the_text_output(ledgerctl, populated_log, ok, checkpoint_note):
    doc = ok(_checkpoint(ledgerctl, populated_log, "--json"))
    assert doc["tree_size"] == 30
    # Ed25519 signatures are deterministic, so the same head signs to the same note.
    assert doc["note"] == checkpoint_note


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_key_readable_by_others_is_refused(ledgerctl, populated_log, tmp_path, error, mode):
    key = tmp_path / "exposed.key"
    shutil.copyfile(populated_log.key_file, key)
    key.chmod(mode)
    doc = error(
        _checkpoint(ledgerctl, populated_log, "--json", key=key), "invalid_input", "INVALID_KEY"
    )
    assert f"{mode:04o}" in doc["error"]
    assert "chmod 600" in doc["hint"]
    assert str(key) in doc["hint"]
    assert key.stat().st_mode & 0o777 == mode  # reported, not silently "fixed"


def test_key_refusal_without_json_prints_no_note(ledgerctl, populated_log, tmp_path):
    key = tmp_path / "exposed.key"
    shutil.copyfile(populated_log.key_file, key)
    key.chmod(0o644)
    proc = _checkpoint(ledgerctl, populated_log, key=key)
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert "chmod 600" in proc.stderr.decode()


def test_missing_key_file_is_an_io_failure(ledgerctl, populated_log, tmp_path, error):
    doc = error(
        _checkpoint(ledgerctl, populated_log, "--json", key=tmp_path / "nope.key"),
        "io_failure",
        "FILE_UNREADABLE",
    )
    assert "nope.key" in doc["error"]


def test_public_key_is_not_a_signing_key(ledgerctl, populated_log, tmp_path, error):
    key = tmp_path / "public.key"
    shutil.copyfile(populated_log.pub_file, key)
    key.chmod(0o600)
    error(_checkpoint(ledgerctl, populated_log, "--json", key=key), "invalid_input", "INVALID_KEY")


@pytest.mark.parametrize("size", ["31", "1000"])
def test_size_beyond_the_log_is_refused(ledgerctl, populated_log, error, size):
    proc = _checkpoint(ledgerctl, populated_log, "--size", size, "--json")
    doc = error(proc, "invalid_input", "INVALID_PROOF_REQUEST")
    assert size in doc["error"]
    assert "30" in doc["error"]


# --- proof inclusion ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seq", "tree_size"),
    [(0, None), (29, None), (0, 1), (5, 6), (8, 16), (15, 17)],
)
def test_inclusion_proof_verifies(ledgerctl, populated_log, ok, seq, tree_size):
    args = ["proof", "inclusion", "--data-dir", str(populated_log.data_dir), "--seq", str(seq)]
    if tree_size is not None:
        args += ["--tree-size", str(tree_size)]
    doc = ok(ledgerctl(*args, "--json"))
    assert set(doc) == {"ok", "leaf_index", "tree_size", "leaf_hash", "root", "hashes"}
    size = 30 if tree_size is None else tree_size
    assert doc["leaf_index"] == seq
    assert doc["tree_size"] == size
    assert doc["leaf_hash"] == _b64(bytes.fromhex(populated_log.tail[seq]["leaf_hash"]))
    assert doc["root"] == _b64(populated_log.expected_root(size))

    leaf_hash = base64.b64decode(doc["leaf_hash"], validate=True)
    root = base64.b64decode(doc["root"], validate=True)
    hashes = [base64.b64decode(h, validate=True) for h in doc["hashes"]]
    assert (hashes == []) == (size == 1)
    verify_inclusion(seq, size, leaf_hash, hashes, root)
    if hashes:  # the proof is not vacuous: a flipped bit breaks it
        broken = [bytes([hashes[0][0] ^ 1]) + hashes[0][1:], *hashes[1:]]
        with pytest.raises(VerificationFailed):
            verify_inclusion(seq, size, leaf_hash, broken, root)


def test_inclusion_root_matches_the_checkpoint_root(ledgerctl, populated_log, ok, checkpoint_note):
    doc = ok(
        ledgerctl(
            "proof", "inclusion", "--data-dir", str(populated_log.data_dir), "--seq", "11", "--json"
        )
    )
    signed = open_checkpoint(checkpoint_note, VerifierKey.parse(populated_log.verifier_key))
    assert doc["tree_size"] == signed.size
    assert base64.b64decode(doc["root"]) == signed.root


@pytest.mark.parametrize(
    "args",
    [
        ["--seq", "30"],
        ["--seq", "5", "--tree-size", "5"],
        ["--seq", "40", "--tree-size", "31"],
    ],
)
def test_inclusion_out_of_range_is_refused(ledgerctl, populated_log, error, args):
    proc = ledgerctl(
        "proof", "inclusion", "--data-dir", str(populated_log.data_dir), *args, "--json"
    )
    error(proc, "invalid_input", "INVALID_PROOF_REQUEST")


@pytest.mark.parametrize("args", [["--seq", "-1"], ["--seq", "0", "--tree-size", "0"]])
def test_inclusion_bad_arguments_are_usage_errors(ledgerctl, populated_log, error, args):
    proc = ledgerctl(
        "proof", "inclusion", "--data-dir", str(populated_log.data_dir), *args, "--json"
    )
    error(proc, "invalid_input", "INVALID_ARGUMENT")


def test_inclusion_text_output(ledgerctl, populated_log, ok):
    data_dir = str(populated_log.data_dir)
    doc = ok(ledgerctl("proof", "inclusion", "--data-dir", data_dir, "--seq", "3", "--json"))
    proc = ledgerctl("proof", "inclusion", "--data-dir", data_dir, "--seq", "3")
    assert proc.returncode == 0
    expected = [
        "leaf_index: 3",
        "tree_size: 30",
        f"leaf_hash: {doc['leaf_hash']}",
        f"root: {doc['root']}",
        "hashes:",
        *(f"  {h}" for h in doc["hashes"]),
    ]
    assert proc.stdout.decode().splitlines() == expected


# --- proof consistency --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [(1, None), (7, None), (16, None), (3, 7), (13, 27), (30, None)],
)
def test_consistency_proof_verifies(ledgerctl, populated_log, ok, first, second):
    args = [
        "proof",
        "consistency",
        "--data-dir",
        str(populated_log.data_dir),
        "--from",
        str(first),
    ]
    if second is not None:
        args += ["--to", str(second)]
    doc = ok(ledgerctl(*args, "--json"))
    assert set(doc) == {"ok", "first_size", "second_size", "first_root", "second_root", "hashes"}
    size = 30 if second is None else second
    assert doc["first_size"] == first
    assert doc["second_size"] == size
    assert doc["first_root"] == _b64(populated_log.expected_root(first))
    assert doc["second_root"] == _b64(populated_log.expected_root(size))

    first_root = base64.b64decode(doc["first_root"], validate=True)
    second_root = base64.b64decode(doc["second_root"], validate=True)
    hashes = [base64.b64decode(h, validate=True) for h in doc["hashes"]]
    verify_consistency(first, size, first_root, second_root, hashes)
    if first == size:
        assert hashes == []
    else:
        assert hashes
        broken = [*hashes[:-1], bytes([hashes[-1][0] ^ 1]) + hashes[-1][1:]]
        with pytest.raises(VerificationFailed):
            verify_consistency(first, size, first_root, second_root, broken)


def test_consistency_second_root_matches_the_checkpoint_root(
    ledgerctl, populated_log, ok, checkpoint_note
):
    proc = ledgerctl(
        "proof", "consistency", "--data-dir", str(populated_log.data_dir), "--from", "9", "--json"
    )
    doc = ok(proc)
    signed = open_checkpoint(checkpoint_note, VerifierKey.parse(populated_log.verifier_key))
    assert doc["second_size"] == signed.size
    assert base64.b64decode(doc["second_root"]) == signed.root


@pytest.mark.parametrize(
    "args",
    [["--from", "31"], ["--from", "10", "--to", "5"], ["--from", "5", "--to", "31"]],
)
def test_consistency_out_of_range_is_refused(ledgerctl, populated_log, error, args):
    proc = ledgerctl(
        "proof", "consistency", "--data-dir", str(populated_log.data_dir), *args, "--json"
    )
    error(proc, "invalid_input", "INVALID_PROOF_REQUEST")


@pytest.mark.parametrize("args", [["--from", "0"], ["--from", "3", "--to", "0"]])
def test_consistency_from_zero_is_rejected(ledgerctl, populated_log, error, args):
    proc = ledgerctl(
        "proof", "consistency", "--data-dir", str(populated_log.data_dir), *args, "--json"
    )
    doc = error(proc, "invalid_input", "INVALID_ARGUMENT")
    assert ("--to" if "--to" in args else "--from") in doc["error"]
