"""`ledgerctl spool status` and `ledgerctl spool flush`: inspect and drain the client spool.

The spool (specs/spool.md, `clients.spool`) holds events the agent hook could
not deliver; `flush` lands them, exactly once, and moves what the ledger
refuses for good to the dead-letter file.
"""

from __future__ import annotations

from pathlib import Path

import click

from clients.client import LedgerClient
from clients.retry import RetryPolicy
from clients.spool import DEFAULT_BATCH_SIZE, Spool
from ledger.cli._common import client_options, json_option, retry_policy, spool_option
from ledger.cli._output import stdout, write_json
from ledger.clock import clock_from_env

_FLUSH_RETRY = RetryPolicy()


@click.group()
def spool() -> None:
    """Inspect and flush the local spool of undelivered events."""


@spool.command("status")
@spool_option("The spool directory. Default: as for `ledgerctl emit run`.")
@json_option
def spool_status(spool_path: Path | None, as_json: bool) -> None:
    """How many events wait in the spool, since when, and how much of it is damaged."""
    status = Spool(spool_path).status()
    if as_json:
        write_json({"ok": True, **status.to_dict()})
        return
    stdout.print(f"spool {status.path}")
    stdout.print(f"  entries:      {status.entries} ({status.size} bytes)")
    stdout.print(f"  oldest:       {status.oldest_occurred_at or '-'}")
    stdout.print(f"  undecodable:  {status.undecodable}")
    stdout.print(f"  damaged:      {status.damaged} ({status.damaged_bytes} bytes)")
    stdout.print(f"  dead letters: {status.dead_letters}")


@spool.command("flush")
@client_options(_FLUSH_RETRY.overall_deadline_s)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=10_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Events per append.",
)
@json_option
def spool_flush(
    server: str | None,
    retry_deadline: float | None,
    spool_path: Path | None,
    batch_size: int,
    as_json: bool,
) -> None:
    """Deliver the spooled events, then compact the spool.

    Entries the ledger refuses for good go to the dead-letter file. If the
    daemon cannot be reached, what was delivered is removed, the rest stays,
    and the command fails with the network error (exit 9): run it again later.
    """
    target = Spool(spool_path, clock=clock_from_env())
    with LedgerClient(server, retry=retry_policy(retry_deadline, _FLUSH_RETRY)) as client:
        report = target.flush(client, batch_size=batch_size)
    if as_json:
        write_json(
            {
                "ok": True,
                "spool": str(target.path),
                "dead_letter_file": str(target.dead_letter_path),
                **report.to_dict(),
            }
        )
        return
    stdout.print(
        f"flushed {target.path}: {report.delivered} delivered, "
        f"{report.duplicates} already in the ledger, {len(report.dead_lettered)} dead-lettered, "
        f"{len(report.damaged)} damaged stretches skipped; {report.remaining} remaining"
    )
    for letter in report.dead_lettered:
        who = letter.event_id or "(not an event)"
        stdout.print(f"  dead letter {who}: {letter.error_code}: {letter.message}")
    if report.dead_lettered or report.damaged:
        stdout.print(f"  see {target.dead_letter_path}")
