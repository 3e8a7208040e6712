"""`ledgerctl keygen`: key files, their modes, the printed verifier key, and refusals."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from ledger.checkpoint import Checkpoint, SignerKey, VerifierKey, open_checkpoint
from ledger.errors import ErrorCode, InvalidInput
from ledger.server.config import load_config
from ledger.server.signing import load_or_create_signer

VERIFIER_KEY_RE = re.compile(r"^(?P<name>[^+\s]+)\+(?P<id>[0-9a-f]{8})\+(?P<b64>[A-Za-z0-9+/]+=*)$")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_prints_a_verifier_key_matching_the_key_files(ledgerctl, tmp_path):
    out = tmp_path / "log.key"
    proc = ledgerctl("keygen", "--origin", "example.com/log", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    printed = proc.stdout.decode().strip()
    assert proc.stdout.decode().count("\n") == 1
    match = VERIFIER_KEY_RE.match(printed)
    assert match, printed
    assert match["name"] == "example.com/log"

    verifier = VerifierKey.parse(printed)
    assert verifier.name == "example.com/log"
    assert verifier.key_id.hex() == match["id"]
    assert verifier.to_text() == printed

    public_file = tmp_path / "log.key.pub"
    assert public_file.read_text() == printed + "\n"
    signer = SignerKey.parse(out.read_text())
    assert signer.name == "example.com/log"
    assert signer.verifier() == verifier
    # The pair really works together: a note signed with the file opens with the printed key.
    note = Checkpoint("example.com/log", 3, bytes(32)).sign(signer)
    assert open_checkpoint(note, verifier) == Checkpoint("example.com/log", 3, bytes(32))


def test_private_key_is_0600_and_public_key_sits_beside_it(ledgerctl, tmp_path):
    out = tmp_path / "keys" / "prod.key"
    out.parent.mkdir()
    proc = ledgerctl("keygen", "--origin", "prod", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert _mode(out) == 0o600
    public_file = out.parent / "prod.key.pub"
    assert public_file.is_file()
    assert _mode(public_file) == 0o644
    assert sorted(p.name for p in out.parent.iterdir()) == ["prod.key", "prod.key.pub"]
    assert "PRIVATE" not in public_file.read_text()
    assert out.read_text().startswith("PRIVATE+KEY+prod+")


def test_json_output(ledgerctl, tmp_path, ok):
    out = tmp_path / "log.key"
    doc = ok(ledgerctl("keygen", "--origin", "ci.example/ledger", "--out", str(out), "--json"))
    assert set(doc) == {"ok", "origin", "key_file", "verifier_key", "verifier_key_file"}
    assert doc["origin"] == "ci.example/ledger"
    assert doc["key_file"] == str(out)
    assert doc["verifier_key_file"] == str(out) + ".pub"
    assert Path(doc["verifier_key_file"]).read_text().strip() == doc["verifier_key"]
    assert VerifierKey.parse(doc["verifier_key"]).name == "ci.example/ledger"
    assert SignerKey.parse(out.read_text()).verifier().to_text() == doc["verifier_key"]


def test_every_run_makes_a_new_key(ledgerctl, tmp_path, ok):
    first = ok(ledgerctl("keygen", "--origin", "o", "--out", str(tmp_path / "a"), "--json"))
    second = ok(ledgerctl("keygen", "--origin", "o", "--out", str(tmp_path / "b"), "--json"))
    assert first["verifier_key"] != second["verifier_key"]


@pytest.mark.parametrize("existing", ["private", "public", "both"])
def test_refuses_to_overwrite_existing_key_files(ledgerctl, tmp_path, error, existing):
    out = tmp_path / "log.key"
    public_file = tmp_path / "log.key.pub"
    old = {
        out: b"PRIVATE+KEY+old+00000000+the old private key\n",
        public_file: b"old+00000000+the old public key\n",
    }
    present = {
        "private": [out],
        "public": [public_file],
        "both": [out, public_file],
    }[existing]
    for path in present:
        path.write_bytes(old[path])
        path.chmod(0o600)

    doc = error(
        ledgerctl("keygen", "--origin", "new", "--out", str(out), "--json"),
        "invalid_input",
        "INVALID_ARGUMENT",
    )
    assert "already exists" in doc["error"]
    for path in (out, public_file):
        if path in present:
            assert path.read_bytes() == old[path]
            assert _mode(path) == 0o600
        else:
            assert not path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in present)


def test_refusal_without_json_goes_to_stderr(ledgerctl, tmp_path):
    out = tmp_path / "log.key"
    out.write_bytes(b"keep me")
    proc = ledgerctl("keygen", "--origin", "new", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stdout == b""
    stderr = proc.stderr.decode()
    assert "already exists" in stderr
    assert "INVALID_ARGUMENT" in stderr
    assert out.read_bytes() == b"keep me"


# Bad key names, then names that are key names but not origins the daemon takes
# (an origin is also a label: ledger/checkpoint/keys.py, check_origin).
BAD_ORIGINS = [
    "bad origin",
    "bad+origin",
    "",
    "tab\there",
    "line\nbreak",
    "+leading",
    "ledger~example/log",
    "-leading-dash",
    "x" * 201,
    "ledger[x]",
    "ledger[/x]",
    "ünïcode/log",
]


@pytest.mark.parametrize("origin", BAD_ORIGINS)
def test_invalid_origin_is_rejected_and_writes_nothing(ledgerctl, tmp_path, error, origin):
    out = tmp_path / "log.key"
    doc = error(
        ledgerctl("keygen", "--origin", origin, "--out", str(out), "--json"),
        "invalid_input",
        "INVALID_KEY",
    )
    assert f"origin {origin!r} cannot name a log" in doc["error"]
    assert list(tmp_path.iterdir()) == []


def test_keygen_and_the_daemon_agree_on_every_origin(ledgerctl, tmp_path):
    """One rule: the daemon takes as its origin, and as its signing key, whatever keygen
    makes a key for, and its configuration refuses what keygen refuses (tested above)."""
    for origin in BAD_ORIGINS:
        if not origin:
            continue  # to the daemon an empty origin means "the signing key's name"
        with pytest.raises(InvalidInput) as caught:
            load_config(overrides={"data_dir": "/d", "origin": origin}, environ={})
        assert caught.value.code is ErrorCode.INVALID_CONFIG, origin
    for number, origin in enumerate(["o", "a:b@c_d-e/f.g", "x" * 200]):
        out = tmp_path / f"{number}.key"
        made = ledgerctl("keygen", "--origin", origin, "--out", str(out))
        assert made.returncode == 0, made.stderr
        assert load_config(overrides={"data_dir": "/d", "origin": origin}, environ={}).origin == (
            origin
        )
        config = load_config(
            overrides={"data_dir": str(tmp_path), "signing_key_file": str(out)}, environ={}
        )
        assert load_or_create_signer(config).name == origin


def test_missing_output_directory_is_an_io_failure(ledgerctl, tmp_path, error):
    out = tmp_path / "no" / "such" / "dir" / "log.key"
    doc = error(
        ledgerctl("keygen", "--origin", "o", "--out", str(out), "--json"),
        "io_failure",
        "FILE_WRITE_FAILED",
    )
    assert str(out) in doc["error"]
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("origin", ["ledger:smile:x", "a:thumbs_up:/log"])
def test_printed_verifier_key_survives_emoji_codes_in_origin(ledgerctl, tmp_path, origin):
    # `:name:` is an emoji code to a rich console; the printed key must be the key.
    out = tmp_path / "log.key"
    proc = ledgerctl("keygen", "--origin", origin, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.decode().strip()
    assert printed == (tmp_path / "log.key.pub").read_text().strip()
    assert VerifierKey.parse(printed).name == origin
