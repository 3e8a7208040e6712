"""`ledgerctl get`: one stored entry, by seq or by event id, offline or online."""

from __future__ import annotations

import click
import msgspec

from ledger.cli._common import Target, json_option, target_options, usage_error
from ledger.cli._entries import entry_document, get_entry
from ledger.cli._output import stdout, write_json


@click.command("get")
@target_options
@click.option("--seq", type=click.IntRange(min=0), default=None, help="The entry's seq.")
@click.option("--event-id", default=None, help="The event's id.")
@json_option
def get_command(target: Target, seq: int | None, event_id: str | None, as_json: bool) -> None:
    """Print one entry: its place in the chain, its leaf bytes and hash, and the event."""
    if (seq is None) == (event_id is None):
        raise usage_error(
            "give exactly one of --seq and --event-id",
            "e.g. `ledgerctl get --seq 7` or `ledgerctl get --event-id ID`",
        )
    document = entry_document(get_entry(target, seq=seq, event_id=event_id))
    if as_json:
        write_json({"ok": True, **document})
        return
    for name in ("seq", "recorded_at", "prev", "leaf_hash", "leaf_b64"):
        stdout.print(f"{name}: {document[name]}")
    event = msgspec.json.format(msgspec.json.encode(document["event"]), indent=2)
    stdout.print("event: " + event.decode("utf-8"))
