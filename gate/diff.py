"""A parser for unified diffs as `git diff` and `git format-patch` write them.

The honesty guard judges a patch by what it changes, so the parser is strict
where leniency could hide a change: hunk line counts must agree with their
headers, every line after the first `diff --git` must belong to the grammar, a
file's names must agree wherever git states them, and diffs the guard cannot
judge (combined diffs, diffs without git headers) are refused rather than
skipped. specs/honesty-guard.md, "The diff grammar", is the contract.

Input bytes are decoded as UTF-8 with `surrogateescape`, so a diff of a file
that is not UTF-8 parses (the odd bytes stay in the line text as lone
surrogates) while every path must be valid UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from ledger.errors import ErrorCode, InvalidInput
from ledger.model._rules import check_relative_path

LineKind = Literal["add", "remove", "context"]
FileStatus = Literal["added", "deleted", "modified", "renamed", "copied", "mode_changed"]

_HINT = (
    "pass the output of `git diff` or `git format-patch` unchanged (default a/ b/ prefixes); "
    "specs/honesty-guard.md describes the accepted grammar"
)
_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(?: (.*))?", re.DOTALL)
_MODE = re.compile(r"[0-7]{6}")
_PERCENT = re.compile(r"(\d{1,3})%")
_INDEX = re.compile(r"[0-9a-f]{4,64}\.\.[0-9a-f]{4,64}(?: [0-7]{6})?")
_BINARY_BLOCK = re.compile(r"(?:literal|delta) \d+")
_BINARY_DATA = re.compile(r"[A-Za-z][0-9A-Za-z!#$%&()*+;<=>?@^_`{|}~-]+")
_DEV_NULL = "/dev/null"
#: GNU patch's command lines: a normal diff's `1,2c3,4` and an ed script's `5a`, `3,4d`.
_NORMAL_COMMAND = re.compile(r"\d[\d,]*[acd][\d,]*[ \t]*\r?")
_ED_COMMAND = re.compile(r"(?:\d+,\d+[cd]|\d*[acdi]|\d*s/\.//)[ \t]*")
_C_ESCAPES = {
    "a": 7,
    "b": 8,
    "t": 9,
    "n": 10,
    "v": 11,
    "f": 12,
    "r": 13,
    '"': 34,
    "\\": 92,
}
#: Extended header lines: prefix -> the key they are stored under.
_EXTENDED = {
    "old mode ": "old_mode",
    "new mode ": "new_mode",
    "deleted file mode ": "deleted_mode",
    "new file mode ": "new_file_mode",
    "similarity index ": "similarity",
    "dissimilarity index ": "dissimilarity",
    "rename from ": "rename_from",
    "rename to ": "rename_to",
    "copy from ": "copy_from",
    "copy to ": "copy_to",
    "index ": "index",
}


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a hunk. `text` excludes the leading marker and the `\\n`, keeps any `\\r`."""

    kind: LineKind
    text: str
    #: The line's number in the old file (removed and context lines), else None.
    old_line: int | None
    #: The line's number in the new file (added and context lines), else None.
    new_line: int | None
    no_newline_at_end: bool = False


@dataclass(frozen=True, slots=True)
class Hunk:
    """One `@@ -a,b +c,d @@ section` block and its lines."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    #: The text git printed after the second `@@` (the enclosing function or key), or "".
    section: str
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True, slots=True)
class FileDiff:
    """The change to one file. Paths are relative, without git's `a/` `b/` prefixes."""

    #: None when the file is added.
    old_path: str | None
    #: None when the file is deleted.
    new_path: str | None
    status: FileStatus
    binary: bool
    #: `similarity index` of a rename or copy, in percent.
    similarity: int | None
    hunks: tuple[Hunk, ...]
    #: Set when the diff states the modes (`old mode`/`new mode`, or a new or deleted file's).
    old_mode: str | None = None
    new_mode: str | None = None

    @property
    def path(self) -> str:
        """The file's path after the change (its old path when it is deleted)."""
        path = self.new_path if self.new_path is not None else self.old_path
        if path is None:  # the parser never builds such a FileDiff
            raise ValueError("a file diff without any path")
        return path


def parse_diff(data: bytes | str) -> tuple[FileDiff, ...]:
    """Parse a git unified diff; INVALID_DIFF (with `details.line`) when it breaks the grammar."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    if not text:
        return ()
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return _Parser(lines).parse()


def _invalid(line: int, message: str, hint: str = _HINT) -> InvalidInput:
    return InvalidInput(
        ErrorCode.INVALID_DIFF, f"diff line {line}: {message}", hint=hint, details={"line": line}
    )


class _Parser:
    """A single forward pass over the diff's lines; `self.i` is the 0-based current line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.i = 0

    def parse(self) -> tuple[FileDiff, ...]:
        files: list[FileDiff] = []
        self._skip_preamble()
        lines, count = self.lines, len(self.lines)
        while self.i < count:
            line = lines[self.i]
            if line.startswith("diff --git "):
                files.append(self._file())
            elif line in ("-- ", "--"):
                # format-patch's signature: what follows, up to the next mail's diff, is text.
                self.i += 1
                self._skip_preamble()
            else:
                break  # `_file` saw to it that only blank lines are left
        if not files and any(line.strip() for line in lines):
            # Text with no file in it is not an empty change: most likely the wrong input,
            # and a guard that called it CLEAN would pass a patch it never saw.
            raise _invalid(
                1,
                "no `diff --git` header anywhere in the input",
                hint="pass the output of `git diff` or `git format-patch`; an empty change is "
                "an empty input",
            )
        return tuple(files)

    def _skip_preamble(self) -> None:
        """Skip mail headers and commit messages, refusing diffs the guard cannot judge.

        GNU patch reads a preamble too: it applies unified, context, normal and ed
        diffs wherever they appear (even indented), so any such diff in a preamble
        is refused rather than skipped; a guard that skipped it would pass a change
        `patch` applies.
        """
        lines, count = self.lines, len(self.lines)
        ed_command: int | None = None
        while self.i < count and not lines[self.i].startswith("diff --git "):
            line = lines[self.i]
            if line.startswith(("diff --cc ", "diff --combined ")):
                raise _invalid(
                    self.i + 1,
                    "combined (merge) diffs are not supported",
                    hint="inspect the diff of the merge against one parent (`git diff A B`)",
                )
            foreign = self._foreign_diff(self.i)
            if foreign is not None:
                at, kind = foreign
                raise _invalid(
                    at + 1,
                    f"a {kind} without `diff --git` headers",
                    hint="produce the patch with `git diff` or `git format-patch` (not `diff`, "
                    "`diff -u` or `diff -c`) so every file has a `diff --git` header; a "
                    "commit message must not carry a diff of its own",
                )
            stripped = _patch_stripped(line)
            if ed_command is None and (
                _ED_COMMAND.fullmatch(stripped) or _NORMAL_COMMAND.fullmatch(stripped)
            ):
                ed_command = self.i
            elif ed_command is not None and stripped == ".":
                raise _invalid(
                    ed_command + 1,
                    "an ed script (as `diff -e` writes it) without `diff --git` headers",
                    hint="produce the patch with `git diff` or `git format-patch`; a commit "
                    "message must not carry a diff of its own",
                )
            self.i += 1

    def _foreign_diff(self, at: int) -> tuple[int, str] | None:
        """A unified, context or normal diff starting at line `at`: (its first line, its kind)."""
        lines = self.lines

        def stripped(index: int) -> str:
            return _patch_stripped(lines[index]) if index < len(lines) else ""

        line = stripped(at)
        if (
            line.startswith("--- ")
            and stripped(at + 1).startswith("+++ ")
            and stripped(at + 2).startswith("@@ -")
        ):
            return at, "unified diff"
        if line.startswith("@@ -"):
            return at, "unified diff hunk"
        if line.startswith("********") and stripped(at + 1).startswith("*** "):
            has_names = at >= 2 and stripped(at - 2).startswith("*** ")
            has_names = has_names and stripped(at - 1).startswith("--- ")
            return (at - 2 if has_names else at), "context diff"
        if _NORMAL_COMMAND.fullmatch(line) and stripped(at + 1).startswith(("< ", "> ")):
            return at, "normal diff"
        return None

    def _unexpected(self, line: str, expected: str) -> InvalidInput:
        return _invalid(self.i + 1, f"expected {expected}, found {_shown(line)}")

    # --- one file ---------------------------------------------------------------------

    def _file(self) -> FileDiff:
        start = self.i + 1
        header_old, header_new = self._git_header(self.lines[self.i])
        self.i += 1
        fields = self._extended_headers()
        minus: str | None = None
        plus: str | None = None
        binary = False
        hunks: list[Hunk] = []
        if self.i < len(self.lines):
            line = self.lines[self.i]
            if line == "GIT binary patch":
                self._binary_patch()
                binary = True
            elif line.startswith("Binary files "):
                self._check_header_line(line)
                # Plain string tests: a regular expression would backtrack over every " and ".
                if not (line.endswith(" differ") and " and " in line[len("Binary files ") :]):
                    raise self._unexpected(line, "`Binary files A and B differ`")
                self.i += 1
                binary = True
            elif line.startswith("--- "):
                minus, plus = self._file_names()
                added, deleted = "new_file_mode" in fields, "deleted_mode" in fields
                while self.i < len(self.lines) and self.lines[self.i].startswith("@@"):
                    hunks.append(self._hunk(added=added, deleted=deleted))
                if not hunks:
                    line = self.lines[self.i] if self.i < len(self.lines) else ""
                    raise self._unexpected(line, "a hunk header `@@ -a,b +c,d @@`")
        self._check_file_end(bool(hunks))
        return self._resolve(start, header_old, header_new, fields, minus, plus, binary, hunks)

    def _check_file_end(self, after_hunk: bool) -> None:
        """A file diff ends at the next `diff --git`, a format-patch signature or the end."""
        lines, count = self.lines, len(self.lines)
        if self.i >= count:
            return
        line = lines[self.i]
        if line.startswith("diff --git ") or line in ("-- ", "--"):
            return
        if not line and not any(lines[self.i :]):
            return
        if after_hunk:
            raise self._unexpected(line, "`diff --git`, `@@` or the end of the diff")
        raise self._unexpected(
            line, "a git header line (`index`, `new file mode`, ...), `---` or `diff --git`"
        )

    def _check_header_line(self, line: str) -> None:
        if line.endswith("\r"):
            raise _invalid(
                self.i + 1,
                "a header line ends with a carriage return",
                hint="the diff's line endings were converted to CRLF; pass it as git wrote it "
                "(only content lines may end with \\r)",
            )

    def _git_header(self, line: str) -> tuple[str | None, str | None]:
        """The names in `diff --git a/X b/Y`, or (None, None) when unquoted names are ambiguous."""
        self._check_header_line(line)
        rest = line[len("diff --git ") :]
        if rest.startswith('"'):
            old, after = self._unquote(rest)
            if not after.startswith(" "):
                raise self._unexpected(line, "`diff --git a/OLD b/NEW`")
            new_text = after[1:]
            new = self._unquote_all(new_text) if new_text.startswith('"') else new_text
        elif ' "' in rest:
            # git quotes any name holding a `"`, so an unquoted first name ends before ` "`.
            cut = rest.index(' "')
            old, new = rest[:cut], self._unquote_all(rest[cut + 1 :])
        else:
            split = _split_unquoted(rest)
            if split is None:
                return None, None
            old, new = split
        if not new:
            raise self._unexpected(line, "`diff --git a/OLD b/NEW`")
        return self._strip_prefix(old, "a/"), self._strip_prefix(new, "b/")

    def _strip_prefix(self, name: str, prefix: str) -> str:
        if not name.startswith(prefix):
            raise _invalid(
                self.i + 1,
                f"the name {name!r} lacks git's {prefix!r} prefix",
                hint="produce the diff with git's default prefixes (no --no-prefix, "
                "--src-prefix, --dst-prefix or diff.mnemonicPrefix)",
            )
        return name[len(prefix) :]

    def _extended_headers(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        lines, count = self.lines, len(self.lines)
        while self.i < count:
            line = lines[self.i]
            found = next(((p, k) for p, k in _EXTENDED.items() if line.startswith(p)), None)
            if found is None:
                return fields
            prefix, key = found
            self._check_header_line(line)
            if key in fields:
                raise _invalid(self.i + 1, f"`{prefix.strip()}` is given twice for one file")
            value = line[len(prefix) :]
            if key.endswith("mode") and not _MODE.fullmatch(value):
                raise self._unexpected(line, f"`{prefix}` and a six-digit octal mode")
            if key in ("similarity", "dissimilarity"):
                match = _PERCENT.fullmatch(value)
                if match is None or int(match.group(1)) > 100:
                    raise self._unexpected(line, f"`{prefix}` and a percentage")
                value = match.group(1)
            if key == "index" and not _INDEX.fullmatch(value):
                raise self._unexpected(line, "`index OLD..NEW [MODE]`")
            if key in ("rename_from", "rename_to", "copy_from", "copy_to"):
                value = self._unquote_all(value) if value.startswith('"') else value
            fields[key] = value
            self.i += 1
        return fields

    def _file_names(self) -> tuple[str | None, str | None]:
        """The `--- a/X` and `+++ b/Y` lines; None stands for /dev/null."""
        minus = self._label(self.lines[self.i], "--- ", "a/")
        self.i += 1
        if self.i >= len(self.lines) or not self.lines[self.i].startswith("+++ "):
            line = self.lines[self.i] if self.i < len(self.lines) else ""
            raise self._unexpected(line, "`+++ b/NAME` after `--- a/NAME`")
        plus = self._label(self.lines[self.i], "+++ ", "b/")
        self.i += 1
        return minus, plus

    def _label(self, line: str, marker: str, prefix: str) -> str | None:
        self._check_header_line(line)
        name = line[len(marker) :]
        # git ends the label with a tab when the name holds a space (for GNU patch).
        name = name.removesuffix("\t")
        if name == _DEV_NULL:
            return None
        if name.startswith('"'):
            name = self._unquote_all(name)
        return self._strip_prefix(name, prefix)

    def _binary_patch(self) -> None:
        """`GIT binary patch`: one or two `literal|delta N` blocks, each ended by a blank line."""
        self.i += 1
        lines, count = self.lines, len(self.lines)
        for block in range(2):
            if self.i >= count or not _BINARY_BLOCK.fullmatch(lines[self.i]):
                if block == 1:
                    return
                line = lines[self.i] if self.i < count else ""
                raise self._unexpected(line, "`literal N` or `delta N`")
            self.i += 1
            while self.i < count and lines[self.i]:
                if not _BINARY_DATA.fullmatch(lines[self.i]):
                    raise self._unexpected(lines[self.i], "a base85 line of the binary patch")
                self.i += 1
            self.i += 1  # the blank line that ends the block (absent at the end of input)

    # --- hunks ------------------------------------------------------------------------

    def _hunk(self, *, added: bool, deleted: bool) -> Hunk:
        header_at = self.i + 1
        header = self.lines[self.i]
        self._check_header_line(header)
        match = _HUNK.fullmatch(header)
        if match is None:
            raise self._unexpected(header, "a hunk header `@@ -a,b +c,d @@`")
        old_start, new_start = int(match.group(1)), int(match.group(3))
        old_count = 1 if match.group(2) is None else int(match.group(2))
        new_count = 1 if match.group(4) is None else int(match.group(4))
        if old_count == 0 and new_count == 0:
            raise _invalid(header_at, "a hunk header that counts no lines")
        if added and old_count:
            raise _invalid(header_at, "a hunk of a new file must not count old lines")
        if deleted and new_count:
            raise _invalid(header_at, "a hunk of a deleted file must not count new lines")
        self.i += 1
        out: list[DiffLine] = []
        old_left, new_left = old_count, new_count
        old_no, new_no = old_start, new_start
        lines, count = self.lines, len(self.lines)
        while old_left or new_left or (self.i < count and lines[self.i].startswith("\\")):
            if self.i >= count:
                raise _invalid(
                    header_at,
                    f"the hunk `{header}` ends at the end of the diff with {old_left} old "
                    f"and {new_left} new lines still to come (a truncated diff?)",
                )
            line = lines[self.i]
            marker = line[:1]
            if marker in (" ", ""):
                if not (old_left and new_left):
                    raise self._miscount(header_at, header, "context", old_left, new_left)
                out.append(DiffLine("context", line[1:], old_no, new_no))
                old_no, new_no = old_no + 1, new_no + 1
                old_left, new_left = old_left - 1, new_left - 1
            elif marker == "-":
                if not old_left:
                    raise self._miscount(header_at, header, "removed", old_left, new_left)
                out.append(DiffLine("remove", line[1:], old_no, None))
                old_no, old_left = old_no + 1, old_left - 1
            elif marker == "+":
                if not new_left:
                    raise self._miscount(header_at, header, "added", old_left, new_left)
                out.append(DiffLine("add", line[1:], None, new_no))
                new_no, new_left = new_no + 1, new_left - 1
            elif marker == "\\":
                self._no_newline(out, old_left, new_left)
            else:
                raise _invalid(
                    self.i + 1,
                    f"{_shown(line)} is not a hunk line (` `, `-`, `+` or `\\`); the hunk "
                    f"`{header}` at line {header_at} still needs {old_left} old and "
                    f"{new_left} new lines",
                )
            self.i += 1
        section = match.group(5) or ""
        return Hunk(old_start, old_count, new_start, new_count, section, tuple(out))

    def _miscount(
        self, header_at: int, header: str, kind: str, old_left: int, new_left: int
    ) -> InvalidInput:
        return _invalid(
            self.i + 1,
            f"a {kind} line where the hunk `{header}` at line {header_at} has "
            f"{old_left} old and {new_left} new lines left: its counts do not add up",
        )

    def _no_newline(self, out: list[DiffLine], old_left: int, new_left: int) -> None:
        """`\\ No newline at end of file` marks the line before it, which must end its side."""
        previous = out[-1] if out else None
        if previous is None or previous.no_newline_at_end:
            raise _invalid(self.i + 1, "a `\\ No newline at end of file` that follows no line")
        ends_old = previous.kind == "add" or old_left == 0
        ends_new = previous.kind == "remove" or new_left == 0
        if not (ends_old and ends_new):
            raise _invalid(
                self.i + 1, "a `\\ No newline at end of file` before the last line of its file"
            )
        out[-1] = replace(previous, no_newline_at_end=True)

    # --- names ------------------------------------------------------------------------

    def _unquote(self, text: str) -> tuple[str, str]:
        """A C-style quoted name at the start of `text`: (the name, what follows it)."""
        raw = bytearray()
        position = 1
        while position < len(text):
            char = text[position]
            if char == '"':
                return self._utf8(bytes(raw)), text[position + 1 :]
            if char != "\\":
                raw += char.encode("utf-8", "surrogateescape")
                position += 1
                continue
            code = text[position + 1 : position + 2]
            octal = text[position + 1 : position + 4]
            if code in _C_ESCAPES:
                raw.append(_C_ESCAPES[code])
                position += 2
            elif len(octal) == 3 and all(c in "01234567" for c in octal) and octal < "400":
                raw.append(int(octal, 8))
                position += 4
            else:
                raise _invalid(self.i + 1, f"a bad escape `\\{code}` in the quoted name {text!r}")
        raise _invalid(self.i + 1, f"the quoted name {text!r} has no closing quote")

    def _unquote_all(self, text: str) -> str:
        name, rest = self._unquote(text)
        if rest:
            raise _invalid(self.i + 1, f"unexpected text {rest!r} after the quoted name")
        return name

    def _utf8(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid(
                self.i + 1,
                f"the path {raw!r} is not UTF-8",
                hint="the guard reports paths as UTF-8 text; rename the file to a UTF-8 name",
            ) from None

    def _resolve(
        self,
        start: int,
        header_old: str | None,
        header_new: str | None,
        fields: dict[str, str],
        minus: str | None,
        plus: str | None,
        binary: bool,
        hunks: list[Hunk],
    ) -> FileDiff:
        """Check that the file's headers agree and build its FileDiff."""

        def fail(message: str) -> InvalidInput:
            return _invalid(start, f"the file diff starting here: {message}")

        has_labels = bool(hunks)
        added, deleted = "new_file_mode" in fields, "deleted_mode" in fields
        renamed = "rename_from" in fields or "rename_to" in fields
        copied = "copy_from" in fields or "copy_to" in fields
        if renamed and not ("rename_from" in fields and "rename_to" in fields):
            raise fail("`rename from` and `rename to` go together")
        if copied and not ("copy_from" in fields and "copy_to" in fields):
            raise fail("`copy from` and `copy to` go together")
        if ("old_mode" in fields) != ("new_mode" in fields):
            raise fail("`old mode` and `new mode` go together")
        if sum((added, deleted, renamed, copied)) > 1:
            raise fail("a file diff is at most one of new, deleted, renamed or copied")
        if (added or deleted) and "old_mode" in fields:
            raise fail("a new or deleted file has no `old mode`/`new mode`")
        if "similarity" in fields and not (renamed or copied):
            raise fail("`similarity index` belongs to a rename or a copy")
        if has_labels and (minus is None) != added:
            raise fail("`--- /dev/null` goes with `new file mode`, and only with it")
        if has_labels and (plus is None) != deleted:
            raise fail("`+++ /dev/null` goes with `deleted file mode`, and only with it")
        changes_mode = fields.get("old_mode", "") != fields.get("new_mode", "")
        if not (added or deleted or renamed or copied or binary or hunks or changes_mode):
            raise fail("it states no change (no hunks, mode, rename, copy or binary marker)")

        if renamed or copied:
            old = fields.get("rename_from", fields.get("copy_from"))
            new = fields.get("rename_to", fields.get("copy_to"))
            if has_labels and (minus, plus) != (old, new):
                raise fail("the `---`/`+++` names disagree with the rename or copy")
        else:
            stated = (header_old, header_new, *((minus, plus) if has_labels else ()))
            names = {name for name in stated if name is not None}
            if len(names) > 1:
                raise fail(
                    f"its names disagree ({', '.join(sorted(map(repr, names)))}) and it is "
                    "not a rename or copy"
                )
            if not names:
                raise fail("the `diff --git` line's names are ambiguous and nothing else names it")
            (name,) = names
            old = None if added else name
            new = None if deleted else name
        for path in (old, new):
            if path is not None:
                _check_path(path, fail)

        status: FileStatus
        if added:
            status = "added"
        elif deleted:
            status = "deleted"
        elif renamed:
            status = "renamed"
        elif copied:
            status = "copied"
        elif hunks or binary:
            status = "modified"
        else:
            status = "mode_changed"
        old_mode = fields.get("old_mode", fields.get("deleted_mode"))
        new_mode = fields.get("new_mode", fields.get("new_file_mode"))
        similarity = int(fields["similarity"]) if "similarity" in fields else None
        return FileDiff(old, new, status, binary, similarity, tuple(hunks), old_mode, new_mode)


def _split_unquoted(rest: str) -> tuple[str, str] | None:
    """Split unquoted `a/X b/Y`: certain when X == Y or ` b/` occurs once; else None."""
    length = len(rest)
    if length % 2 == 1:
        half = (length - 5) // 2
        left, sep, right = rest[: 2 + half], rest[2 + half : 5 + half], rest[5 + half :]
        if sep == " b/" and left[2:] == right:
            return left, "b/" + right
    if rest.count(" b/") > 1:
        return None
    left, sep, right = rest.partition(" b/")
    return left, sep[1:] + right


def _check_path(path: str, fail: Callable[[str], InvalidInput]) -> None:
    """Paths are what the ledger's records accept: relative, normalised, UTF-8."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise fail(f"the path {path!r} is not UTF-8") from None
    try:
        check_relative_path(path, "path")
    except ValueError as exc:
        raise fail(str(exc).replace("`path`", f"the path {path!r}")) from None


def _patch_stripped(line: str) -> str:
    """A line as GNU patch looks at it: leading spaces, tabs and `X`s skipped (indented patches)."""
    return line.lstrip(" \tX")


def _shown(line: str) -> str:
    return repr(line if len(line) <= 60 else line[:57] + "...")
