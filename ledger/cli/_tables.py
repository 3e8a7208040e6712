"""The projection documents as readable text: headers, lists and rich tables.

Each `render_*` takes the very JSON document `--json` prints (specs/projections.md
§6) and prints it on standard output. Nothing is decided here; the documents
already say everything. The console prints data verbatim (markup off), so
names and messages need no escaping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from rich.table import Table

from ledger.cli._output import stdout
from ledger.projections.views import FINDING_STATUSES

Json = dict[str, Any]

QUINTET = ("production_readiness", "correctness", "isolation", "blast_radius")
_NONE = "-"


# Event text reaches the terminal here, and a producer could hide escape sequences
# in it (a clipboard write, a retitled window): control characters but the
# newline are shown as escapes instead.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """`text` with every control character but the newline shown as an escape."""
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], text)


def _text(value: object) -> str:
    """A cell: None as a dash, everything else as its plain, visible text."""
    return _NONE if value is None else visible(str(value))


def _joined(values: Iterable[object], sep: str = ", ") -> str:
    return sep.join(visible(str(v)) for v in values) or _NONE


def _short(digest: str | None) -> str:
    """A digest's first 12 hex digits: enough to tell two apart; `--json` has them whole."""
    return _NONE if digest is None else digest[:12]


#: Columns of numbers, one-word values and short names: never broken across lines.
#: Every other column wraps, and folds a word longer than its width: nothing is cut.
_WHOLE = frozenset(
    {
        "seq",
        "finding",
        "source",
        "status",
        "severity",
        "score",
        "tier",
        "value",
        "action",
        "status now",
        "projection",
        "version",
        "position",
        "log size",
        "lag",
        "rows",
        "exit",
    }
)


def _table(*columns: str) -> Table:
    table = Table(*columns)
    for column in table.columns:
        column.overflow = "fold"
        column.no_wrap = column.header in _WHOLE
    return table


def _position(document: Json) -> str:
    """`log position N[, as of S][, evaluated at T]`: what every view was computed over."""
    parts = [f"log position {document['log_position']}"]
    if document.get("as_of") is not None:
        parts.append(f"as of seq {document['as_of']}")
    if document.get("evaluated_at") is not None:
        parts.append(f"evaluated at {document['evaluated_at']}")
    return ", ".join(parts)


def _counts(counts: Json) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items())


# Verdicts and findings -----------------------------------------------------------------


def _location(finding: Json) -> str:
    line = finding["line"]
    return finding["file"] if line is None else f"{finding['file']}:{line}"


def _waivers(finding: Json) -> str:
    return _joined(
        (
            f"{w['waiver_id']} {w['status']} (expiry {w['expiry']}, {w['owner']})"
            for w in finding["waivers"]
        ),
        "\n",
    )


def _based_on(because: Json) -> str:
    parts = []
    for member in ("findings", "waivers", "probes", "seqs"):
        if because[member]:
            parts.append(f"{member} {_joined(because[member])}")
    return "; ".join(parts) or _NONE


def _finding_rows(table: Table, findings: Sequence[Json], *, with_subject: bool) -> None:
    for f in findings:
        cells = [
            f["finding_id"],
            f["status"],
            f["severity"],
            f["category"],
            _location(f),
            f["what"],
            _waivers(f),
            str(f["reported_seq"]),
        ]
        table.add_row(*([f["subject"], *cells] if with_subject else cells))


_FINDING_COLUMNS = ("finding", "status", "severity", "category", "where", "what", "waivers", "seq")


def render_verdict(document: Json) -> None:
    if document["known"]:
        known = f"known, last named at seq {document['last_seq']}"
    else:
        known = "never named in the log"
    stdout.print(f"subject {document['subject']} ({known})")
    stdout.print(_position(document))
    explanation = document["explanation"]
    table = _table("field", "value", "rule", "reason", "based on")
    for name in QUINTET:
        because = explanation[name]
        table.add_row(
            name, because["value"], because["rule"], because["reason"], _based_on(because)
        )
    fixes = explanation["required_fixes_before_merge"]
    table.add_row("required_fixes_before_merge", str(len(fixes)), _NONE, _NONE, _NONE)
    stdout.print(table)
    if fixes:
        stdout.print("required fixes before merge:")
        for number, fix in enumerate(fixes, 1):
            severity = f", {fix['severity']}" if fix["severity"] else ""
            stdout.print(
                f"  {number}. [{fix['kind']} {fix['ref']}{severity}, seq {fix['seq']}] "
                f"{fix['text']}"
            )
    else:
        stdout.print("required fixes before merge: none")
    grouped = document["findings"]
    for status in FINDING_STATUSES:
        found = grouped.get(status, [])
        if not found:
            continue
        stdout.print(f"{status} findings ({len(found)}):")
        table = _table(*_FINDING_COLUMNS)
        _finding_rows(table, found, with_subject=False)
        stdout.print(table)
    if not any(grouped.get(status) for status in FINDING_STATUSES):
        stdout.print("findings: none")
    _render_healing(document["healing"])


def _render_healing(healing: Json) -> None:
    latest = healing["latest"]
    if latest is None:
        stdout.print("healing: none")
        return
    stdout.print(
        f"latest healing: {visible(latest['agent_name'])} run {latest['run_id']} "
        f"(seq {latest['seq']}, {latest['run_status']}): {latest['outcome']}"
    )
    table = _table("healer", "outcome", "heal_reason", "stuck", "runs", "last seq")
    for healer in healing["healers"]:
        stuck = f"yes ({healer['stuck_because']})" if healer["stuck"] else "no"
        table.add_row(
            _text(healer["agent_name"]),
            healer["outcome"],
            _text(healer["heal_reason"]),
            stuck,
            str(healer["runs_considered"]),
            str(healer["last_seq"]),
        )
    stdout.print(table)
    stdout.print(
        f"a healer is stuck when its last {healing['stuck_runs']} runs faced the same findings"
    )


def render_findings(document: Json) -> None:
    about = "every subject" if document["subject"] is None else f"subject {document['subject']}"
    stdout.print(f"findings on {about}: {_counts(document['counts'])}")
    stdout.print(_position(document))
    if not document["findings"]:
        stdout.print("no findings match")
        return
    table = _table("subject", *_FINDING_COLUMNS)
    _finding_rows(table, document["findings"], with_subject=True)
    stdout.print(table)


# Health --------------------------------------------------------------------------------


def render_health(document: Json) -> None:
    stdout.print(f"sources: {_counts(document['summary'])}")
    stdout.print(_position(document))
    table = _table("source", "status", "score", "tier", "codes")
    for source in document["sources"]:
        table.add_row(
            source["source_id"],
            source["status"],
            str(source["score"]),
            source["tier"],
            _joined((code["code"] for code in source["codes"]), "\n"),
        )
    stdout.print(table)
    for source in document["sources"]:
        for code in source["codes"]:
            stdout.print(
                f"{source['source_id']}: {code['code']}: {code['message']} (hint: {code['hint']})"
            )
    stdout.print(f"blocking --strict: {_joined(document['blocking'])}")


def render_suppressions(document: Json) -> None:
    active = document["active"]
    state = "none active" if active is None else f"{active} active"
    stdout.print(f"suppressions of {document['source_id']}: {state}")
    stdout.print(_position(document))
    if not document["history"]:
        stdout.print("no suppression was ever added or lifted")
        return
    table = _table(
        "seq", "action", "suppression", "status now", "owner", "expiry", "reason", "recorded at"
    )
    for entry in document["history"]:
        table.add_row(
            str(entry["seq"]),
            entry["action"],
            entry["suppression_id"],
            entry["status_now"],
            entry["owner"],
            _text(entry["expiry"]),
            entry["reason"],
            entry["recorded_at"],
        )
    stdout.print(table)


# Runs, replays and history -------------------------------------------------------------


def render_runs(document: Json) -> None:
    stdout.print(f"{len(document['runs'])} run(s), newest first; {_position(document)}")
    if document["runs"]:
        table = _table(
            "seq", "run id", "agent", "subject", "status", "mode", "exit", "ended at", "outputs"
        )
        for run in document["runs"]:
            table.add_row(
                str(run["seq"]),
                run["run_id"],
                run["agent_name"],
                _text(run["subject"]),
                run["run_status"],
                run["mode"],
                _text(run["exit_code"]),
                run["ended_at"],
                _joined(run["output_refs"]),
            )
        stdout.print(table)
    if document["next_before_seq"] is not None:
        stdout.print(f"more: --before-seq {document['next_before_seq']}")


def _provenance_lines(nodes: Sequence[Json]) -> Iterable[str]:
    for node in nodes:
        indent = "  " * node["depth"]
        yield (
            f"{indent}<- {node['run_id']} ({node['agent_name']}, {node['run_status']}, "
            f"seq {node['seq']}) via {node['via_ref']}"
        )
        yield from _provenance_lines(node["upstream"])


def render_replay(report: Json) -> None:
    run = report["run"]
    record = report["record"]
    stdout.print(
        f"run {run['run_id']}: {run['agent_name']} {run['run_status']} ({run['mode']} run), "
        f"seq {run['seq']}, recorded at {record['recorded_at']}"
    )
    stdout.print(
        f"started {run['started_at']}, ended {run['ended_at']}, exit code {_text(run['exit_code'])}"
    )
    stdout.print(f"config fingerprint {report['config_fingerprint']}")
    stdout.print(f"input context sha {record['input_context_sha']}")
    stdout.print(_position(report))
    provenance = report["provenance"]
    stdout.print("provenance:")
    stdout.print(f"{run['run_id']} ({run['agent_name']}, {run['run_status']}, seq {run['seq']})")
    for line in _provenance_lines(provenance["upstream"]):
        stdout.print(line)
    if provenance["unresolved_refs"]:
        stdout.print(f"unresolved refs: {_joined(provenance['unresolved_refs'])}")
    if provenance["truncated"]:
        stdout.print("(truncated: the walk stops at depth 15 or after 256 links)")
    replay = report["replay"]
    stdout.print(f"inputs in {replay['workspace']} ({replay['mode']} replay):")
    if replay["inputs"]:
        table = _table("path", "status", "recorded sha256", "current sha256", "reason")
        for item in replay["inputs"]:
            table.add_row(
                item["path"],
                item["status"],
                _short(item["recorded_sha256"]),
                _short(item["current_sha256"]),
                _text(item.get("reason")),
            )
        stdout.print(table)
    else:
        stdout.print("the run recorded no input files")
    verdict = "ok" if replay["ok"] else "not ok"
    stdout.print(f"summary: {_counts(replay['summary'])}: {verdict}")


def render_history(document: Json) -> None:
    stdout.print(f"stream {document['stream']}: {len(document['events'])} event(s)")
    stdout.print(_position(document))
    if document["events"]:
        table = _table(
            "version", "seq", "type", "event id", "producer", "occurred at", "recorded at"
        )
        for event in document["events"]:
            table.add_row(
                str(event["version"]),
                str(event["seq"]),
                event["type"],
                event["event_id"],
                event["producer"],
                event["occurred_at"],
                event["recorded_at"],
            )
        stdout.print(table)
    if document["next_version"] is not None:
        stdout.print(f"more: --from-version {document['next_version']}")


# Projection status ---------------------------------------------------------------------


def render_status(projections: Sequence[Json]) -> None:
    table = _table("projection", "version", "position", "log size", "lag", "rows", "digest")
    for p in projections:
        table.add_row(
            p["name"],
            str(p["version"]),
            str(p["position"]),
            str(p["log_size"]),
            str(p["lag"]),
            str(p["rows"]),
            p["digest"],
        )
    stdout.print(table)
