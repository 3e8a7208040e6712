"""Deterministic sample events for the demo, the benchmarks and the tests.

The same index always yields the same envelope, so logs built from samples
under a pinned clock have known roots.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from ledger.model import (
    CommandExecutedV1,
    Envelope,
    FileDigest,
    FindingResolvedV1,
    FindingV1,
    GateEvaluatedV1,
    PatchEdit,
    PatchInspectedV1,
    Payload,
    RunRecordV1,
    SourceCheckedV1,
    WaiverGrantedV1,
    input_context_sha,
)
from ledger.model.finding import FindingCategory, Severity

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_AGENTS = ("fixer-agent", "test-agent", "docs-agent")
_SEVERITIES: tuple[Severity, ...] = ("P0", "P1", "P2", "P3")
_CATEGORIES: tuple[FindingCategory, ...] = (
    "correctness",
    "security",
    "test_integrity",
    "performance",
)


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def sample_uuid7(index: int, *, base_ms: int = 1_767_225_600_000) -> str:
    """A UUIDv7 whose timestamp and random bits are derived from `index`."""
    rand = int.from_bytes(hashlib.sha256(f"uuid/{index}".encode()).digest()[:10], "big")
    value = (base_ms + index) << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def _time(index: int, offset_s: int = 0) -> str:
    instant = _EPOCH + timedelta(seconds=index + offset_s)
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def sample_run(index: int, *, notes: str = "") -> Envelope:
    """A successful or failed `run.recorded` with two inputs and one output."""
    agent = _AGENTS[index % len(_AGENTS)]
    inputs = [
        FileDigest(path=f"src/module_{index % 7}.py", sha256=_digest("in", index, 1)),
        FileDigest(path="pyproject.toml", sha256=_digest("in", index, 2)),
    ]
    failed = index % 5 == 4
    return Envelope(
        event_id=f"run-{index}",
        stream=f"runs/{agent}",
        type="run.recorded",
        schema_version="1.0",
        occurred_at=_time(index, 60),
        producer=agent,
        correlation_id=f"pipeline-{index // 10}",
        data=RunRecordV1(
            run_id=sample_uuid7(index),
            agent_name=agent,
            run_status="FAILED" if failed else "SUCCESS",
            status_before="failing",
            status_after="failing" if failed else "passing",
            started_at=_time(index),
            ended_at=_time(index, 60),
            input_files=inputs,
            output_files=[
                FileDigest(path=f"out/report_{index}.json", sha256=_digest("out", index))
            ],
            input_context_sha=input_context_sha(inputs),
            git_head=_digest("commit", index // 10)[:40],
            config_fingerprint=_digest("config", agent),
            mode="strict",
            best_effort=None,
            input_refs=[],
            output_refs=[],
            exit_code=1 if failed else 0,
            heal_reason="test_failed" if failed else "ship",
            notes=notes,
        ),
    )


def sample_finding(index: int) -> Envelope:
    """A `finding.reported` against one of a few subjects, tied to a sample run."""
    return Envelope(
        event_id=f"finding-{index}",
        stream=f"findings/change-{index % 3}",
        type="finding.reported",
        schema_version="1.0",
        occurred_at=_time(index, 90),
        producer="gate-lane-1",
        data=FindingV1(
            finding_id=f"F-{index}",
            subject=f"change-{index % 3}",
            severity=_SEVERITIES[index % 4],
            evidence="verified" if index % 2 else "hypothesis",
            file=f"src/module_{index % 7}.py",
            line=10 + index % 50,
            what="unchecked return value",
            why="a failed write is reported as success",
            when="when the disk is full",
            proposed_fix="check the result and raise",
            rule_id="RET-001",
            stage="stage-5",
            category=_CATEGORIES[index % 4],
            run_id=sample_uuid7(index),
        ),
    )


def sample_events(count: int) -> list[Envelope]:
    """`count` events: a run record, then a finding from that run, alternately."""
    return [sample_run(i // 2) if i % 2 == 0 else sample_finding(i // 2) for i in range(count)]


def _envelope(index: int, kind: str, stream: str, producer: str, data: Payload) -> Envelope:
    return Envelope(
        event_id=f"{kind}-{index}",
        stream=stream,
        type=kind,
        schema_version="1.0",
        occurred_at=_time(index),
        producer=producer,
        data=data,
    )


def _pipeline_event(index: int) -> Envelope:
    """Event `index` of a pipeline's steady mix (see `sample_pipeline_events`)."""
    step, cycle = index % 20, index // 20
    subject = f"change-{cycle % 50}"
    if step in (0, 10):
        return sample_run(index)
    if step in (1, 5, 15):
        return sample_finding(index)
    if step == 6:
        return _envelope(
            index,
            "finding.resolved",
            f"findings/{subject}",
            "gate-lane-1",
            FindingResolvedV1(finding_id=f"F-{index - 5}", resolution="fixed", resolved_by="bob"),
        )
    if step in (2, 3, 7, 11, 13, 16, 17, 19):
        service = f"svc-{index % 4}"
        ok = index % 11 != 0
        return _envelope(
            index,
            "source.checked",
            f"sources/{service}",
            "prober-1",
            SourceCheckedV1(
                source_id=service,
                ok=ok,
                latency_ms=index % 900,
                error_code=None if ok else "HTTP_503",
            ),
        )
    if step in (4, 8, 12, 18):
        failed = index % 9 == 0
        return _envelope(
            index,
            "command.executed",
            f"gate/{subject}",
            "gate-lane-2",
            CommandExecutedV1(
                subject=subject,
                probe=("tests", "lint", "typecheck", "build")[step // 5],
                command="python -m pytest -q",
                status="failed" if failed else "passed",
                exit_code=1 if failed else 0,
                duration_ms=index % 5000,
                stdout_stderr_summary="1 failed" if failed else "all passed",
            ),
        )
    if step == 9:
        if cycle % 10 == 0:
            return _envelope(
                index,
                "waiver.granted",
                f"waivers/{subject}",
                "alice",
                WaiverGrantedV1(
                    waiver_id=f"W-{index}",
                    finding_id=f"F-{index - 8}",
                    risk="medium",
                    owner="alice",
                    justification="fixed in the follow-up change",
                    mitigation="feature flag off",
                    expiry=_time(index, 86_400),
                ),
            )
        unsafe = cycle % 7 == 0
        edits = [
            PatchEdit(
                type="auth_bypass",
                severity="critical",
                file="src/auth.py",
                line=3,
                evidence="skipAuth: true",
            )
        ]
        return _envelope(
            index,
            "patch.inspected",
            f"gate/{subject}",
            "gate-lane-1",
            PatchInspectedV1(
                subject=subject,
                verdict="UNSAFE_PATCH_ATTEMPT" if unsafe else "CLEAN",
                automated=True,
                diff_sha256=_digest("diff", index),
                edits=edits if unsafe else [],
                summary="1 forbidden edit" if unsafe else "clean",
            ),
        )
    return _envelope(
        index,
        "gate.evaluated",
        f"gate/{subject}",
        "gate-lane-1",
        GateEvaluatedV1(
            subject=subject,
            production_readiness="not_ready",
            correctness="high_risk",
            isolation="moderate",
            blast_radius="wide",
            required_fixes_before_merge=["fix F-1"],
            evaluated_at=_time(index),
            log_position=index,
            strict=False,
            passed=False,
        ),
    )


def sample_pipeline_events(count: int) -> list[Envelope]:
    """`count` events in the steady mix of a busy pipeline, for projection benchmarks.

    Per 20 events: 2 run records, 3 findings and 1 resolution, 8 source checks
    from a prober, 4 probe runs, 1 patch inspection (or, every 10th cycle, a
    waiver) and 1 recorded gate evaluation, over 50 subjects and 4 services.
    """
    return [_pipeline_event(index) for index in range(count)]
