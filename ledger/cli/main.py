"""The `ledgerctl` entry point: the command tree (errors become exits in `_runner`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from ledger import __version__
from ledger.cli._runner import run_cli
from ledger.cli.append_command import append_command
from ledger.cli.emit import emit
from ledger.cli.gate_commands import gate
from ledger.cli.get_command import get_command
from ledger.cli.keygen import keygen
from ledger.cli.log_commands import import_command, tail
from ledger.cli.projection_commands import COMMANDS as PROJECTION_COMMANDS
from ledger.cli.proof_commands import checkpoint, proof
from ledger.cli.report_commands import export_command, report_command
from ledger.cli.spool_commands import spool
from ledger.cli.verify import verify


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ledgerctl")
def cli() -> None:
    """ledgerctl: write to, read from and audit a ledgerd log."""


for command in (
    keygen,
    append_command,
    import_command,
    get_command,
    tail,
    checkpoint,
    proof,
    verify,
    emit,
    spool,
    *PROJECTION_COMMANDS,
    gate,
    report_command,
    export_command,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ledgerctl; returns (and, as a script, exits with) the process exit code."""
    return run_cli(cli, sys.argv[1:] if argv is None else argv, "ledgerctl")


def entry_point() -> None:
    sys.exit(main())
