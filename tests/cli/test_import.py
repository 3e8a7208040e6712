"""`ledgerctl import`: appends, idempotent re-imports, stdin, and all-or-nothing rejections."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from conftest import json_lines
from ledger.model import encode_envelope
from ledger.samples import sample_events, sample_run

EVENTS = sample_events(30)


def _import(ledgerctl, source: Path | str, data_dir: Path, *extra: str, stdin=None):
    return ledgerctl(
        "import", str(source), "--data-dir", str(data_dir), "--json", *extra, stdin=stdin
    )


def _tree_size(ledgerctl, ok, data_dir: Path) -> int:
    return ok(ledgerctl("verify", "--data-dir", str(data_dir), "--json"))["tree_size"]


def _lines(envelopes) -> list[str]:
    return [encode_envelope(env).decode() for env in envelopes]


def test_import_appends_reports_counts_and_reimport_is_idempotent(
    ledgerctl, tmp_path, data_dir, ok, jsonl_writer
):
    source = jsonl_writer(tmp_path / "events.jsonl", EVENTS)
    doc = ok(_import(ledgerctl, source, data_dir))
    assert doc == {"ok": True, "events": 30, "appended": 30, "duplicates": 0, "tree_size": 30}
    tail = json_lines(ledgerctl("tail", "--data-dir", str(data_dir), "--json").stdout)
    assert [line["event"]["event_id"] for line in tail] == [env.event_id for env in EVENTS]

    again = ok(_import(ledgerctl, source, data_dir))
    assert again == {"ok": True, "events": 30, "appended": 0, "duplicates": 30, "tree_size": 30}
    # Nothing moved: same leaves, byte for byte.
    after = json_lines(ledgerctl("tail", "--data-dir", str(data_dir), "--json").stdout)
    assert after == tail


def test_overlapping_import_appends_only_the_new_events(
    ledgerctl, tmp_path, data_dir, ok, jsonl_writer
):
    ok(_import(ledgerctl, jsonl_writer(tmp_path / "first.jsonl", EVENTS[:10]), data_dir))
    doc = ok(_import(ledgerctl, jsonl_writer(tmp_path / "all.jsonl", EVENTS), data_dir))
    assert doc == {"ok": True, "events": 30, "appended": 20, "duplicates": 10, "tree_size": 30}


def test_duplicate_line_within_one_file_is_counted_once(
    ledgerctl, tmp_path, data_dir, ok, jsonl_writer
):
    source = jsonl_writer(tmp_path / "events.jsonl", [*EVENTS[:5], EVENTS[2]])
    doc = ok(_import(ledgerctl, source, data_dir))
    assert doc == {"ok": True, "events": 6, "appended": 5, "duplicates": 1, "tree_size": 5}


def test_dash_reads_standard_input(ledgerctl, data_dir, ok):
    stdin = "\n".join(_lines(EVENTS[:7])).encode() + b"\n"
    doc = ok(_import(ledgerctl, "-", data_dir, stdin=stdin))
    assert doc == {"ok": True, "events": 7, "appended": 7, "duplicates": 0, "tree_size": 7}
    tail = json_lines(ledgerctl("tail", "--data-dir", str(data_dir), "--json").stdout)
    assert [line["event"] for line in tail] == [json.loads(x) for x in _lines(EVENTS[:7])]


def test_blank_lines_crlf_and_missing_final_newline_are_accepted(ledgerctl, data_dir, ok):
    lines = _lines(EVENTS[:4])
    stdin = ("\n" + lines[0] + "\r\n\n   \n" + "\r\n".join(lines[1:])).encode()
    doc = ok(_import(ledgerctl, "-", data_dir, stdin=stdin))
    assert doc["appended"] == 4
    assert doc["tree_size"] == 4


def test_text_output_summarises_without_progress_noise(ledgerctl, tmp_path, data_dir, jsonl_writer):
    source = jsonl_writer(tmp_path / "events.jsonl", EVENTS[:12])
    proc = ledgerctl("import", str(source), "--data-dir", str(data_dir))
    assert proc.returncode == 0
    assert proc.stderr == b""
    assert proc.stdout.decode() == (
        "imported 12 events: 12 appended, 0 already present; tree size 12\n"
    )


# --- rejected input: nothing is written ---------------------------------------------------


def _corrupt(kind: str) -> tuple[str, str, str]:
    """(bad line, expected error code, text the error must name) for line 5 of a file."""
    base = json.loads(encode_envelope(EVENTS[4]))  # a run.recorded event
    if kind == "wrong_field_type":
        base["data"]["exit_code"] = "zero"
        return json.dumps(base), "INVALID_EVENT", "$.data.exit_code"
    if kind == "unknown_type":
        base["type"] = "run.deleted"
        return json.dumps(base), "UNKNOWN_EVENT_TYPE", "run.deleted"
    if kind == "unknown_schema_version":
        base["schema_version"] = "9.9"
        return json.dumps(base), "UNKNOWN_SCHEMA_VERSION", "9.9"
    if kind == "bad_json":
        return '{"event_id": "run-2", "stream":', "INVALID_JSON", "not valid JSON"
    if kind == "unknown_field":
        base["colour"] = "red"
        return json.dumps(base), "INVALID_EVENT", "colour"
    if kind == "unknown_data_field":
        base["data"]["colour"] = "red"
        return json.dumps(base), "INVALID_EVENT", "colour"
    if kind == "rule_violation":
        base["data"]["input_context_sha"] = "0" * 64
        return json.dumps(base), "INVALID_EVENT", "input_context_sha"
    if kind == "nested_too_deeply":
        # Deeper than the decoder follows: refused as input, not an internal failure.
        base["data"] = "DEEP"
        deep = "[" * 10_000 + "]" * 10_000
        return json.dumps(base).replace('"DEEP"', deep), "INVALID_JSON", "nested too deeply"
    raise AssertionError(kind)


CORRUPTIONS = [
    "wrong_field_type",
    "unknown_type",
    "unknown_schema_version",
    "bad_json",
    "unknown_field",
    "unknown_data_field",
    "rule_violation",
    "nested_too_deeply",
]


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_one_bad_line_rejects_the_whole_file(ledgerctl, tmp_path, data_dir, error, kind):
    bad, code, named = _corrupt(kind)
    lines = _lines(EVENTS[:10])
    lines[4] = bad
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n")

    doc = error(_import(ledgerctl, source, data_dir), "invalid_input", code)
    assert doc["error"].startswith("line 5: "), doc
    assert named in doc["error"], doc
    assert doc["details"]["line"] == 5
    # Parsed before anything was opened: no ledger was created at all.
    assert not data_dir.exists()


def test_bad_line_leaves_an_existing_log_untouched(ledgerctl, tmp_path, data_dir, ok, error):
    source = tmp_path / "first.jsonl"
    source.write_text("\n".join(_lines(EVENTS[:4])) + "\n")
    ok(_import(ledgerctl, source, data_dir))
    before = ledgerctl("tail", "--data-dir", str(data_dir), "--json").stdout

    lines = _lines(EVENTS[4:12])
    lines[5] = lines[5].replace('"type":"', '"type":"no_such.', 1)
    source = tmp_path / "second.jsonl"
    source.write_text("\n\n" + "\n".join(lines) + "\n")  # two leading blank lines
    doc = error(_import(ledgerctl, source, data_dir), "invalid_input", "UNKNOWN_EVENT_TYPE")
    assert doc["details"]["line"] == 8  # blank lines still count as lines
    assert ledgerctl("tail", "--data-dir", str(data_dir), "--json").stdout == before


def test_error_without_json_goes_to_stderr_naming_line_and_field(ledgerctl, tmp_path, data_dir):
    bad, _, _ = _corrupt("wrong_field_type")
    lines = _lines(EVENTS[:10])
    lines[4] = bad
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n")
    proc = ledgerctl("import", str(source), "--data-dir", str(data_dir))
    assert proc.returncode == 2
    assert proc.stdout == b""
    stderr = proc.stderr.decode()
    assert "line 5" in stderr
    assert "$.data.exit_code" in stderr
    assert "INVALID_EVENT" in stderr
    assert not data_dir.exists()


def test_same_event_id_with_different_content_conflicts(
    ledgerctl, tmp_path, data_dir, ok, error, jsonl_writer
):
    ok(_import(ledgerctl, jsonl_writer(tmp_path / "first.jsonl", EVENTS[:6]), data_dir))
    changed = msgspec.structs.replace(
        EVENTS[0], data=msgspec.structs.replace(EVENTS[0].data, notes="rewritten history")
    )
    # Three new events, then the conflicting one: one atomic batch, so none of them lands.
    source = jsonl_writer(tmp_path / "second.jsonl", [*EVENTS[6:9], changed])
    doc = error(_import(ledgerctl, source, data_dir), "state_contention", "EVENT_ID_CONFLICT")
    assert "run-0" in doc["error"]
    assert doc["error"].startswith("line 4: ")
    assert doc["details"]["line"] == 4
    assert doc["details"]["event_id"] == "run-0"
    assert doc["details"]["seq"] == 0
    assert _tree_size(ledgerctl, ok, data_dir) == 6


def test_conflict_inside_one_new_file_appends_nothing(
    ledgerctl, tmp_path, data_dir, ok, error, jsonl_writer
):
    changed = msgspec.structs.replace(EVENTS[1], producer="someone-else")
    source = jsonl_writer(tmp_path / "events.jsonl", [*EVENTS[:5], changed])
    doc = error(_import(ledgerctl, source, data_dir), "state_contention", "EVENT_ID_CONFLICT")
    assert doc["details"]["line"] == 6
    tail = ledgerctl("tail", "--data-dir", str(data_dir), "--json")
    assert tail.returncode == 0
    assert tail.stdout == b""


def test_second_record_of_a_run_is_refused(ledgerctl, tmp_path, data_dir, ok, error, jsonl_writer):
    ok(_import(ledgerctl, jsonl_writer(tmp_path / "first.jsonl", EVENTS[:4]), data_dir))
    rerun = msgspec.structs.replace(sample_run(0), event_id="run-0-again")
    assert rerun.data.run_id == EVENTS[0].data.run_id
    source = jsonl_writer(tmp_path / "second.jsonl", [EVENTS[4], rerun])
    doc = error(_import(ledgerctl, source, data_dir), "state_contention", "RUN_ALREADY_RECORDED")
    assert EVENTS[0].data.run_id in doc["error"]
    assert doc["details"]["line"] == 2
    assert doc["details"]["seq"] == 0
    assert _tree_size(ledgerctl, ok, data_dir) == 4


def test_conflict_in_a_later_batch_keeps_earlier_batches(
    ledgerctl, tmp_path, data_dir, ok, error, jsonl_writer
):
    ok(_import(ledgerctl, jsonl_writer(tmp_path / "first.jsonl", EVENTS[:2]), data_dir))
    changed = msgspec.structs.replace(EVENTS[0], producer="someone-else")
    source = jsonl_writer(tmp_path / "second.jsonl", [*EVENTS[2:7], changed])
    doc = error(
        _import(ledgerctl, source, data_dir, "--batch-size", "2"),
        "state_contention",
        "EVENT_ID_CONFLICT",
    )
    # Lines 1-4 made two full batches; the batch holding lines 5-6 rolled back.
    assert doc["details"]["line"] == 6
    assert doc["details"]["events_committed"] == 4
    assert "re-running the import is safe" in doc["hint"]
    assert _tree_size(ledgerctl, ok, data_dir) == 6


def test_missing_input_file_is_an_io_failure(ledgerctl, tmp_path, data_dir, error):
    missing = tmp_path / "nope.jsonl"
    doc = error(_import(ledgerctl, missing, data_dir), "io_failure", "FILE_UNREADABLE")
    assert str(missing) in doc["error"]
    assert not data_dir.exists()


@pytest.mark.parametrize("content", [b"", b"\n\n   \n"])
def test_input_without_events_is_rejected(ledgerctl, data_dir, error, content):
    error(_import(ledgerctl, "-", data_dir, stdin=content), "invalid_input", "EMPTY_BATCH")
    assert not data_dir.exists()


@pytest.mark.parametrize("size", ["0", "10001", "lots"])
def test_out_of_range_batch_size_is_a_usage_error(
    ledgerctl, tmp_path, data_dir, error, jsonl_writer, size
):
    source = jsonl_writer(tmp_path / "events.jsonl", EVENTS[:2])
    doc = error(
        _import(ledgerctl, source, data_dir, "--batch-size", size),
        "invalid_input",
        "INVALID_ARGUMENT",
    )
    assert "--batch-size" in doc["error"]
    assert not data_dir.exists()


def test_batch_size_does_not_change_the_log(ledgerctl, tmp_path, ok, jsonl_writer, populated_log):
    source = jsonl_writer(tmp_path / "events.jsonl", EVENTS)
    results = {}
    for size in ("1", "10000"):
        data_dir = tmp_path / f"data-{size}"
        doc = ok(_import(ledgerctl, source, data_dir, "--batch-size", size))
        assert doc == {"ok": True, "events": 30, "appended": 30, "duplicates": 0, "tree_size": 30}
        results[size] = ok(ledgerctl("verify", "--data-dir", str(data_dir), "--json"))
    roots = {doc["root"] for doc in results.values()}
    # The shared log was imported with the default batch size; all three agree.
    assert roots == {populated_log.verify["root"]}
    assert all(doc["tree_size"] == 30 for doc in results.values())
