"""The projection views on the command line: `verdict`, `findings`, `health`, `replay`,
`runs`, `history`, and `projections status|rebuild`.

Each works offline on `--data-dir` (the projections are caught up first) or
online on `--server`, through one `ProjectionSource`, and prints the document
of specs/projections.md §6: under `--json` exactly those bytes (the same
offline and online), otherwise as tables. The rules live in
`ledger.projections`; these commands only ask and print.

Two commands can fail on what they find: `health --strict` when a source
blocks (policy_blocked, 4) and a strict `replay` with drifted or missing
inputs (verification_failed, 3). Under `--json` they still print one
document: the view, with the error envelope's members added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from ledger.cli._common import Target, json_option, target_options, usage_error
from ledger.cli._output import stderr, stdout, write_json
from ledger.cli._projection_source import Json, open_projection_source
from ledger.cli._tables import (
    render_findings,
    render_health,
    render_history,
    render_replay,
    render_runs,
    render_status,
    render_suppressions,
    render_verdict,
)
from ledger.clock import parse_instant
from ledger.errors import LedgerError
from ledger.projections.queries import RUN_STATUSES, SEVERITIES, health_failure
from ledger.projections.replay import ReplayMode, replay_failure, replay_report
from ledger.projections.views import FINDING_STATUSES

F = TypeVar("F", bound=Callable[..., Any])


# Options -------------------------------------------------------------------------------


def at_option(func: F) -> F:
    return click.option(
        "--at",
        "at_text",
        metavar="TIME",
        default=None,
        help="Evaluation time, ISO 8601 with a timezone (e.g. 2026-03-01T12:00:00Z). "
        "Default: now (offline the ledger's clock, $LEDGERD_CLOCK; online the daemon's).",
    )(func)


def as_of_option(func: F) -> F:
    return click.option(
        "--as-of",
        type=click.IntRange(min=0),
        default=None,
        metavar="SEQ",
        help="Answer as the log stood once this seq was folded.",
    )(func)


def min_seq_option(func: F) -> F:
    return click.option(
        "--min-seq",
        type=click.IntRange(min=0),
        default=None,
        metavar="SEQ",
        help="Online: wait until this seq (e.g. one just appended) is folded. "
        "Offline everything stored is folded; a seq beyond the log is refused.",
    )(func)


def _at(text: str | None) -> datetime | None:
    return None if text is None else parse_instant(text, "--at")


# Printing ------------------------------------------------------------------------------
# A view that fails a check leaves as a LedgerError carrying the view
# (`with_report`), like every failure, so that `_runner.run_cli` prints it and
# exits with its category's code: under `--json` as one document, the view with
# the error envelope's members added.


def _emit(
    document: Json,
    as_json: bool,
    render: Callable[[Json], None],
    *,
    warnings: Sequence[str] = (),
    error: LedgerError | None = None,
) -> None:
    """Print the view; then raise `error` (which carries the view) if it failed a check.

    Under `--json`: one document (the view, or the error's, which includes it).
    Otherwise: the view as text on standard output, `warnings` on standard error,
    then the error as every error is reported.
    """
    if as_json:
        if error is not None:
            raise error
        write_json(document)
        return
    render(document)
    for warning in warnings:
        stderr.print(f"warning: {warning}")
    if error is not None:
        raise error


# Verdicts and findings -----------------------------------------------------------------


@click.command("verdict")
@click.argument("subject")
@target_options
@at_option
@as_of_option
@min_seq_option
@json_option
def verdict_command(
    subject: str,
    target: Target,
    at_text: str | None,
    as_of: int | None,
    min_seq: int | None,
    as_json: bool,
) -> None:
    """The verdict on SUBJECT, explained: each field's rule and reason, the fixes
    required before merge, and its findings by status."""
    at = _at(at_text)
    with open_projection_source(target, progress=not as_json) as source:
        document = source.verdict(subject, at=at, as_of=as_of, min_seq=min_seq)
    _emit(document, as_json, render_verdict)


@click.command("findings")
@target_options
@click.option("--subject", default=None, help="Only this subject's findings.")
@click.option(
    "--status",
    "statuses",
    type=click.Choice(FINDING_STATUSES),
    multiple=True,
    help="Only findings with this status at the evaluation time (repeatable).",
)
@click.option(
    "--severity",
    "severities",
    type=click.Choice(SEVERITIES),
    multiple=True,
    help="Only findings of this severity (repeatable).",
)
@at_option
@as_of_option
@min_seq_option
@json_option
def findings_command(
    target: Target,
    subject: str | None,
    statuses: tuple[str, ...],
    severities: tuple[str, ...],
    at_text: str | None,
    as_of: int | None,
    min_seq: int | None,
    as_json: bool,
) -> None:
    """Findings with their status at the evaluation time, across subjects or for one."""
    at = _at(at_text)
    with open_projection_source(target, progress=not as_json) as source:
        document = source.findings(
            subject=subject,
            statuses=statuses,
            severities=severities,
            at=at,
            as_of=as_of,
            min_seq=min_seq,
        )
    _emit(document, as_json, render_findings)


# Health --------------------------------------------------------------------------------


def _strict_failure(document: Json) -> LedgerError | None:
    failed = health_failure(document)
    return None if failed is None else failed.with_report(document)


def _health_warnings(document: Json, strict: bool) -> list[str]:
    """What the text output adds on standard error: sources that are not healthy."""
    by_id = {s["source_id"]: s for s in document["sources"]}
    found = []
    for source_id in document["warnings"]:
        source = by_id[source_id]
        codes = ", ".join(code["code"] for code in source["codes"]) or "no code"
        found.append(f"{source_id} is {source['status']} ({codes})")
    if not strict:  # under --strict the error names them
        for source_id in document["blocking"]:
            found.append(f"{source_id} would block --strict ({by_id[source_id]['blocks']})")
    return found


@click.command("health")
@target_options
@click.option("--source", default=None, help="Only this source.")
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 4 (policy_blocked) if a required source is over budget, stale or never seen.",
)
@click.option(
    "--explain-suppress",
    "explain",
    metavar="SOURCE",
    default=None,
    help="Show SOURCE's suppressions (reasons, owners, expiries, status now) instead.",
)
@at_option
@as_of_option
@min_seq_option
@json_option
def health_command(
    target: Target,
    source: str | None,
    strict: bool,
    explain: str | None,
    at_text: str | None,
    as_of: int | None,
    min_seq: int | None,
    as_json: bool,
) -> None:
    """The health of every evidence source (or one): status, score, tier and codes.

    Sources that are not healthy are listed as warnings on standard error.
    With --strict, blocking sources make the command fail.
    """
    if explain is not None and (strict or source is not None):
        raise usage_error(
            "--explain-suppress shows one source's suppressions; it takes no --source or --strict",
            "run `ledgerctl health --explain-suppress SOURCE` on its own",
        )
    at = _at(at_text)
    with open_projection_source(target, progress=not as_json) as opened:
        if explain is not None:
            document = opened.suppressions(explain, at=at, as_of=as_of, min_seq=min_seq)
        else:
            document = opened.health(source=source, at=at, as_of=as_of, min_seq=min_seq)
    if explain is not None:
        _emit(document, as_json, render_suppressions)
        return
    _emit(
        document,
        as_json,
        render_health,
        warnings=_health_warnings(document, strict),
        error=_strict_failure(document) if strict else None,
    )


# Runs and replays ----------------------------------------------------------------------


@click.command("replay")
@click.argument("run_id")
@target_options
@click.option(
    "--workspace",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="The directory the run's input paths are relative to.",
)
@click.option("--strict", is_flag=True, help="Fail (exit 3) on drifted or missing inputs.")
@click.option("--best-effort", is_flag=True, help="Only warn about drifted or missing inputs.")
@as_of_option
@min_seq_option
@json_option
def replay_command(
    run_id: str,
    target: Target,
    workspace: Path,
    strict: bool,
    best_effort: bool,
    as_of: int | None,
    min_seq: int | None,
    as_json: bool,
) -> None:
    """Would RUN_ID, started again in the workspace, see the inputs it recorded?

    Prints the run, its provenance and each input's status (match, drift,
    missing). The mode is the run's own unless --strict or --best-effort.
    """
    if strict and best_effort:
        raise usage_error(
            "--strict and --best-effort exclude each other",
            "give one of them, or neither to replay in the run's own mode",
        )
    mode: ReplayMode | None = "strict" if strict else "best_effort" if best_effort else None
    with open_projection_source(target, progress=not as_json) as source:
        document = source.replay(run_id, as_of=as_of, min_seq=min_seq)
    report = replay_report(document, workspace, mode)
    failed = replay_failure(report)
    _emit(
        report,
        as_json,
        render_replay,
        warnings=report["replay"]["warnings"],
        error=None if failed is None else failed.with_report(report),
    )


@click.command("runs")
@target_options
@click.option("--agent", default=None, help="Only this agent's runs.")
@click.option("--status", type=click.Choice(RUN_STATUSES), default=None, help="Only this status.")
@click.option("--subject", default=None, help="Only runs whose record names this subject.")
@click.option(
    "--before-seq",
    type=click.IntRange(min=0),
    default=None,
    metavar="SEQ",
    help="Only runs recorded before this seq (the next page).",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many."
)
@as_of_option
@min_seq_option
@json_option
def runs_command(
    target: Target,
    agent: str | None,
    status: str | None,
    subject: str | None,
    before_seq: int | None,
    limit: int,
    as_of: int | None,
    min_seq: int | None,
    as_json: bool,
) -> None:
    """Run records, newest first."""
    with open_projection_source(target, progress=not as_json) as source:
        document = source.runs(
            agent=agent,
            status=status,
            subject=subject,
            before_seq=before_seq,
            limit=limit,
            as_of=as_of,
            min_seq=min_seq,
        )
    _emit(document, as_json, render_runs)


@click.command("history")
@click.argument("stream")
@target_options
@click.option(
    "--from-version",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="First stream version.",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many."
)
@as_of_option
@json_option
def history_command(
    stream: str,
    target: Target,
    from_version: int,
    limit: int,
    as_of: int | None,
    as_json: bool,
) -> None:
    """STREAM's events in version order: seq, type, producer and times."""
    with open_projection_source(target, progress=not as_json) as source:
        document = source.history(stream, from_version=from_version, limit=limit, as_of=as_of)
    _emit(document, as_json, render_history)


# Projection status ---------------------------------------------------------------------


@click.group("projections")
def projections() -> None:
    """Where the projections stand, and rebuilding them from the log."""


@projections.command("status")
@target_options
@json_option
def status_command(target: Target, as_json: bool) -> None:
    """Each projection's position, lag, rows and state digest.

    Offline this is the stored state, before any catch-up: the lag is what the
    next command on the data directory will fold.
    """
    with open_projection_source(target, progress=False) as source:
        found = source.status()
    _emit({"projections": found}, as_json, lambda doc: render_status(doc["projections"]))


@projections.command("rebuild")
@click.argument("names", nargs=-1)
@target_options
@json_option
def rebuild_command(names: tuple[str, ...], target: Target, as_json: bool) -> None:
    """Fold the NAMEd projections (default: all) again from seq 0; then print the status.

    A rebuilt state equals the incrementally built one, digest for digest.
    """
    with open_projection_source(target, progress=False) as source:
        found = source.rebuild(names)

    def render(document: Json) -> None:
        stdout.print(f"rebuilt {', '.join(names) if names else 'every projection'}")
        render_status(document["projections"])

    _emit({"projections": found}, as_json, render)


COMMANDS = (
    verdict_command,
    findings_command,
    health_command,
    replay_command,
    runs_command,
    history_command,
    projections,
)
