"""One gate run: collect the evidence, record it, read the ledger's verdict, record the decision.

A run has two halves (specs/gate.md, "Gate run"):

1. `collect` does the local work and touches no ledger: it runs the probes,
   inspects the diff between base and head with the honesty guard, and reads
   the findings files. The result is the list of events to record, with their
   ids already fixed, so recording them again is idempotent.
2. `decide` writes those events through the client stubs, waits until the
   projections have folded them, reads the subject's verdict, and appends a
   `gate.evaluated` event recording the decision at that log position.

It fails closed. If the ledger cannot take the evidence, the events not yet
acknowledged go to the spool (nothing is lost; `ledgerctl spool flush` lands
them later) and the error is raised: without a recorded verdict there is no
decision, so the caller exits non-zero, never with a silent pass.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from clients.client import LedgerClient
from clients.event import Event
from clients.hook import build_run_record, spoolable
from clients.spool import Spool
from gate import git
from gate._text import one_line, stream_name
from gate.config import GateConfig
from gate.guard import Inspection, edit_findings, inspect_patch
from gate.ingest import load_findings
from gate.probes import ProbeResult, run_probe
from ledger.clock import Clock
from ledger.errors import ErrorCode, InvalidInput, LedgerError, PolicyBlocked
from ledger.model import FindingV1, GateEvaluatedV1, Payload
from ledger.store.lmdb_store import MAX_BATCH

Json = dict[str, Any]

#: Events are appended in batches of at most this many (each batch is atomic).
APPEND_CHUNK = min(MAX_BATCH, 1000)


@dataclass(frozen=True)
class GateRequest:
    """What to gate, where, and how strictly."""

    config: GateConfig
    #: The config file: its bytes' digest is the gate run's `config_fingerprint`.
    config_path: Path
    subject: str
    #: The git work tree the probes run in and the diff is taken from.
    repo: Path
    #: Diff from `base` (default HEAD) to `head` (default: the work tree and index).
    base: str | None = None
    head: str | None = None
    #: Conditionally ready fails too (also set by `[gate] strict`).
    strict: bool = False
    #: The patch came from an automated healer: no allowance covers its edits.
    automated: bool = False


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
    #: In append order; the run record comes last, after what it summarises.
    events: tuple[Event, ...]


@dataclass(frozen=True)
class GateDecision:
    """The ledger half's result: the verdict read and the decision recorded from it."""

    evidence: Evidence
    verdict: Json
    evaluation: GateEvaluatedV1
    #: Where the `gate.evaluated` event landed.
    evaluated_seq: int

    @property
    def passed(self) -> bool:
        return self.evaluation.passed


def _event(
    evidence_kind: str,
    payload: Payload,
    *,
    stream: str,
    producer: str,
    run_id: str,
    index: int,
    clock: Clock,
    schema_version: str = "1.0",
) -> Event:
    # Ids derive from the run id, so a retried or spooled append is the same event.
    return Event.create(
        stream=stream,
        type=evidence_kind,
        data=payload,
        producer=producer,
        schema_version=schema_version,
        correlation_id=run_id,
        event_id=f"gate-{run_id}-{index}",
        clock=clock,
    )


def _run_status(probes: Sequence[ProbeResult]) -> tuple[str, int]:
    failed = sum(1 for p in probes if p.status != "passed")
    if not failed:
        return "SUCCESS", 0
    return ("FAILED" if failed == len(probes) else "PARTIAL"), 1


def _config_fingerprint(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise InvalidInput(
            ErrorCode.INVALID_CONFIG,
            f"cannot read the gate config {path}: {exc.strerror}",
            hint="pass --config at a readable gate.toml",
        ) from None


def _inside(repo: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(repo.resolve())


def collect(request: GateRequest, *, clock: Clock, environ: Mapping[str, str]) -> Evidence:
    """Run the probes, inspect the diff, read the findings files (no ledger involved)."""
    config = request.config
    producer = config.gate.name
    run_id = str(uuid.uuid4())
    started = clock.now()
    repo = request.repo
    base = git.resolve_revision(repo, request.base or "HEAD")
    head = git.resolve_revision(repo, request.head) if request.head is not None else None
    probes = tuple(
        run_probe(spec, config.probes, workdir=repo, environ=environ) for spec in config.probe
    )
    inspection = inspect_patch(
        git.diff(repo, base, head), config.guard, automated=request.automated, now=started
    )
    findings = list(edit_findings(inspection, subject=request.subject, run_id=run_id))
    finding_files = [repo / item.path for item in config.findings]
    for item, path in zip(config.findings, finding_files, strict=True):
        if item.optional and not path.exists():
            continue
        findings.extend(
            load_findings(path, item.format, subject=request.subject, run_id=run_id, base_dir=repo)
        )
    stream = stream_name("gate", request.subject)
    payloads: list[tuple[str, Payload, str]] = [
        *(("command.executed", p.to_payload(request.subject, run_id), stream) for p in probes),
        ("patch.inspected", inspection.to_payload(request.subject, run_id), stream),
        *(
            ("finding.reported", f, stream_name("findings", request.subject))
            for f in sorted(findings, key=lambda f: f.finding_id)
        ),
    ]
    events = [
        _event(kind, payload, stream=where, producer=producer, run_id=run_id, index=i, clock=clock)
        for i, (kind, payload, where) in enumerate(payloads)
    ]
    status, exit_code = _run_status(probes)
    events.append(
        build_run_record(
            agent=producer,
            status=status,  # type: ignore[arg-type]
            workspace=repo,
            started_at=started,
            ended_at=clock.now(),
            config_fingerprint=_config_fingerprint(request.config_path),
            inputs=[path for path in finding_files if path.exists() and _inside(repo, path)],
            input_refs=[base],
            output_refs=[],
            exit_code=exit_code,
            notes=one_line(inspection.summary, 16_384),
            run_id=run_id,
            head=head or base,
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
        findings=tuple(findings),
        events=tuple(events),
    )


def _append_all(client: LedgerClient, events: Sequence[Event], spool: Spool | None) -> int:
    """Append `events` in atomic chunks; the seq of the last. Unacknowledged ones are spooled."""
    last = -1
    for start in range(0, len(events), APPEND_CHUNK):
        chunk = events[start : start + APPEND_CHUNK]
        try:
            outcome = client.append_batch(chunk)
        except LedgerError as exc:
            if spool is not None and spoolable(exc):
                for event in events[start:]:
                    spool.append(event)
                exc.add_context(
                    hint=f"; the gate's {len(events) - start} unrecorded events were spooled to "
                    f"{spool.path}: `ledgerctl spool flush` records them once the ledger is back",
                    spooled=len(events) - start,
                )
            raise exc.add_context(where="the gate could not record its evidence") from None
        last = outcome.results[-1].seq
    return last


def _verdict_at(
    client: LedgerClient, subject: str, *, at: datetime, min_seq: int, wait_s: float
) -> Json:
    """The subject's verdict once the projections have folded `min_seq`, waiting up to `wait_s`."""
    give_up = time.monotonic() + wait_s
    while True:
        try:
            return client.projections.verdict(subject, at=at, min_seq=min_seq)
        except LedgerError as exc:
            if exc.code is not ErrorCode.PROJECTION_BEHIND or time.monotonic() >= give_up:
                raise exc.add_context(where="the gate could not read its verdict") from None


def passes(readiness: str, *, strict: bool) -> bool:
    """The gate's rule: ready passes; conditionally ready passes unless strict."""
    return readiness == "ready" or (readiness == "conditionally_ready" and not strict)


def decide(
    evidence: Evidence,
    client: LedgerClient,
    *,
    clock: Clock,
    wait_s: float,
    spool: Spool | None,
) -> GateDecision:
    """Record the evidence, read the verdict it leads to, record the decision (see module doc)."""
    last_seq = _append_all(client, evidence.events, spool)
    at = clock.now()
    verdict = _verdict_at(client, evidence.subject, at=at, min_seq=last_seq, wait_s=wait_s)
    quintet = verdict["verdict"]
    readiness = quintet["production_readiness"]
    passed = passes(readiness, strict=evidence.strict)
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
        passed=passed,
        run_id=evidence.run_id,
    )
    event = _event(
        "gate.evaluated",
        evaluation,
        stream=stream_name("gate", evidence.subject),
        producer=evidence.producer,
        run_id=evidence.run_id,
        index=len(evidence.events),
        clock=clock,
    )
    seq = _append_all(client, [event], spool)
    return GateDecision(
        evidence=evidence, verdict=verdict, evaluation=evaluation, evaluated_seq=seq
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
