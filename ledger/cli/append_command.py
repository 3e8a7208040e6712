"""`ledgerctl append`: append a few events as one atomic batch, offline or online.

The events are validated here by the same model code as `import` (so bad input
fails before anything is sent or written), then appended in one batch: all of
them or none. `import` is the tool for large files; it commits in batches.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from ledger.cli._common import Target, json_option, open_appender, target_options, usage_error
from ledger.cli._output import stdout, write_json
from ledger.errors import LedgerError
from ledger.fsutil import read_file
from ledger.importer import NumberedEvent, parse_jsonl
from ledger.model import prepare_json
from ledger.store import AppendRequest


def _inline_events(values: Sequence[str]) -> list[NumberedEvent]:
    parsed = []
    for number, value in enumerate(values, start=1):
        try:
            parsed.append(NumberedEvent(number, prepare_json(value.encode("utf-8"))))
        except LedgerError as exc:
            raise exc.add_context(where=f"--event {number}", event=number) from None
    return parsed


@click.command("append")
@click.argument(
    "source",
    required=False,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
)
@click.option(
    "--event",
    "inline",
    multiple=True,
    metavar="JSON",
    help="One event envelope as JSON, instead of SOURCE; repeat for more.",
)
@click.option(
    "--expected-version",
    type=click.IntRange(min=0),
    default=None,
    help="Only with a single event: the stream's current version (0: a new stream).",
)
@target_options
@json_option
def append_command(
    source: Path | None,
    inline: tuple[str, ...],
    expected_version: int | None,
    target: Target,
    as_json: bool,
) -> None:
    """Append events atomically: the JSON lines of SOURCE (`-` for standard input), or --event."""
    if (source is None) == (not inline):
        raise usage_error(
            "give SOURCE or --event, and not both",
            "SOURCE is a file of JSON lines (`-`: standard input); --event JSON is one event",
        )
    if source is None:
        events = _inline_events(inline)
    else:
        data = sys.stdin.buffer.read() if str(source) == "-" else read_file(source, what="input")
        events = parse_jsonl(data)
    if expected_version is not None and len(events) != 1:
        raise usage_error(
            f"--expected-version guards a single event, and {len(events)} were given",
            "append the events one by one, each with its own --expected-version",
        )
    requests = [AppendRequest(item.event, expected_version) for item in events]
    with open_appender(target) as log:
        try:
            outcome = log.append(requests)
        except LedgerError as exc:
            # Name the input line (or --event) that the store's batch_index points at.
            index = exc.details.get("batch_index")
            if isinstance(index, int) and 0 <= index < len(events):
                number = events[index].line
                if source is None:
                    exc.add_context(where=f"--event {number}", event=number)
                else:
                    exc.add_context(where=f"line {number}", line=number)
            raise
    results = [
        {
            "event_id": item.event.envelope.event_id,
            "seq": result.seq,
            "stream_version": result.stream_version,
            "duplicate": result.duplicate,
        }
        for item, result in zip(events, outcome.results, strict=True)
    ]
    if as_json:
        write_json({"ok": True, "results": results, "tree_size": outcome.tree_size})
        return
    for row in results:
        note = " (already present)" if row["duplicate"] else ""
        stdout.print(
            f"seq {row['seq']}: {row['event_id']} at stream version {row['stream_version']}{note}"
        )
    stdout.print(f"tree size {outcome.tree_size}")
