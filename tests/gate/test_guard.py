"""The honesty guard: the diff corpus, each rule's edges, allowances, summaries and findings."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from gate._globs import glob_match, match_any
from gate.config import GuardPolicy, parse_gate_config
from gate.guard import EDIT_TYPES, Inspection, edit_findings, finding_id, inspect_patch
from gate.guard_rules import SEVERITY, evidence, string_spans
from ledger.errors import ErrorCode, InvalidInput
from ledger.model.envelope import decode_payload
from ledger.model.finding import FindingV1
from ledger.model.gate_records import PatchInspectedV1

CORPUS = Path(__file__).resolve().parent / "corpus"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load(
    (CORPUS / "expected.yaml").read_text(encoding="utf-8")
)["cases"]
NOW = datetime(2026, 6, 1, tzinfo=UTC)
DEFAULT = GuardPolicy()
RUN_ID = "0190d4a2-7b1e-7c3a-9f00-1a2b3c4d5e6f"
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")


def policy_from(table: dict[str, Any] | None) -> GuardPolicy:
    """A [guard] table as gate.toml holds it, through the real config validation."""
    return msgspec.convert(table or {}, GuardPolicy)


def inspect(diff: str | bytes, policy: GuardPolicy = DEFAULT, **kwargs: Any) -> Inspection:
    data = diff.encode("utf-8") if isinstance(diff, str) else diff
    return inspect_patch(
        data,
        policy,
        automated=kwargs.get("automated", False),
        now=kwargs.get("now", NOW),
        locked=kwargs.get("locked", ()),
    )


def places(edits: Any) -> list[list[Any]]:
    return [[e.type, e.file, e.line] for e in edits]


def one_file(path: str, lines: list[str], *, section: str = "", start: int = 10) -> str:
    """A modification of `path` whose hunk holds `lines` (each with its ` `/`-`/`+` marker)."""
    old = sum(1 for line in lines if line[0] in " -")
    new = sum(1 for line in lines if line[0] in " +")
    head = f"@@ -{start},{old} +{start},{new} @@" + (f" {section}" if section else "")
    body = "\n".join(lines)
    return (
        f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n"
        f"--- a/{path}\n+++ b/{path}\n{head}\n{body}\n"
    )


def added(path: str, *texts: str) -> str:
    return one_file(path, [" context above", *(f"+{t}" for t in texts), " context below"])


def binary(path: str, status: str = "modified") -> str:
    """A binary change to `path`: modified, added or deleted."""
    head = f"diff --git a/{path} b/{path}\n"
    if status == "added":
        head += "new file mode 100644\nindex 0000000..2222222\n"
        return head + f"Binary files /dev/null and b/{path} differ\n"
    if status == "deleted":
        head += "deleted file mode 100644\nindex 1111111..0000000\n"
        return head + f"Binary files a/{path} and /dev/null differ\n"
    return head + f"index 1111111..2222222 100644\nBinary files a/{path} and b/{path} differ\n"


# --- the corpus ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_case(name: str) -> None:
    case = EXPECTED[name]
    diff = (CORPUS / case.get("diff", f"{name}.diff")).read_bytes()
    now = datetime.fromisoformat(case["now"]) if "now" in case else NOW
    policy = policy_from(case.get("policy"))
    inspection = inspect(diff, policy, automated=case.get("automated", False), now=now)
    assert inspection.verdict == case["verdict"]
    assert places(inspection.edits) == case["edits"]
    assert places(inspection.allowed) == case.get("allowed", [])
    assert inspection.diff_sha256 == hashlib.sha256(diff).hexdigest()
    # Every edit carries its type's severity and valid evidence.
    for edit in (*inspection.edits, *inspection.allowed):
        assert edit.severity == SEVERITY[edit.type]
        assert 1 <= len(edit.evidence) <= 512
    # The payload passes the model's own validation.
    payload = inspection.to_payload("github.com/acme/shop/pull/7", RUN_ID)
    decoded = decode_payload("patch.inspected", "1.0", msgspec.json.encode(payload))
    assert decoded == payload


def test_the_corpus_is_whole() -> None:
    diffs = {path.name for path in CORPUS.glob("*.diff")}
    used = {case.get("diff", f"{name}.diff") for name, case in EXPECTED.items()}
    assert used == diffs, "every corpus diff has a case and every case a diff"
    diffs_per_type: dict[str, set[str]] = {kind: set() for kind in EDIT_TYPES}
    for name, case in EXPECTED.items():
        for edit in case["edits"]:
            diffs_per_type[edit[0]].add(case.get("diff", f"{name}.diff"))
    assert all(len(diffs) >= 3 for diffs in diffs_per_type.values()), diffs_per_type


def test_a_very_large_clean_diff() -> None:
    """100,000 changed lines across 200 files: parsed whole, and clean."""
    parts = []
    for number in range(200):
        lines = [f"+value_{number}_{i} = compute({i}, 'with # inside')" for i in range(500)]
        parts.append(
            f"diff --git a/src/pkg{number}/mod.py b/src/pkg{number}/mod.py\n"
            "new file mode 100644\nindex 0000000..1234567\n"
            f"--- /dev/null\n+++ b/src/pkg{number}/mod.py\n@@ -0,0 +1,500 @@\n"
            + "\n".join(lines)
            + "\n"
        )
    inspection = inspect("".join(parts))
    assert (inspection.verdict, inspection.files, inspection.edits) == ("CLEAN", 200, ())
    assert inspection.summary == "CLEAN: no blocking edits in 200 files"


def test_an_empty_diff_is_clean() -> None:
    inspection = inspect(b"")
    assert (inspection.verdict, inspection.files, inspection.summary) == (
        "CLEAN",
        0,
        "CLEAN: no blocking edits in 0 files",
    )
    assert inspection.diff_sha256 == hashlib.sha256(b"").hexdigest()


def test_a_malformed_diff_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        inspect("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n")
    assert caught.value.code == ErrorCode.INVALID_DIFF
    assert caught.value.details == {"line": 4}


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        inspect_patch(b"", DEFAULT, automated=False, now=datetime(2026, 1, 1))


# --- spec_modification ----------------------------------------------------------------------


def test_spec_edit_is_reported_once_per_file_at_the_first_change() -> None:
    diff = one_file("specs/a.md", [" keep", "-old", "+new", " keep", "+more"])
    (edit,) = inspect(diff).edits
    assert (edit.type, edit.line, edit.evidence) == (
        "spec_modification",
        11,
        "modified: removed line: old",
    )


def test_a_copy_out_of_a_protected_path_leaves_the_spec_alone() -> None:
    diff = (
        "diff --git a/specs/a.md b/notes/a.md\nsimilarity index 100%\n"
        "copy from specs/a.md\ncopy to notes/a.md\n"
    )
    assert inspect(diff).verdict == "CLEAN"
    into = diff.replace("notes/a.md", "specs/b.md")
    (edit,) = inspect(into).edits
    assert (edit.file, edit.line, edit.evidence) == ("specs/b.md", None, "copied from specs/a.md")
    assert inspect(into, policy_from({"strict": False})).verdict == "CLEAN"


def test_nonstrict_renames_out_of_and_into_the_protected_area() -> None:
    nonstrict = policy_from({"strict": False})
    out = (
        "diff --git a/specs/a.md b/old/a.md\nsimilarity index 100%\n"
        "rename from specs/a.md\nrename to old/a.md\n"
    )
    assert places(inspect(out, nonstrict).edits) == [["spec_modification", "specs/a.md", None]]
    into = out.replace("specs/a.md", "tmp/a.md").replace("old/a.md", "specs/a.md")
    assert inspect(into, nonstrict).verdict == "CLEAN"
    assert places(inspect(into).edits) == [["spec_modification", "specs/a.md", None]]


def test_nonstrict_binary_change_to_an_existing_spec_blocks() -> None:
    diff = (
        "diff --git a/specs/d.png b/specs/d.png\nindex 1111111..2222222 100644\n"
        "Binary files a/specs/d.png and b/specs/d.png differ\n"
    )
    assert places(inspect(diff, policy_from({"strict": False})).edits) == [
        ["spec_modification", "specs/d.png", None]
    ]


def test_a_pure_rename_with_a_mode_change_is_an_edit() -> None:
    diff = (
        "diff --git a/specs/a.sh b/specs/b.sh\nold mode 100644\nnew mode 100755\n"
        "similarity index 100%\nrename from specs/a.sh\nrename to specs/b.sh\n"
    )
    (edit,) = inspect(diff).edits
    assert edit.evidence == "renamed from specs/a.sh to specs/b.sh (mode 100644 -> 100755)"


def test_a_new_empty_spec_file_is_a_file_level_edit() -> None:
    diff = (
        "diff --git a/specs/new.md b/specs/new.md\nnew file mode 100644\nindex 0000000..e69de29\n"
    )
    assert places(inspect(diff).edits) == [["spec_modification", "specs/new.md", None]]
    assert inspect(diff).edits[0].evidence == "new file"


def rename(old: str, new: str) -> str:
    return (
        f"diff --git a/{old} b/{new}\nsimilarity index 100%\nrename from {old}\nrename to {new}\n"
    )


@pytest.mark.parametrize(
    ("old", "new", "blocks"),
    [
        ("specs/a.md", "specs/v2/a.md", False),  # same name, still protected
        ("specs/a.md", "docs/specs/a.md", False),
        ("specs/a.md", "specs/a.md.bak", True),  # a name a spec runner skips
        ("specs/a.md", "specs/b.md", True),
        ("specs/a.md", "specs/A.md", True),
        ("specs/a.md", "specs/.disabled/a.md", True),  # a hidden directory
        ("specs/.v1/a.md", "specs/.v1/old/a.md", False),  # no hidden directory added
        ("specs/a.md", "notes/a.md", True),  # out of the protected area
    ],
)
def test_renaming_a_protected_file(old: str, new: str, blocks: bool) -> None:
    for policy in (DEFAULT, policy_from({"strict": False})):
        edits = inspect(rename(old, new), policy).edits
        assert [(e.type, e.line) for e in edits] == (
            [("spec_modification", None)] if blocks else []
        )
        # An automated patch may not move a spec at all.
        assert places(inspect(rename(old, new), policy, automated=True).edits) == [
            ["spec_modification", new if new.startswith(("specs/", "docs/specs/")) else old, None]
        ]


# --- suppression_insertion -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("x = compute()  # noqa", True),
        ("x = compute()  # noqa: E501", True),
        ("# it's fine  # noqa", True),  # the lone apostrophe opens no string
        ("# don't, won't  # noqa", True),  # the quoted "t, won" ends before the directive
        ("x = 'a'  # type: ignore", True),
        ('print("add # noqa to silence it")', False),
        ("msg = 'use @ts-ignore sparingly'", False),
        ('"lint": "eslint-disable is forbidden",', False),
        ("const m = `eslint-disable here`;", False),
        ('s = "escaped \\" quote # noqa"', False),
        ('s = "escaped \\" quote" # noqa', True),
        ("#![allow(dead_code)]", True),
        ("#[allow(clippy::all)]", True),
        ("@pytest.mark.skipif(sys.platform == 'win32', reason='x')", True),
        ("pytestmark = pytest.mark.skip", True),
        ("x = 1  # " + "NOQA", True),  # case does not matter
        ("x = 1  #" + "noqa", True),  # nor does the space after the hash
        ("value = 'NOSONAR'", False),
        ("value = 1 // NOSONAR", True),
    ],
)
def test_suppression_directives(line: str, flagged: bool) -> None:
    inspection = inspect(added("src/code.py", line))
    assert bool(inspection.edits) is flagged, inspection.edits
    if flagged:
        assert places(inspection.edits) == [["suppression_insertion", "src/code.py", 11]]


@pytest.mark.parametrize(
    "line",
    [
        "import os  # NOQA",
        "import os  #noqa:F401",
        "# ruff: noqa",
        "# flake8: noqa",
        "x: int = 'a'  #type:ignore",
        "x: int = 'a'  # type:ignore[assignment]",
        "x = f()  # pyright: ignore[reportGeneralTypeIssues]",
        "# mypy: ignore-errors",
        "eval(x)  #nosec",
        "eval(x)  # nosemgrep: python.eval",
        "if debug:  #pragma: no cover",
        "if debug:  # pragma no cover",
        "# pylint:disable=all",
        "# noinspection PyUnresolvedReferences",
        "@pytest.mark.xfail(reason='flaky')",
        "@mark.skip",
        "pytest.skip('not today')",
        "@unittest.skip('later')",
        "@unittest.skipIf(True, 'later')",
        "self.skipTest('later')",
        "// @ts-expect-error",
        "/* eslint-disable */",
        "/* eslint no-eval: off */",
        "// eslint-disable-next-line no-eval",
        "/* istanbul ignore next */",
        "/* c8 ignore next */",
        "it.skip('works', () => {});",
        "xit('works', () => {});",
        "// NOLINT",
        "//nolint:errcheck",
        't.Skip("flaky")',
        "#[cfg_attr(test, allow(dead_code))]",
        '#![cfg_attr(feature = "x", allow(unused))]',
        "#[expect(clippy::unwrap_used)]",
        "#[ignore]",
        '@SuppressWarnings("unchecked")',
        "@Disabled",
        "#pragma warning disable CS0618",
        "# rubocop:disable Metrics/MethodLength",
        "# shellcheck disable=SC2086",
        "SELECT 1 -- noqa: L010",
    ],
)
def test_the_spellings_tools_honour_are_directives(line: str) -> None:
    assert places(inspect(added("src/code.py", line)).edits) == [
        ["suppression_insertion", "src/code.py", 11]
    ]


@pytest.mark.parametrize(
    "line",
    [
        "# fmt: off",  # formatter pragmas change layout, not what a check reports
        "# isort: skip_file",
        "// prettier-ignore",
        "sys.exit(1)",  # `xit(` needs a non-word character before it
        "bookmark.skip(3)",  # so does `mark.skip`
        "@skipper(1)",
        "split.skip(2)",
        "x = typeignore(1)",
        'print("use # noqa with care")',
        "i-- ; s = '@ts-ignore is discouraged'",  # `--` after a word starts no comment
        'foo(/* it\'s */ "use @ts-ignore sparingly")',  # the comment ends; a string follows
    ],
)
def test_lines_that_are_not_directives(line: str) -> None:
    assert inspect(added("src/code.py", line)).verdict == "CLEAN"


@pytest.mark.parametrize(
    "line",
    [
        "import os  # don't # noqa: F401 won't fix",
        "x = 1  // it's fine // @ts-ignore 'really'",
        "x = 1  /* it's */ // @ts-ignore 'x'",
        "SELECT 1 -- don't -- noqa won't",
        "<!-- it's <!-- eslint-disable won't -->",
        "value = 2  # a 'quoted' word, then # type: ignore 'x'",
    ],
)
def test_quotes_after_a_comment_start_hide_nothing(line: str) -> None:
    assert places(inspect(added("src/code.py", line)).edits) == [
        ["suppression_insertion", "src/code.py", 11]
    ]


@pytest.mark.parametrize(
    ("directive", "line", "flagged"),
    [
        ("#[cfg_attr(...allow(", "#[cfg_attr(all(test, unix), allow(dead_code))]", True),
        ("#[cfg_attr(...allow(", "#[cfg_attr(test, derive(Debug))]", False),
        ("#[cfg_attr(...allow(", "#[cfg_attr(test," + " " * 300 + "allow(x))]", False),
        ("xit(", "xit('a', f)", True),
        ("xit(", "exit(0)", False),
        ("# Type : Ignore", "x = 1  #TYPE:ignore", True),
        ("NoSonar", "x = 1 // NOSONAR", True),
        ("caf\u00e9", "# CAF\u00c9", False),  # only ASCII letters ignore case
        ("   ", "anything at all", False),  # no token: matches nothing
        ("...", "anything at all", False),
    ],
)
def test_directive_syntax(directive: str, line: str, flagged: bool) -> None:
    policy = policy_from({"suppression_directives": [directive]})
    assert bool(inspect(added("src/code.py", line), policy).edits) is flagged


def test_two_directives_on_one_line_are_one_edit() -> None:
    inspection = inspect(added("a.py", "import os  # noqa  # type: ignore"))
    assert places(inspection.edits) == [["suppression_insertion", "a.py", 11]]


def test_string_spans() -> None:
    assert string_spans("a 'b' \"c\" `d`") == [(2, 5), (6, 9), (10, 13)]
    assert string_spans("don't") == []
    assert string_spans('"a\\"b" x') == [(0, 6)]
    assert string_spans("'unterminated \\'") == []
    # After a comment start, quotes are prose.
    assert string_spans("a # 'b'") == []
    assert string_spans("'a' // 'b'") == [(0, 3)]
    assert string_spans("x -- 'y'") == []
    assert string_spans("x--'y'") == [(3, 6)]
    # Block comments end where they close.
    assert string_spans("/* 'x */ 'y'") == [(9, 12)]
    assert string_spans("<!-- 'x --> 'y'") == [(12, 15)]
    assert string_spans("/* 'x 'y'") == []
    # A comment start inside a string is part of the string.
    assert string_spans("'#' \"//\" 'z'") == [(0, 3), (4, 8), (9, 12)]
    # A quote that fails to close opens nothing; other kinds still do.
    assert string_spans("'a \\'b \"c\"") == [(7, 10)]


@pytest.mark.timeout(60)
def test_a_200_kb_hostile_line_finishes() -> None:
    """Lines built to make the quote scanner and the rules quadratic (2 s at 10 KB before)."""
    hostile = [
        "# noqa '" + "\\'" * 100_000,
        "x = '" + "\\'" * 100_000 + " # noqa",
        "'\"`" * 70_000,
        "rules: { 'a': 'off', " * 10_000,
        '"k": ' * 40_000,
        "enabled: " * 22_000,
    ]
    assert all(len(line) >= 180_000 for line in hostile)
    assert string_spans(hostile[1]) == []
    for path in (".eslintrc.json", "gate.toml", ".shipgate/policy.yml"):
        inspection = inspect(one_file(path, [" top:", *(f"+{line}" for line in hostile)]))
        assert inspection.files == 1
        assert ["suppression_insertion", path, 11] in places(inspection.edits)


def test_no_suppression_directives_means_no_suppression_edits() -> None:
    policy = policy_from({"suppression_directives": []})
    assert inspect(added("a.py", "x = 1  # noqa"), policy).verdict == "CLEAN"


# --- pack_disable ---------------------------------------------------------------------------


def test_pack_disable_when_the_context_is_not_visible() -> None:
    # No top-level line, no section header: the guard cannot tell, so it counts.
    diff = one_file(
        "cfg/settings.json", ['      "a": 1,', '      "b": 2,', '+      "enabled": false'], start=40
    )
    assert places(inspect(diff).edits) == [["pack_disable", "cfg/settings.json", 42]]


def test_pack_disable_uses_the_section_header() -> None:
    lines = ["    rules: 3", "    owner: sec", "+    enabled: false"]
    flagged = one_file("ci/scan.yml", lines, section="policy_packs:", start=40)
    assert places(inspect(flagged).edits) == [["pack_disable", "ci/scan.yml", 42]]
    clean = one_file("ci/scan.yml", lines, section="features:", start=40)
    assert inspect(clean).verdict == "CLEAN"


def test_pack_disable_one_line_forms() -> None:
    for text in (
        '{"pack": "owasp", "enabled": false}',
        "packs.owasp.enabled = false",
        "policy: {name: owasp, disabled: true}",
        "policies:\n",  # not a disabling line at all
    ):
        flagged = "false" in text or "true" in text
        diff = one_file("scan.yaml", [" top: 1", f"+{text.rstrip()}"], start=1)
        assert bool(inspect(diff).edits) is flagged, text


def test_pack_disable_in_toml_without_a_visible_table_counts() -> None:
    diff = one_file("tool.toml", [' name = "x"', " rules = 3", "+enabled = false"], start=30)
    assert places(inspect(diff).edits) == [["pack_disable", "tool.toml", 32]]
    # A table header that does not name a pack makes it clean.
    clean = one_file("tool.toml", [" [server]", ' name = "x"', "+enabled = false"], start=30)
    assert inspect(clean).verdict == "CLEAN"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # modes that stop a pack from blocking, in a pack's context
        ([" policy_packs:", "   - name: owasp", "+    mode: disabled"], [3]),
        ([" policy_packs:", "   - name: owasp", "+    enforcement_action: dryrun"], [3]),
        ([" features:", "   - name: search", "+    mode: disabled"], []),
        # the value on the next line
        ([" policy_packs:", "   - name: owasp", "+    enabled:", "+      false"], [3]),
        ([" policy_packs:", "   - name: owasp", "     enabled:", "-      true", "+      no"], [4]),
        ([" policy_packs:", "   - name: owasp", "+    enabled:", "+      true"], []),
        # YAML 1.1 booleans and tags
        ([" policy_packs:", "   - name: owasp", "+    enabled: N"], [3]),
        ([" policy_packs:", "   - name: owasp", "+    disabled: !!bool true"], [3]),
        # a pack removed, commented out, or dropped from an inline list
        ([" policy_packs:", "-  - name: owasp", "   - name: secrets"], [2]),
        ([" policy_packs:", "-  - owasp", "+  # - owasp", "   - secrets"], [2]),
        (['-packs = ["owasp", "secrets"]', '+packs = ["secrets"]'], [1]),
        (['-packs = ["owasp", "secrets"]', '+packs = ["secrets", "owasp"]'], []),
        ([" policy_packs:", "-  - name: owasp", "+  - name: secrets", "+  - name: owasp"], []),
        # a list item removed where the list is not a pack list
        ([" services:", "-  - name: web", "   - name: db"], []),
    ],
)
def test_pack_disable_forms(lines: list[str], expected: list[int]) -> None:
    diff = one_file(".shipgate/policy.yml", lines, start=1)
    assert [(e.type, e.line) for e in inspect(diff).edits] == [
        ("pack_disable", number) for number in expected
    ]


def test_pack_rules_only_watch_monitored_configs() -> None:
    diff = one_file("src/packs.py", [" packs = {", "+    enabled: false"], start=1)
    assert inspect(diff).verdict == "CLEAN"


# --- severity_downgrade --------------------------------------------------------------------


def test_severity_numbers_count_only_for_eslint_or_rules() -> None:
    numbers = [" settings:", "-  retries: 2", "+  retries: 1"]
    assert inspect(one_file("app.yml", numbers, start=1)).verdict == "CLEAN"
    in_rules = [" rules:", "-  no-eval: 2", "+  no-eval: 1"]
    assert places(inspect(one_file("lint.yml", in_rules, start=1)).edits) == [
        ["severity_downgrade", "lint.yml", 2]
    ]
    eslintrc = ["-  quotes: 2", "+  quotes: 0"]
    assert places(inspect(one_file(".eslintrc.yml", eslintrc, start=5)).edits) == [
        ["severity_downgrade", ".eslintrc.yml", 5]
    ]


def test_severity_raised_or_unpaired_is_clean() -> None:
    raised = [" rules:", '-  "no-eval": "warn",', '+  "no-eval": "error",']
    assert inspect(one_file("lint.json", raised, start=1)).verdict == "CLEAN"
    other_key = [" rules:", '-  "no-eval": "error",', '+  "no-new": "off",']
    assert inspect(one_file("lint.json", other_key, start=1)).verdict == "CLEAN"


def test_severity_pairs_stay_within_one_hunk() -> None:
    diff = (
        "diff --git a/x.yml b/x.yml\nindex 1111111..2222222 100644\n--- a/x.yml\n+++ b/x.yml\n"
        "@@ -1,2 +1,1 @@\n top: 1\n-severity: error\n"
        "@@ -20,1 +19,2 @@\n end: 1\n+severity: info\n"
    )
    assert inspect(diff).verdict == "CLEAN"


def two_hunks(path: str, first: list[str], second: list[str], section: str) -> str:
    """One file diff with two hunks (at lines 1 and 40, the second with a section header)."""

    def hunk(start: int, lines: list[str]) -> str:
        old = sum(1 for line in lines if line[0] in " -")
        new = sum(1 for line in lines if line[0] in " +")
        head = f"@@ -{start},{old} +{start},{new} @@" + (f" {section}" if start > 1 else "")
        return head + "\n" + "\n".join(lines) + "\n"

    return (
        f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n"
        f"--- a/{path}\n+++ b/{path}\n" + hunk(1, first) + hunk(40, second)
    )


def test_severity_across_hunks_counts_in_rules_maps_only() -> None:
    moved = ([" rules:", "-  no-eval: error"], ["   semi: warn", "+  no-eval: warn"])
    rules = two_hunks("lint.yml", *moved, section="rules:")
    assert places(inspect(rules).edits) == [["severity_downgrade", "lint.yml", 41]]
    # A generic key elsewhere in a data file is not a rule: each hunk on its own.
    data = two_hunks(
        "app.yml", [" job:", "-  status: error"], ["   n: 1", "+  status: warn"], "job:"
    )
    assert inspect(data).verdict == "CLEAN"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # a duplicate key: the later one wins
        (['   "no-eval": "error",', '+  "no-eval": "warn",'], [2]),
        # an override that switches a rule off, with no rule shown at error
        (['   "rules": {', '+    "no-new": 0,'], [2]),
        (['   "rules": {', '+    "no-new": ["off", {"allow": 1}],'], [2]),
        # warn for a rule not shown anywhere at error: a new rule, not a downgrade
        (['   "rules": {', '+    "no-new": "warn",'], []),
        # a rule's options, a global switched off: not levels
        (['   "max-len": ["error", {', '+    "code": 0,'], []),
        (['   "globals": {', '+    "window": "off",'], []),
        (['   "rules": {', '+    "max-len": ["error", {"code": 0}],'], []),
        # raised
        (['   "rules": {', '-    "no-eval": "warn",', '+    "no-eval": "error",'], []),
    ],
)
def test_eslint_severity_forms(lines: list[str], expected: list[int]) -> None:
    diff = one_file(".eslintrc.json", lines, start=1)
    assert [(e.type, e.line) for e in inspect(diff).edits] == [
        ("severity_downgrade", number) for number in expected
    ]


def test_eslint_flat_config_is_monitored_and_read_as_javascript() -> None:
    lines = ["   rules: {", "+    ...base.rules, 'no-eval': 'off', eqeqeq: ['warn'],", "   },"]
    diff = one_file("web/eslint.config.js", lines, start=3)
    assert places(inspect(diff).edits) == [["severity_downgrade", "web/eslint.config.js", 4]]
    # `=` assigns in JavaScript: `const level = 'off'` is not a rule.
    assignment = one_file("eslint.config.js", ["+const level = 'off';"], start=1)
    assert inspect(assignment).verdict == "CLEAN"


# --- allowlist_weaken and auth_bypass ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("allowedOrigins: ['*'],", "allowlist_weaken"),
        ('cors_origins = ["*"]', "allowlist_weaken"),
        ('allow_origins=["https://a.example", "*"],', "allowlist_weaken"),
        ("Access-Control-Allow-Origin: *", "allowlist_weaken"),
        ('res.setHeader("Access-Control-Allow-Origin", "*");', "allowlist_weaken"),
        ('redirect_allowlist: "*"', "allowlist_weaken"),
        ("allowed_redirect_uris = ['*']", "allowlist_weaken"),
        ("CORS_ORIGIN_ALLOW_ALL = True", "allowlist_weaken"),
        (".anyRequest().permitAll()", "allowlist_weaken"),
        ("allowedOrigins: ['https://*.example.com']", None),
        ("allowed_hosts = ['shop.example.com']", None),
        ("origin: '*.example.com'", None),
        ("skipAuth: true", "auth_bypass"),
        ('"noAuth": "TRUE",', "auth_bypass"),
        ("SKIP_AUTH=1", "auth_bypass"),
        ("bypass_authentication = yes", "auth_bypass"),
        ("authRequired: false", "auth_bypass"),
        ("auth_enabled = False", "auth_bypass"),
        ("options.requireAuth = 'false';", "auth_bypass"),
        ("isAuthenticated: true,", "auth_bypass"),
        ("self.is_authenticated = True", "auth_bypass"),
        ("if (skipAuth === true) {", None),
        ("skipAuth: false", None),
        ("authRequired: true", None),
        ("is_authenticated = check(token)", None),
        ("mySkipAuthHelper: true", None),
        ("options: { auth: false },", "auth_bypass"),
        ("authenticate: false", "auth_bypass"),
        ("requireAuth: false,", "auth_bypass"),
        ("authentication: none", "auth_bypass"),
        ("auth_mode = 'anonymous'", "auth_bypass"),
        ("LOGIN_DISABLED = True", "auth_bypass"),
        ("[AllowAnonymous]", "auth_bypass"),
        ("auth = False", None),  # a local variable in code
        ("def get(url, auth_type=None):", None),
        ("authentication: jwt", None),
        ("app.use(cors({ origin: true }));", "allowlist_weaken"),
        ("app.use(cors());", "allowlist_weaken"),
        ("CORS(app)", "allowlist_weaken"),
        ("allow_origin_regex='.*',", "allowlist_weaken"),
        ("origins: [/.*/]", "allowlist_weaken"),
        ("authorize(anyRequest, permitAll)", "allowlist_weaken"),
        ("@PermitAll", "allowlist_weaken"),
        ("app.use(cors({ origin: allowList }));", None),
        ("CORS(app, origins=['https://shop.example.com'])", None),
        ("def __init__(self, origin, *, inst=True):", None),
        ("# the check (or permitAll) is gone", None),
    ],
)
def test_any_file_line_rules(line: str, kind: str | None) -> None:
    edits = inspect(added("src/settings.ts", line)).edits
    assert [e.type for e in edits] == ([kind] if kind else [])


@pytest.mark.parametrize(
    ("header", "flagged"),
    [
        ("def is_authenticated(self) -> bool:", True),
        ("    public boolean isAuthenticated() {", True),
        ("func (s *Session) IsAuthenticated() bool {", True),
        ("  get isAuthenticated() {", True),
        ("  if (isAuthenticated(user)) {", False),
        ("  const ok = isAuthenticated(user) ? 1 : 0; {", False),
    ],
)
def test_return_true_only_right_inside_an_is_authenticated_definition(
    header: str, flagged: bool
) -> None:
    diff = one_file("src/auth.py", [f" {header}", "+    return True", " other()"], start=3)
    assert bool(inspect(diff).edits) is flagged


@pytest.mark.parametrize(
    ("returned", "flagged"),
    [
        ("    return True  # always", True),
        ("    return (true);", True),
        ("    return true; /* for now */", True),
        ("    return trueish()", False),
        ("    return true && check()", False),
    ],
)
def test_return_true_forms(returned: str, flagged: bool) -> None:
    header = " def is_authenticated(self):  # the session decides"
    diff = one_file("src/auth.py", [header, f"+{returned}"], start=3)
    assert bool(inspect(diff).edits) is flagged


@pytest.mark.parametrize(
    ("lines", "flagged"),
    [
        ([" def is_authenticated(self):", "+    # the store is flaky", "+    return True"], True),
        ([" def is_authenticated(self):", '+    """Always."""', "+    return True"], True),
        (
            [
                " def is_authenticated(self):",
                '     """Says',
                "     who.",
                '     """',
                "+    return True",
            ],
            True,
        ),
        (
            [" def is_authenticated(", "         self, request", " ) -> bool:", "+    return True"],
            True,
        ),
        (["+def is_authenticated(self): return True"], True),
        (["+  isAuthenticated(req) { return true; }"], True),
        (["+const isAuthenticated = (req: Request): boolean => true;"], True),
        # a call as a statement is not a definition
        ([" is_authenticated(request)", " if request.ok:", "+    return True"], False),
        (["+const isAuthenticated = (req) => verify(req);"], False),
    ],
)
def test_return_true_around_comments_docstrings_and_signatures(
    lines: list[str], flagged: bool
) -> None:
    edits = inspect(one_file("src/auth.py", lines, start=3)).edits
    assert [e.type for e in edits] == (["auth_bypass"] if flagged else [])


def test_return_true_after_other_statements_is_not_flagged() -> None:
    lines = [" def is_authenticated(self):", "     token = self.token", "+    return True"]
    assert inspect(one_file("src/auth.py", lines, start=3)).verdict == "CLEAN"


def test_pathological_lines_take_linear_time() -> None:
    """Lines built to make backtracking regular expressions quadratic still finish."""
    lines = [
        "origins:[" * 20_000,
        "allowedOrigins: [" + "'a'," * 20_000,
        "skipAuth: " * 20_000,
        "'\"" * 20_000 + "# noqa",
    ]
    inspection = inspect(added("cfg/x.yaml", *lines))
    assert [e.line for e in inspection.edits] == [14]
    binary = "diff --git a/f b/f\nindex 1111111..2222222 100644\nBinary files "
    binary += " and " * 50_000 + "x differ\n"
    assert inspect(binary).files == 1


# --- gate_config_weaken ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["-min_score = 0.8", "+min_score = 0.5"], [11]),
        (["-min_score = 0.8", "+min_score = 0.9"], []),
        (["-max_warnings = 0", "+max_warnings = 3"], [11]),
        (["-max_warnings = 5", "+max_warnings = 3"], []),
        (["-allowed_failures: 0", "+allowed_failures: 2"], [11]),
        (['-coverage = "80%"', '+coverage = "79.5%"'], [11]),
        (["-threshold = 10", "+threshold = 10"], []),
        (["-min_score = 0.8"], [11]),  # a threshold removed outright
        (["-strict = true", "+strict = false"], [11]),
        (["-strict = true"], [11]),
        (["-strict = false", "+strict = true"], []),
        (["-optional = false", "+optional = true"], [11]),
        (["-fail_on_warning: true", "+fail_on_warning: false"], [11]),
        (["-timeout_s = 300", "+timeout_s = 900"], []),
        (['-checks = ["unit", "lint"]', '+checks = ["unit"]'], [11]),
        (['-checks = ["unit", "lint"]', '+checks = ["lint", "unit", "types"]'], []),
        (['-protected = ["**/specs/**"]'], [11]),
        (['-argv = ["pytest", "-q"]', '+argv = ["pytest"]'], []),
        (["+[[guard.allow]]", '+pattern = "# noqa"'], [11]),
    ],
)
def test_gate_config_rules(lines: list[str], expected: list[int]) -> None:
    diff = one_file("gate.toml", [" [gate]", *lines], start=10)
    found = inspect(diff).edits
    assert [(e.type, e.line) for e in found] == [("gate_config_weaken", n) for n in expected]


@pytest.mark.parametrize(
    ("path", "lines", "expected"),
    [
        # pytest options that run fewer tests
        ("pyproject.toml", ['-addopts = "-q"', "+addopts = \"-q -k 'not auth'\""], [11]),
        ("pyproject.toml", ['-addopts = "-q"', '+addopts = "-q -x --lf"'], [11]),
        ("pyproject.toml", ['-addopts = "-q"', '+addopts = "-q -x"'], []),
        ("pyproject.toml", ['-addopts = "--deselect a"', '+addopts = "--deselect a -q"'], []),
        ("pytest.ini", [" addopts =", "     -q", "+    --ignore=tests/auth"], [13]),
        ("tox.ini", ["-commands = pytest", "+commands = pytest --deselect tests/t.py::x"], [11]),
        ("tox.ini", ["-commands = pytest", "+commands = python -m pytest"], []),
        ("gate.toml", ['-argv = ["pytest"]', '+argv = ["pytest", "--co"]'], [11]),
        # switches turned weak where nothing was removed
        ("ci/quality-gate.yml", ["   lint:", "+    continue-on-error: true"], [12]),
        ("tox.ini", ["   deps = pytest", "+ignore_outcome = true"], [12]),
        (
            "pyproject.toml",
            ["+[[tool.mypy.overrides]]", '+module = "legacy"', "+ignore_errors = true"],
            [],
        ),
        ("pyproject.toml", ["-strict = yes", "+strict = no"], [11]),
        # exclusions added
        ("pyproject.toml", ['-exclude = ["build"]', '+exclude = ["build", "src/auth"]'], [11]),
        ("pyproject.toml", ['-exclude = ["build", "src/auth"]', '+exclude = ["build"]'], []),
        ("pyproject.toml", [" ignore = [", '     "E501",', '+    "S101",', " ]"], [13]),
        ("setup.cfg", ["-extend-ignore = E203", "+extend-ignore = E203,S101"], [11]),
        (".coveragerc", [" omit =", "     */tests/*", "+    src/auth/*"], [13]),
        ("pyproject.toml", ["+ignore_missing_imports = true"], []),  # a switch, not a list
        ("pyproject.toml", ['-select = ["E", "F", "S"]', '+select = ["E", "F"]'], [11]),
    ],
)
def test_gate_config_files_beyond_the_gate(
    path: str, lines: list[str], expected: list[int]
) -> None:
    edits = inspect(one_file(path, [" [section]", *lines])).edits
    assert [(e.type, e.line) for e in edits] == [("gate_config_weaken", n) for n in expected]


def test_exclusions_in_a_table_of_exclusions() -> None:
    lines = [
        " [tool.ruff.lint.per-file-ignores]",
        '-"tests/*" = ["S101"]',
        '+"tests/*" = ["S101", "S105"]',
        '+"src/auth/*" = ["S"]',
    ]
    assert [e.line for e in inspect(one_file("pyproject.toml", lines)).edits] == [11, 12]
    narrowed = [
        " [tool.ruff.lint.per-file-ignores]",
        '-"tests/*" = ["S101", "S105"]',
        '+"tests/*" = ["S101"]',
    ]
    assert inspect(one_file("pyproject.toml", narrowed)).verdict == "CLEAN"


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("*.py -diff", True),
        ("src/** binary", True),
        ("* -diff", True),
        ("*.md diff=hidden", True),  # a custom driver can rewrite what the diff shows
        ("*.js filter=crypt", True),
        ("*.py linguist-generated", True),
        ("[attr]nodiff -diff", True),  # a macro that other lines can use
        ("*.png binary", False),  # not text anyway
        ("*.py diff=python", False),  # a built-in driver only picks hunk headers
        ("*.js linguist-generated=false", False),
        ("* text=auto eol=lf", False),
        ("# *.py -diff", False),
    ],
)
def test_gitattributes_lines(line: str, flagged: bool) -> None:
    edits = inspect(added(".gitattributes", line)).edits
    assert [(e.type, e.line) for e in edits] == ([("gate_config_weaken", 11)] if flagged else [])


def test_ignore_files_flag_every_added_pattern() -> None:
    lines = ["build/", "# generated", "!src/keep.py", "src/payments/"]
    assert [e.line for e in inspect(added(".semgrepignore", *lines)).edits] == [11, 14]
    removed = one_file("web/.eslintignore", [" dist/", "-src/legacy/"])
    assert inspect(removed).verdict == "CLEAN"


@pytest.mark.parametrize(
    ("diff", "expected"),
    [
        (rename("gate.toml", "old/gate.toml.bak"), [["gate_config_weaken", "gate.toml", None]]),
        (rename("gate.toml", "ci/gate.toml"), []),  # still a gate config
        (rename(".gitattributes", "docs/gitattributes.txt"), []),  # only exclusions go
        (binary(".eslintignore", "deleted"), []),
    ],
)
def test_a_gate_config_deleted_or_renamed_away(diff: str, expected: list[list[Any]]) -> None:
    assert places(inspect(diff).edits) == expected


def test_the_guards_own_lists_set_anew_must_keep_their_defaults() -> None:
    """`protected = []` under `[guard]` would switch spec_modification off for good."""
    defaults = ", ".join(f'"{glob}"' for glob in DEFAULT.protected)
    cases = [
        (["+protected = []"], [11]),
        (['+suppression_directives = ["shipgate-ignore", "ruff: noqa"]'], [11]),
        (["+gate_configs = [", '+  "gate.toml",', "+]"], [11]),
        ([f'+protected = [{defaults}, "api/**"]'], []),  # extended, not narrowed
        (["+protected = [", *(f'+  "{glob}",' for glob in DEFAULT.protected), "+]"], []),
        # replaced in place: judged by the items it lost (rule 5)
        (['-protected = ["a/**", "b/**"]', '+protected = ["a/**", "b/**", "c/**"]'], []),
        (['-protected = ["a/**", "b/**"]', '+protected = ["a/**"]'], [11]),
    ]
    for lines, expected in cases:
        edits = inspect(one_file("gate.toml", [" [guard]", *lines])).edits
        assert [(e.type, e.line) for e in edits] == [("gate_config_weaken", n) for n in expected]


def test_a_threshold_moved_to_another_hunk_is_still_compared() -> None:
    diff = (
        "diff --git a/gate.toml b/gate.toml\nindex 1111111..2222222 100644\n"
        "--- a/gate.toml\n+++ b/gate.toml\n"
        "@@ -1,2 +1,1 @@\n [gate]\n-min_coverage = 80\n"
        "@@ -30,1 +29,2 @@\n [report]\n+min_coverage = 70\n"
    )
    assert places(inspect(diff).edits) == [["gate_config_weaken", "gate.toml", 30]]
    moved = diff.replace("min_coverage = 70", "min_coverage = 80")
    assert inspect(moved).verdict == "CLEAN"


def test_a_probe_renamed_counts_as_removed_but_moved_does_not() -> None:
    renamed = one_file("gate.toml", [" [[probe]]", '-name = "lint"', '+name = "lint2"'], start=4)
    assert places(inspect(renamed).edits) == [["gate_config_weaken", "gate.toml", 5]]
    moved = (
        "diff --git a/gate.toml b/gate.toml\nindex 1111111..2222222 100644\n"
        "--- a/gate.toml\n+++ b/gate.toml\n"
        '@@ -1,3 +1,1 @@\n [gate]\n-[[probe]]\n-name = "lint"\n'
        '@@ -30,1 +28,3 @@\n [x]\n+[[probe]]\n+name = "lint"\n'
    )
    assert inspect(moved).verdict == "CLEAN"


def test_gate_rules_only_watch_gate_configs() -> None:
    lines = [" [tool.coverage]", "-fail_under = 90", "+fail_under = 10"]
    assert inspect(one_file("tools/settings.toml", lines)).verdict == "CLEAN"
    assert places(inspect(one_file("pyproject.toml", lines)).edits) == [
        ["gate_config_weaken", "pyproject.toml", 11]
    ]
    custom = policy_from({"gate_configs": ["tools/*.toml"]})
    assert inspect(one_file("pyproject.toml", lines), custom).verdict == "CLEAN"
    ci = one_file("ci/release-gate.yaml", [" gate:", "-  min_score: 9", "+  min_score: 1"], start=1)
    assert places(inspect(ci).edits) == [["gate_config_weaken", "ci/release-gate.yaml", 2]]


# --- binary files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "automated", "expected"),
    [
        ("gate.toml", "modified", False, "gate_config_weaken"),
        (".gate/policy.yml", "added", False, "gate_config_weaken"),
        ("config/scan.json", "modified", False, "pack_disable"),
        (".eslintrc", "modified", False, "pack_disable"),
        ("src/auth.py", "modified", False, None),
        ("src/auth.py", "modified", True, "suppression_insertion"),
        ("web/App.TSX", "added", True, "suppression_insertion"),
        ("assets/logo.png", "modified", True, None),
        ("bin/tool", "modified", True, None),  # no extension: not known to be text
        ("src/old.py", "deleted", True, None),  # a deletion hides nothing
        ("gate.toml", "deleted", False, "gate_config_weaken"),  # but a gate config is gone
    ],
)
def test_binary_changes(path: str, status: str, automated: bool, expected: str | None) -> None:
    inspection = inspect(binary(path, status), automated=automated)
    assert [(e.type, e.file, e.line) for e in inspection.edits] == (
        [(expected, path, None)] if expected else []
    )


def test_a_binary_protected_file_is_one_spec_edit() -> None:
    inspection = inspect(binary("specs/api.json"), automated=True)
    assert places(inspection.edits) == [["spec_modification", "specs/api.json", None]]
    assert inspection.edits[0].evidence == "modified (binary)"


# --- allowances ---------------------------------------------------------------------------------


def _allow(**overrides: str) -> GuardPolicy:
    entry = {
        "pattern": "# noqa",
        "justification": "legacy",
        "expiry": "2026-06-01T00:00:01Z",
        **overrides,
    }
    return policy_from({"allow": [entry]})


def test_an_allowance_is_active_until_its_expiry() -> None:
    diff = added("src/a.py", "import os  # noqa")
    before = inspect(diff, _allow())
    assert (before.verdict, len(before.allowed)) == ("CLEAN", 1)
    assert "allowed by policy: 1" in before.summary
    at_expiry = inspect(diff, _allow(expiry="2026-06-01T00:00:00Z"))
    assert (at_expiry.verdict, at_expiry.allowed) == ("UNSAFE_PATCH_ATTEMPT", ())


def test_an_allowance_needs_its_pattern_type_and_files() -> None:
    diff = added("src/a.py", "import os  # noqa")
    assert inspect(diff, _allow(pattern="# noqa: E501")).verdict == "UNSAFE_PATCH_ATTEMPT"
    assert inspect(diff, _allow(files="tests/**")).verdict == "UNSAFE_PATCH_ATTEMPT"
    assert inspect(diff, _allow(type="auth_bypass")).verdict == "UNSAFE_PATCH_ATTEMPT"
    assert inspect(diff, _allow(files="src/*.py")).verdict == "CLEAN"


def test_automated_patches_never_get_allowances() -> None:
    diff = added("src/a.py", "import os  # noqa")
    inspection = inspect(diff, _allow(), automated=True)
    assert (inspection.verdict, inspection.allowed) == ("UNSAFE_PATCH_ATTEMPT", ())
    assert inspection.to_payload("s", None).automated is True


def test_allowances_from_a_gate_toml() -> None:
    config = parse_gate_config(
        '[[guard.allow]]\ntype = "spec_modification"\npattern = "added line"\n'
        'justification = "changelog entries are welcome"\nexpiry = "2030-01-01T00:00:00Z"\n'
        'files = "specs/CHANGELOG.md"\n'
    )
    diff = one_file("specs/CHANGELOG.md", [" # Changes", "+- 1.2: faster"], start=1)
    assert places(inspect(diff, config.guard).allowed) == [
        ["spec_modification", "specs/CHANGELOG.md", 2]
    ]
    other = diff.replace("CHANGELOG", "API")
    assert inspect(other, config.guard).verdict == "UNSAFE_PATCH_ATTEMPT"


# --- ordering, evidence, summary, payload ----------------------------------------------------


def test_edits_are_ordered_by_file_line_and_type() -> None:
    """Types in the order PatchEditType lists them (spec_modification first)."""
    diff = added("b.py", "skipAuth: true  # noqa") + added("a.py", "x = 1  # noqa")
    assert places(inspect(diff).edits) == [
        ["suppression_insertion", "a.py", 11],
        ["suppression_insertion", "b.py", 11],
        ["auth_bypass", "b.py", 11],
    ]


def test_evidence_is_one_clean_bounded_line() -> None:
    assert evidence("\t  x = 1  # noqa \r") == "x = 1  # noqa"
    assert evidence("a\x00b\x1bc\u2028d") == "a\ufffdb\ufffdc\ufffdd"
    assert evidence("bad \udcff byte") == "bad \ufffd byte"
    assert evidence("   ") == "(empty line)"
    long = evidence("# noqa " + "x" * 2000)
    assert len(long) == 512
    assert long.endswith("\u2026")


def test_evidence_of_a_non_utf8_line_encodes() -> None:
    diff = added("src/a.py", "x = 1  # noqa").encode("utf-8").replace(b"x = 1", b"x = \xff")
    inspection = inspect(diff)
    (edit,) = inspection.edits
    assert edit.evidence == "x = \ufffd  # noqa"
    msgspec.json.encode(inspection.to_payload("s", None))


def test_summary_format() -> None:
    diff = "".join(added(f"src/m{i}.py", "x = 1  # noqa") for i in range(5))
    diff += added("config/app.yaml", "skipAuth: true")
    inspection = inspect(diff)
    assert inspection.summary == (
        "UNSAFE_PATCH_ATTEMPT: 6 blocking edits in 6 of 6 files\n"
        "  suppression_insertion (high): 5 - src/m0.py:11, src/m1.py:11, src/m2.py:11 and 2 more\n"
        "  auth_bypass (critical): 1 - config/app.yaml:11"
    )


def test_the_longest_summary_fits_a_text_field() -> None:
    """Every type blocked and allowed, each in files with 3,000-character paths."""
    deep = "d/" * 1500
    lines = {
        "specs/a.md": ["+ZZ"],
        "a.py": ["+x = 1  # noqa ZZ"],
        "a.json": ['+  "enabled": false, "ZZ": 1'],
        "a.yaml": ["-severity: error", "+severity: warn # ZZ"],
        "b.js": ["+origin: '*' // ZZ"],
        "c.js": ["+skipAuth: true // ZZ"],
        ".gate/a.toml": ["-min_score = 9", "+min_score = 1 # ZZ"],
    }
    diff = "".join(
        one_file(f"{side}/{deep}{copy}/{name}", body)
        for side in ("blocked", "allowed")
        for copy in range(4)
        for name, body in lines.items()
    )
    allow = [
        {"type": kind, "pattern": "ZZ", "justification": "j", "expiry": "2030-01-01T00:00:00Z"}
        for kind in EDIT_TYPES
    ]
    policy = policy_from({"allow": [{**entry, "files": "allowed/**"} for entry in allow]})
    inspection = inspect(diff, policy)
    assert (len(inspection.edits), len(inspection.allowed)) == (28, 28)
    summary = inspection.summary.splitlines()
    assert len(summary) == 1 + 7 + 1 + 7
    assert summary[1].startswith("  spec_modification (critical): 4 - \u2026d/d/d/")
    assert summary[1].endswith(" and 1 more")
    assert len(inspection.summary) <= 16_384


def test_summary_and_payload_stay_within_bounds() -> None:
    diff = added("src/big.py", *(f"x{i} = 1  # noqa" for i in range(10_050)))
    deep = "d/" * 1500 + "f.py"
    diff += added(deep, "y = 2  # noqa")
    inspection = inspect(diff)
    assert len(inspection.edits) == 10_051
    assert len(inspection.summary) <= 16_384
    payload = inspection.to_payload("s", RUN_ID)
    assert len(payload.edits) == 10_000
    decode_payload("patch.inspected", "1.0", msgspec.json.encode(payload))


def test_payload_fields() -> None:
    diff = added("src/a.py", "x = 1  # noqa")
    inspection = inspect(diff, _allow())
    payload = inspection.to_payload("subject-1", None)
    assert isinstance(payload, PatchInspectedV1)
    assert (payload.subject, payload.verdict, payload.automated, payload.run_id) == (
        "subject-1",
        "CLEAN",
        False,
        None,
    )
    assert payload.diff_sha256 == hashlib.sha256(diff.encode()).hexdigest()
    assert (payload.edits, payload.allowed) == ([], list(inspection.allowed))
    assert payload.summary == inspection.summary


# --- findings ------------------------------------------------------------------------------


def test_edit_findings() -> None:
    diff = (
        added("src/a.py", "x = 1  # noqa")
        + one_file("specs/api.md", [" # API", "-must reject", "+may accept"], start=1)
        + added("config/cors.yaml", "allowedOrigins: ['*']")
    )
    inspection = inspect(diff)
    findings = edit_findings(inspection, subject="pr-7", run_id=RUN_ID)
    assert [(f.file, f.severity, f.category, f.rule_id) for f in findings] == [
        ("config/cors.yaml", "P1", "security", "guard/allowlist_weaken"),
        ("specs/api.md", "P0", "contract", "guard/spec_modification"),
        ("src/a.py", "P1", "test_integrity", "guard/suppression_insertion"),
    ]
    for finding, edit in zip(findings, inspection.edits, strict=True):
        assert isinstance(finding, FindingV1)
        assert (finding.evidence, finding.stage, finding.run_id) == ("verified", "gate", RUN_ID)
        assert (finding.line, finding.subject) == (edit.line, "pr-7")
        assert edit.evidence in finding.what
        assert finding.why
        assert finding.proposed_fix
        assert _IDENTIFIER.match(finding.finding_id)
        decode_payload("finding.reported", "1.0", msgspec.json.encode(finding))


def test_finding_ids_are_stable_and_distinct() -> None:
    diff = added("src/a.py", "x = 1  # noqa", "y = 2  # noqa")
    first = edit_findings(inspect(diff), subject="pr-7", run_id=RUN_ID)
    again = edit_findings(inspect(diff), subject="pr-7", run_id=RUN_ID)
    other_run = edit_findings(inspect(diff), subject="pr-7", run_id="0" * 8 + RUN_ID[8:])
    other_subject = edit_findings(inspect(diff), subject="pr-8", run_id=RUN_ID)
    ids = [f.finding_id for f in first]
    assert ids == [f.finding_id for f in again] == [f.finding_id for f in other_run]
    assert len(set(ids)) == 2
    assert not set(ids) & {f.finding_id for f in other_subject}
    edit = inspect(diff).edits[0]
    expected = hashlib.sha256(
        b'["pr-7", "suppression_insertion", "src/a.py", 11, "x = 1  # noqa"]'
    ).hexdigest()[:20]
    assert finding_id("pr-7", edit) == f"guard-{expected}"


def test_allowed_edits_give_no_findings() -> None:
    inspection = inspect(added("src/a.py", "x = 1  # noqa"), _allow())
    assert edit_findings(inspection, subject="s", run_id=RUN_ID) == []


def test_every_type_has_a_finding_severity() -> None:
    assert set(SEVERITY) == set(EDIT_TYPES)
    assert {SEVERITY[t] for t in EDIT_TYPES} <= {"critical", "high"}


# --- globs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/specs/**", "specs/a.md", True),
        ("**/specs/**", "docs/specs/v1/a.md", True),
        ("**/specs/**", "specs", False),
        ("**/specs/**", "myspecs/a.md", False),
        ("**/*.isl", "a.isl", True),
        ("**/*.isl", "model/deep/a.isl", True),
        ("**/*.isl", "a.isl.bak", False),
        ("*.py", "a.py", True),
        ("*.py", "src/a.py", False),
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/sub/a.py", False),
        ("gate.toml", "gate.toml", True),
        ("gate.toml", "sub/gate.toml", False),
        ("**/gate.toml", "sub/gate.toml", True),
        ("**/.eslintrc*", ".eslintrc.json", True),
        ("**/.eslintrc*", "web/.eslintrc", True),
        ("**/*gate*.yml", "ci/quality-gate.yml", True),
        ("**/*gate*.yml", "ci/gate/x.yml", False),
        ("**/.gate/**", ".gate/policy.toml", True),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/xb", False),
        ("**", "any/thing", True),
        ("src/", "src/a/b.py", True),
        ("/docs/*.md", "docs/a.md", True),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file/.txt", False),
        ("[abc].md", "b.md", True),
        ("[!abc].md", "b.md", False),
        ("[!abc].md", "d.md", True),
        ("[a-c]/x", "/x", False),
        ("[unclosed", "[unclosed", True),
        ("\\*.md", "*.md", True),
        ("\\*.md", "a.md", False),
        ("a**b", "aXb", True),
        ("a**b", "a/b", False),
        ("x.md", "xXmd", False),
    ],
)
def test_glob(pattern: str, path: str, matches: bool) -> None:
    assert glob_match(pattern, path) is matches


def test_match_any() -> None:
    assert match_any(("*.md", "**/*.py"), "a/b.py")
    assert not match_any((), "a")


LOCKED_CONFIG_CHANGE = """diff --git a/ci/gate.toml b/ci/gate.toml
index 1111111..2222222 100644
--- a/ci/gate.toml
+++ b/ci/gate.toml
@@ -1,3 +1,3 @@
 [[probe]]
 name = "unit"
-argv = ["pytest", "-q"]
+argv = ["true"]
"""


def test_a_change_to_a_locked_file_blocks_and_no_allowance_covers_it() -> None:
    allowing = parse_gate_config(
        '[[guard.allow]]\ntype = "gate_config_weaken"\npattern = "gate"\n'
        'justification = "x"\nexpiry = "2099-01-01T00:00:00Z"\nfiles = "**"\n'
    ).guard
    found = inspect(LOCKED_CONFIG_CHANGE, allowing, locked=("ci/gate.toml",))
    assert found.verdict == "UNSAFE_PATCH_ATTEMPT"
    assert [(e.type, e.severity, e.file, e.line) for e in found.edits] == [
        ("gate_config_weaken", "critical", "ci/gate.toml", 3)
    ]
    assert found.allowed == ()
    assert "the gate config this gate runs with" in found.edits[0].evidence


def test_a_locked_file_left_alone_adds_nothing() -> None:
    found = inspect(LOCKED_CONFIG_CHANGE, locked=("gate.toml",))
    assert [e.file for e in found.edits if "runs with" in e.evidence] == []


def test_a_locked_file_renamed_away_is_a_change_to_it() -> None:
    renamed = (
        "diff --git a/gate.toml b/old/gate.toml.off\n"
        "similarity index 100%\nrename from gate.toml\nrename to old/gate.toml.off\n"
    )
    found = inspect(renamed, locked=("gate.toml",))
    assert ("gate_config_weaken", "gate.toml") in {(e.type, e.file) for e in found.edits}
