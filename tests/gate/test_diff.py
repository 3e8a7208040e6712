"""The unified-diff parser: git's output parses exactly, anything else is INVALID_DIFF."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gate.diff import DiffLine, FileDiff, Hunk, parse_diff
from ledger.errors import ErrorCode, InvalidInput

CORPUS = Path(__file__).resolve().parent / "corpus"


def corpus(name: str) -> tuple[FileDiff, ...]:
    return parse_diff((CORPUS / f"{name}.diff").read_bytes())


def by_path(files: tuple[FileDiff, ...]) -> dict[str, FileDiff]:
    return {file.path: file for file in files}


def refused(diff: str | bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_diff(diff)
    assert caught.value.code == ErrorCode.INVALID_DIFF
    assert caught.value.hint
    return caught.value


HEADER = "diff --git a/f.txt b/f.txt\nindex 1111111..2222222 100644\n--- a/f.txt\n+++ b/f.txt\n"


# --- what git writes ------------------------------------------------------------------------


def test_a_modification_with_line_numbers() -> None:
    (file,) = parse_diff(HEADER + "@@ -3,3 +3,4 @@ def f():\n a\n-b\n+B\n+C\n c\n")
    assert (file.old_path, file.new_path, file.status, file.binary) == (
        "f.txt",
        "f.txt",
        "modified",
        False,
    )
    (hunk,) = file.hunks
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count) == (3, 3, 3, 4)
    assert hunk.section == "def f():"
    assert hunk.lines == (
        DiffLine("context", "a", 3, 3),
        DiffLine("remove", "b", 4, None),
        DiffLine("add", "B", None, 4),
        DiffLine("add", "C", None, 5),
        DiffLine("context", "c", 5, 6),
    )


def test_omitted_counts_mean_one() -> None:
    (file,) = parse_diff(HEADER + "@@ -1 +1 @@\n-a\n+b\n")
    assert file.hunks == (
        Hunk(1, 1, 1, 1, "", (DiffLine("remove", "a", 1, None), DiffLine("add", "b", None, 1))),
    )


def test_several_hunks_per_file() -> None:
    (file,) = corpus("mech_multi_hunk")
    assert [(h.old_start, h.new_start) for h in file.hunks] == [(2, 2), (27, 27), (52, 52)]
    added = [line for hunk in file.hunks for line in hunk.lines if line.kind == "add"]
    assert [(line.text, line.new_line) for line in added] == [
        ("line five", 5),
        ("line thirty", 30),
        ("line 55  # noqa", 55),
    ]


def test_new_deleted_and_empty_files() -> None:
    files = by_path(corpus("mech_new_and_deleted"))
    assert sorted(files) == ["empty.txt", "new/module.py", "old/module.py"]
    empty, new, old = files["empty.txt"], files["new/module.py"], files["old/module.py"]
    assert (empty.status, empty.old_path, empty.new_path, empty.hunks) == (
        "added",
        None,
        "empty.txt",
        (),
    )
    assert (empty.old_mode, empty.new_mode) == (None, "100644")
    assert (new.status, new.old_path, new.hunks[0].old_count) == ("added", None, 0)
    assert (old.status, old.new_path, old.path, old.old_mode) == (
        "deleted",
        None,
        "old/module.py",
        "100644",
    )
    assert [line.kind for line in old.hunks[0].lines] == ["remove", "remove"]


def test_binary_markers_and_binary_patches() -> None:
    files = by_path(corpus("mech_binary_marker"))
    assert (files["assets/logo.png"].binary, files["assets/logo.png"].status) == (True, "modified")
    assert (files["assets/new.bin"].binary, files["assets/new.bin"].status) == (True, "added")
    (patch,) = corpus("spec_binary_diagram")
    assert (patch.binary, patch.status, patch.hunks) == (True, "modified", ())


def test_a_binary_patch_at_the_very_end_needs_no_blank_line() -> None:
    diff = (
        "diff --git a/b.bin b/b.bin\nindex 1111111..2222222 100644\nGIT binary patch\n"
        "literal 3\nKcmZQzWC8#H2LJ>B"
    )
    (file,) = parse_diff(diff)
    assert file.binary


def test_no_newline_markers() -> None:
    files = by_path(corpus("mech_no_newline"))
    lines = files["src/flag.py"].hunks[0].lines
    assert lines == (
        DiffLine("remove", "FLAG = 1", 1, None, no_newline_at_end=True),
        DiffLine("add", "FLAG = 2  # type: ignore", None, 1, no_newline_at_end=True),
    )


def test_a_no_newline_marker_on_a_context_line() -> None:
    (file,) = parse_diff(HEADER + "@@ -1,2 +1,2 @@\n-a\n+b\n c\n\\ No newline at end of file\n")
    assert file.hunks[0].lines[-1] == DiffLine("context", "c", 2, 2, no_newline_at_end=True)


def test_quoted_paths_and_paths_with_spaces() -> None:
    files = by_path(corpus("mech_quoted_paths"))
    assert sorted(files) == ["docs/spécial name.md", "src/a b.py"]
    assert files["src/a b.py"].old_path == "src/a b.py"


def test_mixed_quoting_in_the_git_header() -> None:
    diff = (
        'diff --git a/plain "b/caf\\303\\251"\nsimilarity index 100%\n'
        'rename from plain\nrename to "caf\\303\\251"\n'
    )
    (file,) = parse_diff(diff)
    assert (file.old_path, file.new_path, file.status, file.similarity) == (
        "plain",
        "café",
        "renamed",
        100,
    )


def test_c_escapes_in_quoted_names() -> None:
    name = '"say \\"hi\\"\\303\\251"'
    diff = f"diff --git {name.replace('say', 'a/say')} {name.replace('say', 'b/say')}\n"
    diff += "old mode 100644\nnew mode 100755\n"
    (file,) = parse_diff(diff)
    assert file.path == 'say "hi"\u00e9'


def test_renames_copies_and_modes() -> None:
    (pure,) = corpus("spec_renamed_pure")
    assert (pure.status, pure.old_path, pure.new_path, pure.similarity, pure.hunks) == (
        "renamed",
        "specs/orders.md",
        "specs/v2/orders.md",
        100,
        (),
    )
    (edited,) = corpus("spec_renamed_with_edit")
    assert (edited.status, edited.similarity, len(edited.hunks)) == ("renamed", 81, 1)
    (mode,) = corpus("spec_mode_change")
    assert (mode.status, mode.old_mode, mode.new_mode, mode.hunks) == (
        "mode_changed",
        "100644",
        "100755",
        (),
    )
    copy = "diff --git a/x b/y\nsimilarity index 90%\ncopy from x\ncopy to y\n"
    (copied,) = parse_diff(copy)
    assert (copied.status, copied.old_path, copied.new_path, copied.similarity) == (
        "copied",
        "x",
        "y",
        90,
    )


def test_a_rewrite_with_a_dissimilarity_index() -> None:
    diff = HEADER.replace("index", "dissimilarity index 90%\nindex") + "@@ -1 +1 @@\n-a\n+b\n"
    (file,) = parse_diff(diff)
    assert (file.status, file.similarity) == ("modified", None)


def test_crlf_content_keeps_its_carriage_returns() -> None:
    (file,) = corpus("mech_crlf")
    assert [line.text for line in file.hunks[0].lines] == [
        "Write-Host 'a'\r",
        "# eslint-disable\r",
        "exit 0\r",
    ]


def test_format_patch_mail_and_signature_are_skipped() -> None:
    (file,) = corpus("mech_format_patch")
    assert (file.path, file.status) == ("src/app.py", "modified")
    series = (CORPUS / "mech_format_patch.diff").read_bytes() * 2
    assert len(parse_diff(series)) == 2


def test_a_file_diff_always_has_a_path() -> None:
    with pytest.raises(ValueError, match="without any path"):
        _ = FileDiff(None, None, "modified", False, None, ()).path


def test_empty_input_is_an_empty_change() -> None:
    assert parse_diff(b"") == ()
    assert parse_diff("") == ()
    assert parse_diff("\n\n") == ()


@pytest.mark.parametrize(
    "text",
    [
        "Subject: nothing changed\n\njust a message\n",
        "not a diff at all\n",
        # `git diff --color=always`: every header starts with an escape code.
        "\x1b[1mdiff --git a/x b/x\x1b[m\n\x1b[1m--- a/x\x1b[m\n\x1b[1m+++ b/x\x1b[m\n",
    ],
)
def test_text_without_any_file_diff_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_diff(text)
    assert raised.value.code is ErrorCode.INVALID_DIFF
    assert raised.value.details["line"] == 1


def test_trailing_blank_lines_are_tolerated() -> None:
    assert len(parse_diff(HEADER + "@@ -1 +1 @@\n-a\n+b\n\n\n")) == 1


def test_an_empty_line_inside_a_hunk_is_an_empty_context_line() -> None:
    (file,) = parse_diff(HEADER + "@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n")
    assert file.hunks[0].lines[1] == DiffLine("context", "", 2, 2)


def test_non_utf8_content_is_kept_as_surrogates() -> None:
    data = HEADER.encode() + b"@@ -1 +1 @@\n-caf\xe9\n+caf\xc3\xa9\n"
    (file,) = parse_diff(data)
    removed, added = file.hunks[0].lines
    assert removed.text == "caf\udce9"
    assert added.text == "café"
    assert parse_diff(data) == parse_diff(data)


def test_str_and_bytes_give_the_same_result() -> None:
    data = (CORPUS / "mech_quoted_paths.diff").read_bytes()
    assert parse_diff(data) == parse_diff(data.decode("utf-8"))


def test_a_200000_line_diff() -> None:
    body = "".join(f"+line {i}\n" for i in range(200_000))
    diff = (
        "diff --git a/big.txt b/big.txt\nnew file mode 100644\nindex 0000000..1111111\n"
        "--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,200000 @@\n" + body
    )
    (file,) = parse_diff(diff.encode())
    lines = file.hunks[0].lines
    assert len(lines) == 200_000
    assert (lines[-1].text, lines[-1].new_line) == ("line 199999", 200_000)


def test_the_whole_corpus_parses() -> None:
    for path in sorted(CORPUS.glob("*.diff")):
        files = parse_diff(path.read_bytes())
        assert files, path.name
        for file in files:
            assert file.path
            for hunk in file.hunks:
                old = sum(1 for line in hunk.lines if line.kind != "add")
                new = sum(1 for line in hunk.lines if line.kind != "remove")
                assert (old, new) == (hunk.old_count, hunk.new_count), path.name


# --- what git does not write --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("diff", "line", "message"),
    [
        # garbage where a header must be
        ("diff --git a/f.txt b/f.txt\nhello\n", 2, "a git header line"),
        ("diff --git a/f.txt b/f.txt\n", 1, "states no change"),
        (HEADER + "@@ -1 +1 @@\n-a\n+b\ngarbage\n", 8, "expected `diff --git`"),
        (HEADER + "@@ -1 +1 @@\n-a\n+b\n\nmore\n", 8, "expected `diff --git`"),
        ("diff --git a/f b/f\nold mode 100644\nnew mode 100755\nx\n", 4, "a git header line"),
        (HEADER + "@@ -1,2 +1,2 @@\n a\n!b\n", 7, "is not a hunk line"),
        (HEADER + "@@ -1,+1 @@\n-a\n", 5, "hunk header"),
        (HEADER + "not a hunk\n", 5, "hunk header"),
        (HEADER + "@@ -1,0 +1,0 @@\n", 5, "counts no lines"),
        ("diff --git a/f.txt b/f.txt\n--- a/f.txt\nindex 1\n", 3, "`+++ b/NAME`"),
        # counts that do not add up
        (HEADER + "@@ -1,1 +1,1 @@\n-a\n-b\n+c\n", 7, "counts do not add up"),
        (HEADER + "@@ -1,2 +1,1 @@\n a\n+b\n-c\n", 7, "counts do not add up"),
        (HEADER + "@@ -1,1 +1,2 @@\n a\n b\n", 7, "counts do not add up"),
        (HEADER + "@@ -1 +1 @@\n-a\n+b\n+c\n", 8, "expected `diff --git`"),
        # a truncated hunk is reported at its header
        (HEADER + "@@ -1,3 +1,3 @@\n a\n", 5, "truncated"),
        # markers out of place
        (HEADER + "@@ -1 +1 @@\n\\ No newline at end of file\n-a\n+b\n", 6, "follows no line"),
        (HEADER + "@@ -1,2 +1,2 @@\n-a\n\\ No newline at end of file\n-b\n+c\n+d\n", 7, "before"),
        # headers
        ("diff --git a/f b/f\nold mode 100644\n", 1, "go together"),
        ("diff --git a/f b/f\nold mode 10064\nnew mode 100755\n", 2, "octal mode"),
        ("diff --git a/f b/f\nnew file mode 100644\nnew file mode 100644\n", 3, "twice"),
        ("diff --git a/f b/f\nsimilarity index 101%\n", 2, "percentage"),
        ("diff --git a/f b/f\nindex zz..yy\n", 2, "index"),
        ("diff --git a/x b/y\nrename from x\n", 1, "go together"),
        (
            "diff --git a/x b/y\nsimilarity index 50%\nold mode 100644\nnew mode 100755\n",
            1,
            "rename",
        ),
        (
            "diff --git a/x b/x\nnew file mode 100644\ndeleted file mode 100644\n",
            1,
            "at most one",
        ),
        ("diff --git a/x b/x\nnew file mode 100644\nold mode 100644\nnew mode 100755\n", 1, "no"),
        (HEADER + "Binary files a/f.txt and b/f.txt\n", 5, "hunk header"),
        (
            "diff --git a/f b/f\nindex 1111111..2222222 100644\nBinary files a/f b/f differ\n",
            3,
            "Binary files A and B differ",
        ),
        ("diff --git a/f b/f\nGIT binary patch\nliteral x\n", 3, "`literal N`"),
        ("diff --git a/f b/f\nGIT binary patch\nliteral 3\n!!!\n", 4, "base85"),
        # names
        (
            "diff --git a/f.txt b/g.txt\n--- a/f.txt\n+++ b/g.txt\n@@ -1 +1 @@\n-a\n+b\n",
            1,
            "disagree",
        ),
        (HEADER.replace("+++ b/f.txt", "+++ b/g.txt") + "@@ -1 +1 @@\n-a\n+b\n", 1, "disagree"),
        (
            "diff --git a/x b/y\nsimilarity index 90%\nrename from x\nrename to y\n"
            "--- a/x\n+++ b/z\n@@ -1 +1 @@\n-a\n+b\n",
            1,
            "disagree with the rename",
        ),
        (
            "diff --git a/f b/f\nindex 1111111..2222222 100644\n--- /dev/null\n+++ b/f\n"
            "@@ -0,0 +1 @@\n+a\n",
            1,
            "new file mode",
        ),
        (
            "diff --git a/f b/f\nindex 1111111..2222222 100644\n--- a/f\n+++ /dev/null\n"
            "@@ -1 +0,0 @@\n-a\n",
            1,
            "deleted file mode",
        ),
        (
            "diff --git a/f b/f\nnew file mode 100644\n--- /dev/null\n+++ b/f\n"
            "@@ -1 +1 @@\n-a\n+b\n",
            5,
            "new file must not count old lines",
        ),
        (
            "diff --git a/f b/f\ndeleted file mode 100644\n--- a/f\n+++ /dev/null\n"
            "@@ -1 +1 @@\n-a\n+b\n",
            5,
            "deleted file must not count new lines",
        ),
        ("diff --git a/a b/b b/c b/d\nold mode 100644\nnew mode 100755\n", 1, "ambiguous"),
        ("diff --git a/f\nold mode 100644\nnew mode 100755\n", 1, "diff --git a/OLD b/NEW"),
        ("diff --git f f\nold mode 100644\nnew mode 100755\n", 1, "a/OLD b/NEW"),
        ("diff --git a/f c/f\nold mode 100644\nnew mode 100755\n", 1, "a/OLD b/NEW"),
        ("diff --git c/f b/f\nold mode 100644\nnew mode 100755\n", 1, "prefix"),
        ("diff --git x/f y/f\nold mode 100644\nnew mode 100755\n", 1, "a/OLD b/NEW"),
        (HEADER.replace("--- a/f.txt", "--- f.txt") + "@@ -1 +1 @@\n-a\n+b\n", 3, "prefix"),
        ('diff --git "a/f b/f\nold mode 100644\nnew mode 100755\n', 1, "no closing quote"),
        ('diff --git "a/\\q" "b/\\q"\nold mode 100644\nnew mode 100755\n', 1, "bad escape"),
        ('diff --git "a/f"x "b/f"\nold mode 100644\nnew mode 100755\n', 1, "a/OLD b/NEW"),
        ('diff --git a/f "b/f"x\nold mode 100644\nnew mode 100755\n', 1, "after the quoted"),
        # paths the ledger would refuse
        (
            "diff --git a//etc/passwd b//etc/passwd\nold mode 100644\nnew mode 100755\n",
            1,
            "absolute",
        ),
        ("diff --git a/../x b/../x\nold mode 100644\nnew mode 100755\n", 1, "normalised"),
        ("diff --git a/x/./y b/x/./y\nold mode 100644\nnew mode 100755\n", 1, "normalised"),
        ('diff --git "a/t\\tab" "b/t\\tab"\nold mode 100644\nnew mode 100755\n', 1, "control"),
        ('diff --git "a/b\\\\s" "b/b\\\\s"\nold mode 100644\nnew mode 100755\n', 1, "backslash"),
        ('diff --git "a/\\377" "b/\\377"\nold mode 100644\nnew mode 100755\n', 1, "not UTF-8"),
        # diffs the guard cannot judge
        ("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n", 1, "without `diff --git`"),
        ("diff --cc f\nindex 1,2..3\n", 1, "combined"),
        ("diff --combined f\n", 1, "combined"),
        ("diff --git a/f b/f\r\nold mode 100644\nnew mode 100755\n", 1, "carriage return"),
        (HEADER.replace("@@", "") + "@@ -1 +1 @@\r\n-a\n+b\n", 5, "carriage return"),
    ],
)
def test_malformed(diff: str, line: int, message: str) -> None:
    error = refused(diff)
    assert error.details == {"line": line}, error
    assert message in error.message, error


GIT_PART = (
    "diff --git a/src/b.py b/src/b.py\nindex 1111111..2222222 100644\n"
    "--- a/src/b.py\n+++ b/src/b.py\n@@ -1 +1 @@\n-x\n+y\n"
)
#: Diffs GNU patch applies from a mail's preamble, each with the line it is reported at.
FOREIGN_PREAMBLES = {
    "context diff": (
        "Subject: [PATCH] tidy\n\n*** a/specs/a.md\n--- b/specs/a.md\n***************\n"
        "*** 1 ****\n! qty > 0\n--- 1 ----\n! qty >= 0\n\n",
        3,
    ),
    "context diff hunk alone": (
        "Subject: x\n\n***************\n*** 1 ****\n! qty > 0\n--- 1 ----\n! qty >= 0\n\n",
        3,
    ),
    "normal diff": ("Subject: x\n\n1c1\n< qty > 0\n---\n> qty >= 0\n\n", 3),
    "ed script": ("Subject: x\n\n1c\nqty >= 0\n.\n\n", 3),
    "indented unified diff": (
        "Subject: x\n\n    --- a/specs/a.md\n    +++ b/specs/a.md\n    @@ -1 +1 @@\n"
        "    -qty > 0\n    +qty >= 0\n\n",
        3,
    ),
    "unified hunk without names": ("Subject: x\n\n@@ -1 +1 @@\n-qty > 0\n+qty >= 0\n\n", 3),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN_PREAMBLES))
def test_a_diff_gnu_patch_would_apply_from_a_preamble_is_refused(kind: str) -> None:
    preamble, line = FOREIGN_PREAMBLES[kind]
    error = refused(preamble + GIT_PART)
    assert error.details == {"line": line}, error
    assert "without `diff --git` headers" in error.message
    # After a format-patch signature the text is a preamble again.
    signed = GIT_PART + "-- \n2.39.5\n\n" + preamble + GIT_PART
    assert refused(signed).details == {"line": line + 10}


@pytest.mark.skipif(shutil.which("patch") is None, reason="GNU patch is not installed")
@pytest.mark.parametrize("kind", ["context diff", "indented unified diff"])
def test_gnu_patch_really_applies_such_a_preamble(kind: str, tmp_path: Path) -> None:
    """The threat is real: `patch -p1` changes the spec the preamble's diff names."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "specs" / "a.md").write_text("qty > 0\n")
    (tmp_path / "src" / "b.py").write_text("x\n")
    diff = (FOREIGN_PREAMBLES[kind][0] + GIT_PART).encode()
    subprocess.run(["patch", "-p1", "--batch", "--silent"], input=diff, cwd=tmp_path, check=True)
    assert (tmp_path / "specs" / "a.md").read_text() == "qty >= 0\n"
    refused(diff)


@pytest.mark.parametrize(
    "preamble",
    [
        "Subject: x\n\nSteps:\n1a\nthen b\n\n",  # an ed-like line, but no `.` line ends it
        "Subject: x\n\n*** important ***\n< quoted reply\n> another\n\n",
        "Subject: x\n\n---\n src/b.py | 2 +-\n\n",  # format-patch's diffstat
        "Subject: x\n\n2c3 is the ticket\n< not a diff\n\n",
    ],
)
def test_ordinary_commit_messages_are_not_taken_for_diffs(preamble: str) -> None:
    (file,) = parse_diff(preamble + GIT_PART)
    assert file.path == "src/b.py"


def test_a_non_utf8_unquoted_path_is_refused() -> None:
    data = b"diff --git a/caf\xe9 b/caf\xe9\nold mode 100644\nnew mode 100755\n"
    assert "not UTF-8" in refused(data).message


def test_the_error_names_the_line_and_hint() -> None:
    error = refused(HEADER + "@@ -1 +1 @@\n-a\n+b\ngarbage\n")
    assert error.message.startswith("diff line 8: ")
    assert "git diff" in error.hint
    assert error.to_dict()["details"] == {"line": 8}
