"""`ledgerctl import` and `ledgerctl tail`: bulk writes and raw reads of the log."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import msgspec
from rich.table import Table

from ledger.cli._common import data_dir_option, json_option, open_reader, open_writer
from ledger.cli._output import b64, progress_bar, stdout, write_json
from ledger.fsutil import read_file
from ledger.importer import DEFAULT_BATCH_SIZE, import_events, parse_jsonl
from ledger.model import encode_envelope


@click.command("import")
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@data_dir_option
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=10_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Events per atomic, synced transaction.",
)
@json_option
def import_command(source: Path, data_dir: Path, batch_size: int, as_json: bool) -> None:
    """Append the envelope JSON lines of SOURCE (`-` for standard input)."""
    data = sys.stdin.buffer.read() if str(source) == "-" else read_file(source, what="input")
    events = parse_jsonl(data)
    with open_writer(data_dir) as log, progress_bar("importing", enabled=not as_json) as advance:
        summary = import_events(log, events, batch_size=batch_size, progress=advance)
    if as_json:
        write_json(
            {
                "ok": True,
                "events": summary.events,
                "appended": summary.appended,
                "duplicates": summary.duplicates,
                "tree_size": summary.tree_size,
            }
        )
    else:
        stdout.print(
            f"imported {summary.events} events: {summary.appended} appended, "
            f"{summary.duplicates} already present; tree size {summary.tree_size}"
        )


@click.command()
@data_dir_option
@click.option("--from", "start", type=click.IntRange(min=0), default=0, help="First seq.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@json_option
def tail(data_dir: Path, start: int, limit: int | None, as_json: bool) -> None:
    """Print stored events from a seq on, with their exact leaf bytes and leaf hashes."""
    with open_reader(data_dir) as log:
        end = None if limit is None else start + limit
        events = log.read(start, end)
        if as_json:
            for item in events:
                envelope = item.leaf.envelope
                write_json(
                    {
                        "seq": item.seq,
                        "leaf_b64": b64(item.leaf_bytes),
                        "leaf_hash": item.leaf_hash.hex(),
                        "prev": item.leaf.prev,
                        "recorded_at": item.leaf.recorded_at,
                        "event": msgspec.json.decode(encode_envelope(envelope)),
                    }
                )
            return
        columns = ("seq", "recorded_at", "type", "stream", "producer", "event_id")
        rows = (
            (
                str(item.seq),
                item.leaf.recorded_at,
                item.leaf.envelope.type,
                item.leaf.envelope.stream,
                item.leaf.envelope.producer,
                item.leaf.envelope.event_id,
            )
            for item in events
        )
        if not stdout.is_terminal:
            # Piped output stays whole and easy to cut: tab-separated, one event per line.
            for row in (columns, *rows):
                sys.stdout.write("\t".join(row) + "\n")
            return
        table = Table(*columns)
        for row in rows:
            table.add_row(*row)
        stdout.print(table)
