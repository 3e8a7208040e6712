"""`ledgerctl tail`: exact leaf bytes, leaf hashes, the hash chain, and seq selection.

Most checks read the session's populated log (30 sample events imported under the
pinned clock) and recompute everything from the printed leaf bytes with hashlib only.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json

import pytest

from conftest import json_lines
from ledger.model import encode_envelope, encode_leaf

PINNED_RECORDED_AT = "2026-01-01T12:00:00.000000Z"
TAIL_KEYS = {"seq", "leaf_b64", "leaf_hash", "prev", "recorded_at", "event"}
LEAF_KEYS = [
    "seq",
    "prev",
    "recorded_at",
    "event_id",
    "stream",
    "type",
    "schema_version",
    "occurred_at",
    "producer",
    "correlation_id",
    "data",
]


def test_one_object_per_line_for_every_event(populated_log):
    tail = populated_log.tail
    assert len(tail) == len(populated_log.events) == 30
    assert [line["seq"] for line in tail] == list(range(30))
    for line in tail:
        assert set(line) == TAIL_KEYS


def test_leaf_hash_is_sha256_of_zero_byte_and_leaf_bytes(populated_log):
    for line in populated_log.tail:
        leaf = base64.b64decode(line["leaf_b64"], validate=True)
        assert line["leaf_hash"] == hashlib.sha256(b"\x00" + leaf).hexdigest()
        assert len(line["leaf_hash"]) == 64


def test_prev_links_each_leaf_to_the_one_before(populated_log):
    tail = populated_log.tail
    assert tail[0]["prev"] == "0" * 64
    for before, after in itertools.pairwise(tail):
        assert after["prev"] == before["leaf_hash"]
    # The printed prev is the one inside the hashed bytes, not a decoration.
    for line in tail:
        assert json.loads(base64.b64decode(line["leaf_b64"]))["prev"] == line["prev"]


def test_event_is_what_was_imported(populated_log):
    for line, envelope in zip(populated_log.tail, populated_log.events, strict=True):
        assert line["event"] == json.loads(encode_envelope(envelope))


def test_leaf_bytes_are_the_canonical_leaf_encoding(populated_log):
    for line, envelope in zip(populated_log.tail, populated_log.events, strict=True):
        leaf = base64.b64decode(line["leaf_b64"])
        decoded = json.loads(leaf)
        assert list(decoded) == LEAF_KEYS
        assert decoded["seq"] == line["seq"]
        assert decoded["recorded_at"] == line["recorded_at"] == PINNED_RECORDED_AT
        event_fields = {key: decoded[key] for key in LEAF_KEYS[3:]}
        assert event_fields == line["event"]
        assert leaf == encode_leaf(line["seq"], line["prev"], PINNED_RECORDED_AT, envelope)
        assert b" " not in leaf.split(b'"data"')[0]  # compact JSON


def test_leaves_hash_to_the_verified_root(populated_log):
    root = base64.b64decode(populated_log.verify["root"])
    assert root == populated_log.expected_root(30)


@pytest.mark.parametrize(
    ("start", "limit", "expected"),
    [
        (None, 1, [0]),
        (5, 3, [5, 6, 7]),
        (13, None, list(range(13, 30))),
        (28, 10, [28, 29]),
        (30, None, []),
        (500, 5, []),
    ],
)
def test_from_and_limit_select_exact_seqs(ledgerctl, populated_log, start, limit, expected):
    args = ["tail", "--data-dir", str(populated_log.data_dir), "--json"]
    if start is not None:
        args += ["--from", str(start)]
    if limit is not None:
        args += ["--limit", str(limit)]
    proc = ledgerctl(*args)
    assert proc.returncode == 0, proc.stdout
    assert proc.stderr == b""
    lines = json_lines(proc.stdout)
    assert [line["seq"] for line in lines] == expected
    assert lines == [populated_log.tail[seq] for seq in expected]


@pytest.mark.parametrize(("option", "value"), [("--limit", "0"), ("--from", "-1")])
def test_out_of_range_selection_is_a_usage_error(ledgerctl, populated_log, error, option, value):
    doc = error(
        ledgerctl("tail", "--data-dir", str(populated_log.data_dir), option, value, "--json"),
        "invalid_input",
        "INVALID_ARGUMENT",
    )
    assert option in doc["error"]


def test_text_output_is_a_table_of_the_selected_events(ledgerctl, populated_log):
    proc = ledgerctl(
        "tail", "--data-dir", str(populated_log.data_dir), "--from", "3", "--limit", "2"
    )
    assert proc.returncode == 0
    assert proc.stderr == b""
    text = proc.stdout.decode()
    assert "event_id" in text
    ids = [env.event_id for env in populated_log.events]
    assert ids[3] in text
    assert ids[4] in text
    assert ids[2] not in text
    assert ids[5] not in text
