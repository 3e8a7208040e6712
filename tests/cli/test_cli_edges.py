"""Edge cases of the command line found in review: markup, pipes, --json parsing, bare calls."""

from __future__ import annotations

from pathlib import Path

import msgspec

from conftest import json_lines
from ledger.model import encode_envelope
from ledger.samples import sample_events, sample_run


def test_piped_tail_is_whole_tab_separated_lines(ledgerctl, tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    long_id = "run-" + "x" * 70
    event = msgspec.structs.replace(sample_run(1), event_id=long_id)
    source.write_bytes(encode_envelope(event) + b"\n")
    data = str(tmp_path / "data")
    assert ledgerctl("import", str(source), "--data-dir", data).returncode == 0
    result = ledgerctl("tail", "--data-dir", data)
    assert result.returncode == 0
    header, row = result.stdout.decode().splitlines()
    assert header.split("\t") == ["seq", "recorded_at", "type", "stream", "producer", "event_id"]
    assert row.split("\t") == [
        "0",
        "2026-01-01T12:00:00.000000Z",
        "run.recorded",
        event.stream,
        event.producer,
        long_id,
    ]


def test_json_as_an_option_value_does_not_switch_json_mode(ledgerctl, tmp_path: Path) -> None:
    # `--json` here is the *origin* (one that cannot name a log), so the error is text.
    out = tmp_path / "k"
    result = ledgerctl("keygen", "--origin", "--json", "--out", str(out))
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"origin '--json' cannot name a log" in result.stderr
    assert not out.exists()


def test_bare_ledgerctl_shows_help_on_stderr(ledgerctl) -> None:
    result = ledgerctl()
    assert result.returncode == 2
    assert b"Usage: ledgerctl" in result.stderr
    assert b"error:" not in result.stderr


def test_a_byte_order_mark_is_tolerated(ledgerctl, tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(
        b"\xef\xbb\xbf" + b"".join(encode_envelope(e) + b"\n" for e in sample_events(3))
    )
    result = ledgerctl("import", str(source), "--data-dir", str(tmp_path / "d"), "--json")
    assert result.returncode == 0, result.stdout
    assert json_lines(result.stdout)[0]["appended"] == 3


def test_a_conflict_inside_one_new_file_does_not_claim_a_stored_seq(
    ledgerctl, tmp_path: Path
) -> None:
    first = sample_run(1)
    clash = msgspec.structs.replace(first, producer="someone-else")
    source = tmp_path / "events.jsonl"
    source.write_bytes(encode_envelope(first) + b"\n" + encode_envelope(clash) + b"\n")
    result = ledgerctl("import", str(source), "--data-dir", str(tmp_path / "d"), "--json")
    assert result.returncode == 8
    (error,) = json_lines(result.stdout)
    assert error["error_code"] == "EVENT_ID_CONFLICT"
    assert "earlier in this batch" in error["error"]
    assert "seq" not in error["details"]
    assert error["details"]["line"] == 2


def test_run_cli_passes_on_the_code_of_ctx_exit() -> None:
    import click

    from ledger.cli._runner import run_cli

    @click.group()
    def group() -> None:
        pass

    @group.command()
    @click.pass_context
    def leave(ctx: click.Context) -> None:
        ctx.exit(5)

    @group.command()
    def fine() -> None:
        pass

    assert run_cli(group, ["leave"], "probe") == 5
    assert run_cli(group, ["fine"], "probe") == 0
