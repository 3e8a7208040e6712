"""The gate report (gate/report.py, specs/reports.md) rendered from real snapshots.

Most inputs are real: events appended to an LMDB log, folded by the projections
and read back through `take_snapshot`, exactly as `ledgerctl report` does. The
rendered Markdown is parsed back with markdown-it (CommonMark plus GitHub tables)
to check that hostile text keeps every table's shape and shows literally.

Goldens: `tests/gate/report_goldens/story.{md,json}` hold the report of the
`gate_snapshots` story. After an intended change to the report, regenerate them
with `UPDATE_GOLDENS=1 .venv/bin/python -m pytest -q tests/gate/test_report.py -k golden`
(the test then fails on purpose, naming the files it wrote: review the diff and
rerun without the variable).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from contract_kinds.report import snapshot_for, verdict_document
from gate import _markdown as md
from gate.report import (
    FINDING_HEADER,
    PROBE_HEADER,
    SECTIONS,
    SUMMARY_CELL_MAX,
    render_report,
    report_document,
    spec_candidates_yaml,
)
from gate.snapshot import CheckpointRef, Scope, Snapshot
from gate_snapshots import OTHER_SUBJECT, SUBJECT, snapshot_of, story_log
from ledger.clock import FixedClock
from ledger.errors import ErrorCode, InvalidInput
from ledger.model import Envelope
from ledger.store import AppendRequest, LmdbEventLog
from lifecycle_events import (
    command_executed,
    finding_reported,
    finding_resolved,
    gate_evaluated,
    patch_edit,
    patch_inspected,
    run_recorded,
    uuid_for,
    waiver_granted,
)

GOLDENS = Path(__file__).resolve().parent / "report_goldens"
HEADINGS = [heading for _, heading in SECTIONS]
MEMBERS = [
    "format",
    "subject",
    "checkpoint",
    "verdict",
    *(member for member, _ in SECTIONS),
]
#: Characters that have broken Markdown reports somewhere: table, markup, HTML, fences,
#: line breaks of every kind, controls and the invisible ones.
HOSTILE_CHARS = list("|\\`*_[]~#$<>&!:() -\r\n\t\x00\x07\x1b\x7f\x85\u2028\u2029\u202e\u200b\ufeff")
HOSTILE = "a | b\r\nc\n<script>x</script> &amp; `code` ```` **em** [l](u) \x1b[0m \u202e # $x$ \\|"
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
#: The characters specs/reports.md §3 shows as escapes, as the spec lists them.
_INVISIBLE = re.compile(
    "[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff]"
)
_CLOCK = FixedClock(datetime(2026, 1, 1, 12, tzinfo=UTC))


# Helpers ------------------------------------------------------------------------------------


def _log(data_dir: Path, events: Sequence[Envelope]) -> Path:
    with LmdbEventLog(data_dir, clock=_CLOCK) as log:
        if events:
            log.append([AppendRequest(event) for event in events])
    return data_dir


def _report(tmp_path: Path, events: Sequence[Envelope], subject: str = SUBJECT) -> Snapshot:
    return snapshot_of(_log(tmp_path / "data", events), ref=subject)


def _md(snapshot: Snapshot) -> str:
    return render_report(snapshot, fmt="md").decode("utf-8")


def _json(snapshot: Snapshot) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render_report(snapshot, fmt="json"))
    return document


def _walk(tokens: Sequence[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        yield from _walk(token.children or [])


def _cell_text(inline: Token) -> str:
    """What a cell shows; fails on any markup that event text must not produce."""
    out = []
    for child in inline.children or []:
        if child.type == "text":
            out.append(child.content)
        elif child.type == "html_inline" and child.content == md.BREAK:
            out.append("\n")
        else:
            raise AssertionError(f"cell text made markup: {child.type} {child.content!r}")
    return "".join(out)


def _tables(text: str) -> list[list[list[str]]]:
    """Every table in `text`: rows (header first) of cell texts."""
    tables: list[list[list[str]]] = []
    row: list[str] = []
    in_cell = False
    for token in _MARKDOWN.parse(text):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            in_cell = True
        elif token.type == "inline" and in_cell:
            row.append(_cell_text(token))
            in_cell = False
        elif token.type == "tr_close":
            tables[-1].append(row)
    return tables


def _table(text: str, header: Sequence[str]) -> list[list[str]]:
    """The body rows of the one table with `header`."""
    (found,) = [t for t in _tables(text) if t[0] == list(header)]
    return found[1:]


def _escape(char: str) -> str:
    code = ord(char)
    return "\\t" if char == "\t" else f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _literal(text: str) -> str:
    """What Markdown holding `text` must show (specs/reports.md §3)."""
    flat = re.sub(r"\r\n|\r", "\n", text)
    return "".join(_escape(c) if _INVISIBLE.fullmatch(c) else c for c in flat)


def _shown(text: str) -> str:
    """What a cell holding `text` must show, edges trimmed as GFM does."""
    return _literal(text).strip()


def _only_br_html(text: str) -> None:
    for token in _walk(_MARKDOWN.parse(text)):
        if token.type in ("html_inline", "html_block"):
            assert token.content == md.BREAK, token.content


def _sections(text: str) -> list[str]:
    return re.findall(r"^## (.*)$", text, re.MULTILINE)


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : None if end < 0 else end]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    return snapshot_of(story_log(tmp_path_factory.mktemp("story") / "data"))


# The story: goldens, order, content ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_story_report_matches_golden(story: Snapshot, fmt: str) -> None:
    rendered = render_report(story, fmt="md" if fmt == "md" else "json")
    path = GOLDENS / f"story.{fmt}"
    if os.environ.get("UPDATE_GOLDENS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(rendered)
        pytest.fail(f"UPDATE_GOLDENS=1: wrote {path}; review it and rerun without the variable")
    assert rendered == path.read_bytes()


def test_same_snapshot_same_bytes_and_a_fresh_log_gives_them_again(
    story: Snapshot, tmp_path: Path
) -> None:
    again = snapshot_of(story_log(tmp_path / "data"))
    for fmt in ("md", "json"):
        first = render_report(story, fmt=fmt)
        assert render_report(story, fmt=fmt) == first
        assert render_report(again, fmt=fmt) == first


def test_sections_are_all_there_in_order_in_both_formats(story: Snapshot) -> None:
    text = _md(story)
    assert text.startswith(f"# Gate report: {SUBJECT}\n\n## Scope Notes\n")
    assert _sections(text) == HEADINGS
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    document = _json(story)
    assert list(document) == MEMBERS
    assert render_report(story, fmt="json").endswith(b"}\n")


def test_checkpoint_and_quintet_are_stated(story: Snapshot) -> None:
    text = _md(story)
    checkpoint = story.checkpoint
    assert (
        f"- Checkpoint: unsigned (offline), tree size {checkpoint.tree_size}, "
        f"root hash {checkpoint.root_hash}"
    ) in text.splitlines()
    document = _json(story)
    assert document["checkpoint"] == checkpoint.to_json()
    verdict = story.verdicts[0]
    assert document["verdict"] == verdict["verdict"]
    synthesis = _table(_section(text, "Synthesis"), ("field", "value", "rule", "reason", "matched"))
    assert [row[:3] for row in synthesis] == [
        ["production_readiness", "not_ready", "READY-1"],
        ["correctness", "incorrect", "CORRECT-1"],
        ["isolation", "strong", "ISOLATION-4"],
        ["blast_radius", "wide", "BLAST-3"],
        ["required_fixes_before_merge", "4", "—"],
    ]
    assert synthesis[0][3] == verdict["explanation"]["production_readiness"]["reason"]
    assert synthesis[1][4] == "findings F-P0, F-P2"


def test_a_signed_checkpoint_names_its_origin(story: Snapshot) -> None:
    signed = dataclasses.replace(
        story,
        checkpoint=CheckpointRef(origin="ledger.example/log <1>", tree_size=15, root_hash="0" * 64),
    )
    lines = _md(signed).splitlines()
    assert (
        f"- Checkpoint: origin ledger.example/log &lt;1&gt;, tree size 15, root hash {'0' * 64}"
        in lines
    )
    assert _json(signed)["checkpoint"]["origin"] == "ledger.example/log <1>"


def test_scope_notes_list_the_runs_in_scope_and_what_is_left_out(story: Snapshot) -> None:
    notes = _section(_md(story), "Scope Notes")
    header = ("seq", "run_id", "agent_name", "run_status", "heal_reason", "recorded_at")
    assert _table(notes, header) == [
        ["1", uuid_for("gate-run-1"), "ledger-gate", "SUCCESS", "—", "2026-01-01T12:00:00.000000Z"]
    ]
    assert "- Findings: 4 open, 0 with an expired waiver, 1 waived, 1 resolved" in notes
    assert "- Evaluated at: 2026-01-02T00:00:00.000000Z" in notes
    assert "Not in Findings: waived and resolved findings" in notes
    runs = _json(story)["scope_notes"]["runs"]
    assert [(r["seq"], r["agent_name"]) for r in runs] == [(1, "ledger-gate")]


def test_probes_table_has_the_issue_header_and_escaped_summaries(story: Snapshot) -> None:
    rows = _table(_md(story), PROBE_HEADER)
    assert rows == [
        ["lint: run lint", "failed", "1", "src/app.py:3: E501 | line too long"],
        ["unit-tests: run unit-tests", "passed", "0", ""],
    ]
    assert "| lint: run lint | failed | 1 | src/app.py:3: E501 \\| line too long |" in _md(story)


def test_patch_inspection_lists_its_forbidden_edits(story: Snapshot) -> None:
    log = _section(_md(story), "Command Execution Log")
    assert "- Verdict: UNSAFE\\_PATCH\\_ATTEMPT (seq 12, automated patch)" in log
    assert _table(log, ("type", "severity", "File:Line", "evidence")) == [
        [
            "suppression_insertion",
            "high",
            "src/app.py:12",
            "return True added before the token check",
        ]
    ]


def test_findings_are_the_blocking_ones_by_severity_with_the_issue_header(story: Snapshot) -> None:
    text = _md(story)
    rows = _table(text, FINDING_HEADER)
    assert [row[:3] for row in rows] == [
        ["P0 F-P0", "Verified", "src/app.py:3"],
        ["P1 F-P1", "Hypothesis", "src/app.py:3"],
        ["P2 F-P2", "Verified", "src/app.py:3"],
        ["P3 F-P3", "Verified", "src/app.py:3"],
    ]
    assert rows[0][3] == "SQL built from | user input\nwith <b>html</b>"
    assert rows[0][4:] == [
        "injection: an attacker reads every row",
        "when the disk is full",
        "check the result",
    ]
    assert "F-WAIVED" not in _section(text, "Findings")
    assert "F-FIXED" not in _section(text, "Findings")
    assert "F-OTHER" not in text
    assert [f["finding_id"] for f in _json(story)["findings"]] == ["F-P0", "F-P1", "F-P2", "F-P3"]


def test_spec_candidates_are_valid_yaml_equal_to_the_json(story: Snapshot) -> None:
    section = _section(_md(story), "Spec Candidates (YAML)")
    (block,) = re.findall(r"^```yaml\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    candidates = _json(story)["spec_candidates"]
    assert yaml.safe_load(block) == candidates
    assert [c["source_finding"] for c in candidates] == ["F-P0", "F-P2", "F-P3"]  # verified only
    assert candidates[0] == {
        "id": "spec-F-P0",
        "source_finding": "F-P0",
        "rule_id": "RET-001",
        "severity": "P0",
        "category": "correctness",
        "given": "src/app.py:3",
        "when": "when the disk is full",
        "observed": "SQL built from | user input\nwith <b>html</b>",
        "expect": "check the result",
    }


def test_labels_of_the_story(story: Snapshot) -> None:
    labels = _json(story)["classification_labels"]
    assert labels == [
        "readiness:not_ready",
        "correctness:incorrect",
        "isolation:strong",
        "blast_radius:wide",
        "merge:blocked",
        "severity:P0",
        "severity:P1",
        "severity:P2",
        "severity:P3",
        "category:correctness",
        "evidence:hypothesis",
        "evidence:verified",
        "waiver:active",
        "patch:UNSAFE_PATCH_ATTEMPT",
        "patch_edit:suppression_insertion",
        "probe:failed",
        "probe:passed",
    ]
    section = _section(_md(story), "Classification Labels")
    assert re.findall(r"^- `([^`]+)`$", section, re.MULTILINE) == labels


def test_reject_defer_list_holds_the_waived_and_the_resolved(story: Snapshot) -> None:
    section = _section(_md(story), "Reject / Defer List")
    deferred = _table(
        section,
        ("finding", "severity", "what", "waiver", "risk", "owner", "expiry", "justification"),
    )
    assert deferred == [
        [
            "F-WAIVED",
            "P1",
            "unchecked return value",
            "W-1",
            "medium",
            "team-payments",
            "2026-02-01T00:00:00Z",
            "the endpoint is internal only until the migration lands",
        ]
    ]
    resolved = _table(
        section, ("finding", "severity", "what", "disposition", "resolution", "resolved_by", "note")
    )
    assert resolved == [["F-FIXED", "P2", "unchecked return value", "fixed", "fixed", "alice", ""]]
    lists = _json(story)["reject_defer_list"]
    assert [d["waiver_id"] for d in lists["deferred"]] == ["W-1"]
    assert lists["resolved"][0]["seq"] == 9
    assert lists["allowed_edits"] == []


def test_raw_output_holds_the_failing_probe_whole(story: Snapshot) -> None:
    section = _section(_md(story), "Raw Output")
    assert (
        "### lint: failed, exit code 1 (seq 11)\n\n```text\nsrc/app.py:3: E501 | line too long\n```"
        in section
    )
    assert "unit-tests" not in section
    assert [r["probe"] for r in _json(story)["raw_output"]] == ["lint"]


def test_no_html_but_br_anywhere_in_the_story(story: Snapshot) -> None:
    text = _md(story)
    _only_br_html(text)
    outside_code = re.sub(r"^```.*?^```$", "", text, flags=re.MULTILINE | re.DOTALL)
    assert "<b>" in text  # quoted, inside the YAML block only
    assert outside_code.replace(md.BREAK, "").count("<") == 0


# Other stories ------------------------------------------------------------------------------


def test_unknown_subject_renders_every_section_as_none(tmp_path: Path) -> None:
    snapshot = _report(tmp_path, [finding_reported("F-1", OTHER_SUBJECT)], "never-seen")
    text = _md(snapshot)
    assert _sections(text) == HEADINGS
    assert (
        "- Known to the ledger: no (no event names this subject: the verdict is the default one)"
        in text
    )
    for heading in HEADINGS:
        if heading not in ("Scope Notes", "Synthesis", "Classification Labels"):
            body = _section(text, heading).split("\n", 3)[3]
            assert body.startswith(("none", "### ")), heading
    document = _json(snapshot)
    assert "subject:unknown" in document["classification_labels"]
    assert document["findings"] == []
    assert document["raw_output"] == []
    assert document["spec_candidates"] == []
    assert "```yaml\n[]\n```" in text


def test_an_empty_log_gives_a_report_too(tmp_path: Path) -> None:
    snapshot = _report(tmp_path, [], "pr-1")
    assert snapshot.checkpoint.tree_size == 0
    assert "tree size 0" in _md(snapshot)
    assert list(_json(snapshot)) == MEMBERS


def test_conditionally_ready_without_probes_or_patch(tmp_path: Path) -> None:
    events = [
        finding_reported(
            "F-1", severity="P2", category="performance", evidence="hypothesis", line=None
        )
    ]
    snapshot = _report(tmp_path, events, "pr-7")
    text = _md(snapshot)
    labels = _json(snapshot)["classification_labels"]
    assert labels[:5] == [
        "readiness:conditionally_ready",
        "correctness:correct",
        "isolation:strong",
        "blast_radius:contained",
        "merge:clear",
    ]
    assert {"probe:none", "patch:none", "severity:P2"} <= set(labels)
    assert "none: no probe was executed for this subject" in text
    assert "none: no patch was inspected for this subject" in text
    assert "Required fixes before merge: none" in text
    assert _table(text, FINDING_HEADER)[0][:3] == ["P2 F-1", "Hypothesis", "src/app.py"]
    assert "none: no verified blocking finding" in text


def test_a_recorded_gate_evaluation_is_shown_and_compared(tmp_path: Path) -> None:
    events = [
        finding_reported("F-1", severity="P0", category="security"),
        gate_evaluated("pr-7", readiness="ready", strict=True, log_position=1),
    ]
    snapshot = _report(tmp_path, events, "pr-7")
    section = _section(_md(snapshot), "Synthesis")
    assert (
        "- seq 1 by gate-lane-1, evaluated at 2026-01-01T11:00:00Z: ready, correct, strong, minimal"
        in section
    )
    assert "- Passed: yes (strict: yes), 0 required fix(es)" in section
    assert (
        "- It differs from the verdict above in: production_readiness, correctness, "
        "isolation, blast_radius, required_fixes_before_merge"
    ) in section
    synthesis = _json(snapshot)["synthesis"]
    assert synthesis["last_gate_evaluation"]["seq"] == 1
    assert "last_gate:passed" in _json(snapshot)["classification_labels"]


def test_a_gate_evaluation_that_agrees_says_so(tmp_path: Path) -> None:
    snapshot = _report(tmp_path, [gate_evaluated("pr-7", readiness="ready")], "pr-7")
    assert "- It agrees with the verdict above" in _md(snapshot)
    assert _json(snapshot)["synthesis"]["last_gate_differs"] == []


def test_expired_waiver_and_rejected_resolution(tmp_path: Path) -> None:
    events = [
        finding_reported("F-1", severity="P1", category="performance"),
        waiver_granted("W-1", "F-1", expiry="2026-01-01T23:00:00Z"),
        finding_reported("F-2", severity="P3", category="performance"),
        finding_resolved("F-2", resolution="false_positive", note="not | reachable"),
    ]
    snapshot = _report(tmp_path, events, "pr-7")
    text = _md(snapshot)
    assert _table(text, FINDING_HEADER)[0][0] == "P1 F-1 (waiver expired)"
    assert "waiver:expired" in _json(snapshot)["classification_labels"]
    resolved = _table(
        text, ("finding", "severity", "what", "disposition", "resolution", "resolved_by", "note")
    )
    assert resolved == [
        [
            "F-2",
            "P3",
            "unchecked return value",
            "rejected",
            "false_positive",
            "alice",
            "not | reachable",
        ]
    ]
    assert "### Deferred (waived)\n\nnone" in text


def test_a_long_summary_is_cut_in_its_cell_and_whole_in_raw_output(tmp_path: Path) -> None:
    summary = "x" * (SUMMARY_CELL_MAX + 50) + "\nEND"
    events = [command_executed("pr-7", "big", summary=summary)]
    snapshot = _report(tmp_path, events, "pr-7")
    text = _md(snapshot)
    (row,) = _table(text, PROBE_HEADER)
    assert row[3] == "x" * (SUMMARY_CELL_MAX - 1) + "… (whole text in Raw Output)"
    raw = _section(text, "Raw Output")
    assert "### big: passed, exit code 0 (seq 0)" in raw
    assert f"```text\n{summary}\n```" in raw
    assert _json(snapshot)["raw_output"][0]["stdout_stderr_summary"] == summary


def test_hostile_text_everywhere_keeps_every_table_and_fence(tmp_path: Path) -> None:
    subject = "pr #7 | <b>x</b> `y` _z_"
    fence_breaker = "before\n```\n````\nnot closed ~~~ <i>\x1b[31m\r\nafter"
    events = [
        finding_reported(
            "F-1",
            subject,
            severity="P0",
            file="src/a|b<i>.py",
            what=HOSTILE,
            why=HOSTILE + "\x00",
            when="\r\n",
            proposed_fix="`" * 5,
        ),
        command_executed(
            subject, "lint", status="failed", command="run | `lint`", summary=fence_breaker
        ),
        patch_inspected(
            subject, edits=[patch_edit("auth_bypass", file="x|y.py", evidence="<img src=x> | y")]
        ),
    ]
    snapshot = _report(tmp_path, events, subject)
    text = _md(snapshot)
    _only_br_html(text)
    assert _sections(text) == HEADINGS
    assert text.splitlines()[0] == "# Gate report: pr \\#7 \\| &lt;b&gt;x&lt;/b&gt; \\`y\\` \\_z\\_"
    (finding,) = _table(text, FINDING_HEADER)
    assert len(finding) == len(FINDING_HEADER)
    assert finding[2] == "src/a|b<i>.py:3"
    assert finding[3] == _shown(HOSTILE)
    assert finding[4] == _shown(HOSTILE + "\x00")
    assert finding[6] == "`" * 5
    (probe,) = _table(text, PROBE_HEADER)
    assert probe[0] == "lint: run | `lint`"
    assert probe[3] == _shown(fence_breaker)
    (edit,) = _table(text, ("type", "severity", "File:Line", "evidence"))
    assert edit[2:] == ["x|y.py:1", "<img src=x> | y"]
    fences = [t for t in _MARKDOWN.parse(text) if t.type == "fence"]
    raw = [t for t in fences if t.info == "text"]
    assert [t.content for t in raw] == [md.raw_text(fence_breaker) + "\n"]
    assert raw[0].markup == "`````"
    (candidates,) = [t for t in fences if t.info == "yaml"]
    assert yaml.safe_load(candidates.content) == _json(snapshot)["spec_candidates"]
    assert "\u202e" not in candidates.content  # shown as the escape, not reordering the line
    assert "\\u202e" in candidates.content
    assert _json(snapshot)["findings"][0]["what"] == HOSTILE


def test_healing_is_rendered_when_the_verdict_carries_it(story: Snapshot) -> None:
    healing = {
        "latest": {
            "run_id": uuid_for("healer-run-1"),
            "seq": 0,
            "agent_name": "healer",
            "heal_reason": "test_failed",
            "run_status": "PARTIAL",
            "outcome": "partial",
        },
        "healers": [
            {"agent_name": "healer", "outcome": "partial", "stuck": True, "runs_considered": 2}
        ],
    }
    verdict = {**story.verdicts[0], "healing": healing}
    snapshot = dataclasses.replace(story, verdicts=(verdict,))
    text = _md(snapshot)
    section = _section(text, "Synthesis")
    assert _table(
        section, ("run_id", "seq", "agent_name", "heal_reason", "run_status", "outcome")
    ) == [[uuid_for("healer-run-1"), "0", "healer", "test_failed", "PARTIAL", "partial"]]
    assert _table(section, ("agent_name", "outcome", "stuck", "runs_considered")) == [
        ["healer", "partial", "true", "2"]
    ]
    document = _json(snapshot)
    assert document["synthesis"]["healing"] == healing
    assert document["classification_labels"][-2:] == ["heal_reason:test_failed", "healer:stuck"]


def test_healing_of_a_real_stuck_healer(tmp_path: Path) -> None:
    events = [
        finding_reported("F-1", severity="P2"),
        run_recorded(
            uuid_for("heal-1"), agent="healer", status="FAILED", heal_reason="stuck", subject="pr-7"
        ),
    ]
    snapshot = _report(tmp_path, events, "pr-7")
    healing = _json(snapshot)["synthesis"]["healing"]
    assert healing["latest"]["run_id"] == uuid_for("heal-1")
    assert [(h["agent_name"], h["stuck"]) for h in healing["healers"]] == [("healer", True)]
    section = _section(_md(snapshot), "Synthesis")
    # The known columns come first; whatever else the projection adds follows them.
    (latest,) = [t for t in _tables(section) if t[0][:3] == ["run_id", "seq", "agent_name"]]
    assert latest[1][:4] == [uuid_for("heal-1"), "1", "healer", "stuck"]
    assert _json(snapshot)["classification_labels"][-2:] == ["heal_reason:stuck", "healer:stuck"]


@pytest.mark.parametrize(
    "healing",
    [
        "not an object",
        {"latest": 7, "healers": "none"},
        {"latest": {"heal_reason": "bad reason | <x>"}, "healers": [1, {"stuck": "true"}]},
        {},
    ],
)
def test_healing_of_any_shape_renders_without_failing(story: Snapshot, healing: Any) -> None:
    verdict = {**story.verdicts[0], "healing": healing}
    snapshot = dataclasses.replace(story, verdicts=(verdict,))
    text = _md(snapshot)
    _only_br_html(text)
    assert _sections(text) == HEADINGS
    labels = _json(snapshot)["classification_labels"]
    assert not any(label.startswith(("heal_reason:", "healer:")) for label in labels)


def test_allowed_edits_are_listed_when_the_inspection_carries_them() -> None:
    document = verdict_document(
        {"patch": {"edits": [], "automated": False, "allowed": ["pack_disable"]}}
    )
    text = _md(snapshot_for(document))
    section = _section(text, "Reject / Defer List")
    assert _table(section, ("type", "severity", "File:Line", "evidence")) == [
        ["pack_disable", "low", "src/app.py:2", "edit"]
    ]
    assert (
        report_document(snapshot_for(document))["reject_defer_list"]["allowed_edits"][0]["type"]
        == "pack_disable"
    )


# Refusals -----------------------------------------------------------------------------------


def test_an_unknown_format_is_refused(story: Snapshot) -> None:
    with pytest.raises(InvalidInput) as caught:
        render_report(story, fmt="html")  # type: ignore[arg-type]
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    assert caught.value.details == {"format": "html"}


@pytest.mark.parametrize("scope", ["all", "run"])
def test_a_snapshot_of_another_scope_is_refused(story: Snapshot, scope: Scope) -> None:
    other = dataclasses.replace(story, scope=scope, verdicts=story.verdicts * 2)
    with pytest.raises(InvalidInput) as caught:
        render_report(other, fmt="md")
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    assert caught.value.details == {"scope": scope, "subjects": 2}


def test_a_subject_snapshot_without_its_verdict_is_refused(story: Snapshot) -> None:
    with pytest.raises(InvalidInput) as caught:
        render_report(dataclasses.replace(story, verdicts=()), fmt="json")
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


# Escaping, for any text ---------------------------------------------------------------------

_ANY_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(HOSTILE_CHARS), st.characters()), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(_ANY_TEXT, min_size=1, max_size=4))
def test_any_cell_text_keeps_the_table_shape_and_shows_literally(cells: list[str]) -> None:
    header = [f"c{i}" for i in range(len(cells))]
    text = "\n".join(md.table(header, [[md.cell(c) for c in cells]])) + "\n"
    tables = _tables(text)
    assert len(tables) == 1
    assert [shown.strip() for shown in tables[0][1]] == [_shown(c) for c in cells]
    _only_br_html(text)


@settings(max_examples=200, deadline=None)
@given(text=_ANY_TEXT)
def test_any_text_as_a_list_item_or_heading_stays_one_literal_line(text: str) -> None:
    for markup, prefix in (("- ", "Subject: "), ("## ", "Raw: ")):
        line = markup + prefix + md.cell(text)
        assert not re.search("[\r\n]", line)
        blocks = [t for t in _MARKDOWN.parse(line + "\n") if t.type == "inline"]
        assert len(blocks) == 1
        assert _cell_text(blocks[0]).strip() == (prefix + _literal(text)).strip()


@settings(max_examples=200, deadline=None)
@given(text=_ANY_TEXT)
def test_any_text_in_a_code_block_cannot_close_it(text: str) -> None:
    rendered = "\n".join(md.fence(md.raw_text(text), "text")) + "\nafter\n"
    (block, *rest) = _MARKDOWN.parse(rendered)
    assert block.type == "fence"
    shown = md.raw_text(text)
    assert block.content == (shown if shown.endswith("\n") or not shown else shown + "\n")
    assert [t.content for t in rest if t.type == "inline"] == ["after"]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_ANY_TEXT, min_size=1, max_size=3), number=st.integers(-5, 5))
def test_any_candidate_text_is_yaml_that_loads_back(values: list[str], number: int) -> None:
    candidates = [{"id": v, "n": number, "none": None, "flag": True} for v in values]
    assert yaml.safe_load(spec_candidates_yaml(candidates)) == candidates
    assert yaml.safe_load(spec_candidates_yaml([])) == []
