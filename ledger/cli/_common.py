"""Options and loaders shared by several commands: the target (a data directory or a
daemon), what to open on it, and keys.

A command that works on a log takes `@target_options` and receives one `target`:
a `DataDirTarget` (offline, `--data-dir`) or a `ServerTarget` (online,
`--server` or `$LEDGER_SERVER`). Exactly one must be named; an explicit
`--data-dir` wins over `$LEDGER_SERVER`, so a shell that exports the variable can
still work on a local directory. What differs between the two lives here once
(`open_appender`, `open_proof_source`); the commands stay thin.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import click

from clients._calls import SERVER_ENV
from clients.client import LedgerClient
from clients.event import Event
from clients.retry import RetryPolicy
from clients.spool import SPOOL_ENV
from ledger.checkpoint import VerifierKey
from ledger.cli._output import remember_json_mode
from ledger.clock import clock_from_env
from ledger.errors import ErrorCode, InvalidInput
from ledger.fsutil import read_file
from ledger.importer import Appender
from ledger.model import PreparedEvent
from ledger.store import (
    AppendOutcome,
    AppendRequest,
    ConsistencyProof,
    InclusionProof,
    LmdbEventLog,
)

F = TypeVar("F", bound=Callable[..., Any])

#: Seconds a command keeps retrying an unreachable or restarting daemon (`--retry-deadline`).
RETRY_DEADLINE_ENV = "LEDGER_RETRY_DEADLINE_S"


def json_option(func: F) -> F:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print machine-readable JSON.",
        callback=lambda _ctx, _param, value: remember_json_mode(value),
    )(func)


def open_reader(data_dir: Path) -> LmdbEventLog:
    return LmdbEventLog(data_dir, readonly=True)


def open_writer(data_dir: Path) -> LmdbEventLog:
    return LmdbEventLog(data_dir, clock=clock_from_env())


# Targets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataDirTarget:
    """Offline: the LMDB data directory itself."""

    data_dir: Path

    def reader(self) -> LmdbEventLog:
        return open_reader(self.data_dir)

    def writer(self) -> LmdbEventLog:
        return open_writer(self.data_dir)


@dataclass(frozen=True)
class ServerTarget:
    """Online: a running ledgerd, reached with `LedgerClient` under `retry`."""

    address: str
    retry: RetryPolicy

    def client(self) -> LedgerClient:
        return LedgerClient(self.address, retry=self.retry)


Target = DataDirTarget | ServerTarget


def usage_error(message: str, hint: str) -> InvalidInput:
    """The same error a bad flag gets from click: invalid_input / INVALID_ARGUMENT."""
    return InvalidInput(ErrorCode.INVALID_ARGUMENT, message, hint=hint)


def retry_policy(deadline_s: float | None, base: RetryPolicy | None = None) -> RetryPolicy:
    """`base` (default: the client's), its overall deadline cut to `deadline_s`.

    Without `--retry-deadline`, $LEDGER_RETRY_DEADLINE_S sets it; without either,
    `base` stands as it is.
    """
    base = base or RetryPolicy()
    if deadline_s is None:
        text = os.environ.get(RETRY_DEADLINE_ENV, "").strip()
        if not text:
            return base
        try:
            deadline_s = float(text)
        except ValueError:
            deadline_s = -1.0
        if not deadline_s > 0:  # also refuses nan
            raise InvalidInput(
                ErrorCode.INVALID_CONFIG,
                f"{RETRY_DEADLINE_ENV}={text!r} is not a positive number of seconds",
                hint=f"set {RETRY_DEADLINE_ENV} to e.g. 5, or unset it",
            )
    # One attempt must not outlive the whole budget, or the deadline would mean little.
    return replace(
        base,
        overall_deadline_s=deadline_s,
        call_timeout_s=min(base.call_timeout_s, deadline_s),
    )


def resolve_target(
    data_dir: Path | None, server: str | None, retry_deadline_s: float | None
) -> Target:
    """Exactly one of `--data-dir` and `--server`; `$LEDGER_SERVER` only when neither is given."""
    if data_dir is not None and server is not None:
        raise usage_error(
            "--data-dir and --server exclude each other",
            "give --data-dir to work on a local directory, or --server for a running ledgerd; "
            "see `ledgerctl COMMAND --help`",
        )
    if data_dir is not None:
        return DataDirTarget(data_dir)
    server = server or os.environ.get(SERVER_ENV, "").strip() or None
    if server is None:
        raise usage_error(
            f"no log given: pass --data-dir or --server (or set {SERVER_ENV})",
            "--data-dir DIR works on a local directory, --server HOST:PORT on a running "
            "ledgerd; see `ledgerctl COMMAND --help`",
        )
    return ServerTarget(server, retry_policy(retry_deadline_s))


# Daemon and spool options ----------------------------------------------------------------
# Each command words its help for what it does with the option, so the help is a parameter;
# the name, metavar, type and default are the same everywhere.

#: `--spool`'s help where it is first described (`emit run`, `spool flush`).
SPOOL_HELP = (
    f"The spool directory. Default: ${SPOOL_ENV}, else "
    "$XDG_STATE_HOME/ledgerd/spool, else ~/.local/state/ledgerd/spool."
)


def server_option(help_text: str) -> Callable[[F], F]:
    """`--server HOST:PORT` (default None: the caller falls back to $LEDGER_SERVER)."""
    return click.option("--server", metavar="HOST:PORT", default=None, help=help_text)


def retry_deadline_option(default_s: float, *, online_only: bool = False) -> Callable[[F], F]:
    """`--retry-deadline SECONDS`, whose help names the command's own default."""
    text = (
        "stop retrying an unreachable daemon after this long "
        f"(default {default_s:g}, or ${RETRY_DEADLINE_ENV})."
    )
    return click.option(
        "--retry-deadline",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="SECONDS",
        help=f"Online: {text}" if online_only else text[0].upper() + text[1:],
    )


def spool_option(help_text: str = SPOOL_HELP) -> Callable[[F], F]:
    """`--spool DIR`, passed as `spool_path` (None: `clients.spool.default_spool_path()`)."""
    return click.option(
        "--spool",
        "spool_path",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=help_text,
    )


def client_options(default_deadline_s: float) -> Callable[[F], F]:
    """`--server`, `--retry-deadline` and `--spool`, shared by `emit run` and `spool flush`."""
    options = (
        server_option(f"The ledgerd to send to (also unix:PATH). Default: ${SERVER_ENV}."),
        retry_deadline_option(default_deadline_s),
        spool_option(),
    )

    def decorate(func: F) -> F:
        return _apply(options, func)

    return decorate


def _apply(options: Sequence[Callable[[F], F]], func: F) -> F:
    """Apply decorators so the options appear in `--help` in the order given."""
    for option in reversed(options):
        func = option(func)
    return func


def _target_option_list(verb: str) -> tuple[Callable[[F], F], ...]:
    """`--data-dir`, `--server` and `--retry-deadline`, their help starting with `verb`."""
    return (
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help=f"{verb} offline on this data directory. Wins over $LEDGER_SERVER.",
        ),
        server_option(f"{verb} on a running ledgerd (also unix:PATH). Default: ${SERVER_ENV}."),
        retry_deadline_option(RetryPolicy().overall_deadline_s, online_only=True),
    )


def target_options(func: F) -> F:
    """Add `--data-dir`, `--server` and `--retry-deadline`; pass the command `target: Target`."""

    @functools.wraps(func)
    def resolved(
        *args: object,
        data_dir: Path | None,
        server: str | None,
        retry_deadline: float | None,
        **kwargs: object,
    ) -> object:
        target = resolve_target(data_dir, server, retry_deadline)
        return func(*args, target=target, **kwargs)

    decorated: Callable[..., Any] = resolved
    return cast(F, _apply(_target_option_list("Work"), decorated))


def lazy_target_options(func: F) -> F:
    """Like `target_options`, for commands that need a log only sometimes.

    The command receives `target: Callable[[], Target]`, which resolves (and
    refuses a missing or doubled target) only when called.
    """

    @functools.wraps(func)
    def deferred(
        *args: object,
        data_dir: Path | None,
        server: str | None,
        retry_deadline: float | None,
        **kwargs: object,
    ) -> object:
        def target() -> Target:
            return resolve_target(data_dir, server, retry_deadline)

        return func(*args, target=target, **kwargs)

    decorated: Callable[..., Any] = deferred
    return cast(F, _apply(_target_option_list("Record"), decorated))


# What the commands open on a target ----------------------------------------------------


class ProofSource(Protocol):
    """Where proofs come from: `LmdbEventLog` offline, `LedgerClient` online (same types)."""

    def inclusion_proof(self, index: int, size: int | None = None, /) -> InclusionProof: ...

    def consistency_proof(self, first: int, second: int | None = None, /) -> ConsistencyProof: ...


class _ServerAppender:
    """Appends as `LmdbEventLog.append` does, through the daemon: one atomic batch per call.

    The events were validated locally by the same model code an offline append
    uses; the daemon validates them again. Their ids are fixed, so the client's
    retries of a batch whose reply was lost come back as duplicates.
    """

    def __init__(self, client: LedgerClient) -> None:
        self._client = client

    def append(self, requests: Sequence[AppendRequest], /) -> AppendOutcome:
        events = [
            Event.from_envelope(
                item.event.envelope if isinstance(item.event, PreparedEvent) else item.event,
                expected_version=item.expected_version,
            )
            for item in requests
        ]
        return self._client.append_batch(events)


@contextmanager
def open_appender(target: Target) -> Iterator[Appender]:
    """The data directory opened for writing, or the daemon."""
    if isinstance(target, ServerTarget):
        with target.client() as client:
            yield _ServerAppender(client)
    else:
        with target.writer() as log:
            yield log


@contextmanager
def open_proof_source(target: Target) -> Iterator[ProofSource]:
    """The data directory opened read-only, or the daemon (its proofs are not verified here)."""
    if isinstance(target, ServerTarget):
        with target.client() as client:
            yield client
    else:
        with target.reader() as log:
            yield log


# Keys ----------------------------------------------------------------------------------


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
