"""Determinism: the same events under a pinned clock give the same bytes and the same root."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from conftest import json_lines
from ledger.model import encode_envelope
from ledger.samples import sample_events
from ledger.store import AppendRequest, LmdbEventLog

# Recorded once; a change here means every existing log would verify differently.
GOLDEN_ROOT_100 = "723b6b543dd5b3ac6450b4ef0e70d558038820fa70851a667d847cfbf1f4fa9d"
GOLDEN_LEAF_0_SHA256 = "d8cec70f4f0ca3b935be743cc0c22b73d5e0beb1f51f620e50824c29517fd24b"


def test_pinned_clock_gives_the_golden_root_and_leaf(log: LmdbEventLog) -> None:
    events = sample_events(100)
    for start in range(0, 100, 10):
        log.append([AppendRequest(e) for e in events[start : start + 10]])
    assert log.root()[1].hex() == GOLDEN_ROOT_100
    assert hashlib.sha256(log.get(0).leaf_bytes).hexdigest() == GOLDEN_LEAF_0_SHA256


def test_the_cli_import_reaches_the_same_root_whatever_the_batching(
    tmp_path: Path, ledgerctl
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"".join(encode_envelope(e) + b"\n" for e in sample_events(100)))
    roots = set()
    for batch in ("1", "7", "1000"):
        data = tmp_path / f"data-{batch}"
        imported = ledgerctl("import", str(source), "--data-dir", str(data), "--batch-size", batch)
        assert imported.returncode == 0, imported.stderr
        (report,) = json_lines(ledgerctl("verify", "--data-dir", str(data), "--json").stdout)
        roots.add(report["root"])
    assert len(roots) == 1
    assert base64.b64decode(roots.pop()).hex() == GOLDEN_ROOT_100
