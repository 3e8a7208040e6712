"""Checkers for the gate report's contract kinds (specs/reports.md).

`report_escape`: a text and the table cell it must become (and, optionally, the
text a code block shows for it). `report_sections`: a short-hand verdict document,
the section order both formats must follow and the labels the report must carry.

`verdict_document` expands the short-hand into a whole verdict document
(specs/projections.md §6.1); tests/gate/test_report.py uses it too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from gate import _markdown as md
from gate.report import SECTIONS, render_report
from gate.snapshot import CheckpointRef, Snapshot

Json = dict[str, Any]

_DEFAULT_RULES = {
    "production_readiness": "READY-7",
    "correctness": "CORRECT-7",
    "isolation": "ISOLATION-4",
    "blast_radius": "BLAST-7",
}
_DEFAULT_VALUES = {
    "production_readiness": "ready",
    "correctness": "correct",
    "isolation": "strong",
    "blast_radius": "minimal",
}
_HEADING = re.compile(r"^## (.*)$", re.MULTILINE)


def _finding(short: Mapping[str, Any], index: int) -> Json:
    finding: Json = {
        "finding_id": f"F-{index + 1}",
        "subject": "pr-7",
        "status": "open",
        "severity": "P2",
        "category": "correctness",
        "evidence": "verified",
        "file": "src/app.py",
        "line": 1,
        "what": "unchecked return value",
        "why": "a failed write is reported as success",
        "when": "when the disk is full",
        "proposed_fix": "check the result",
        "rule_id": "RET-001",
        "stage": "final",
        "run_id": "00000000-0000-0000-0000-000000000000",
        "producer": "gate-lane-1",
        "first_seq": index,
        "reported_seq": index,
        "reports": 1,
        "reopened": 0,
        "reopened_seq": None,
        "resolution": None,
        "waivers": [],
        "conflicting_seqs": [],
    }
    finding.update({k: v for k, v in short.items() if k not in ("resolution", "waiver")})
    if finding["status"] == "resolved":
        finding["resolution"] = {
            "seq": index,
            "resolution": short.get("resolution", "fixed"),
            "resolved_by": "alice",
            "note": "",
        }
    if finding["status"] in ("waived", "expired_waiver"):
        finding["waivers"] = [
            {
                "waiver_id": short.get("waiver", "W-1"),
                "status": "active" if finding["status"] == "waived" else "expired",
                "risk": "medium",
                "owner": "team-payments",
                "justification": "internal only",
                "mitigation": "network policy",
                "expiry": "2026-02-01T00:00:00Z",
                "granted_seq": index,
                "granted_at": "2026-01-01T11:00:00.000000Z",
                "revocation": None,
            }
        ]
    return finding


def _probe(short: Mapping[str, Any], index: int) -> Json:
    status = short.get("status", "passed")
    return {
        "probe": short.get("probe", f"probe-{index}"),
        "seq": index,
        "command": short.get("command", "make check"),
        "status": status,
        "exit_code": short.get("exit_code", 0 if status == "passed" else 1),
        "duration_ms": 10,
        "stdout_stderr_summary": short.get("stdout_stderr_summary", ""),
        "producer": "gate-lane-1",
    }


def _patch(short: Mapping[str, Any] | None) -> Json | None:
    if short is None:
        return None
    edits = [
        {"type": t, "severity": "high", "file": "src/app.py", "line": 1, "evidence": "edit"}
        for t in short.get("edits", [])
    ]
    patch: Json = {
        "seq": 0,
        "event_id": "e-patch",
        "producer": "gate-lane-1",
        "verdict": "UNSAFE_PATCH_ATTEMPT" if edits else "CLEAN",
        "automated": short.get("automated", True),
        "diff_sha256": "0" * 64,
        "summary": "",
        "edits": edits,
    }
    if "allowed" in short:
        patch["allowed"] = [
            {"type": t, "severity": "low", "file": "src/app.py", "line": 2, "evidence": "edit"}
            for t in short["allowed"]
        ]
    return patch


def _gate(short: Mapping[str, Any] | None, verdict: Json) -> Json | None:
    if short is None:
        return None
    return {
        "seq": 0,
        "producer": "gate-lane-1",
        **{name: verdict[name] for name in _DEFAULT_VALUES},
        "required_fixes_before_merge": list(verdict["required_fixes_before_merge"]),
        "evaluated_at": "2026-01-01T11:00:00.000000Z",
        "passed": True,
        "strict": True,
        **short,
    }


def verdict_document(short: Mapping[str, Any]) -> Json:
    """A whole verdict document from `short`: members it leaves out take quiet defaults.

    `short` may give `subject`, `known`, `verdict` (any of the quintet), `rules`,
    `findings` (each a partial finding; `resolution` and `waiver` name a resolution
    or waiver id), `probes`, `patch` (`edits`/`allowed` as edit types),
    `last_gate_evaluation` (partial) and `healing` (taken as it is).
    """
    verdict = {**_DEFAULT_VALUES, "required_fixes_before_merge": []}
    verdict.update(short.get("verdict", {}))
    rules = {**_DEFAULT_RULES, **short.get("rules", {})}
    findings = [_finding(item, index) for index, item in enumerate(short.get("findings", []))]
    document: Json = {
        "log_position": 1,
        "as_of": None,
        "evaluated_at": "2026-01-02T00:00:00.000000Z",
        "subject": short.get("subject", "pr-7"),
        "known": short.get("known", True),
        "last_seq": 0 if short.get("known", True) else None,
        "verdict": verdict,
        "explanation": {
            **{
                name: {
                    "value": verdict[name],
                    "rule": rules[name],
                    "reason": "as the case says",
                    "findings": [],
                    "waivers": [],
                    "probes": [],
                    "seqs": [],
                }
                for name in _DEFAULT_VALUES
            },
            "required_fixes_before_merge": [
                {"kind": "finding", "ref": "F-1", "severity": "P0", "text": text, "seq": 0}
                for text in verdict["required_fixes_before_merge"]
            ],
        },
        "findings": {
            status: [f for f in findings if f["status"] == status]
            for status in ("open", "waived", "expired_waiver", "resolved")
        },
        "patch_inspection": _patch(short.get("patch")),
        "probes": [_probe(item, index) for index, item in enumerate(short.get("probes", []))],
        "last_gate_evaluation": _gate(short.get("last_gate_evaluation"), verdict),
    }
    if "healing" in short:
        document["healing"] = short["healing"]
    return document


def snapshot_for(document: Json) -> Snapshot:
    """A subject snapshot holding `document` and no runs, at a fixed checkpoint."""
    return Snapshot(
        scope="subject",
        scope_ref=document["subject"],
        checkpoint=CheckpointRef(origin=None, tree_size=1, root_hash="ab" * 32),
        evaluated_at=document["evaluated_at"],
        verdicts=(document,),
        runs=(),
    )


def check_report_escape(case: Any) -> None:
    c = case.case
    assert md.cell(c["text"]) == c["cell"]
    if "raw" in c:
        assert md.raw_text(c["text"]) == c["raw"]


def check_report_sections(case: Any) -> None:
    c = case.case
    snapshot = snapshot_for(verdict_document(c["input"]))
    text = render_report(snapshot, fmt="md").decode("utf-8")
    document = json.loads(render_report(snapshot, fmt="json"))
    assert _HEADING.findall(text) == case.block["sections"]
    assert [heading for _, heading in SECTIONS] == case.block["sections"]
    assert list(document) == case.block["members"]
    expect = c["expect"]
    assert document["classification_labels"] == expect["labels"]
    for line in expect.get("lines", []):
        assert line in text.splitlines(), line


CHECKERS: dict[str, Callable[..., None]] = {
    "report_escape": check_report_escape,
    "report_sections": check_report_sections,
}
NEEDS_TMP: set[str] = set()
