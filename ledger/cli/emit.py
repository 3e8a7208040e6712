"""`ledgerctl emit run`: the agent hook for shell agents (the logic is `clients.hook`).

It exits 0 both when the run was recorded and when the daemon was unreachable
and the record went to the spool; `--json` says which. It fails only when the
record itself is wrong, an integrity check fails, or the record could be kept
nowhere (`clients/hook.py` lists every case).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import click
import msgspec

from clients.hook import HOOK_RETRY, EmitResult, emit_run_record
from ledger.cli._common import client_options, json_option, retry_policy
from ledger.cli._output import stdout, write_json
from ledger.clock import clock_from_env
from ledger.errors import ErrorCode, InvalidInput
from ledger.fsutil import read_file
from ledger.model.run_record import HealReason, RunMode, RunStatus


def _seeds(values: tuple[str, ...]) -> dict[str, int]:
    seeds: dict[str, int] = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            seeds[name] = int(number)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                f"--seed {value!r} is not NAME=INTEGER",
                hint="write each seed as e.g. --seed sampler=7",
            )
    return seeds


def _load_config(config_file: Path | None, fingerprint: str | None) -> dict[str, Any] | None:
    """The `--config` JSON object, if one was given."""
    if config_file is None:
        return None
    if fingerprint is not None:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            "--config and --config-fingerprint exclude each other",
            hint="give the configuration as a JSON file, or its fingerprint, not both",
        )
    try:
        config = msgspec.json.decode(read_file(config_file, what="run configuration"))
    except msgspec.DecodeError as exc:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"--config {config_file} is not JSON: {exc}",
            hint="give a JSON object, or pass the fingerprint of another format with "
            "--config-fingerprint",
        ) from None
    if not isinstance(config, dict):
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"--config {config_file} is not a JSON object",
            hint="the run configuration must be one JSON object",
        )
    return config


def _print(result: EmitResult, as_json: bool) -> None:
    if as_json:
        write_json(result.to_dict())
        return
    run_id = result.event.data.get("run_id")
    if result.outcome == "spooled":
        reason = result.error.message if result.error is not None else "unknown"
        stdout.print(f"spooled run {run_id} (event {result.event_id}) to {result.spool_path}")
        stdout.print(f"  the ledger was not reachable: {reason}")
        stdout.print("  `ledgerctl spool flush` delivers it later")
        return
    checked = "verified" if result.verified else "NOT verified"
    what = "already recorded" if result.outcome == "duplicate" else "recorded"
    stdout.print(f"{what} run {run_id} as event {result.event_id} at seq {result.seq} ({checked})")
    if result.error is not None:
        stdout.print(f"  read-back failed: {result.error.message}")


@click.group()
def emit() -> None:
    """Record what an agent did, even while the ledger is down."""


@emit.command("run")
@click.option("--agent", required=True, help="The agent or job that ran (`agent_name`).")
@click.option(
    "--status",
    required=True,
    type=click.Choice(get_args(RunStatus)),
    help="How the run ended (`run_status`).",
)
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The directory the run worked in; run files are relative to it.",
)
@click.option("--input", "inputs", multiple=True, metavar="PATH", help="A file the run read.")
@click.option("--output", "outputs", multiple=True, metavar="PATH", help="A file it wrote.")
@click.option("--status-before", default="unknown", show_default=True, help="Work item before.")
@click.option("--status-after", default="unknown", show_default=True, help="Work item after.")
@click.option("--started-at", metavar="UTC", help="e.g. 2026-01-01T10:00:00Z (default: ended).")
@click.option("--ended-at", metavar="UTC", help="Default: now.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The run's configuration as a JSON object; fingerprinted as compact, key-sorted JSON.",
)
@click.option(
    "--config-fingerprint",
    metavar="SHA256",
    help="The configuration's SHA-256, if it is not JSON. Default: that of `{}`.",
)
@click.option("--mode", type=click.Choice(get_args(RunMode)), default="strict", show_default=True)
@click.option("--entropy-source", multiple=True, help="best_effort mode: an entropy source.")
@click.option("--seed", multiple=True, metavar="NAME=INT", help="best_effort mode: a seed.")
@click.option("--input-ref", multiple=True, metavar="EVENT_ID", help="An upstream record.")
@click.option("--output-ref", multiple=True, metavar="EVENT_ID", help="A downstream record.")
@click.option("--exit-code", type=int, default=0, show_default=True)
@click.option("--heal-reason", type=click.Choice(get_args(HealReason)), default=None)
@click.option(
    "--subject",
    default=None,
    help="What the run worked on (a change, PR or commit, as findings name it); "
    "the record is then schema 1.1.",
)
@click.option("--notes", default="", help="Free text.")
@click.option("--run-id", help="The run's UUID. Default: a new one.")
@click.option("--event-id", help="The event's id. Default: a new UUIDv7.")
@click.option("--correlation-id", help="Ties related events together.")
@click.option("--producer", help="Default: the agent.")
@click.option("--stream", help="Default: runs/<agent>.")
@click.option("--git-head", metavar="SHA", help="The commit worked on. Default: git HEAD.")
@click.option("--no-git-head", is_flag=True, help="Record no commit, even in a git repository.")
@client_options(HOOK_RETRY.overall_deadline_s)
@json_option
def emit_run(
    *,
    agent: str,
    status: RunStatus,
    workspace: Path,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    status_before: str,
    status_after: str,
    started_at: str | None,
    ended_at: str | None,
    config_file: Path | None,
    config_fingerprint: str | None,
    mode: RunMode,
    entropy_source: tuple[str, ...],
    seed: tuple[str, ...],
    input_ref: tuple[str, ...],
    output_ref: tuple[str, ...],
    exit_code: int,
    heal_reason: HealReason | None,
    subject: str | None,
    notes: str,
    run_id: str | None,
    event_id: str | None,
    correlation_id: str | None,
    producer: str | None,
    stream: str | None,
    git_head: str | None,
    no_git_head: bool,
    server: str | None,
    retry_deadline: float | None,
    spool_path: Path | None,
    as_json: bool,
) -> None:
    """Record one run: hash its files, append it, read it back, or spool it."""
    if git_head is not None and no_git_head:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            "--git-head and --no-git-head exclude each other",
            hint="give the commit, or say there is none",
        )
    best_effort: dict[str, Any] | None = None
    if mode == "best_effort" or entropy_source or seed:
        best_effort = {"entropy_sources": list(entropy_source), "seeds": _seeds(seed)}
    result = emit_run_record(
        agent=agent,
        status=status,
        workspace=workspace,
        inputs=inputs,
        outputs=outputs,
        status_before=status_before,
        status_after=status_after,
        started_at=started_at,
        ended_at=ended_at,
        config=_load_config(config_file, config_fingerprint),
        config_fingerprint=config_fingerprint,
        mode=mode,
        best_effort=best_effort,
        input_refs=input_ref,
        output_refs=output_ref,
        exit_code=exit_code,
        heal_reason=heal_reason,
        subject=subject,
        notes=notes,
        run_id=run_id,
        head=git_head,
        detect_git_head=not no_git_head,
        producer=producer,
        stream=stream,
        correlation_id=correlation_id,
        event_id=event_id,
        clock=clock_from_env(),
        server=server,
        retry=retry_policy(retry_deadline, HOOK_RETRY),
        spool=spool_path,
    )
    _print(result, as_json)
