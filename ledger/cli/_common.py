"""Options and loaders shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ledger.checkpoint import VerifierKey
from ledger.cli._output import remember_json_mode
from ledger.clock import clock_from_env
from ledger.errors import ErrorCode, InvalidInput
from ledger.fsutil import read_file
from ledger.store import LmdbEventLog

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print machine-readable JSON.",
        callback=lambda _ctx, _param, value: remember_json_mode(value),
    )(func)


def data_dir_option(func: F) -> F:
    return click.option(
        "--data-dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="The ledger's data directory.",
    )(func)


def open_reader(data_dir: Path) -> LmdbEventLog:
    return LmdbEventLog(data_dir, readonly=True)


def open_writer(data_dir: Path) -> LmdbEventLog:
    return LmdbEventLog(data_dir, clock=clock_from_env())


def load_verifier(value: str) -> VerifierKey:
    """A verifier key given inline (`name+id+key`) or as the path of a file holding one."""
    path = Path(value)
    if path.is_file():
        return VerifierKey.parse(read_file(path, what="verifier key").decode("utf-8", "replace"))
    try:
        return VerifierKey.parse(value)
    except InvalidInput as exc:
        # The value is not quoted: it may be a private key pasted by mistake.
        raise InvalidInput(
            ErrorCode.INVALID_KEY,
            f"--vkey is neither a readable file nor a verifier key: {exc.message}",
            hint="give the verifier key text (name+id+key) or the path of a file holding it",
        ) from None
