"""`ledgerctl verify`: the offline audit, alone and against a signed checkpoint.

Bad checkpoints are made by editing or re-signing checkpoint text; the LMDB files
themselves are never touched here.
"""

from __future__ import annotations

import base64

import pytest

from ledger.checkpoint import Checkpoint, SignerKey

ORIGIN = "ledger.test/cli"


def _verify(ledgerctl, log, *extra: str):
    return ledgerctl("verify", "--data-dir", str(log.data_dir), *extra)


def _verify_note(ledgerctl, log, tmp_path, note: str, *, vkey: str | None = None, json=True):
    """Verify the log against `note` (written to a file) and the log's own verifier key."""
    path = tmp_path / "checkpoint.txt"
    path.write_text(note)
    extra = ["--json"] if json else []
    vkey = log.verifier_key if vkey is None else vkey
    return _verify(ledgerctl, log, "--checkpoint", str(path), "--vkey", vkey, *extra)


@pytest.fixture(scope="module")
def signer(populated_log) -> SignerKey:
    return SignerKey.parse(populated_log.key_file.read_text())


def test_good_log_verifies(ledgerctl, populated_log, ok):
    doc = ok(_verify(ledgerctl, populated_log, "--json"))
    assert doc == {
        "ok": True,
        "tree_size": 30,
        "root": base64.b64encode(populated_log.expected_root(30)).decode(),
        "checkpoint": None,
    }


def test_text_output(ledgerctl, populated_log, tmp_path, checkpoint_note):
    root = populated_log.verify["root"]
    proc = _verify(ledgerctl, populated_log)
    assert proc.returncode == 0
    assert proc.stderr == b""
    assert proc.stdout.decode() == f"ok: 30 leaves verified; root {root}\n"

    note = tmp_path / "checkpoint.txt"
    note.write_text(checkpoint_note)
    proc = _verify(
        ledgerctl, populated_log, "--checkpoint", str(note), "--vkey", str(populated_log.pub_file)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().splitlines() == [
        f"ok: 30 leaves verified; root {root}",
        f"ok: checkpoint by {ORIGIN} at size 30 matches the log",
    ]


@pytest.mark.parametrize("vkey_form", ["inline", "file"])
def test_checkpoint_and_vkey_verify(
    ledgerctl, populated_log, tmp_path, ok, checkpoint_note, vkey_form
):
    vkey = populated_log.verifier_key if vkey_form == "inline" else str(populated_log.pub_file)
    doc = ok(_verify_note(ledgerctl, populated_log, tmp_path, checkpoint_note, vkey=vkey))
    assert doc["tree_size"] == 30
    assert doc["root"] == populated_log.verify["root"]
    assert doc["checkpoint"] == {"origin": ORIGIN, "tree_size": 30, "root": doc["root"]}


def test_older_checkpoint_still_verifies_against_the_grown_log(
    ledgerctl, populated_log, tmp_path, ok
):
    data_dir, key_file = str(populated_log.data_dir), str(populated_log.key_file)
    checkpoint = ledgerctl(
        "checkpoint", "--data-dir", data_dir, "--key", key_file, "--size", "11", "--json"
    )
    doc = ok(_verify_note(ledgerctl, populated_log, tmp_path, ok(checkpoint)["note"]))
    assert doc["tree_size"] == 30
    assert doc["checkpoint"] == {
        "origin": ORIGIN,
        "tree_size": 11,
        "root": base64.b64encode(populated_log.expected_root(11)).decode(),
    }


@pytest.mark.parametrize("other_origin", [ORIGIN, "another.log/elsewhere"])
def test_checkpoint_signed_by_another_key_fails(
    ledgerctl, populated_log, tmp_path, error, other_origin
):
    # Same origin but another key (so another key id), or another origin altogether.
    other = SignerKey.generate(other_origin)
    forged = Checkpoint(other_origin, 30, populated_log.expected_root(30)).sign(other)
    proc = _verify_note(ledgerctl, populated_log, tmp_path, forged)
    doc = error(proc, "verification_failed", "CHECKPOINT_SIGNATURE_INVALID")
    assert populated_log.verifier_key.split("+")[1] in doc["error"]


def test_checkpoint_verified_with_another_key_fails(
    ledgerctl, populated_log, tmp_path, error, checkpoint_note
):
    other = SignerKey.generate(ORIGIN).verifier().to_text()
    proc = _verify_note(ledgerctl, populated_log, tmp_path, checkpoint_note, vkey=other)
    error(proc, "verification_failed", "CHECKPOINT_SIGNATURE_INVALID")


def _edit(note: str, how: str, log) -> str:
    body, _, signatures = note.partition("\n\n")
    origin, size, root = body.split("\n")
    if how == "size":
        return f"{origin}\n29\n{root}\n\n{signatures}"
    if how == "root":
        other = base64.b64encode(log.expected_root(29)).decode()
        return f"{origin}\n{size}\n{other}\n\n{signatures}"
    if how == "extension_line":
        return f"{body}\nextra: line\n\n{signatures}"
    if how == "signature_bit":
        name, _, b64 = signatures.rstrip("\n").rpartition(" ")
        raw = bytearray(base64.b64decode(b64))
        raw[-1] ^= 1
        return f"{body}\n\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["size", "root", "extension_line", "signature_bit"])
def test_checkpoint_edited_after_signing_fails(
    ledgerctl, populated_log, tmp_path, error, checkpoint_note, how
):
    edited = _edit(checkpoint_note, how, populated_log)
    proc = _verify_note(ledgerctl, populated_log, tmp_path, edited)
    error(proc, "verification_failed", "CHECKPOINT_SIGNATURE_INVALID")


def test_validly_signed_wrong_root_fails(ledgerctl, populated_log, tmp_path, error, signer):
    wrong = Checkpoint(ORIGIN, 20, populated_log.expected_root(19)).sign(signer)
    proc = _verify_note(ledgerctl, populated_log, tmp_path, wrong)
    doc = error(proc, "verification_failed", "CHECKPOINT_ROOT_MISMATCH")
    assert doc["details"]["seq"] == 19


def test_validly_signed_checkpoint_beyond_the_log_fails(
    ledgerctl, populated_log, tmp_path, error, signer
):
    # What a log cut back after signing looks like to an auditor.
    beyond = Checkpoint(ORIGIN, 31, populated_log.expected_root(30)).sign(signer)
    proc = _verify_note(ledgerctl, populated_log, tmp_path, beyond)
    doc = error(proc, "verification_failed", "CHECKPOINT_BEYOND_LOG")
    assert "31" in doc["error"]


def test_failure_without_json_goes_to_stderr(ledgerctl, populated_log, tmp_path, checkpoint_note):
    edited = _edit(checkpoint_note, "size", populated_log)
    proc = _verify_note(ledgerctl, populated_log, tmp_path, edited, json=False)
    assert proc.returncode == 3
    assert proc.stdout == b""
    assert "verification_failed / CHECKPOINT_SIGNATURE_INVALID" in proc.stderr.decode()


@pytest.mark.parametrize("given", ["checkpoint", "vkey"])
def test_checkpoint_and_vkey_go_together(
    ledgerctl, populated_log, tmp_path, error, checkpoint_note, given
):
    path = tmp_path / "checkpoint.txt"
    path.write_text(checkpoint_note)
    if given == "checkpoint":
        extra = ["--checkpoint", str(path)]
    else:
        extra = ["--vkey", populated_log.verifier_key]
    proc = _verify(ledgerctl, populated_log, *extra, "--json")
    doc = error(proc, "invalid_input", "INVALID_ARGUMENT")
    assert "--checkpoint and --vkey" in doc["error"]


def test_malformed_checkpoint_is_invalid_input(ledgerctl, populated_log, tmp_path, error):
    proc = _verify_note(ledgerctl, populated_log, tmp_path, "this is not a checkpoint\n")
    error(proc, "invalid_input", "INVALID_CHECKPOINT")


def test_missing_checkpoint_file_is_an_io_failure(ledgerctl, populated_log, tmp_path, error):
    missing = str(tmp_path / "nope.txt")
    vkey = populated_log.verifier_key
    proc = _verify(ledgerctl, populated_log, "--checkpoint", missing, "--vkey", vkey, "--json")
    error(proc, "io_failure", "FILE_UNREADABLE")


@pytest.mark.parametrize(
    ("vkey", "category", "code"),
    [
        # A value that is neither an existing file nor a key is one classified error.
        ("no-such-key-file", "invalid_input", "INVALID_KEY"),
        ("keys/log+prod.pub", "invalid_input", "INVALID_KEY"),
        ("name+zzzzzzzz+AAAA", "invalid_input", "INVALID_KEY"),
    ],
)
def test_malformed_vkey_is_refused(
    ledgerctl, populated_log, tmp_path, error, checkpoint_note, vkey, category, code
):
    proc = _verify_note(ledgerctl, populated_log, tmp_path, checkpoint_note, vkey=vkey)
    error(proc, category, code)


def test_text_output_survives_square_brackets_in_origin(ledgerctl, populated_log, tmp_path):
    # keygen refuses such an origin now, but a key made elsewhere (Go's note package) may
    # carry any key name, and verifying its checkpoint prints the name.
    origin = "ledger[/x]"
    key_file = tmp_path / "bracket.key"
    key = SignerKey.generate(origin)
    key_file.write_text(key.to_text() + "\n")
    key_file.chmod(0o600)
    (tmp_path / "bracket.key.pub").write_text(key.verifier().to_text() + "\n")
    note = ledgerctl(
        "checkpoint", "--data-dir", str(populated_log.data_dir), "--key", str(key_file)
    )
    assert note.returncode == 0
    vkey = str(tmp_path / "bracket.key.pub")
    proc = _verify_note(
        ledgerctl, populated_log, tmp_path, note.stdout.decode(), vkey=vkey, json=False
    )
    assert proc.returncode == 0, proc.stderr
    assert f"ok: checkpoint by {origin} at size 30 matches the log" in proc.stdout.decode()
