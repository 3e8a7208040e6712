"""The `ledgerctl` entry point: the command tree and one place that turns errors into exits.

Every failure leaves through :func:`main`: under `--json` as the error
envelope on standard output, otherwise as text on standard error; in both
cases with the exit code of its category (specs/errors.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from ledger import __version__
from ledger.cli._output import json_mode, stderr, write_json
from ledger.cli.keygen import keygen
from ledger.cli.log_commands import import_command, tail
from ledger.cli.proof_commands import checkpoint, proof
from ledger.cli.verify import verify
from ledger.errors import (
    CATEGORY_INFO,
    Category,
    ErrorCode,
    InternalFailure,
    InvalidInput,
    LedgerError,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ledgerctl")
def cli() -> None:
    """ledgerctl: write to, read from and audit a ledgerd log."""


for command in (keygen, import_command, tail, checkpoint, proof, verify):
    cli.add_command(command)


def _report(error: LedgerError, as_json: bool) -> int:
    if as_json:
        write_json(error.to_dict())
    else:
        stderr.print(f"error: {error.message}")
        stderr.print(f"  {error.category} / {error.code}")
        stderr.print(f"  hint: {error.hint}")
    return error.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ledgerctl; returns (and, as a script, exits with) the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="ledgerctl", standalone_mode=False)
    except LedgerError as error:
        return _report(error, json_mode(args))
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.exceptions.NoArgsIsHelpError as bare:
        stderr.print(bare.format_message())
        return CATEGORY_INFO[Category.INVALID_INPUT].exit_code
    except click.ClickException as usage:
        return _report(
            InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                usage.format_message(),
                hint="see `ledgerctl --help` and `ledgerctl COMMAND --help`",
            ),
            json_mode(args),
        )
    except click.exceptions.Abort:
        return 130
    except Exception as unexpected:
        if os.environ.get("LEDGERD_DEBUG"):
            raise
        return _report(
            InternalFailure(
                ErrorCode.INTERNAL,
                f"unexpected {type(unexpected).__name__}: {unexpected}",
                hint="this is a bug in ledgerd; rerun with LEDGERD_DEBUG=1 and report the trace",
            ),
            json_mode(args),
        )
    return 0


def entry_point() -> None:
    sys.exit(main())
