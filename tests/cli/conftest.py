"""Shared set-up for the `ledgerctl` CLI tests.

One signing key and one 30-event log are built for the whole session through the real
CLI (a direct subprocess call, since the root `ledgerctl` fixture is function-scoped);
tests only read them. Expected Merkle roots are computed here independently of the
ledger code (plain RFC 6962 over the leaf bytes `tail` printed), so a test comparing a
CLI root to them checks the CLI against the spec, not against itself.

Helpers are exposed as fixtures because test modules here cannot import each other.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import json_lines, run_ledgerctl
from ledger.errors import CATEGORY_INFO, Category
from ledger.model import Envelope, encode_envelope
from ledger.samples import sample_events

EVENT_COUNT = 30
ORIGIN = "ledger.test/cli"
ERROR_KEYS = {"ok", "error", "error_code", "error_category", "retryable", "hint"}


def rfc6962_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of RFC 6962 §2.1 over already-hashed leaves, written from the RFC."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    left, right = rfc6962_root(leaf_hashes[:k]), rfc6962_root(leaf_hashes[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def write_jsonl(path: Path, envelopes: Sequence[Envelope]) -> Path:
    """One canonical envelope JSON line per event."""
    path.write_bytes(b"".join(encode_envelope(env) + b"\n" for env in envelopes))
    return path


def single_json(proc: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    """The one JSON document a `--json` command printed on stdout."""
    docs = json_lines(proc.stdout)
    assert len(docs) == 1, proc.stdout
    return docs[0]


def expect_ok(proc: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    """Exit 0, nothing on stderr, and exactly one `{"ok": true, ...}` document."""
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stderr == b""
    doc = single_json(proc)
    assert doc["ok"] is True
    return doc


def expect_error(
    proc: subprocess.CompletedProcess[bytes], category: str, code: str
) -> dict[str, Any]:
    """The `--json` error envelope: on stdout only, with the category's exit code."""
    assert proc.stderr == b"", proc.stderr
    doc = single_json(proc)
    assert set(doc) >= ERROR_KEYS, doc
    assert set(doc) - ERROR_KEYS <= {"details"}, doc
    assert doc["ok"] is False
    assert doc["error_category"] == category, doc
    assert doc["error_code"] == code, doc
    info = CATEGORY_INFO[Category(category)]
    assert proc.returncode == info.exit_code, (proc.returncode, doc)
    assert doc["retryable"] is info.retryable
    assert isinstance(doc["error"], str)
    assert doc["error"]
    assert isinstance(doc["hint"], str)
    assert doc["hint"]
    return doc


@dataclass(frozen=True)
class PopulatedLog:
    """A read-only log of `EVENT_COUNT` sample events and the key that signs its checkpoints."""

    data_dir: Path
    source: Path
    events: list[Envelope]
    key_file: Path
    pub_file: Path
    verifier_key: str
    tail: list[dict[str, Any]]
    verify: dict[str, Any]

    @property
    def leaf_bytes(self) -> list[bytes]:
        return [base64.b64decode(line["leaf_b64"]) for line in self.tail]

    def expected_root(self, size: int) -> bytes:
        """The RFC 6962 root of the first `size` leaves, computed without ledger code."""
        hashes = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in self.leaf_bytes[:size]]
        return rfc6962_root(hashes)


def _checked(*args: str) -> subprocess.CompletedProcess[bytes]:
    proc = run_ledgerctl(*args)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope="session")
def populated_log(tmp_path_factory: pytest.TempPathFactory) -> PopulatedLog:
    root = tmp_path_factory.mktemp("populated")
    data_dir = root / "data"
    key_file = root / "log.key"
    events = sample_events(EVENT_COUNT)
    source = write_jsonl(root / "events.jsonl", events)
    _checked("keygen", "--origin", ORIGIN, "--out", str(key_file))
    _checked("import", str(source), "--data-dir", str(data_dir))
    tail = json_lines(_checked("tail", "--data-dir", str(data_dir), "--json").stdout)
    verify = json.loads(_checked("verify", "--data-dir", str(data_dir), "--json").stdout)
    pub_file = key_file.with_name(key_file.name + ".pub")
    return PopulatedLog(
        data_dir=data_dir,
        source=source,
        events=events,
        key_file=key_file,
        pub_file=pub_file,
        verifier_key=pub_file.read_text().strip(),
        tail=tail,
        verify=verify,
    )


@pytest.fixture(scope="session")
def checkpoint_note(populated_log: PopulatedLog) -> str:
    """A checkpoint of the whole populated log, as `ledgerctl checkpoint` prints it."""
    proc = _checked(
        "checkpoint",
        "--data-dir",
        str(populated_log.data_dir),
        "--key",
        str(populated_log.key_file),
    )
    return proc.stdout.decode("utf-8")


@pytest.fixture
def ok() -> Callable[[subprocess.CompletedProcess[bytes]], dict[str, Any]]:
    return expect_ok


@pytest.fixture
def error() -> Callable[[subprocess.CompletedProcess[bytes], str, str], dict[str, Any]]:
    return expect_error


@pytest.fixture
def jsonl_writer() -> Callable[[Path, Sequence[Envelope]], Path]:
    return write_jsonl
