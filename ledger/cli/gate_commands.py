"""`ledgerctl gate inspect-diff` and `ledgerctl gate run`: the gate worker on the command line.

`inspect-diff` runs the honesty guard over one patch and, with `--record`,
writes what it found. `gate run` is a whole gate (gate/run.py): probes, the
guard, findings files, the ledger's verdict, the recorded decision, and the
report (specs/gate.md). Both exit 0 when the change may go on and
policy_blocked (4) when it may not; a gate that cannot reach the ledger exits
with that failure's code, never 0.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
import msgspec

from clients._calls import SERVER_ENV
from clients.client import LedgerClient
from clients.retry import RetryPolicy
from clients.spool import Spool
from gate.snapshot import take_snapshot
from ledger.cli._common import (
    ServerTarget,
    Target,
    json_option,
    lazy_target_options,
    open_appender,
    resolve_target,
    retry_deadline_option,
    retry_policy,
    server_option,
    spool_option,
    usage_error,
)
from ledger.cli._output import stderr, stdout, write_json
from ledger.cli._projection_source import OnlineSource
from ledger.cli._tables import visible
from ledger.clock import Clock, clock_from_env, parse_instant
from ledger.errors import ErrorCode, PolicyBlocked
from ledger.fsutil import read_file
from ledger.model import prepare_json
from ledger.store import AppendRequest

if TYPE_CHECKING:
    from gate.guard import Inspection

# The guard, the probe runner, the importers and the report are imported by the commands
# that use them: every other ledgerctl command would otherwise pay for compiling their
# patterns at start (about 70 ms of each invocation).

Json = dict[str, Any]


@click.group("gate")
def gate() -> None:
    """Gate a change: inspect a patch, or run a whole gate against the ledger."""


def _read_patch(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    return read_file(Path(source), what="patch")


def _inspection_json(inspection: Inspection, recorded: Json | None) -> Json:
    # An edit's members are the `patch.inspected` edit's, in its field order.
    return {
        "verdict": inspection.verdict,
        "diff_sha256": inspection.diff_sha256,
        "files": inspection.files,
        "edits": msgspec.to_builtins(inspection.edits),
        "allowed": msgspec.to_builtins(inspection.allowed),
        "summary": inspection.summary,
        "recorded": recorded,
    }


def _print_inspection(document: Json) -> None:
    stdout.print(
        f"{document['verdict']}  ({document['files']} files, sha256 {document['diff_sha256']})"
    )
    for label, key in (("blocking", "edits"), ("allowed", "allowed")):
        for edit in document[key]:
            where = edit["file"] if edit["line"] is None else f"{edit['file']}:{edit['line']}"
            stdout.print(
                f"  {label:8} {edit['severity']:8} {edit['type']:22} {visible(where)}  "
                f"{visible(edit['evidence'])}"
            )
    recorded = document["recorded"]
    if recorded is not None:
        stdout.print(f"recorded seqs {recorded['first_seq']}..{recorded['last_seq']}")


def _record(
    target: Target, inspection: Inspection, *, subject: str, producer: str, clock: Clock
) -> Json:
    """Append the inspection and its findings as one atomic batch; where they landed."""
    from gate.run import inspection_events

    run_id = str(uuid.uuid4())
    events = inspection_events(
        inspection, subject=subject, producer=producer, run_id=run_id, clock=clock
    )
    with open_appender(target) as appender:
        outcome = appender.append([AppendRequest(prepare_json(e.to_json())) for e in events])
    seqs = [result.seq for result in outcome.results]
    return {"run_id": run_id, "first_seq": seqs[0], "last_seq": seqs[-1], "events": len(seqs)}


@gate.command("inspect-diff")
@click.argument("patch", default="-", metavar="[FILE | -]")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A gate.toml whose [guard] table sets the policy. Default: the built-in policy.",
)
@click.option(
    "--automated",
    is_flag=True,
    help="The patch came from an automated healer: no allowed suppression applies.",
)
@click.option(
    "--at",
    "at_text",
    default=None,
    metavar="TIME",
    help="Judge allowance expiry at this time. Default: now ($LEDGERD_CLOCK).",
)
@click.option("--record", is_flag=True, help="Append patch.inspected and its findings.")
@click.option("--subject", default=None, help="The change the recorded events are about.")
@click.option(
    "--producer",
    default="ledger-gate",
    show_default=True,
    help="The producer the recorded events carry.",
)
@lazy_target_options
@json_option
def inspect_diff(
    patch: str,
    config_path: Path | None,
    automated: bool,
    at_text: str | None,
    record: bool,
    subject: str | None,
    producer: str,
    target: Callable[[], Target],
    as_json: bool,
) -> None:
    """Inspect a unified diff (FILE, or standard input) for forbidden edits.

    Exits 0 when the patch is CLEAN and 4 (policy_blocked, UNSAFE_PATCH_ATTEMPT)
    when it is not. With --record the inspection is appended to the ledger
    (--data-dir or --server), each blocking edit becoming a finding: critical
    P0, high P1, medium P2, low P3.
    """
    from gate.config import GuardPolicy, load_gate_config
    from gate.guard import inspect_patch

    if record and subject is None:
        raise usage_error("--record needs --subject", "name the change the patch belongs to")
    where = target() if record else None
    policy = (
        load_gate_config(config_path).config.guard if config_path is not None else GuardPolicy()
    )
    clock = clock_from_env()
    # --at judges allowance expiry only; recorded events carry the time they were made.
    now = parse_instant(at_text, "--at") if at_text is not None else clock.now()
    inspection = inspect_patch(_read_patch(patch), policy, automated=automated, now=now)
    recorded = None
    if where is not None and subject is not None:
        recorded = _record(where, inspection, subject=subject, producer=producer, clock=clock)
    document = _inspection_json(inspection, recorded)
    error = None
    if inspection.verdict != "CLEAN":
        error = PolicyBlocked(
            ErrorCode.UNSAFE_PATCH_ATTEMPT,
            f"the patch holds {len(inspection.edits)} forbidden edit(s)",
            hint="remove the forbidden edits; a person may allow one in [guard.allow] with a "
            "justification and an expiry (never for an automated patch)",
            details={"edits": len(inspection.edits), "diff_sha256": inspection.diff_sha256},
        ).with_report(document)
    if as_json:
        if error is not None:
            raise error
        write_json(document)
        return
    _print_inspection(document)
    if error is not None:
        raise error


# gate run ------------------------------------------------------------------------------

_GATE_RETRY = RetryPolicy(overall_deadline_s=15.0)


@gate.command("run")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The gate config (gate.toml): probes, guard policy, findings files.",
)
@click.option("--subject", required=True, help="The change being gated (a PR, a commit...).")
@click.option("--base", default=None, metavar="REV", help="Diff from this revision. Default: HEAD.")
@click.option(
    "--head",
    default=None,
    metavar="REV",
    help="Diff to this revision. Default: the work tree (with the index).",
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The git work tree the probes run in.",
)
@click.option("--strict", is_flag=True, help="Conditionally ready does not pass either.")
@click.option(
    "--automated",
    is_flag=True,
    help="The change is an automated healer's: no allowed suppression applies.",
)
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["md", "json"]),
    default="md",
    show_default=True,
    help="The report printed at the end.",
)
@server_option(f"The ledgerd to record to (also unix:PATH). Default: ${SERVER_ENV}.")
@retry_deadline_option(_GATE_RETRY.overall_deadline_s)
@spool_option(
    "Where evidence the ledger could not take is kept for `ledgerctl spool flush`. "
    "Default: as for `ledgerctl emit run`."
)
@json_option
def gate_run(
    config_path: Path,
    subject: str,
    base: str | None,
    head: str | None,
    repo: Path,
    strict: bool,
    automated: bool,
    report_format: Literal["md", "json"],
    server: str | None,
    retry_deadline: float | None,
    spool_path: Path | None,
    as_json: bool,
) -> None:
    """Gate SUBJECT: run the probes, inspect the diff, ingest findings, record it all,
    read the ledger's verdict, record the decision, print the report.

    Exits 0 when the subject is ready (or conditionally ready, unless --strict),
    4 (policy_blocked, GATE_BLOCKED) otherwise. If the ledger cannot be reached
    the evidence is spooled and the gate exits non-zero: no recorded verdict,
    no pass.
    """
    from gate.config import load_gate_config
    from gate.report import render_report
    from gate.run import GateRequest, blocked, collect, decide

    if server is None and not os.environ.get(SERVER_ENV, "").strip():
        raise usage_error(
            "gate run needs a ledgerd to record to",
            f"pass --server HOST:PORT (or unix:PATH), or set {SERVER_ENV}",
        )
    target = resolve_target(None, server, retry_deadline)
    if not isinstance(target, ServerTarget):
        raise usage_error("gate run needs --server", "the gate records through a running ledgerd")
    loaded = load_gate_config(config_path)
    request = GateRequest(
        config=loaded.config,
        config_sha256=loaded.sha256,
        subject=subject,
        repo=repo,
        base=base,
        head=head,
        strict=strict,
        automated=automated,
        config_path=config_path,
    )
    clock = clock_from_env()
    evidence = collect(request, clock=clock, environ=os.environ)
    for notice in evidence.notices:
        stderr.print(f"note: {visible(notice)}")
    spool = Spool(spool_path)
    # The verdict read may wait for the projections up to `[gate] wait_s`, and no longer.
    wait_s = loaded.config.gate.wait_s
    reading = RetryPolicy(overall_deadline_s=wait_s, call_timeout_s=min(wait_s, 10.0))
    with (
        LedgerClient(target.address, retry=retry_policy(retry_deadline, _GATE_RETRY)) as client,
        LedgerClient(target.address, retry=reading) as reader,
    ):
        decision = decide(evidence, client, clock=clock, spool=spool, reader=reader)
        snapshot = take_snapshot(
            OnlineSource(target, client),
            scope="subject",
            ref=subject,
            at=parse_instant(decision.verdict["evaluated_at"], "evaluated_at"),
            min_seq=decision.evaluated_seq,
        )
    outcome = {
        "passed": decision.passed,
        "run_id": evidence.run_id,
        "evaluated_seq": decision.evaluated_seq,
        "resolved_findings": list(decision.resolved),
    }
    report = render_report(snapshot, fmt="json" if as_json else report_format)
    if as_json:
        document = {**msgspec.json.decode(report), **outcome}
        if not decision.passed:
            raise blocked(decision).with_report(document)
        write_json({**document, "ok": True})
        return
    sys.stdout.buffer.write(report)
    sys.stdout.buffer.flush()
    if not decision.passed:
        raise blocked(decision)
