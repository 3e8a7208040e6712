"""`ledgerctl append` (offline and online) and `ledgerctl import --server`.

Each append test runs on both targets: a fresh data directory, and a fresh
daemon (whose log starts with its `ledger.started` entry, so seqs are one
higher). The same input must give the same results either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import pytest

from conftest import json_lines, run_ledgerctl
from ledger.model import encode_envelope
from ledger.samples import sample_events, sample_finding, sample_run

EVENTS = sample_events(4)


@dataclass(frozen=True)
class Where:
    """Where the commands go, and the seq the first appended event gets there."""

    args: list[str]
    first_seq: int


@pytest.fixture(params=["offline", "online"])
def where(request: pytest.FixtureRequest, tmp_path) -> Where:
    if request.param == "offline":
        return Where(["--data-dir", str(tmp_path / "data")], 0)
    daemon = request.getfixturevalue("daemon")
    return Where(["--server", daemon.address], 1)


def _line(envelope) -> str:
    return encode_envelope(envelope).decode()


def test_append_a_file_as_one_batch(where, ok, jsonl_writer, tmp_path):
    source = jsonl_writer(tmp_path / "events.jsonl", EVENTS)
    doc = ok(run_ledgerctl("append", str(source), *where.args, "--json"))
    first = where.first_seq
    assert doc == {
        "ok": True,
        "results": [
            {"event_id": e.event_id, "seq": first + i, "stream_version": 1, "duplicate": False}
            for i, e in enumerate(EVENTS)
        ],
        "tree_size": first + len(EVENTS),
    }
    again = ok(run_ledgerctl("append", str(source), *where.args, "--json"))
    assert [r["duplicate"] for r in again["results"]] == [True] * len(EVENTS)
    assert [r["seq"] for r in again["results"]] == [r["seq"] for r in doc["results"]]
    assert again["tree_size"] == doc["tree_size"]


def test_append_inline_events_and_from_stdin(where, ok):
    inline = ok(
        run_ledgerctl(
            "append",
            "--event",
            _line(EVENTS[0]),
            "--event",
            _line(EVENTS[1]),
            *where.args,
            "--json",
        )
    )
    assert [r["seq"] for r in inline["results"]] == [where.first_seq, where.first_seq + 1]
    piped = ok(
        run_ledgerctl(
            "append", "-", *where.args, "--json", stdin=(_line(EVENTS[2]) + "\n").encode()
        )
    )
    assert piped["results"][0]["seq"] == where.first_seq + 2
    got = ok(run_ledgerctl("get", "--event-id", EVENTS[2].event_id, *where.args, "--json"))
    assert got["event"] == msgspec.json.decode(encode_envelope(EVENTS[2]))


def test_expected_version_guards_a_single_event(where, ok, error):
    first, second = sample_run(10), sample_run(13)  # both in the stream runs/test-agent
    assert first.stream == second.stream
    created = ok(
        run_ledgerctl(
            "append", "--event", _line(first), "--expected-version", "0", *where.args, "--json"
        )
    )
    assert created["results"][0]["stream_version"] == 1
    doc = error(
        run_ledgerctl(
            "append", "--event", _line(second), "--expected-version", "0", *where.args, "--json"
        ),
        "state_contention",
        "WRONG_EXPECTED_VERSION",
    )
    assert doc["details"]["current_version"] == 1
    moved = ok(
        run_ledgerctl(
            "append", "--event", _line(second), "--expected-version", "1", *where.args, "--json"
        )
    )
    assert moved["results"][0]["stream_version"] == 2


def test_a_bad_event_fails_before_anything_is_written(where, ok, error, tmp_path):
    broken = msgspec.json.decode(encode_envelope(EVENTS[1]))
    broken["data"]["severity"] = "P9"
    source = tmp_path / "events.jsonl"
    source.write_text(_line(EVENTS[0]) + "\n" + msgspec.json.encode(broken).decode() + "\n")
    doc = error(
        run_ledgerctl("append", str(source), *where.args, "--json"),
        "invalid_input",
        "INVALID_EVENT",
    )
    assert doc["details"]["line"] == 2
    assert doc["error"].startswith("line 2: ")
    inline = error(
        run_ledgerctl("append", "--event", "{", *where.args, "--json"),
        "invalid_input",
        "INVALID_JSON",
    )
    assert inline["error"].startswith("--event 1: ")
    # Nothing was written: the log is still empty (offline: not even created).
    tail = run_ledgerctl("tail", *where.args, "--json")
    assert len(json_lines(tail.stdout)) == where.first_seq or tail.returncode == 2


def test_a_conflict_in_the_batch_writes_nothing_and_names_the_line(where, ok, error, tmp_path):
    ok(run_ledgerctl("append", "--event", _line(EVENTS[0]), *where.args, "--json"))
    clash = msgspec.structs.replace(EVENTS[0], producer="someone-else")
    source = tmp_path / "events.jsonl"
    source.write_text(_line(EVENTS[1]) + "\n" + _line(clash) + "\n")
    doc = error(
        run_ledgerctl("append", str(source), *where.args, "--json"),
        "state_contention",
        "EVENT_ID_CONFLICT",
    )
    assert doc["details"]["line"] == 2
    tail = json_lines(run_ledgerctl("tail", *where.args, "--json").stdout)
    assert [line["event"]["event_id"] for line in tail][where.first_seq :] == ["run-0"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give SOURCE or --event"),
        (["-", "--event", "{}"], "give SOURCE or --event"),
        (
            ["--event", _line(EVENTS[0]), "--event", _line(EVENTS[1]), "--expected-version", "0"],
            "--expected-version guards a single event, and 2 were given",
        ),
    ],
    ids=["neither", "both", "expected-version-with-two"],
)
def test_append_usage_errors(where, error, args, message):
    doc = error(
        run_ledgerctl("append", *args, *where.args, "--json"), "invalid_input", "INVALID_ARGUMENT"
    )
    assert message in doc["error"]


def test_append_text_output(where):
    result = run_ledgerctl("append", "--event", _line(sample_finding(3)), *where.args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines == [
        f"seq {where.first_seq}: finding-3 at stream version 1",
        f"tree size {where.first_seq + 1}",
    ]
    again = run_ledgerctl("append", "--event", _line(sample_finding(3)), *where.args)
    assert "(already present)" in again.stdout.decode()


def test_offline_and_online_appends_store_the_same_events(daemon, tmp_path, ok):
    offline = ["--data-dir", str(tmp_path / "data")]
    online = ["--server", daemon.address]
    for args in (offline, online):
        ok(run_ledgerctl("append", "--event", _line(EVENTS[1]), *args, "--json"))
    events = [
        ok(run_ledgerctl("get", "--event-id", EVENTS[1].event_id, *args, "--json"))["event"]
        for args in (offline, online)
    ]
    assert events[0] == events[1]


# import --server -----------------------------------------------------------------------


def test_import_online_in_batches_and_again(daemon, ok, jsonl_writer, tmp_path):
    events = sample_events(25)
    source = jsonl_writer(tmp_path / "events.jsonl", events)
    online = ["--server", daemon.address]
    doc = ok(run_ledgerctl("import", str(source), *online, "--batch-size", "7", "--json"))
    assert doc == {"ok": True, "events": 25, "appended": 25, "duplicates": 0, "tree_size": 26}
    again = ok(run_ledgerctl("import", str(source), *online, "--json"))
    assert again == {"ok": True, "events": 25, "appended": 0, "duplicates": 25, "tree_size": 26}
    tail = json_lines(run_ledgerctl("tail", *online, "--from", "1", "--json").stdout)
    assert [line["event"]["event_id"] for line in tail] == [e.event_id for e in events]
    text = run_ledgerctl("import", str(source), *online)
    assert text.returncode == 0
    assert text.stdout.decode().strip() == (
        "imported 25 events: 0 appended, 25 already present; tree size 26"
    )


def test_import_online_validates_the_whole_file_first(daemon, error, ok, tmp_path):
    good = [_line(e) for e in sample_events(5)]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join([*good, "not json", *good]) + "\n")
    online = ["--server", daemon.address]
    doc = error(
        run_ledgerctl("import", str(source), *online, "--batch-size", "2", "--json"),
        "invalid_input",
        "INVALID_JSON",
    )
    assert doc["details"]["line"] == 6
    assert ok(run_ledgerctl("checkpoint", *online, "--json"))["tree_size"] == 1


def test_import_online_names_the_line_the_daemon_refused(daemon, error, ok, tmp_path):
    first = sample_run(1)
    clash = msgspec.structs.replace(first, producer="someone-else")
    source = tmp_path / "events.jsonl"
    source.write_text(
        "\n".join([_line(sample_run(0)), _line(first), _line(sample_run(2)), _line(clash)]) + "\n"
    )
    online = ["--server", daemon.address]
    doc = error(
        run_ledgerctl("import", str(source), *online, "--batch-size", "2", "--json"),
        "state_contention",
        "EVENT_ID_CONFLICT",
    )
    assert doc["details"]["line"] == 4
    assert doc["details"]["events_committed"] == 2
    assert "re-running the import is safe" in doc["hint"]
    assert ok(run_ledgerctl("checkpoint", *online, "--json"))["tree_size"] == 3
