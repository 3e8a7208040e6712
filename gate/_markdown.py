"""Markdown that shows event text literally: escaped cells and prose, tables, safe code fences.

Reports quote text that producers wrote (a finding's `what`, a probe's output).
None of it may change the report's structure: a `|` must not add a table
column, a newline must not end a row, HTML must not become markup and a run of
backticks must not close a code block. The rules are in specs/reports.md §3;
this module is their only implementation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: What a line break inside a cell or a line of prose becomes.
BREAK = "<br>"
#: What a missing value (JSON null) shows as in a table.
NULL = "—"

#: Characters that would be invisible, reorder text or break lines if left as they
#: are; they are shown as an escape (`\t`, `\xHH`, `\uHHHH`). LF and CR are line
#: breaks and handled apart.
INVISIBLE = re.compile(
    "[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff]"
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: ASCII punctuation that CommonMark or GitHub would read as markup; a backslash
#: before each makes it literal (CommonMark §2.4).
_MARKUP = frozenset("\\`*_[]~#|$")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BACKTICKS = re.compile(r"`+")


def visible(char: str) -> str:
    """The escape that shows one invisible character: `\\t`, `\\xHH` or `\\uHHHH`."""
    code = ord(char)
    if char == "\t":
        return "\\t"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _inline(text: str) -> str:
    """`text` without line breaks, made literal: markup escaped, invisibles shown."""
    out: list[str] = []
    for char in text:
        if INVISIBLE.fullmatch(char):
            out.append(_inline(visible(char)))
        elif char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char in _MARKUP:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def cell(text: str) -> str:
    """`text` as a table cell (or a line of prose) that renders exactly as written.

    Line breaks (CRLF, CR or LF, each counting once) become `<br>`; `&`, `<`, `>`
    become entities; markup punctuation gets a backslash; invisible characters
    are shown as escapes.
    """
    return BREAK.join(_inline(part) for part in _LINE_BREAK.split(text))


def value(item: object) -> str:
    """A JSON scalar as a cell: null as `—`, booleans as `true`/`false`, text escaped."""
    if item is None:
        return NULL
    if isinstance(item, bool):
        return "true" if item else "false"
    return cell(str(item))


def row(cells: Sequence[str]) -> str:
    """One table row of already escaped cells."""
    return "| " + " | ".join(cells) + " |"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured table: header, delimiter row, rows (cells already escaped)."""
    return [row(header), row(["---"] * len(header)), *(row(r) for r in rows)]


def raw_text(text: str) -> str:
    """`text` for a code block: line breaks as LF, invisible characters except tab as escapes."""
    flat = _LINE_BREAK.sub("\n", text)
    return "".join(
        visible(char) if char != "\t" and INVISIBLE.fullmatch(char) else char for char in flat
    )


def fence(text: str, info: str = "") -> list[str]:
    """`text` in a fenced code block whose fence is longer than any backtick run in it."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    marker = "`" * max(3, longest + 1)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [marker + info, *lines, marker]
