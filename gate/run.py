"""One gate run: collect the evidence, record it, read the ledger's verdict, record the decision.

A run has two halves (specs/gate.md, "Gate run"):

1. `collect` does the local work and touches no ledger: it runs the probes,
   inspects the diff between base and head with the honesty guard, and reads
   the findings files. The result is the list of events to record, with their
   ids already fixed, so recording them again is idempotent.
2. `decide` resolves the gate's own earlier findings that this run no longer
   reproduces, writes everything through the client stubs, reads the subject's
   verdict over a log that ends with this run's evidence, and appends a
   `gate.evaluated` event recording the decision at that log position.

It fails closed. If the ledger cannot take the evidence, the events not yet
acknowledged go to the spool (nothing is lost; `ledgerctl spool flush` lands
them later) and the error is raised. The decision itself is never spooled: a
decision recorded later, out of order, would be a decision nobody took.
Without a recorded verdict there is no decision, so the caller exits non-zero,
never with a silent pass.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from clients.client import LedgerClient
from clients.event import Event
from clients.hook import build_run_record, spoolable
from clients.spool import Spool
from gate import git
from gate._text import one_line, stream_name
from gate.config import GateConfig
from gate.guard import Inspection, edit_findings, inspect_patch
from gate.ingest import load_findings_report
from gate.probes import ProbeResult, run_probe
from ledger.clock import Clock
from ledger.errors import ErrorCode, InvalidInput, LedgerError, PolicyBlocked
from ledger.model import FindingResolvedV1, FindingV1, GateEvaluatedV1, Payload
from ledger.model._rules import TextLine
from ledger.model.run_record import RunStatus
from ledger.store.lmdb_store import MAX_BATCH

Json = dict[str, Any]

#: Events are appended in batches of at most this many (each batch is atomic).
APPEND_CHUNK = min(MAX_BATCH, 1000)
#: The rule ids of the honesty guard's findings: every run re-inspects the whole change.
GUARD_RULE_PREFIX = "guard/"
_UNRESOLVED = ("open", "waived", "expired_waiver")


@dataclass(frozen=True)
class GateRequest:
    """What to gate, where, and how strictly."""

    config: GateConfig
    #: SHA-256 of the config file's bytes: the gate run's `config_fingerprint`.
    config_sha256: str
    subject: str
    #: The git work tree the probes run in and the diff is taken from.
    repo: Path
    #: Diff from `base` (default HEAD) to `head` (default: the work tree, untracked files too).
    base: str | None = None
    head: str | None = None
    #: Conditionally ready fails too (also set by `[gate] strict`).
    strict: bool = False
    #: The patch came from an automated healer: no allowance covers its edits.
    automated: bool = False
    #: Where the config was read from: when inside `repo`, a change to it blocks.
    config_path: Path | None = None


@dataclass(frozen=True)
class Evidence:
    """The local half's result: everything the run saw, as events ready to append."""

    run_id: str
    subject: str
    strict: bool
    producer: str
    probes: tuple[ProbeResult, ...]
    inspection: Inspection
    findings: tuple[FindingV1, ...]
    #: Whether every configured findings file was read whole, nothing skipped: only
    #: then can a finding from them that this gate reported before, and did not report
    #: now, be taken as gone.
    read_every_source: bool
    #: In append order; the run record comes last, after what it summarises.
    events: tuple[Event, ...]
    #: What a person should know but does not change the events: skipped SARIF
    #: results, importer warnings, findings reported twice in one run, an empty diff.
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class GateDecision:
    """The ledger half's result: the verdict read and the decision recorded from it."""

    evidence: Evidence
    verdict: Json
    evaluation: GateEvaluatedV1
    #: Where the `gate.evaluated` event landed.
    evaluated_seq: int
    #: The gate's earlier findings this run resolved, by id.
    resolved: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.evaluation.passed


def _events(
    payloads: Sequence[tuple[str, Payload, str]],
    *,
    producer: str,
    run_id: str,
    clock: Clock,
    first_index: int = 0,
) -> list[Event]:
    """(type, payload, stream) triples as events of one run, numbered from `first_index`.

    Ids derive from the run id, so a retried or spooled append is the same event.
    """
    return [
        Event.create(
            stream=stream,
            type=kind,
            data=payload,
            producer=producer,
            correlation_id=run_id,
            event_id=f"gate-{run_id}-{index}",
            clock=clock,
        )
        for index, (kind, payload, stream) in enumerate(payloads, first_index)
    ]


def _inspection_payloads(
    inspection: Inspection, subject: str, run_id: str, findings: Sequence[FindingV1]
) -> list[tuple[str, Payload, str]]:
    return [
        ("patch.inspected", inspection.to_payload(subject, run_id), stream_name("gate", subject)),
        *(("finding.reported", f, stream_name("findings", subject)) for f in findings),
    ]


def inspection_events(
    inspection: Inspection, *, subject: str, producer: str, run_id: str, clock: Clock
) -> list[Event]:
    """`patch.inspected` and a `finding.reported` per blocking edit, as `inspect-diff --record`
    writes them (a gate run writes the same, among its other evidence)."""
    findings = edit_findings(inspection, subject=subject, run_id=run_id)
    return _events(
        _inspection_payloads(inspection, subject, run_id, findings),
        producer=producer,
        run_id=run_id,
        clock=clock,
    )


def _run_status(probes: Sequence[ProbeResult]) -> tuple[RunStatus, int]:
    failed = sum(1 for p in probes if p.status != "passed")
    if not failed:
        return "SUCCESS", 0
    return ("FAILED" if failed == len(probes) else "PARTIAL"), 1


def _check_subject(subject: str) -> None:
    try:
        msgspec.convert(subject, TextLine)
    except msgspec.ValidationError:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"--subject {subject[:80]!r} is not one line of 1 to 512 characters",
            hint="name the change as findings do: a PR URL, a branch or a commit id",
            details={"field": "subject"},
        ) from None


def _findings_path(repo: Path, relative: str) -> Path:
    path = repo / relative
    if not path.resolve().is_relative_to(repo.resolve()):
        raise InvalidInput(
            ErrorCode.INVALID_CONFIG,
            f"findings file {relative!r} is outside the repository {repo}",
            hint="[[findings]] paths are relative to the repository and stay inside it",
            details={"path": relative},
        )
    return path


@dataclass(frozen=True)
class _Gathered:
    findings: list[FindingV1]
    files: list[Path]
    read_every_source: bool
    notices: list[str]


def _gather_findings(request: GateRequest, inspection: Inspection, run_id: str) -> _Gathered:
    """The guard's findings, then each findings file's, by id; the first report of an id wins."""
    found = list(edit_findings(inspection, subject=request.subject, run_id=run_id))
    notices: list[str] = []
    files: list[Path] = []
    read_every_source = True
    for item in request.config.findings:
        path = _findings_path(request.repo, item.path)
        if item.optional and not path.exists():
            notices.append(f"{item.path}: optional findings file absent, skipped")
            read_every_source = False
            continue
        report = load_findings_report(
            path, item.format, subject=request.subject, run_id=run_id, base_dir=request.repo
        )
        files.append(path)
        found.extend(report.findings)
        # A result the importer skipped (suppressed in the source, outside the repository)
        # is not a result that went away: this run cannot tell which findings are gone.
        read_every_source = read_every_source and not report.skipped
        notices.extend(f"{item.path}: {warning}" for warning in report.warnings)
        notices.extend(
            f"{item.path}: skipped {skipped.pointer} ({skipped.reason}: {skipped.detail})"
            for skipped in report.skipped
        )
    unique: dict[str, FindingV1] = {}
    for finding in found:
        if finding.finding_id in unique:
            notices.append(
                f"finding {finding.finding_id} reported twice in this run; kept the first"
            )
            continue
        unique[finding.finding_id] = finding
    ordered = sorted(unique.values(), key=lambda f: f.finding_id)
    return _Gathered(ordered, files, read_every_source, notices)


def _locked_files(request: GateRequest) -> tuple[str, ...]:
    """The config file, when it lives in the repository: the change must not touch it.

    The gate reads its config from the work tree the change is in. A change that
    edits it could lower the gate's own bar (drop a probe, widen an allowance,
    empty the protected list), so any edit to it is a blocking edit, whatever
    the policy it sets says.
    """
    if request.config_path is None:
        return ()
    # As named and as resolved: a config that is a link in the repository is locked
    # too (retargeting the link changes the rules as much as editing the file).
    configs = {Path(os.path.abspath(request.config_path)), request.config_path.resolve()}
    repos = {Path(os.path.abspath(request.repo)), request.repo.resolve()}
    return tuple(
        sorted(
            {
                config.relative_to(repo).as_posix()
                for config in configs
                for repo in repos
                if config.is_relative_to(repo)
            }
        )
    )


def _revisions(request: GateRequest) -> tuple[str, str | None, str]:
    """(base, head or None for the work tree, the commit the probes run on)."""
    repo = request.repo
    base = git.resolve_revision(repo, request.base or "HEAD")
    checked_out = git.head_commit(repo)
    if request.head is None:
        return base, None, checked_out
    head = git.resolve_revision(repo, request.head)
    # The probes run in the work tree: it must hold exactly the change being judged.
    if head != checked_out or git.has_tracked_changes(repo):
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"--head {request.head} ({head[:12]}) is not what the work tree holds "
            f"(HEAD {checked_out[:12]}{', with changes' if head == checked_out else ''})",
            hint="check out --head with no local changes before the gate runs (the probes "
            "run in the work tree), or leave --head out to gate the work tree itself",
            details={"head": head, "checked_out": checked_out},
        )
    return base, head, head


def collect(request: GateRequest, *, clock: Clock, environ: Mapping[str, str]) -> Evidence:
    """Run the probes, inspect the diff, read the findings files (no ledger involved)."""
    _check_subject(request.subject)
    config = request.config
    producer = config.gate.name
    run_id = str(uuid.uuid4())
    started = clock.now()
    repo = request.repo
    base, head, commit = _revisions(request)
    # The change is taken before any probe runs: a probe runs the change's own code,
    # which could otherwise rewrite what the guard then sees (refs, config, files).
    inspection = inspect_patch(
        git.diff(repo, base, head),
        config.guard,
        automated=request.automated,
        now=started,
        locked=_locked_files(request),
    )
    probes = tuple(
        run_probe(spec, config.probes, workdir=repo, environ=environ) for spec in config.probe
    )
    gathered = _gather_findings(request, inspection, run_id)
    notices = list(gathered.notices)
    if inspection.files == 0:
        notices.insert(0, f"the change from {base[:12]} is empty: no file was inspected")
    gate_stream = stream_name("gate", request.subject)
    probe_payloads: list[tuple[str, Payload, str]] = [
        ("command.executed", p.to_payload(request.subject, run_id), gate_stream) for p in probes
    ]
    events = _events(
        [
            *probe_payloads,
            *_inspection_payloads(inspection, request.subject, run_id, gathered.findings),
        ],
        producer=producer,
        run_id=run_id,
        clock=clock,
    )
    status, exit_code = _run_status(probes)
    events.append(
        build_run_record(
            agent=producer,
            status=status,
            workspace=repo,
            started_at=started,
            ended_at=clock.now(),
            config_fingerprint=request.config_sha256,
            inputs=gathered.files,
            input_refs=[base],
            output_refs=[],
            exit_code=exit_code,
            notes=inspection.summary,
            run_id=run_id,
            head=commit,
            detect_git_head=False,
            producer=producer,
            subject=request.subject,
            event_id=f"gate-{run_id}-run",
            correlation_id=run_id,
            clock=clock,
        )
    )
    return Evidence(
        run_id=run_id,
        subject=request.subject,
        strict=request.strict or config.gate.strict,
        producer=producer,
        probes=probes,
        inspection=inspection,
        findings=tuple(gathered.findings),
        read_every_source=gathered.read_every_source,
        events=tuple(events),
        notices=tuple(notices),
    )


def _keep(events: Sequence[Event], spool: Spool | None, failure: LedgerError) -> LedgerError:
    """Spool `events` after `failure` if a later flush can land them; the error to raise."""
    if spool is None or not spoolable(failure) or not events:
        return failure.add_context(where="the gate could not record its evidence")
    try:
        for event in events:
            spool.append(event)
    except LedgerError as spool_failure:
        return spool_failure.add_context(
            where=f"the ledger failed ({failure.code}: {failure.message}) and so did the spool",
            hint="; events of this run may be neither recorded nor kept: run the gate again",
            ledger_error_code=str(failure.code),
        )
    return failure.add_context(
        where="the gate could not record its evidence",
        hint=f"; the gate's {len(events)} unrecorded events were spooled to {spool.path}: "
        "`ledgerctl spool flush` records them once the ledger is back",
        spooled=len(events),
    )


def _append_all(client: LedgerClient, events: Sequence[Event], spool: Spool | None) -> int:
    """Append `events` in atomic chunks; the seq of the last. Unacknowledged ones are spooled."""
    last = -1
    for start in range(0, len(events), APPEND_CHUNK):
        try:
            outcome = client.append_batch(events[start : start + APPEND_CHUNK])
        except LedgerError as exc:
            raise _keep(events[start:], spool, exc) from None
        last = outcome.results[-1].seq
    return last


def _stale_findings(client: LedgerClient, evidence: Evidence) -> list[str]:
    """The gate's own unresolved findings on the subject that this run did not reproduce.

    Only findings this gate (its producer) reported are considered. The guard's
    are always re-checked. The findings files' are only when every file was read
    whole, and never for an automated patch: a healer writes the code the tools
    scan, and could silence a tool rather than fix what it found.
    """
    files_rechecked = evidence.read_every_source and not evidence.inspection.automated
    document = client.projections.findings(subject=evidence.subject, statuses=_UNRESOLVED)
    reproduced = {f.finding_id for f in evidence.findings}
    return sorted(
        item["finding_id"]
        for item in document["findings"]
        if item["producer"] == evidence.producer
        and item["finding_id"] not in reproduced
        and (files_rechecked or item["rule_id"].startswith(GUARD_RULE_PREFIX))
    )


def _resolution_events(evidence: Evidence, stale: Sequence[str], clock: Clock) -> list[Event]:
    stream = stream_name("findings", evidence.subject)
    note = f"not reproduced by gate run {evidence.run_id}"
    return _events(
        [
            (
                "finding.resolved",
                FindingResolvedV1(
                    finding_id=finding_id,
                    resolution="fixed",
                    resolved_by=evidence.producer,
                    note=note,
                ),
                stream,
            )
            for finding_id in stale
        ],
        producer=evidence.producer,
        run_id=evidence.run_id,
        clock=clock,
        first_index=len(evidence.events),
    )


def passes(readiness: str, *, strict: bool) -> bool:
    """The gate's rule: ready passes; conditionally ready passes unless strict."""
    return readiness == "ready" or (readiness == "conditionally_ready" and not strict)


def _verdict_through(reader: LedgerClient, subject: str, last_seq: int, at: datetime) -> Json:
    """The verdict over the log through `last_seq`, the end of this run's evidence.

    Usually that is what the projections hold once they have folded it. When
    another writer added to this subject after us, the verdict is replayed as of
    `last_seq`, so a run is judged on its own evidence, never on a later one's.
    """
    try:
        verdict = reader.projections.verdict(subject, at=at, min_seq=last_seq)
        if verdict["last_seq"] is not None and verdict["last_seq"] > last_seq:
            verdict = reader.projections.verdict(subject, at=at, as_of=last_seq)
    except LedgerError as exc:
        raise exc.add_context(
            where="the gate recorded its evidence but could not read the verdict",
            hint="; no decision was recorded: run the gate again",
        ) from None
    return verdict


def decide(
    evidence: Evidence,
    client: LedgerClient,
    *,
    clock: Clock,
    spool: Spool | None,
    reader: LedgerClient | None = None,
) -> GateDecision:
    """Record the evidence, read the verdict it leads to, record the decision (module doc).

    `reader` reads the verdict (default `client`); its retry policy bounds how
    long the gate waits for the projections to fold the evidence.
    """
    try:
        stale = _stale_findings(client, evidence)
    except LedgerError as exc:
        raise _keep(evidence.events, spool, exc) from None
    resolutions = _resolution_events(evidence, stale, clock)
    last_seq = _append_all(client, [*evidence.events, *resolutions], spool)
    verdict = _verdict_through(reader or client, evidence.subject, last_seq, clock.now())
    quintet = verdict["verdict"]
    readiness = quintet["production_readiness"]
    evaluation = GateEvaluatedV1(
        subject=evidence.subject,
        production_readiness=readiness,
        correctness=quintet["correctness"],
        isolation=quintet["isolation"],
        blast_radius=quintet["blast_radius"],
        required_fixes_before_merge=[
            one_line(fix) for fix in quintet["required_fixes_before_merge"]
        ],
        evaluated_at=verdict["evaluated_at"],
        log_position=verdict["log_position"],
        strict=evidence.strict,
        passed=passes(readiness, strict=evidence.strict),
        run_id=evidence.run_id,
    )
    decision = _events(
        [("gate.evaluated", evaluation, stream_name("gate", evidence.subject))],
        producer=evidence.producer,
        run_id=evidence.run_id,
        clock=clock,
        first_index=len(evidence.events) + len(resolutions),
    )
    seq = _append_all(client, decision, None)
    return GateDecision(
        evidence=evidence,
        verdict=verdict,
        evaluation=evaluation,
        evaluated_seq=seq,
        resolved=tuple(stale),
    )


def blocked(decision: GateDecision) -> PolicyBlocked:
    """The GATE_BLOCKED error for a decision that did not pass."""
    evaluation = decision.evaluation
    strict = " under --strict" if evaluation.strict else ""
    return PolicyBlocked(
        ErrorCode.GATE_BLOCKED,
        f"{evaluation.subject} is {evaluation.production_readiness}{strict}: the gate fails",
        hint="fix what `required_fixes_before_merge` lists and run the gate again",
        details={
            "subject": evaluation.subject,
            "production_readiness": evaluation.production_readiness,
            "required_fixes_before_merge": list(evaluation.required_fixes_before_merge),
            "evaluated_seq": decision.evaluated_seq,
            "run_id": decision.evidence.run_id,
            "evaluated_at": evaluation.evaluated_at,
        },
    )
