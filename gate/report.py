"""The gate report: one subject's snapshot as Markdown for people or as JSON for tools.

`render_report` turns a subject-scoped `Snapshot` (gate/snapshot.py) into the
report that `ledgerctl report` prints and a gate run shows: eight sections in a
fixed order (`SECTIONS`), the verdict quintet and the checkpoint the views were
taken at. Both formats are rendered from one document (`report_document`), so
they always say the same thing; the Markdown only adds wording. Everything is
a pure function of the snapshot: the same snapshot gives the same bytes.

The format, every section's content, the escaping rules and the labels are
specified in specs/reports.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from gate import _markdown as md
from gate.snapshot import Json, RunEntry, Snapshot
from ledger.errors import ErrorCode, InvalidInput

ReportFormat = Literal["md", "json"]

#: The JSON document's `format` member: bumped when a member changes meaning.
FORMAT = "ledgerd-gate-report/1"

#: (JSON member, Markdown heading) of every section, in the order both formats use.
SECTIONS = (
    ("scope_notes", "Scope Notes"),
    ("command_execution_log", "Command Execution Log"),
    ("findings", "Findings"),
    ("synthesis", "Synthesis"),
    ("spec_candidates", "Spec Candidates (YAML)"),
    ("classification_labels", "Classification Labels"),
    ("reject_defer_list", "Reject / Defer List"),
    ("raw_output", "Raw Output"),
)

#: The four judged fields of the verdict quintet (the fifth is the list of fixes).
VERDICT_FIELDS = ("production_readiness", "correctness", "isolation", "blast_radius")
PROBE_HEADER = ("command", "status", "exit_code", "stdout_stderr_summary")
FINDING_HEADER = (
    "Severity",
    "Verified/Hypothesis",
    "File:Line",
    "What",
    "Why",
    "When",
    "Proposed fix",
)
#: A probe summary longer than this (in code points) is cut in its table cell; the
#: whole text is then in Raw Output.
SUMMARY_CELL_MAX = 200

_BLOCKING = ("open", "expired_waiver")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9_.-]+")
_YAML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Besides `md.INVISIBLE`, what a YAML double-quoted scalar may not hold literally
#: (YAML 1.2 §5.1: the non-characters).
_YAML_NONCHARACTERS = frozenset("\ufffe\uffff")
_EDIT_HEADER = ("type", "severity", "File:Line", "evidence")
_HEALING_LATEST = ("run_id", "seq", "agent_name", "heal_reason", "run_status", "outcome")
_HEALERS = ("agent_name", "outcome", "stuck", "runs_considered")
_HEALING = ("latest", "healers")
#: (column heading, document member) of the Reject / Defer tables.
_DEFERRED_COLUMNS = (
    ("finding", "finding_id"),
    ("severity", "severity"),
    ("what", "what"),
    ("waiver", "waiver_id"),
    ("risk", "risk"),
    ("owner", "owner"),
    ("expiry", "expiry"),
    ("justification", "justification"),
)
_RESOLVED_COLUMNS = (
    ("finding", "finding_id"),
    ("severity", "severity"),
    ("what", "what"),
    ("disposition", "disposition"),
    ("resolution", "resolution"),
    ("resolved_by", "resolved_by"),
    ("note", "note"),
)


def render_report(snapshot: Snapshot, *, fmt: ReportFormat) -> bytes:
    """The report of a subject-scoped `snapshot`, as Markdown (`md`) or JSON (`json`), UTF-8.

    INVALID_ARGUMENT for another format, or a snapshot that is not of one subject.
    """
    if fmt not in ("md", "json"):
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"report format {fmt!r} is not one of md, json",
            hint="pass --format md or --format json",
            details={"format": str(fmt)},
        )
    document = report_document(snapshot)
    if fmt == "json":
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    else:
        text = _markdown(document)
    return text.encode("utf-8")


def report_document(snapshot: Snapshot) -> Json:
    """The report as one JSON-ready document: `format`, `subject`, `checkpoint`, `verdict`,
    then the sections in `SECTIONS` order."""
    if snapshot.scope != "subject" or len(snapshot.verdicts) != 1:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            "a gate report covers exactly one subject; this snapshot has scope "
            f"{snapshot.scope!r} and {len(snapshot.verdicts)} verdict(s)",
            hint="take the snapshot with scope 'subject' (ledgerctl report SUBJECT)",
            details={"scope": snapshot.scope, "subjects": len(snapshot.verdicts)},
        )
    (verdict,) = snapshot.verdicts
    groups = verdict["findings"]
    blocking = sorted(
        (f for group in _BLOCKING for f in groups[group]),
        key=lambda f: (f["severity"], f["finding_id"]),
    )
    return {
        "format": FORMAT,
        "subject": verdict["subject"],
        "checkpoint": snapshot.checkpoint.to_json(),
        "verdict": verdict["verdict"],
        "scope_notes": _scope_notes(snapshot, verdict),
        "command_execution_log": {
            "probes": verdict["probes"],
            "patch_inspection": verdict["patch_inspection"],
        },
        "findings": blocking,
        "synthesis": _synthesis(verdict),
        "spec_candidates": _spec_candidates(blocking),
        "classification_labels": _labels(verdict, blocking),
        "reject_defer_list": _reject_defer(verdict),
        "raw_output": [
            {
                "probe": p["probe"],
                "command": p["command"],
                "status": p["status"],
                "exit_code": p["exit_code"],
                "seq": p["seq"],
                "stdout_stderr_summary": p["stdout_stderr_summary"],
            }
            for p in verdict["probes"]
            if p["status"] != "passed" or len(p["stdout_stderr_summary"]) > SUMMARY_CELL_MAX
        ],
    }


# The document -------------------------------------------------------------------------------


def _run_json(run: RunEntry) -> Json:
    record = run.record
    return {
        "seq": run.seq,
        "run_id": run.run_id,
        "agent_name": record.get("agent_name"),
        "run_status": record.get("run_status"),
        "heal_reason": record.get("heal_reason"),
        "recorded_at": run.recorded_at,
        "producer": run.producer,
    }


def _scope_notes(snapshot: Snapshot, verdict: Json) -> Json:
    groups = verdict["findings"]
    return {
        "subject": verdict["subject"],
        "known": verdict["known"],
        "last_seq": verdict["last_seq"],
        "evaluated_at": snapshot.evaluated_at,
        "log_position": verdict["log_position"],
        "as_of": verdict["as_of"],
        "finding_counts": {
            group: len(groups[group]) for group in ("open", "expired_waiver", "waived", "resolved")
        },
        "runs": [_run_json(run) for run in snapshot.runs],
    }


def _gate_differs(verdict: Json) -> list[str] | None:
    """The quintet fields a recorded `gate.evaluated` disagrees with the verdict on."""
    gate = verdict["last_gate_evaluation"]
    if gate is None:
        return None
    current = verdict["verdict"]
    fields = (*VERDICT_FIELDS, "required_fixes_before_merge")
    return [name for name in fields if gate[name] != current[name]]


def _synthesis(verdict: Json) -> Json:
    explanation = verdict["explanation"]
    return {
        "explanation": {name: explanation[name] for name in VERDICT_FIELDS},
        "required_fixes_before_merge": explanation["required_fixes_before_merge"],
        "last_gate_evaluation": verdict["last_gate_evaluation"],
        "last_gate_differs": _gate_differs(verdict),
        "healing": verdict.get("healing"),
    }


def _location(file: str, line: int | None) -> str:
    return file if line is None else f"{file}:{line}"


def _spec_candidates(blocking: Sequence[Json]) -> list[Json]:
    return [
        {
            "id": f"spec-{f['finding_id']}",
            "source_finding": f["finding_id"],
            "rule_id": f["rule_id"],
            "severity": f["severity"],
            "category": f["category"],
            "given": _location(f["file"], f["line"]),
            "when": f["when"],
            "observed": f["what"],
            "expect": f["proposed_fix"],
        }
        for f in blocking
        if f["evidence"] == "verified"
    ]


def _values(prefix: str, values: Sequence[object]) -> list[str]:
    """`prefix:<value>` for each distinct value that is label-safe, in code point order."""
    safe = {v for v in values if isinstance(v, str) and _LABEL_VALUE.fullmatch(v)}
    return [f"{prefix}:{v}" for v in sorted(safe)]


def _healing_labels(healing: object) -> list[str]:
    if not isinstance(healing, Mapping):
        return []
    latest = healing.get("latest")
    reason = latest.get("heal_reason") if isinstance(latest, Mapping) else None
    labels = _values("heal_reason", [reason])
    healers = healing.get("healers")
    if isinstance(healers, list) and any(
        isinstance(h, Mapping) and h.get("stuck") is True for h in healers
    ):
        labels.append("healer:stuck")
    return labels


def _labels(verdict: Json, blocking: Sequence[Json]) -> list[str]:
    quintet = verdict["verdict"]
    labels = [
        f"readiness:{quintet['production_readiness']}",
        *(f"{name}:{quintet[name]}" for name in VERDICT_FIELDS[1:]),
        "merge:blocked" if quintet["required_fixes_before_merge"] else "merge:clear",
    ]
    if not verdict["known"]:
        labels.append("subject:unknown")
    labels += _values("severity", [f["severity"] for f in blocking])
    labels += _values("category", [f["category"] for f in blocking])
    labels += _values("evidence", [f["evidence"] for f in blocking])
    groups = verdict["findings"]
    if groups["waived"]:
        labels.append("waiver:active")
    if groups["expired_waiver"]:
        labels.append("waiver:expired")
    patch = verdict["patch_inspection"]
    if patch is None:
        labels.append("patch:none")
    else:
        labels += _values("patch", [patch["verdict"]])
        labels += _values("patch_edit", [e["type"] for e in patch["edits"]])
    probes = verdict["probes"]
    labels += _values("probe", [p["status"] for p in probes]) if probes else ["probe:none"]
    gate = verdict["last_gate_evaluation"]
    if gate is not None:
        labels.append("last_gate:passed" if gate["passed"] else "last_gate:failed")
    return labels + _healing_labels(verdict.get("healing"))


def _disposition(resolution: str) -> str:
    return "fixed" if resolution == "fixed" else "rejected"


def _reject_defer(verdict: Json) -> Json:
    groups = verdict["findings"]
    patch = verdict["patch_inspection"]
    return {
        "deferred": [
            {
                "finding_id": f["finding_id"],
                "severity": f["severity"],
                "what": f["what"],
                "waiver_id": w["waiver_id"],
                "risk": w["risk"],
                "owner": w["owner"],
                "expiry": w["expiry"],
                "justification": w["justification"],
                "mitigation": w["mitigation"],
            }
            for f in groups["waived"]
            for w in f["waivers"]
            if w["status"] == "active"
        ],
        "resolved": [
            {
                "finding_id": f["finding_id"],
                "severity": f["severity"],
                "what": f["what"],
                "disposition": _disposition(f["resolution"]["resolution"]),
                "resolution": f["resolution"]["resolution"],
                "resolved_by": f["resolution"]["resolved_by"],
                "note": f["resolution"]["note"],
                "seq": f["resolution"]["seq"],
            }
            for f in groups["resolved"]
        ],
        # Verdict documents that predate allowances carry no `allowed` member.
        "allowed_edits": [] if patch is None else list(patch.get("allowed", [])),
    }


# Markdown -----------------------------------------------------------------------------------


def _markdown(document: Json) -> str:
    sections = {
        "scope_notes": _md_scope_notes,
        "command_execution_log": _md_command_log,
        "findings": _md_findings,
        "synthesis": _md_synthesis,
        "spec_candidates": _md_spec_candidates,
        "classification_labels": _md_labels,
        "reject_defer_list": _md_reject_defer,
        "raw_output": _md_raw_output,
    }
    lines = [f"# Gate report: {md.cell(document['subject'])}"]
    for member, heading in SECTIONS:
        lines += ["", f"## {heading}", "", *sections[member](document)]
    return "\n".join(lines) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _md_scope_notes(document: Json) -> list[str]:
    notes = document["scope_notes"]
    checkpoint = document["checkpoint"]
    origin = checkpoint["origin"]
    counts = notes["finding_counts"]
    known = (
        f"yes (its last event is at seq {notes['last_seq']})"
        if notes["known"]
        else "no (no event names this subject: the verdict is the default one)"
    )
    as_of = "" if notes["as_of"] is None else f", as of seq {notes['as_of']}"
    lines = [
        f"- Subject: {md.cell(notes['subject'])}",
        f"- Known to the ledger: {known}",
        "- Checkpoint: "
        + ("unsigned (offline)" if origin is None else f"origin {md.cell(origin)}")
        + f", tree size {checkpoint['tree_size']}, root hash {checkpoint['root_hash']}",
        f"- Evaluated at: {md.cell(notes['evaluated_at'])}",
        f"- Log position: {notes['log_position']}{as_of}",
        f"- Findings: {counts['open']} open, {counts['expired_waiver']} with an expired waiver, "
        f"{counts['waived']} waived, {counts['resolved']} resolved",
        "- Not in Findings: waived and resolved findings (they are in the Reject / Defer List) "
        "and findings about other subjects",
        "- Only the latest execution of each probe and the latest patch inspection count",
        f"- Runs in scope: {len(notes['runs']) or 'none'} (runs that reported one of the "
        "subject's findings or name it as their subject)",
    ]
    if notes["runs"]:
        header = ("seq", "run_id", "agent_name", "run_status", "heal_reason", "recorded_at")
        lines += ["", *md.table(header, [[md.value(r[h]) for h in header] for r in notes["runs"]])]
    return lines


def _summary_cell(summary: str) -> str:
    if len(summary) <= SUMMARY_CELL_MAX:
        return md.cell(summary)
    return md.cell(summary[: SUMMARY_CELL_MAX - 1] + "…") + " (whole text in Raw Output)"


def _edit_rows(edits: Sequence[Json]) -> list[list[str]]:
    return [
        [
            md.value(e["type"]),
            md.value(e["severity"]),
            md.cell(_location(e["file"], e["line"])),
            md.cell(e["evidence"]),
        ]
        for e in edits
    ]


def _md_command_log(document: Json) -> list[str]:
    log = document["command_execution_log"]
    probes = log["probes"]
    if probes:
        rows = [
            [
                md.cell(f"{p['probe']}: {p['command']}"),
                md.value(p["status"]),
                md.value(p["exit_code"]),
                _summary_cell(p["stdout_stderr_summary"]),
            ]
            for p in probes
        ]
        lines = md.table(PROBE_HEADER, rows)
    else:
        lines = ["none: no probe was executed for this subject"]
    lines += ["", "### Patch inspection", ""]
    patch = log["patch_inspection"]
    if patch is None:
        return [*lines, "none: no patch was inspected for this subject"]
    lines += [
        f"- Verdict: {md.cell(patch['verdict'])} (seq {patch['seq']}, "
        f"{'automated' if patch['automated'] else 'human'} patch)",
        f"- Event: {md.cell(patch['event_id'])} by {md.cell(patch['producer'])}",
        f"- Diff sha256: {md.cell(patch['diff_sha256'])}",
        f"- Summary: {md.cell(patch['summary']) or 'none'}",
        f"- Forbidden edits: {len(patch['edits']) or 'none'}",
    ]
    if patch["edits"]:
        lines += ["", *md.table(_EDIT_HEADER, _edit_rows(patch["edits"]))]
    return lines


def _severity_cell(finding: Json) -> str:
    text = f"{finding['severity']} {finding['finding_id']}"
    if finding["status"] == "expired_waiver":
        text += " (waiver expired)"
    return md.cell(text)


def _md_findings(document: Json) -> list[str]:
    findings = document["findings"]
    if not findings:
        return ["none: no open finding and no finding with an expired waiver"]
    rows = [
        [
            _severity_cell(f),
            "Verified" if f["evidence"] == "verified" else "Hypothesis",
            md.cell(_location(f["file"], f["line"])),
            md.cell(f["what"]),
            md.cell(f["why"]),
            md.cell(f["when"]),
            md.cell(f["proposed_fix"]),
        ]
        for f in findings
    ]
    return [
        f"{len(findings)} blocking (open, or whose waiver expired), by severity then id:",
        "",
        *md.table(FINDING_HEADER, rows),
    ]


def _matched(because: Json) -> str:
    parts = [
        f"{kind} {', '.join(because[kind])}"
        for kind in ("findings", "waivers", "probes")
        if because[kind]
    ]
    return md.cell("; ".join(parts)) if parts else md.NULL


def _md_synthesis(document: Json) -> list[str]:
    synthesis = document["synthesis"]
    explanation = synthesis["explanation"]
    fixes = synthesis["required_fixes_before_merge"]
    rows = [
        [
            md.cell(name),
            md.value(explanation[name]["value"]),
            md.value(explanation[name]["rule"]),
            md.cell(explanation[name]["reason"]),
            _matched(explanation[name]),
        ]
        for name in VERDICT_FIELDS
    ]
    rows.append(
        [
            md.cell("required_fixes_before_merge"),
            str(len(fixes)),
            md.NULL,
            "listed below" if fixes else "nothing blocks the merge",
            md.NULL,
        ]
    )
    lines = [*md.table(("field", "value", "rule", "reason", "matched"), rows), ""]
    if fixes:
        lines += ["Required fixes before merge:", ""]
        lines += [
            f"{index}. {md.cell(fix['text'])} ({md.cell(fix['kind'])} {md.cell(fix['ref'])}, "
            f"seq {fix['seq']})"
            for index, fix in enumerate(fixes, 1)
        ]
    else:
        lines.append("Required fixes before merge: none")
    lines += ["", "### Last gate evaluation", "", *_md_gate(synthesis)]
    lines += ["", "### Healing", "", *_md_healing(synthesis["healing"])]
    return lines


def _md_gate(synthesis: Json) -> list[str]:
    gate = synthesis["last_gate_evaluation"]
    if gate is None:
        return ["none: no gate.evaluated event is recorded for this subject"]
    differs = synthesis["last_gate_differs"]
    values = ", ".join(md.cell(gate[name]) for name in VERDICT_FIELDS)
    return [
        f"- seq {gate['seq']} by {md.cell(gate['producer'])}, evaluated at "
        f"{md.cell(gate['evaluated_at'])}: {values}",
        f"- Passed: {_yes(gate['passed'])} (strict: {_yes(gate['strict'])}), "
        f"{len(gate['required_fixes_before_merge'])} required fix(es)",
        "- It is a record only: the verdict above is recomputed from the log",
        "- It agrees with the verdict above"
        if not differs
        else f"- It differs from the verdict above in: {', '.join(differs)}",
    ]


def _json_cell(item: object) -> str:
    if isinstance(item, (Mapping, list)):
        return md.cell(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
    return md.value(item)


def _records_table(records: Sequence[Mapping[str, Any]], preferred: Sequence[str]) -> list[str]:
    """Records as a table: the `preferred` columns that occur, then any other key in the
    order first seen (a cell is empty where a record lacks the key)."""
    seen = [key for record in records for key in record]
    columns = [key for key in preferred if key in seen]
    columns += [key for key in dict.fromkeys(seen) if key not in columns]
    rows = [[_json_cell(r[c]) if c in r else "" for c in columns] for r in records]
    return md.table([md.cell(str(c)) for c in columns], rows)


def _md_healing(healing: object) -> list[str]:
    if healing is None:
        return ["none: this verdict document reports no healing"]
    if not isinstance(healing, Mapping):
        return [f"- {_json_cell(healing)}"]
    latest = healing.get("latest")
    lines = ["Latest healing run:", ""]
    if isinstance(latest, Mapping):
        lines += _records_table([latest], _HEALING_LATEST)
    else:
        lines.append("none" if latest is None else f"- {_json_cell(latest)}")
    healers = healing.get("healers")
    records = [h for h in healers if isinstance(h, Mapping)] if isinstance(healers, list) else []
    lines += ["", "Healers:", ""]
    lines += _records_table(records, _HEALERS) if records else ["none"]
    others = [
        f"- {md.cell(str(k))}: {_json_cell(v)}" for k, v in healing.items() if k not in _HEALING
    ]
    return [*lines, "", *others] if others else lines


def _yaml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[char])
        elif md.INVISIBLE.fullmatch(char) or char in _YAML_NONCHARACTERS:
            out.append(md.visible(char))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _yaml_scalar(item: object) -> str:
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    return _yaml_string(str(item))


def spec_candidates_yaml(candidates: Sequence[Mapping[str, object]]) -> str:
    """Candidates as a YAML block sequence of mappings; every string double-quoted."""
    if not candidates:
        return "[]\n"
    lines = []
    for candidate in candidates:
        for index, (key, item) in enumerate(candidate.items()):
            lines.append(f"{'- ' if index == 0 else '  '}{key}: {_yaml_scalar(item)}")
    return "\n".join(lines) + "\n"


def _md_spec_candidates(document: Json) -> list[str]:
    candidates = document["spec_candidates"]
    lead = (
        f"{len(candidates)} candidate(s), one per verified blocking finding:"
        if candidates
        else "none: no verified blocking finding"
    )
    return [lead, "", *md.fence(spec_candidates_yaml(candidates), "yaml")]


def _md_labels(document: Json) -> list[str]:
    return [f"- `{label}`" for label in document["classification_labels"]]


def _md_reject_defer(document: Json) -> list[str]:
    lists = document["reject_defer_list"]
    lines = []
    for title, member, columns in (
        ("Deferred (waived)", "deferred", _DEFERRED_COLUMNS),
        ("Rejected or fixed (resolved)", "resolved", _RESOLVED_COLUMNS),
    ):
        records = lists[member]
        table = md.table(
            [heading for heading, _ in columns],
            [[md.value(r[key]) for _, key in columns] for r in records],
        )
        lines += [f"### {title}", "", *(table if records else ["none"]), ""]
    lines += ["### Forbidden edits an allowance let through", ""]
    if lists["allowed_edits"]:
        return lines + md.table(_EDIT_HEADER, _edit_rows(lists["allowed_edits"]))
    return [*lines, "none"]


def _md_raw_output(document: Json) -> list[str]:
    entries = document["raw_output"]
    if not entries:
        return ["none: every probe passed and every summary fit in its table cell"]
    lines: list[str] = []
    for entry in entries:
        exit_code = "" if entry["exit_code"] is None else f", exit code {entry['exit_code']}"
        lines += [
            f"### {md.cell(entry['probe'])}: {md.cell(entry['status'])}{exit_code} "
            f"(seq {entry['seq']})",
            "",
        ]
        summary = entry["stdout_stderr_summary"]
        lines += md.fence(md.raw_text(summary), "text") if summary else ["no output recorded"]
        lines.append("")
    return lines[:-1]
