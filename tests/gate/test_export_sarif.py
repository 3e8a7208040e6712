"""The sarif export: valid SARIF 2.1.0, the documented mappings, and GitHub's upload limits."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from contract_kinds.exports import EDGE_SUBJECT, edge_log, snapshot_of_findings
from gate.exports.sarif import (
    GITHUB_LIMITS,
    GITHUB_MAX_BYTES,
    GITHUB_MAX_RESULTS,
    SarifLimits,
    render_sarif,
)
from gate.snapshot import Json, Snapshot
from gate_snapshots import GATE_RUN, SUBJECT, snapshot_of, story_log
from schemas import sarif_validator

SEVERITY_RANK = {"P0": 0, "P1": 1, "P2": 2, "P3": 3}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return story_log(tmp_path_factory.mktemp("story") / "data")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return edge_log(tmp_path_factory.mktemp("edge") / "data")


def _valid(data: bytes) -> dict[str, Any]:
    """The parsed log, after checking it against the schema and GitHub's limits."""
    document = json.loads(data)
    errors = sorted(sarif_validator().iter_errors(document), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert len(data) <= GITHUB_MAX_BYTES
    assert len(document["runs"]) <= 20
    for run in document["runs"]:
        assert len(run["results"]) <= GITHUB_MAX_RESULTS
        rules = run["tool"]["driver"]["rules"]
        assert len(rules) <= 25_000
        assert all(len(rule["properties"]["tags"]) <= 10 for rule in rules)
        assert len(run["tool"].get("extensions", [])) <= 100
        for result in run["results"]:
            assert len(result["locations"]) == 1
            assert "codeFlows" not in result
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    return document


def _run(data: bytes) -> dict[str, Any]:
    (run,) = _valid(data)["runs"]
    return run


def _results(data: bytes) -> dict[str, dict[str, Any]]:
    return {r["partialFingerprints"]["ledgerdFindingId/v1"]: r for r in _run(data)["results"]}


@pytest.mark.parametrize(("scope", "ref"), [("subject", SUBJECT), ("run", GATE_RUN), ("all", None)])
def test_every_scope_is_valid_sarif(story: Path, scope, ref) -> None:
    run = _run(render_sarif(snapshot_of(story, scope, ref)))
    assert run["tool"]["driver"]["name"] == "ledgerd"
    assert run["tool"]["driver"]["version"] == "0.1.0"
    assert run["tool"]["driver"]["informationUri"] == "pkg:generic/ledgerd@0.1.0"


def test_the_edge_cases_are_valid_sarif(edge: Path) -> None:
    _valid(render_sarif(snapshot_of(edge, "all", None)))


def test_results_are_the_unresolved_findings_most_severe_first(story: Path) -> None:
    snapshot = snapshot_of(story)
    run = _run(render_sarif(snapshot))
    order = [r["partialFingerprints"]["ledgerdFindingId/v1"] for r in run["results"]]
    assert order == ["F-P0", "F-P1", "F-WAIVED", "F-P2", "F-P3"]
    assert [r["level"] for r in run["results"]] == ["error", "error", "error", "warning", "note"]
    assert run["properties"]["resolved_omitted"] == 1
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["RET-001"]
    rule = run["tool"]["driver"]["rules"][0]
    assert rule["defaultConfiguration"] == {"level": "error"}
    assert rule["properties"]["tags"] == ["correctness"]
    assert rule["shortDescription"]["text"] == "ledgerd findings of rule RET-001"


def test_a_result_carries_its_finding(story: Path) -> None:
    snapshot = snapshot_of(story)
    finding = snapshot.verdicts[0]["findings"]["open"][0]
    result = _results(render_sarif(snapshot))["F-P0"]
    assert result["ruleId"] == "RET-001"
    assert result["ruleIndex"] == 0
    assert result["message"]["text"] == (
        "SQL built from | user input\nwith <b>html</b>\n\n"
        "Why: injection: an attacker reads every row\n\n"
        "When: when the disk is full\n\nProposed fix: check the result"
    )
    assert result["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "src/app.py", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 3},
            }
        }
    ]
    assert result["partialFingerprints"] == {"ledgerdFindingId/v1": "F-P0"}
    assert "suppressions" not in result
    assert result["properties"] == {
        "severity": "P0",
        "category": "correctness",
        "evidence": "verified",
        "status": "open",
        "subject": SUBJECT,
        "stage": "final",
        "run_id": GATE_RUN,
        "producer": "gate-lane-1",
        "first_seq": finding["first_seq"],
        "reported_seq": finding["reported_seq"],
        "reopened_seq": None,
        "waivers": [],
    }


def test_a_waived_finding_is_suppressed_with_its_waiver(story: Path) -> None:
    result = _results(render_sarif(snapshot_of(story)))["F-WAIVED"]
    assert result["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "the endpoint is internal only until the migration lands",
            "properties": {
                "waiver_id": "W-1",
                "owner": "team-payments",
                "expiry": "2026-02-01T00:00:00Z",
                "risk": "medium",
                "granted_seq": 7,
            },
        }
    ]
    assert result["properties"]["waivers"] == [
        {
            "waiver_id": "W-1",
            "status": "active",
            "owner": "team-payments",
            "expiry": "2026-02-01T00:00:00Z",
        }
    ]


def test_edge_findings(edge: Path) -> None:
    results = _results(render_sarif(snapshot_of(edge, "subject", EDGE_SUBJECT)))
    assert list(results) == ["F-BRACES", "F-TWICE", "F-EXPIRED", "F-FILE"]
    expired = results["F-EXPIRED"]
    assert expired["level"] == "warning"
    assert "suppressions" not in expired
    assert expired["properties"]["status"] == "expired_waiver"
    assert expired["properties"]["waivers"][0]["status"] == "expired"
    twice = results["F-TWICE"]
    assert [s["properties"]["waiver_id"] for s in twice["suppressions"]] == ["W-A", "W-B"]
    # A suppression's justification is a plain string, not a message: braces stay single.
    assert twice["suppressions"][1]["justification"] == "accepted by {team} until March"
    file_level = results["F-FILE"]["locations"][0]["physicalLocation"]
    assert file_level == {
        "artifactLocation": {"uri": "docs/my%20file%20%C3%A9.md", "uriBaseId": "%SRCROOT%"}
    }
    assert results["F-BRACES"]["message"]["text"].startswith('{{x}} is, "quoted"\n\nWhy: ')
    assert "Proposed fix" not in results["F-BRACES"]["message"]["text"]


def test_the_run_names_its_scope_and_checkpoint(story: Path) -> None:
    for scope, ref, automation in [
        ("subject", SUBJECT, f"ledgerd/subject:{SUBJECT}/15"),
        ("run", GATE_RUN, f"ledgerd/run:{GATE_RUN}/15"),
        ("all", None, "ledgerd/all/15"),
    ]:
        snapshot = snapshot_of(story, scope, ref)
        run = _run(render_sarif(snapshot))
        assert run["automationDetails"] == {"id": automation}
        assert run["properties"]["scope"] == {"kind": scope, "ref": ref}
        assert run["properties"]["checkpoint"] == snapshot.checkpoint.to_json()
        assert run["properties"]["evaluated_at"] == snapshot.evaluated_at
        assert run["invocations"] == [{"executionSuccessful": True}]
        assert run["properties"]["truncation"]["truncated"] is False
        assert run["properties"]["truncation"]["limited_by"] == []


# --- limits ---------------------------------------------------------------------------


def _many(template: Snapshot, counts: dict[str, int], **changes: str) -> Snapshot:
    """A snapshot of real-shaped findings: `counts[severity]` of each, ids by severity."""
    base = template.verdicts[0]["findings"]["open"][0]
    findings: list[Json] = []
    for severity, count in counts.items():
        for number in range(count):
            finding = copy.deepcopy(base)
            finding.update(
                finding_id=f"F-{severity}-{number:05d}",
                severity=severity,
                rule_id=f"RULE-{number % 7}",
                **changes,
            )
            findings.append(finding)
    return snapshot_of_findings(findings, template=template.verdicts[0])


def test_more_results_than_github_keeps_are_cut_to_the_most_severe(story: Path) -> None:
    snapshot = _many(snapshot_of(story), {"P3": 2_600, "P0": 100, "P2": 2_600})
    data = render_sarif(snapshot)
    run = _run(data)
    results = run["results"]
    assert len(results) == GITHUB_MAX_RESULTS
    severities = [r["properties"]["severity"] for r in results]
    assert severities == sorted(severities, key=SEVERITY_RANK.__getitem__)
    assert severities.count("P0") == 100
    assert severities.count("P2") == 2_600
    assert severities.count("P3") == 2_300
    assert results[-1]["partialFingerprints"]["ledgerdFindingId/v1"] == "F-P3-02299"
    truncation = run["properties"]["truncation"]
    assert truncation == {
        "truncated": True,
        "results_available": 5_300,
        "results_kept": 5_000,
        "dropped_by_severity": {"P0": 0, "P1": 0, "P2": 0, "P3": 300},
        "limited_by": ["max_results"],
        "limits": {"max_results": 5_000, "max_bytes": 10_000_000},
    }
    (notice,) = run["invocations"][0]["toolExecutionNotifications"]
    assert notice["descriptor"] == {"id": "ledgerd/export-truncated"}
    assert notice["level"] == "warning"
    assert notice["message"]["text"].startswith("300 of 5300 results were left out (300 P3)")
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == [
        f"RULE-{n}" for n in range(7)
    ]


def test_a_log_over_githubs_size_limit_is_cut_to_fit(story: Path) -> None:
    text = "x" * 16_384
    snapshot = _many(snapshot_of(story), {"P1": 150, "P2": 150, "P3": 100}, what=text, why=text)
    data = render_sarif(snapshot)
    assert len(data) <= GITHUB_MAX_BYTES
    run = _run(data)
    kept = len(run["results"])
    assert 0 < kept < 400
    truncation = run["properties"]["truncation"]
    assert truncation["limited_by"] == ["max_bytes"]
    assert truncation["results_kept"] == kept
    assert sum(truncation["dropped_by_severity"].values()) == 400 - kept
    expected = [f"F-P1-{n:05d}" for n in range(150)] + [f"F-P2-{n:05d}" for n in range(150)]
    got = [r["partialFingerprints"]["ledgerdFindingId/v1"] for r in run["results"]]
    assert got == expected[:kept]
    # One result more would not have fitted.
    assert len(data) + len(json.dumps(run["results"][-1], ensure_ascii=False)) > GITHUB_MAX_BYTES


def test_both_limits_can_apply(story: Path) -> None:
    text = "y" * 8_000
    snapshot = _many(snapshot_of(story), {"P0": 40}, what=text)
    data = render_sarif(snapshot, SarifLimits(max_results=30, max_bytes=100_000))
    assert len(data) <= 100_000
    truncation = _run(data)["properties"]["truncation"]
    assert truncation["limited_by"] == ["max_results", "max_bytes"]
    assert truncation["results_kept"] < 30
    assert truncation["limits"] == {"max_results": 30, "max_bytes": 100_000}


def test_limits_too_small_to_hold_a_log_are_refused() -> None:
    assert SarifLimits(max_results=5_000, max_bytes=10_000_000) == GITHUB_LIMITS
    with pytest.raises(ValueError, match="too small"):
        SarifLimits(max_bytes=1_000)
    with pytest.raises(ValueError, match="too small"):
        SarifLimits(max_results=-1)


def test_the_validator_is_not_vacuous(story: Path) -> None:
    document = json.loads(render_sarif(snapshot_of(story)))
    result = document["runs"][0]["results"][0]
    result["level"] = "fatal"
    result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "a b"
    document["runs"][0]["tool"]["driver"]["informationUri"] = "not a uri"
    messages = {e.message for e in sarif_validator().iter_errors(document)}
    assert any("'fatal' is not one of" in m for m in messages)
    assert any("'a b' is not a 'uri-reference'" in m for m in messages)
    assert any("'not a uri' is not a 'uri'" in m for m in messages)
