"""`ledgerctl import` and `ledgerctl tail`: bulk writes and raw reads of the log.

Both work offline on `--data-dir` and online on `--server`, with the same output.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import closing
from itertools import islice
from pathlib import Path

import click
from rich.table import Table

from ledger.cli._common import Target, json_option, open_appender, target_options
from ledger.cli._entries import entry_document, follow_entries, read_entries
from ledger.cli._output import progress_bar, stdout, write_json
from ledger.fsutil import read_file
from ledger.importer import DEFAULT_BATCH_SIZE, import_events, parse_jsonl
from ledger.store import StoredEvent


@click.command("import")
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@target_options
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=10_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Events per atomic, synced transaction (online: per Append call).",
)
@json_option
def import_command(source: Path, target: Target, batch_size: int, as_json: bool) -> None:
    """Append the envelope JSON lines of SOURCE (`-` for standard input).

    The whole input is validated before anything is written; re-running an
    interrupted import is safe (events already stored count as duplicates).
    """
    data = sys.stdin.buffer.read() if str(source) == "-" else read_file(source, what="input")
    events = parse_jsonl(data)
    with open_appender(target) as log, progress_bar("importing", enabled=not as_json) as advance:
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


_COLUMNS = ("seq", "recorded_at", "type", "stream", "producer", "event_id")


def _row(item: StoredEvent) -> tuple[str, ...]:
    envelope = item.leaf.envelope
    return (
        str(item.seq),
        item.leaf.recorded_at,
        envelope.type,
        envelope.stream,
        envelope.producer,
        envelope.event_id,
    )


def _write_line(fields: tuple[str, ...], *, flush: bool) -> None:
    sys.stdout.write("\t".join(fields) + "\n")
    if flush:
        sys.stdout.flush()


@click.command()
@target_options
@click.option("--from", "start", type=click.IntRange(min=0), default=0, help="First seq.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Then print new events as they are appended, until Ctrl-C (exit 130).",
)
@json_option
def tail(target: Target, start: int, limit: int | None, follow: bool, as_json: bool) -> None:
    """Print stored events from a seq on, with their exact leaf bytes and leaf hashes."""
    entries = (
        follow_entries(target, start)
        if follow
        else read_entries(target, start, None if limit is None else start + limit)
    )
    events: Iterator[StoredEvent] = (
        islice(entries, limit) if follow and limit is not None else entries
    )
    # Closing the generator closes the log or the client, and cancels a subscription,
    # also when --limit stops a follow early.
    with closing(entries):
        if as_json:
            for item in events:
                write_json(entry_document(item))
            return
        if follow or not stdout.is_terminal:
            # Piped output stays whole and easy to cut: tab-separated, one event per
            # line. Followed output is lines too, even on a terminal (a table cannot
            # grow), each flushed, since it is read as it comes (`| grep`, a shipper).
            # The log opens lazily, on the first entry: the header waits for it, so
            # a failure to open leaves standard output empty.
            header = True
            for item in events:
                if header:
                    _write_line(_COLUMNS, flush=False)
                    header = False
                _write_line(_row(item), flush=follow)
            if header:
                _write_line(_COLUMNS, flush=True)
            return
        table = Table(*_COLUMNS)
        for item in events:
            table.add_row(*_row(item))
        stdout.print(table)
