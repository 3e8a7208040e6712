"""Deterministic sample events for the demo, the benchmarks and the tests.

The same index always yields the same envelope, so logs built from samples
under a pinned clock have known roots.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from ledger.model import Envelope, FileDigest, FindingV1, RunRecordV1, input_context_sha
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
