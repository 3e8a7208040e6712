"""`ledgerctl report` and `ledgerctl export`: a ledger snapshot rendered for people or tools.

Both take one snapshot (gate/snapshot.py), the views of a scope pinned to one
checkpoint, offline (`--data-dir`) or online (`--server`), and render it with
the gate's renderers: `report` as the gate report (specs/reports.md), `export`
in a standard format (specs/exports.md), written atomically to `--out`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import click

from gate.exports import EXPORT_FORMATS, render_export
from gate.snapshot import Scope, Snapshot, take_snapshot
from ledger.cli._common import Target, json_option, target_options, usage_error
from ledger.cli._output import stdout, write_json
from ledger.cli._projection_source import open_projection_source
from ledger.clock import clock_from_env, parse_instant
from ledger.fsutil import write_file_atomic


def _snapshot(
    target: Target, scope: Scope, ref: str | None, at_text: str | None, min_seq: int | None
) -> Snapshot:
    # Offline the ledger's clock decides "now"; online too, so both scopes agree on it.
    at = parse_instant(at_text, "--at") if at_text is not None else clock_from_env().now()
    with open_projection_source(target, progress=False) as source:
        return take_snapshot(source, scope=scope, ref=ref, at=at, min_seq=min_seq)


_AT_HELP = "Evaluation time, ISO 8601 with a timezone. Default: now ($LEDGERD_CLOCK)."
_MIN_SEQ_HELP = "Online: wait until this seq is folded first."


@click.command("report")
@click.argument("subject")
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["md", "json"]),
    default="md",
    show_default=True,
    help="Markdown for people, JSON for tools.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here (atomically) instead of standard output.",
)
@click.option("--at", "at_text", default=None, metavar="TIME", help=_AT_HELP)
@click.option("--min-seq", type=click.IntRange(min=0), default=None, help=_MIN_SEQ_HELP)
@target_options
def report_command(
    subject: str,
    report_format: Literal["md", "json"],
    out: Path | None,
    at_text: str | None,
    min_seq: int | None,
    target: Target,
) -> None:
    """The gate report on SUBJECT: scope, commands, findings, synthesis with the
    verdict, spec candidates, labels, rejects and raw output, at one checkpoint."""
    # Imported here, so other commands do not pay for it at start (see gate_commands).
    from gate.report import render_report

    rendered = render_report(
        _snapshot(target, "subject", subject, at_text, min_seq), fmt=report_format
    )
    if out is None:
        sys.stdout.buffer.write(rendered)
        sys.stdout.buffer.flush()
        return
    write_file_atomic(out, rendered)


@click.command("export")
@click.option(
    "--format",
    "export_format",
    type=click.Choice(EXPORT_FORMATS),
    required=True,
    help="bundle (JSON), csv, sarif (2.1.0), openlineage (RunEvents, JSON Lines) or "
    "intoto (in-toto Statement, SLSA provenance v1).",
)
@click.option("--subject", default=None, help="Only this subject and its runs.")
@click.option("--run", "run_id", default=None, metavar="RUN_ID", help="Only this run.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The file to write (atomically: a synced temp file, then a rename).",
)
@click.option("--at", "at_text", default=None, metavar="TIME", help=_AT_HELP)
@click.option("--min-seq", type=click.IntRange(min=0), default=None, help=_MIN_SEQ_HELP)
@target_options
@json_option
def export_command(
    export_format: str,
    subject: str | None,
    run_id: str | None,
    out: Path,
    at_text: str | None,
    min_seq: int | None,
    target: Target,
    as_json: bool,
) -> None:
    """Export runs, findings and verdicts in a standard format, with the checkpoint
    they were taken at: everything, one subject (--subject) or one run (--run)."""
    if subject is not None and run_id is not None:
        raise usage_error("--subject and --run exclude each other", "export one scope at a time")
    scope: Scope = "subject" if subject is not None else "run" if run_id is not None else "all"
    snapshot = _snapshot(
        target, scope, subject if subject is not None else run_id, at_text, min_seq
    )
    data = render_export(snapshot, export_format)
    write_file_atomic(out, data)
    summary = {
        "ok": True,
        "format": export_format,
        "out": str(out),
        "bytes": len(data),
        "scope": scope,
        "scope_ref": snapshot.scope_ref,
        "checkpoint": snapshot.checkpoint.to_json(),
        "subjects": len(snapshot.verdicts),
        "runs": len(snapshot.runs),
        "findings": sum(1 for _ in snapshot.findings()),
    }
    if as_json:
        write_json(summary)
        return
    stdout.print(
        f"wrote {export_format} to {out} ({len(data)} bytes): {summary['subjects']} subjects, "
        f"{summary['runs']} runs, {summary['findings']} findings at tree size "
        f"{snapshot.checkpoint.tree_size}"
    )
