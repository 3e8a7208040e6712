"""The JSON documents the projection queries answer with (specs/projections.md).

One rendering for every edge: the daemon sends these bytes over gRPC and the
CLI prints them under `--json`, so the same state and evaluation time give the
same bytes everywhere. Member order is fixed by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.projections.health_rules import SourceHealth, Suppression
from ledger.projections.runs import Provenance, RunRow, Upstream
from ledger.projections.sources import SourceRow, SuppressionRow
from ledger.projections.subjects import (
    EditRow,
    FindingRow,
    GateRow,
    PatchRow,
    ProbeRow,
    SubjectState,
)
from ledger.projections.verdict_rules import (
    STUCK_RUNS,
    Because,
    Healing,
    JudgedFinding,
    JudgedHealer,
    RequiredFix,
    Verdict,
)

Json = dict[str, Any]

FINDING_STATUSES = ("open", "waived", "expired_waiver", "resolved")


def because_json(because: Because) -> Json:
    return {
        "rule": because.rule,
        "reason": because.reason,
        "findings": list(because.findings),
        "waivers": list(because.waivers),
        "probes": list(because.probes),
        "seqs": list(because.seqs),
    }


def fix_json(fix: RequiredFix) -> Json:
    return {
        "kind": fix.kind,
        "ref": fix.ref,
        "severity": fix.severity,
        "text": fix.text,
        "seq": fix.seq,
    }


def finding_json(found: JudgedFinding) -> Json:
    row: FindingRow = found.row
    resolution = row.resolution
    return {
        "finding_id": row.finding_id,
        "subject": row.subject,
        "status": found.status,
        "severity": row.severity,
        "category": row.category,
        "evidence": row.evidence,
        "file": row.file,
        "line": row.line,
        "what": row.what,
        "why": row.why,
        "when": row.when,
        "proposed_fix": row.proposed_fix,
        "rule_id": row.rule_id,
        "stage": row.stage,
        "run_id": row.run_id,
        "producer": row.producer,
        "first_seq": row.first_seq,
        "reported_seq": row.reported_seq,
        "reports": row.reports,
        "reopened": row.reopened,
        "reopened_seq": row.reopened_seq,
        "resolution": None
        if resolution is None
        else {
            "seq": resolution.seq,
            "resolution": resolution.resolution,
            "resolved_by": resolution.resolved_by,
            "note": resolution.note,
        },
        "waivers": [
            {
                "waiver_id": w.row.waiver_id,
                "status": w.status,
                "risk": w.row.risk,
                "owner": w.row.owner,
                "justification": w.row.justification,
                "mitigation": w.row.mitigation,
                "expiry": w.row.expiry,
                "granted_seq": w.row.granted_seq,
                "granted_at": w.row.granted_at,
                "revocation": None
                if w.row.revocation is None
                else {
                    "seq": w.row.revocation.seq,
                    "reason": w.row.revocation.reason,
                    "revoked_by": w.row.revocation.revoked_by,
                },
            }
            for w in found.waivers
        ],
        "conflicting_seqs": list(row.conflicting_seqs),
    }


def _patch_json(patch: PatchRow | None) -> Json | None:
    if patch is None:
        return None
    return {
        "seq": patch.seq,
        "event_id": patch.event_id,
        "producer": patch.producer,
        "verdict": patch.verdict,
        "automated": patch.automated,
        "diff_sha256": patch.diff_sha256,
        "summary": patch.summary,
        "edits": [_edit_json(e) for e in patch.edits],
        "allowed": [_edit_json(e) for e in patch.allowed],
    }


def _edit_json(edit: EditRow) -> Json:
    return {
        "type": edit.type,
        "severity": edit.severity,
        "file": edit.file,
        "line": edit.line,
        "evidence": edit.evidence,
    }


def _probe_json(probe: ProbeRow) -> Json:
    return {
        "probe": probe.probe,
        "seq": probe.seq,
        "command": probe.command,
        "status": probe.status,
        "exit_code": probe.exit_code,
        "duration_ms": probe.duration_ms,
        "stdout_stderr_summary": probe.summary,
        "producer": probe.producer,
    }


def _gate_json(gate: GateRow | None) -> Json | None:
    if gate is None:
        return None
    return {
        "seq": gate.seq,
        "producer": gate.producer,
        "production_readiness": gate.production_readiness,
        "correctness": gate.correctness,
        "isolation": gate.isolation,
        "blast_radius": gate.blast_radius,
        "required_fixes_before_merge": list(gate.required_fixes_before_merge),
        "evaluated_at": gate.evaluated_at,
        "passed": gate.passed,
        "strict": gate.strict,
    }


def _latest_healing_json(healer: JudgedHealer | None) -> Json | None:
    if healer is None:
        return None
    run = healer.last
    return {
        "run_id": run.run_id,
        "seq": run.seq,
        "agent_name": healer.row.agent_name,
        "producer": run.producer,
        "run_status": run.run_status,
        "heal_reason": run.heal_reason,
        "outcome": healer.outcome,
        "recorded_at": run.recorded_at,
        "unresolved_findings": run.unresolved,
        "findings_fingerprint": run.fingerprint,
    }


def _healer_json(healer: JudgedHealer) -> Json:
    return {
        "agent_name": healer.row.agent_name,
        "outcome": healer.outcome,
        "heal_reason": healer.last.heal_reason,
        "stuck": healer.stuck,
        "stuck_because": healer.stuck_because,
        "runs_considered": len(healer.considered),
        "repeated_fingerprint": healer.repeated_fingerprint,
        "last_seq": healer.last.seq,
        "run_ids": [run.run_id for run in healer.considered],
    }


def _healing_json(healing: Healing) -> Json:
    return {
        "latest": _latest_healing_json(healing.latest),
        "healers": [_healer_json(healer) for healer in healing.healers],
        "stuck_runs": STUCK_RUNS,
    }


def position_json(position: int, as_of: int | None, evaluated_at: str | None) -> Json:
    """The members every view starts with: what it was computed over, and when."""
    document: Json = {"log_position": position, "as_of": as_of}
    if evaluated_at is not None:
        document["evaluated_at"] = evaluated_at
    return document


def verdict_json(head: Json, subject: SubjectState, verdict: Verdict) -> Json:
    fields = {
        "production_readiness": verdict.production_readiness,
        "correctness": verdict.correctness,
        "isolation": verdict.isolation,
        "blast_radius": verdict.blast_radius,
    }
    grouped: dict[str, list[Json]] = {status: [] for status in FINDING_STATUSES}
    for found in verdict.findings:
        grouped[found.status].append(finding_json(found))
    return {
        **head,
        "subject": subject.subject,
        "known": subject.last_seq is not None,
        "last_seq": subject.last_seq,
        "verdict": {
            **{name: decided.value for name, decided in fields.items()},
            "required_fixes_before_merge": [
                fix.text for fix in verdict.required_fixes_before_merge
            ],
        },
        "explanation": {
            **{
                name: {"value": decided.value, **because_json(decided.because)}
                for name, decided in fields.items()
            },
            "required_fixes_before_merge": [
                fix_json(fix) for fix in verdict.required_fixes_before_merge
            ],
        },
        "findings": grouped,
        "patch_inspection": _patch_json(subject.patch),
        "probes": [_probe_json(p) for p in subject.probes],
        "last_gate_evaluation": _gate_json(subject.gate),
        "healing": _healing_json(verdict.healing),
    }


def _suppression_json(suppression: Suppression | None) -> Json | None:
    if suppression is None:
        return None
    return {
        "suppression_id": suppression.suppression_id,
        "reason": suppression.reason,
        "owner": suppression.owner,
        "expiry": suppression.expiry,
        "seq": suppression.seq,
    }


def source_json(row: SourceRow, health: SourceHealth) -> Json:
    return {
        "source_id": row.source_id,
        "status": health.status,
        "score": health.score,
        "tier": health.tier,
        "registered": health.registered,
        "expected_interval_s": health.expected_interval_s,
        "failure_budget": health.failure_budget,
        "codes": [
            {"code": c.code, "message": c.message, "hint": c.hint, "details": c.details}
            for c in health.codes
        ],
        "blocks": health.blocks,
        "suppressed_by": _suppression_json(health.suppressed_by),
        "first_seen_seq": row.first_seen_seq,
        "last_seen_seq": row.last_seen_seq,
        "last_seen_at": row.last_seen_at,
        "last_ok_at": row.last_ok_at,
        "last_failure_at": row.last_failure_at,
        "last_error_code": row.last_error_code,
        "last_latency_ms": row.last_latency_ms,
        "consecutive_failures": row.consecutive_failures,
        "ok_count": row.ok_count,
        "failure_count": row.failure_count,
        "window": {"failures": health.window_failures, "size": health.window_size},
    }


def suppression_entry_json(row: SuppressionRow, status_now: str) -> Json:
    return {
        "seq": row.seq,
        "action": row.action,
        "suppression_id": row.suppression_id,
        "reason": row.reason,
        "owner": row.owner,
        "expiry": row.expiry,
        "recorded_at": row.recorded_at,
        "effective_at": row.effective_at,
        "producer": row.producer,
        "status_now": status_now,
    }


def run_json(row: RunRow) -> Json:
    return {
        "run_id": row.run_id,
        "seq": row.seq,
        "event_id": row.event_id,
        "recorded_at": row.recorded_at,
        "producer": row.producer,
        "agent_name": row.agent_name,
        "run_status": row.run_status,
        "status_before": row.status_before,
        "status_after": row.status_after,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "mode": row.mode,
        "exit_code": row.exit_code,
        "config_fingerprint": row.config_fingerprint,
        "git_head": row.git_head,
        "subject": row.subject,
        "heal_reason": row.heal_reason,
        "input_refs": list(row.input_refs),
        "output_refs": list(row.output_refs),
    }


def _upstream_json(node: Upstream) -> Json:
    return {
        "run_id": node.run.run_id,
        "seq": node.run.seq,
        "agent_name": node.run.agent_name,
        "run_status": node.run.run_status,
        "via_ref": node.via_ref,
        "depth": node.depth,
        "upstream": [_upstream_json(child) for child in node.upstream],
    }


def provenance_json(found: Provenance) -> Json:
    return {
        "upstream": [_upstream_json(node) for node in found.upstream],
        "unresolved_refs": list(found.unresolved_refs),
        "truncated": found.truncated,
    }


def counts(items: Sequence[Json], key: str, values: Sequence[str]) -> Json:
    return {value: sum(1 for item in items if item[key] == value) for value in values}
