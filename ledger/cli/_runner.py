"""Run a click command tree with ledgerd's error contract: every failure becomes an exit code.

Every failure leaves through :func:`run_cli`: under `--json` as the error
envelope on standard output, otherwise as text on standard error; in both
cases with the exit code of its category (specs/errors.md). `ledgerctl` and
`ledgerd` share it, so their failures read the same.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import click

from ledger.cli._output import json_mode, stderr, write_json
from ledger.errors import (
    CATEGORY_INFO,
    Category,
    ErrorCode,
    InternalFailure,
    InvalidInput,
    LedgerError,
)


def _report(error: LedgerError, as_json: bool) -> int:
    if as_json:
        write_json(error.to_dict())
    else:
        stderr.print(f"error: {error.message}")
        stderr.print(f"  {error.category} / {error.code}")
        stderr.print(f"  hint: {error.hint}")
    return error.exit_code


def run_cli(group: click.Group, args: Sequence[str], prog_name: str) -> int:
    """Run `group` on `args`; returns the process exit code."""
    args = list(args)
    try:
        # Not standalone, click returns the code of a `ctx.exit(code)` instead of exiting.
        returned = group.main(args=args, prog_name=prog_name, standalone_mode=False)
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
                hint=f"see `{prog_name} --help` and `{prog_name} COMMAND --help`",
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
    return returned if isinstance(returned, int) else 0
