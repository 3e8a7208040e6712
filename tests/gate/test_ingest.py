"""Findings files into `finding.reported` payloads: the sample inputs, ids, limits and failures.

The mapping rules one by one are contract cases in specs/findings-import.md;
here are realistic files from real tools, determinism, the file system side
and every way a file is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec
import pytest

import gate.ingest as ingest
from gate.ingest import IngestReport, load_findings_report, parse_findings_report
from gate.sarif_import import derive_finding_id, located_id_parts
from ledger.errors import ErrorCode, InvalidInput, IoFailure, LedgerError
from ledger.model.finding import FindingV1
from schemas import sarif_validator

INPUTS = Path(__file__).resolve().parent / "ingest_inputs"
REPO = PurePosixPath("/home/dev/shop")
SUBJECT = "pr-7"
RUN_ID = "0190d4a2-7b1e-7c3a-9f00-1a2b3c4d5e6f"
VALID_SARIF = ("ruff.sarif", "bandit.sarif", "semgrep.sarif", "eslint.sarif", "codeql.sarif")
VALID_LEDGER = ("ledger_with_ids.json", "ledger_without_ids.json")


def _format(name: str) -> ingest.FindingsFormat:
    return "sarif" if name.endswith(".sarif") else "ledger"


def _parse(data: bytes | str, fmt: ingest.FindingsFormat, **kwargs: Any) -> IngestReport:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    options = {"subject": SUBJECT, "run_id": RUN_ID, "origin": "input", "base_dir": REPO, **kwargs}
    return parse_findings_report(raw, fmt, **options)


def _sample(name: str, **kwargs: Any) -> IngestReport:
    return _parse((INPUTS / name).read_bytes(), _format(name), **kwargs)


def _rows(report: IngestReport) -> list[tuple[Any, ...]]:
    """The fields a reader checks first, in the report's (finding-id) order."""
    return [
        (f.rule_id, f.file, f.line, f.severity, f.evidence, f.category) for f in report.findings
    ]


def _skips(report: IngestReport) -> list[tuple[str, str]]:
    return [(s.pointer, s.reason) for s in report.skipped]


def _refused(action: Any, code: ErrorCode = ErrorCode.INVALID_FINDINGS) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        action()
    assert caught.value.code == code, caught.value
    return caught.value


def _sarif(results: list[Any], *, rules: list[Any] | None = None, **run: Any) -> str:
    driver = {"name": "Tool", "rules": rules or []}
    return json.dumps(
        {"version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results, **run}]}
    )


def _result(uri: str = "src/a.py", line: int = 3, **extra: Any) -> dict[str, Any]:
    location = {
        "physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": line}}
    }
    return {"ruleId": "R1", "message": {"text": "m"}, "locations": [location], **extra}


# --- the sample files ------------------------------------------------------------------------


def test_ruff_absolute_file_uris_become_repository_paths() -> None:
    report = _sample("ruff.sarif")
    assert sorted(_rows(report)) == [
        ("ruff/F401", "src/shop/cart.py", 1, "P1", "verified", "correctness"),
        ("ruff/F841", "src/shop/price rules.py", 6, "P1", "verified", "correctness"),
    ]
    assert _skips(report) == [("/runs/0/results/2", "outside-repository")]
    (unused_import,) = (f for f in report.findings if f.rule_id == "ruff/F401")
    assert unused_import.what == "`os` imported but unused"
    assert unused_import.why.startswith("## What it does\nChecks for unused imports.")
    assert (unused_import.when, unused_import.proposed_fix, unused_import.stage) == ("", "", "gate")


def test_bandit_levels_and_security_tags() -> None:
    report = _sample("bandit.sarif")
    assert sorted(_rows(report)) == [
        ("Bandit/B101", "src/shop/cart.py", 41, "P3", "verified", "security"),
        ("Bandit/B608", "src/shop/db.py", 17, "P2", "verified", "security"),
    ]
    # No descriptions in the rules: the message explains itself.
    assert all(f.why == f.what for f in report.findings)
    assert report.skipped == report.warnings == ()


def test_semgrep_security_severity_suppressions_fixes_and_fingerprints() -> None:
    report = _sample("semgrep.sarif")
    prefix = "Semgrep-OSS/python."
    rows = {(r[0].removeprefix(prefix), *r[1:]) for r in _rows(report)}
    assert rows == {
        (
            "django.security.injection.tainted-sql-string.tainted-sql-string",
            "src/shop/db.py", 17, "P0", "verified", "security",
        ),
        (
            "requests.security.disabled-cert-validation.disabled-cert-validation",
            "src/shop/pay.py", 77, "P1", "verified", "security",
        ),
        (
            "lang.security.audit.eval-detected.eval-detected",
            "src/shop/views.py", 12, "P2", "verified", "security",
        ),
        (
            "lang.security.audit.eval-detected.eval-detected",
            "src/shop/views.py", 48, "P2", "verified", "security",
        ),
        (
            "django.security.audit.django-debug.django-debug-true",
            "src/shop/settings.py", 3, "P2", "verified", "correctness",
        ),
    }  # fmt: skip
    # The suppression under review keeps /results/5; the accepted one skips /results/4.
    assert _skips(report) == [("/runs/0/results/4", "suppressed")]
    (debug,) = (f for f in report.findings if f.file == "src/shop/settings.py")
    assert debug.proposed_fix == "Django DEBUG is enabled.\n Autofix: Semgrep rule suggested fix"
    assert debug.why == "Detected DEBUG = True in a Django settings file."
    by_file = {f.file: f for f in report.findings if f.file != "src/shop/views.py"}
    # db.py's fingerprints are its own: they name it, wherever its line moves.
    sql = by_file["src/shop/db.py"]
    assert sql.finding_id == derive_finding_id(
        [
            "fingerprinted", SUBJECT, sql.rule_id, "src/shop/db.py",
            "fingerprints/matchBasedId/v1", "requires login",
            "partialFingerprints/primaryLocationLineHash", "5c7a0f1e2d3b4a59:1",
        ]
    )  # fmt: skip
    # The two eval() results in views.py share rule, file and fingerprint: their place names them.
    for finding in (f for f in report.findings if f.file == "src/shop/views.py"):
        assert finding.finding_id == derive_finding_id(
            located_id_parts(SUBJECT, finding.rule_id, finding.file, finding.line, finding.what)
        )


def test_eslint_rule_index_default_levels_and_artifact_indexes() -> None:
    report = _sample("eslint.sarif")
    assert sorted(_rows(report)) == [
        ("ESLint/eqeqeq", "web/src/cart.js", 30, "P2", "verified", "correctness"),
        ("ESLint/no-unused-vars", "web/src/cart.js", 14, "P2", "verified", "correctness"),
    ]
    assert _skips(report) == [
        ("/runs/0/results/1", "suppressed"),
        ("/runs/0/results/3", "outside-repository"),
        ("/runs/0/results/4", "not-a-problem"),
    ]
    assert {f.why for f in report.findings} == {
        "Disallow unused variables",
        "Require the use of `===` and `!==`",
    }


def test_codeql_extensions_message_strings_uri_bases_and_baselines() -> None:
    report = _sample("codeql.sarif")
    assert sorted(_rows(report)) == [
        (
            "CodeQL/py/clear-text-logging-sensitive-data",
            "CodeQL",
            None,
            "P1",
            "hypothesis",
            "security",
        ),
        (
            "CodeQL/py/clear-text-logging-sensitive-data",
            "web/app.js",
            7,
            "P1",
            "hypothesis",
            "security",
        ),
        ("CodeQL/py/sql-injection", "src/shop/db.py", 18, "P1", "verified", "security"),
        (
            "CodeQL/py/unused-local-variable",
            "src/shop/cart.py",
            40,
            "P3",
            "verified",
            "correctness",
        ),
    ]
    assert _skips(report) == [("/runs/0/results/3", "absent-from-baseline")]
    assert report.warnings == (
        "/runs/0/invocations/0: CodeQL reported that its execution failed"
        " (executionSuccessful: false)",
    )
    whats = {f.rule_id.rsplit("/", 1)[1]: f.what for f in report.findings if f.line}
    assert (
        whats["sql-injection"]
        == "This SQL query depends on a user-provided value from request.GET."
    )
    assert whats["unused-local-variable"] == "Variable total is not used; {braces} stay literal."


def test_ledger_files_with_and_without_ids() -> None:
    with_ids = _sample("ledger_with_ids.json")
    assert [f.finding_id for f in with_ids.findings] == ["GATE-17", "GATE-3"]
    stale = with_ids.findings[1]
    assert (stale.evidence, stale.line, stale.when, stale.proposed_fix, stale.stage) == (
        "hypothesis", None, "", "", "gate",
    )  # fmt: skip
    assert with_ids.findings[0].stage == "stage-5"
    without_ids = _sample("ledger_without_ids.json")
    for finding in without_ids.findings:
        assert finding.finding_id == derive_finding_id(
            located_id_parts(SUBJECT, finding.rule_id, finding.file, finding.line, finding.what)
        )
    assert [f.rule_id for f in without_ids.findings] == ["probe/tls-verify", "probe/sql-format"]


@pytest.mark.parametrize("name", VALID_SARIF + VALID_LEDGER)
def test_every_payload_validates_and_every_parse_is_the_same(name: str) -> None:
    first = _sample(name)
    assert first.findings
    assert [f.finding_id for f in first.findings] == sorted(f.finding_id for f in first.findings)
    for finding in first.findings:
        assert (finding.subject, finding.run_id) == (SUBJECT, RUN_ID)
        encoded = msgspec.json.encode(finding)
        assert msgspec.json.decode(encoded, type=FindingV1) == finding
    again = _sample(name)
    assert msgspec.json.encode(again.findings) == msgspec.json.encode(first.findings)
    assert (again.skipped, again.warnings) == (first.skipped, first.warnings)


@pytest.mark.parametrize("name", VALID_SARIF)
def test_sarif_samples_are_valid_sarif(name: str) -> None:
    errors = list(sarif_validator().iter_errors(json.loads((INPUTS / name).read_text())))
    assert errors == []


@pytest.mark.parametrize("name", VALID_SARIF)
def test_result_order_does_not_change_the_findings(name: str) -> None:
    document = json.loads((INPUTS / name).read_text())
    for run in document["runs"]:
        random.Random(7).shuffle(run["results"])
    shuffled = _parse(json.dumps(document), "sarif")
    assert shuffled.findings == _sample(name).findings


def test_item_order_does_not_change_the_findings() -> None:
    items = json.loads((INPUTS / "ledger_without_ids.json").read_text())
    assert _parse(json.dumps(items[::-1]), "ledger") == _sample("ledger_without_ids.json")


def test_ids_name_the_subject_too() -> None:
    """Finding ids are global: the same finding about another subject is another finding."""
    here = _sample("ledger_without_ids.json")
    there = _sample("ledger_without_ids.json", subject="pr-8")
    assert not {f.finding_id for f in here.findings} & {f.finding_id for f in there.findings}


def test_fingerprints_keep_an_id_when_its_line_moves() -> None:
    fingerprint = {"partialFingerprints": {"primaryLocationLineHash": "abc:1"}}
    moved = [_parse(_sarif([_result(line=n, **fingerprint)]), "sarif") for n in (3, 30)]
    assert moved[0].findings[0].finding_id == moved[1].findings[0].finding_id
    located = [_parse(_sarif([_result(line=n)]), "sarif") for n in (3, 30)]
    assert located[0].findings[0].finding_id != located[1].findings[0].finding_id


def test_the_same_result_twice_is_one_finding() -> None:
    report = _parse(_sarif([_result(), _result(), _result(line=4)]), "sarif")
    assert [f.line for f in sorted(report.findings, key=lambda f: f.line or 0)] == [3, 4]
    assert _skips(report) == [("/runs/0/results/1", "duplicate")]


# --- reading files -------------------------------------------------------------------------


def test_load_findings_makes_absolute_paths_relative_to_the_real_repository(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    link = tmp_path / "link-to-repo"
    link.symlink_to(repo)
    text = (INPUTS / "ruff.sarif").read_text().replace(str(REPO), str(repo.resolve()))
    path = repo / "ruff.sarif"
    path.write_text(text)
    report = load_findings_report(path, "sarif", subject=SUBJECT, run_id=RUN_ID, base_dir=link)
    assert sorted(f.file for f in report.findings) == [
        "src/shop/cart.py",
        "src/shop/price rules.py",
    ]


def test_load_findings_without_a_repository_skips_absolute_paths(tmp_path: Path) -> None:
    path = tmp_path / "ruff.sarif"
    path.write_bytes((INPUTS / "ruff.sarif").read_bytes())
    report = load_findings_report(path, "sarif", subject=SUBJECT, run_id=RUN_ID)
    assert report.findings == ()
    assert {s.reason for s in report.skipped} == {"unmappable-location"}


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    error = _refused(
        lambda: load_findings_report(
            tmp_path / "nope.json", "ledger", subject=SUBJECT, run_id=RUN_ID
        ),
        ErrorCode.FILE_UNREADABLE,
    )
    assert isinstance(error, IoFailure)
    assert "does not exist" in error.message


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_only_a_regular_file_is_read(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "findings.json"
    if kind == "fifo":
        os.mkfifo(path)  # opening it to read must not wait for a writer
    else:
        path.mkdir()
    error = _refused(
        lambda: load_findings_report(path, "ledger", subject=SUBJECT, run_id=RUN_ID),
        ErrorCode.FILE_UNREADABLE,
    )
    assert "not a regular file" in error.message


def test_a_file_over_the_size_bound_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(ingest.MAX_INPUT_BYTES + 1)  # sparse: no disk space used
    error = _refused(lambda: load_findings_report(path, "ledger", subject=SUBJECT, run_id=RUN_ID))
    assert isinstance(error, InvalidInput)
    assert error.details["limit"] == ingest.MAX_INPUT_BYTES
    assert (error.details["path"], error.details["pointer"]) == (str(path), "")


def test_bytes_over_the_size_bound_are_refused() -> None:
    error = _refused(lambda: _parse(b" " * (ingest.MAX_INPUT_BYTES + 1), "ledger"))
    assert error.details["limit"] == ingest.MAX_INPUT_BYTES


# --- refused files -------------------------------------------------------------------------


def _problems(error: LedgerError) -> list[str]:
    problems = error.details["problems"]
    assert isinstance(problems, list)
    return [p["pointer"] for p in problems]


def test_broken_json_is_refused_at_the_root() -> None:
    error = _refused(lambda: _sample("broken_not_json.json"))
    assert (error.details["path"], error.details["pointer"]) == ("input", "")
    assert "truncated" in error.message


@pytest.mark.parametrize(
    "data",
    [b'{"findings": ["\xff"]}', b"\xfe\xff\x00[\x00]", b"[1, 2", b"", b"[" * 100_000],
    ids=["not-utf8", "utf16", "truncated", "empty", "nested-too-deeply"],
)
def test_what_is_not_json_is_refused(data: bytes) -> None:
    for fmt in ("ledger", "sarif"):
        error = _refused(lambda fmt=fmt: _parse(data, fmt))
        assert error.details["pointer"] == ""


def test_a_byte_order_mark_is_ignored() -> None:
    plain = (INPUTS / "ledger_with_ids.json").read_bytes()
    assert _parse(b"\xef\xbb\xbf" + plain, "ledger") == _parse(plain, "ledger")


def test_an_old_sarif_version_is_refused() -> None:
    error = _refused(lambda: _sample("broken_sarif_version.sarif"))
    assert error.details["pointer"] == "/version"
    assert _problems(error) == ["/version"]
    assert "must be '2.1.0'; got '2.0.0'" in error.message


def test_every_sarif_problem_is_reported_at_once() -> None:
    error = _refused(lambda: _sample("broken_sarif_types.sarif"))
    assert _problems(error) == [
        "/runs/0/tool/driver/rules/0/properties/security-severity",
        "/runs/0/tool/driver/rules/1/defaultConfiguration/level",
        "/runs/0/results/0/level",
        "/runs/0/results/0/locations/0/physicalLocation/region/startLine",
        "/runs/0/results/1/ruleIndex",
        "/runs/0/results/1/message",
        "/runs/0/results/2/locations/0/physicalLocation/artifactLocation/uri",
        "/runs/0/results/3",
    ]
    assert error.details["problem_count"] == 8
    assert error.details["pointer"] == "/runs/0/tool/driver/rules/0/properties/security-severity"
    assert "(and 7 more problems)" in error.message


def test_every_ledger_problem_is_reported_at_once() -> None:
    error = _refused(lambda: _sample("broken_ledger_items.json"))
    assert _problems(error) == [
        "/version",
        "/findings/0/severty",
        "/findings/0/severity",
        "/findings/0/line",
        "/findings/0/what",
        "/findings/0/rule_id",
        "/findings/0/category",
        "/findings/1/why",
        "/findings/1/subject",
        "/findings/1/file",
        "/findings/2",
    ]
    messages = {p["pointer"]: p["message"] for p in error.details["problems"]}
    assert messages["/findings/0/severty"] == "unknown member; did you mean `severity`?"
    assert messages["/findings/0/severity"] == "must be one of P0, P1, P2, P3; got 'P5'"
    assert "for subject 'pr-7'" in messages["/findings/1/subject"]


def test_finding_ids_are_unique_in_a_ledger_file() -> None:
    error = _refused(lambda: _sample("broken_ledger_duplicate_ids.json"))
    assert _problems(error) == ["/findings/1", "/findings/3"]
    assert "of /findings/2" in error.details["problems"][1]["message"]


def test_problems_listed_are_bounded_but_all_are_counted() -> None:
    error = _refused(lambda: _parse(json.dumps([{"nope": 1}] * 300), "ledger"))
    assert len(_problems(error)) == ingest.MAX_PROBLEMS
    # Each item: one unknown member and six required members missing.
    assert error.details["problem_count"] == 300 * 7


@pytest.mark.parametrize(
    ("fmt", "document", "pointer"),
    [
        ("ledger", [{}] * (ingest.MAX_FINDINGS + 1), ""),
        ("ledger", {"findings": [{}] * (ingest.MAX_FINDINGS + 1)}, "/findings"),
        (
            "sarif",
            {"version": "2.1.0", "runs": [{"results": [{}] * (ingest.MAX_FINDINGS // 2 + 1)}] * 2},
            "/runs",
        ),
    ],
    ids=["ledger-array", "ledger-object", "sarif-all-runs"],
)
def test_too_many_findings_are_refused(
    fmt: ingest.FindingsFormat, document: object, pointer: str
) -> None:
    error = _refused(lambda: _parse(json.dumps(document), fmt))
    assert _problems(error) == [pointer]
    assert "at most 50,000" in error.message


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ('"findings"', ""),
        ("{}", "/findings"),
        ('{"findings": {}}', "/findings"),
        ('{"findings": [], "tool": "x"}', "/tool"),
        ("[null]", "/0"),
        ('[{"severity": "P1", "file": "a", "what": "w", "why": "y", "rule_id": "r", '
         '"category": "security", "run_id": "0190d4a2-7b1e-7c3a-9f00-000000000000"}]', "/0/run_id"),
        ('[{"severity": "P1", "file": "a/../b", "what": "w", "why": "y", "rule_id": "r", '
         '"category": "security"}]', "/0/file"),
        ('[{"severity": "P1", "file": "a", "what": "w", "why": "", "rule_id": "r", '
         '"category": "security", "when": null}]', "/0/why"),
    ],
    ids=[
        "not-a-container", "no-findings", "findings-not-array", "unknown-top-member",
        "null-item", "other-run", "unnormalised-path", "empty-why",
    ],
)  # fmt: skip
def test_ledger_refusals_name_the_member(document: str, pointer: str) -> None:
    error = _refused(lambda: _parse(document, "ledger"))
    assert error.details["pointer"] == pointer


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ("[]", ""),
        ('{"version": "2.1.0"}', "/runs"),
        ('{"runs": []}', "/version"),
        ('{"version": "2.1.0", "runs": {}}', "/runs"),
        ('{"version": "2.1.0", "runs": [{}]}', "/runs/0/tool"),
        ('{"version": "2.1.0", "runs": [{"tool": {}}]}', "/runs/0/tool/driver"),
        ('{"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]}', "/runs/0/tool/driver/name"),
        ('{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}}, "results": {}}]}',
         "/runs/0/results"),
        (_sarif([_result(kind="bad")]), "/runs/0/results/0/kind"),
        (_sarif([_result(suppressions=[{"kind": "inSource", "status": "maybe"}])]),
         "/runs/0/results/0/suppressions/0/status"),
        (_sarif([_result(baselineState="gone")]), "/runs/0/results/0/baselineState"),
        (_sarif([_result(partialFingerprints={"h": 1})]),
         "/runs/0/results/0/partialFingerprints/h"),
        (_sarif([_result(rule={"toolComponent": {"index": 2}})]),
         "/runs/0/results/0/rule/toolComponent/index"),
        (_sarif([_result(locations=[{"physicalLocation": {"artifactLocation": {"index": 5}}}])]),
         "/runs/0/results/0/locations/0/physicalLocation/artifactLocation/index"),
        (_sarif([_result()], originalUriBaseIds={"A": {"uri": "x/", "uriBaseId": "B"},
                                                 "B": {"uri": "y/", "uriBaseId": "A"}}),
         "/runs/0/originalUriBaseIds/B/uriBaseId"),
    ],
    ids=[
        "array", "no-runs", "no-version", "runs-not-array", "no-tool", "no-driver", "no-name",
        "results-not-array", "kind", "suppression-status", "baseline-state", "fingerprint",
        "tool-component", "artifact-index", "uri-base-cycle",
    ],
)  # fmt: skip
def test_sarif_refusals_name_the_member(document: str, pointer: str) -> None:
    error = _refused(lambda: _parse(document, "sarif"))
    assert error.details["pointer"] == pointer


@pytest.mark.parametrize(
    "arguments",
    [
        {"fmt": "csv"},
        {"subject": "two\nlines"},
        {"run_id": "not-a-uuid"},
        {"base_dir": PurePosixPath("relative/repo")},
    ],
    ids=["format", "subject", "run-id", "relative-base"],
)
def test_bad_arguments_are_refused(arguments: dict[str, Any]) -> None:
    fmt = arguments.pop("fmt", "ledger")
    _refused(lambda: _parse("[]", fmt, **arguments), ErrorCode.INVALID_ARGUMENT)


def test_an_empty_file_of_findings_is_no_findings() -> None:
    assert _parse("[]", "ledger") == IngestReport(())
    assert _parse('{"findings": []}', "ledger") == IngestReport(())
    empty_run = '{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}}, "results": []}]}'
    assert _parse(empty_run, "sarif") == IngestReport(())


def test_a_run_without_results_is_a_warning() -> None:
    report = _parse('{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}}}]}', "sarif")
    assert report.warnings == ("/runs/0: t wrote no results array: it reported no scan",)


# --- fitting texts and labels ------------------------------------------------------------------


def test_long_texts_are_cut_to_fit() -> None:
    long = "x" * 20_000
    rules = [{"id": "R1", "fullDescription": {"text": long}}]
    fixes = [{"description": {"text": long}, "artifactChanges": []}]
    document = _sarif([_result(message={"text": long}, fixes=fixes)], rules=rules)
    (finding,) = _parse(document, "sarif").findings
    for text in (finding.what, finding.why, finding.proposed_fix):
        assert len(text) == 16_384
        assert text == "x" * 16_383 + "\u2026"


def test_a_long_rule_id_keeps_a_readable_prefix_and_a_digest() -> None:
    document = _sarif([_result(ruleId="r" * 300)])
    (finding,) = _parse(document, "sarif").findings
    whole = "Tool/" + "r" * 300
    digest = hashlib.sha256(whole.encode()).hexdigest()[:16]
    assert finding.rule_id == whole[:183] + "+" + digest
    assert len(finding.rule_id) == 200


def test_a_tool_name_without_letters_or_digits_is_sarif() -> None:
    document = json.dumps(
        {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "@@ !"}}, "results": [
            {"ruleId": "R1", "message": {"text": "m"}}]}]}
    )  # fmt: skip
    (finding,) = _parse(document, "sarif").findings
    assert (finding.rule_id, finding.file) == ("sarif/R1", "sarif")
