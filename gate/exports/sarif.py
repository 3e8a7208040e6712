"""The `sarif` export: a snapshot's findings as SARIF 2.1.0 for GitHub code scanning.

One run of the tool `ledgerd`; one result per finding that is not resolved
(GitHub closes an alert whose result is absent from a later upload of the same
category), most severe first. Waived findings carry an accepted external
suppression per active waiver. The log stays within GitHub's upload limits:
when it would not, the least severe results are left out and the run says so
(specs/exports.md §4).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gate.exports._common import (
    LEDGERD_VERSION,
    PRODUCER_URI,
    SEVERITY_RANK,
    json_line,
    scope_json,
)
from gate.snapshot import Json, Snapshot

SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_VERSION = "2.1.0"
TOOL_NAME = "ledgerd"
#: The partial fingerprint that ties a result to its finding across uploads.
FINGERPRINT_KEY = "ledgerdFindingId/v1"
#: Where result locations are relative to: the repository root, for GitHub.
SOURCE_ROOT = "%SRCROOT%"
TRUNCATION_NOTIFICATION = "ledgerd/export-truncated"

LEVELS = {"P0": "error", "P1": "error", "P2": "warning", "P3": "note"}

#: GitHub stores the first 5,000 results of a run and rejects runs with more than 25,000.
GITHUB_MAX_RESULTS = 5_000
#: GitHub rejects uploads over 10 MB gzip-compressed; capping the uncompressed bytes
#: bounds the compressed size without depending on a compressor's output.
GITHUB_MAX_BYTES = 10_000_000
#: The smallest byte budget accepted: a log without results always fits in it.
MIN_BYTES = 65_536


@dataclass(frozen=True)
class SarifLimits:
    """How many results and bytes a SARIF export may hold."""

    max_results: int = GITHUB_MAX_RESULTS
    max_bytes: int = GITHUB_MAX_BYTES

    def __post_init__(self) -> None:
        if self.max_results < 0 or self.max_bytes < MIN_BYTES:
            raise ValueError(f"SARIF limits too small: {self}")


GITHUB_LIMITS = SarifLimits()


def level_of(severity: str) -> str:
    """The SARIF `level` of a finding severity (P0/P1 error, P2 warning, P3 note)."""
    return LEVELS[severity]


def automation_id(snapshot: Snapshot) -> str:
    """`run.automationDetails.id`: `<category>/<tree size>`, the category naming the scope."""
    if snapshot.scope == "all":
        category = "ledgerd/all"
    else:
        category = f"ledgerd/{snapshot.scope}:{snapshot.scope_ref}"
    return f"{category}/{snapshot.checkpoint.tree_size}"


def message_text(text: str) -> str:
    """`text` as a SARIF plain-text message string: literal braces doubled (SARIF §3.11.5)."""
    return text.replace("{", "{{").replace("}", "}}")


def artifact_uri(path: str) -> str:
    """A workspace-relative path as a relative URI reference, percent-encoded (UTF-8)."""
    return quote(path, safe="/")


def render_sarif(snapshot: Snapshot, limits: SarifLimits = GITHUB_LIMITS) -> bytes:
    """The SARIF log of `snapshot`, within `limits` (GitHub's by default)."""
    candidates = sorted(
        (f for f in snapshot.findings() if f["status"] != "resolved"), key=result_order
    )
    keep = min(len(candidates), limits.max_results)
    limited_by = ["max_results"] if keep < len(candidates) else []
    data = json_line(_log(snapshot, candidates, keep, limited_by, limits))
    if len(data) <= limits.max_bytes:
        return data
    limited_by.append("max_bytes")
    # The most results that fit, by bisection: none always fits (`MIN_BYTES`), `keep` does not.
    fits, fitting = 0, json_line(_log(snapshot, candidates, 0, limited_by, limits))
    too_many = keep
    while too_many - fits > 1:
        middle = (fits + too_many) // 2
        data = json_line(_log(snapshot, candidates, middle, limited_by, limits))
        if len(data) <= limits.max_bytes:
            fits, fitting = middle, data
        else:
            too_many = middle
    return fitting


def result_order(finding: Json) -> tuple[int, int, str, str]:
    """Most severe first; unsuppressed before waived; then by subject and finding id."""
    return (
        SEVERITY_RANK[finding["severity"]],
        1 if finding["status"] == "waived" else 0,
        finding["subject"],
        finding["finding_id"],
    )


def _log(
    snapshot: Snapshot,
    candidates: list[Json],
    keep: int,
    limited_by: list[str],
    limits: SarifLimits,
) -> Json:
    kept = candidates[:keep]
    rule_ids = sorted({f["rule_id"] for f in kept})
    index = {rule_id: position for position, rule_id in enumerate(rule_ids)}
    dropped = candidates[keep:]
    invocation: Json = {"executionSuccessful": True}
    if dropped:
        invocation["toolExecutionNotifications"] = [_truncation_notice(len(candidates), dropped)]
    run: Json = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": LEDGERD_VERSION,
                "semanticVersion": LEDGERD_VERSION,
                "informationUri": PRODUCER_URI,
                "rules": [_rule(rule_id, kept) for rule_id in rule_ids],
            }
        },
        "automationDetails": {"id": automation_id(snapshot)},
        "invocations": [invocation],
        "results": [_result(f, index[f["rule_id"]]) for f in kept],
        "properties": {
            "scope": scope_json(snapshot),
            "checkpoint": snapshot.checkpoint.to_json(),
            "evaluated_at": snapshot.evaluated_at,
            "resolved_omitted": sum(1 for f in snapshot.findings() if f["status"] == "resolved"),
            "truncation": {
                "truncated": bool(dropped),
                "results_available": len(candidates),
                "results_kept": len(kept),
                "dropped_by_severity": _by_severity(dropped),
                "limited_by": list(limited_by),
                "limits": {"max_results": limits.max_results, "max_bytes": limits.max_bytes},
            },
        },
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def _by_severity(findings: list[Json]) -> dict[str, int]:
    counts = Counter(f["severity"] for f in findings)
    return {severity: counts[severity] for severity in SEVERITY_RANK}


def _truncation_notice(available: int, dropped: list[Json]) -> Json:
    counts = ", ".join(f"{n} {s}" for s, n in _by_severity(dropped).items() if n)
    text = (
        f"{len(dropped)} of {available} results were left out ({counts}) to stay within "
        "GitHub code scanning limits; the most severe were kept. "
        "The bundle and csv exports hold every finding."
    )
    return {
        "descriptor": {"id": TRUNCATION_NOTIFICATION},
        "level": "warning",
        "message": {"text": message_text(text)},
    }


def _rule(rule_id: str, kept: list[Json]) -> Json:
    findings = [f for f in kept if f["rule_id"] == rule_id]
    most_severe = min((f["severity"] for f in findings), key=SEVERITY_RANK.__getitem__)
    return {
        "id": rule_id,
        "shortDescription": {"text": message_text(f"ledgerd findings of rule {rule_id}")},
        "defaultConfiguration": {"level": level_of(most_severe)},
        # At most 8 tags (the finding categories), under GitHub's 10 shown per rule.
        "properties": {"tags": sorted({f["category"] for f in findings})},
    }


def _result(finding: Json, rule_index: int) -> Json:
    result: Json = {
        "ruleId": finding["rule_id"],
        "ruleIndex": rule_index,
        "level": level_of(finding["severity"]),
        "message": {"text": message_text(_message(finding))},
        "locations": [_location(finding)],
        "partialFingerprints": {FINGERPRINT_KEY: finding["finding_id"]},
    }
    suppressions = [_suppression(w) for w in finding["waivers"] if w["status"] == "active"]
    if suppressions:
        result["suppressions"] = suppressions
    result["properties"] = _properties(finding)
    return result


def _message(finding: Json) -> str:
    paragraphs = [finding["what"], f"Why: {finding['why']}"]
    if finding["when"]:
        paragraphs.append(f"When: {finding['when']}")
    if finding["proposed_fix"]:
        paragraphs.append(f"Proposed fix: {finding['proposed_fix']}")
    return "\n\n".join(paragraphs)


def _location(finding: Json) -> Json:
    physical: Json = {
        "artifactLocation": {"uri": artifact_uri(finding["file"]), "uriBaseId": SOURCE_ROOT}
    }
    if finding["line"] is not None:
        physical["region"] = {"startLine": finding["line"]}
    return {"physicalLocation": physical}


def _suppression(waiver: Json) -> Json:
    return {
        "kind": "external",
        "status": "accepted",
        "justification": waiver["justification"],
        "properties": {
            "waiver_id": waiver["waiver_id"],
            "owner": waiver["owner"],
            "expiry": waiver["expiry"],
            "risk": waiver["risk"],
            "granted_seq": waiver["granted_seq"],
        },
    }


def _properties(finding: Json) -> dict[str, Any]:
    return {
        "severity": finding["severity"],
        "category": finding["category"],
        "evidence": finding["evidence"],
        "status": finding["status"],
        "subject": finding["subject"],
        "stage": finding["stage"],
        "run_id": finding["run_id"],
        "producer": finding["producer"],
        "first_seq": finding["first_seq"],
        "reported_seq": finding["reported_seq"],
        "reopened_seq": finding["reopened_seq"],
        "waivers": [
            {
                "waiver_id": w["waiver_id"],
                "status": w["status"],
                "owner": w["owner"],
                "expiry": w["expiry"],
            }
            for w in finding["waivers"]
        ],
    }
