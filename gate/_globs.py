"""Path globs for the guard's policy: gitignore-style `**`, anchored at the repository root.

A pattern always matches the whole relative path (unlike `.gitignore`, a pattern
without a slash does not also match in subdirectories: write `**/name`). Within
a pattern:

- `**/` matches zero or more directories, `/**` at the end everything below, a
  lone `**` every path; any other run of stars acts as one `*`;
- `*` matches any run of characters except `/`, `?` one character except `/`;
- `[abc]`, `[a-z]`, `[!abc]` (or `[^abc]`) match one character, never `/`; a
  `[` without its `]` is literal;
- `\\x` matches `x` literally; a leading `/` is ignored and a trailing `/`
  means everything below the directory (`dir/` is `dir/**`).

Dots are not special: `*` matches `.eslintrc` and `**` enters `.gate/`.
Python's fnmatch is not used because its `*` crosses `/`.
"""

from __future__ import annotations

import re
from functools import lru_cache

_ANY_DIRS = "(?:[^/]+/)*"


def glob_match(pattern: str, path: str) -> bool:
    """Whether the relative `path` matches `pattern` (see the module docstring)."""
    return _compile(pattern).fullmatch(path) is not None


def match_any(patterns: tuple[str, ...], path: str) -> bool:
    """Whether `path` matches at least one of `patterns`."""
    return any(_compile(pattern).fullmatch(path) is not None for pattern in patterns)


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    body = pattern.removeprefix("/")
    if body.endswith("/"):
        body += "**"
    segments = body.split("/")
    parts: list[str] = []
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == "**":
            # Leading and middle `**/` consume their own slash; a trailing one needs a name.
            parts.append(".+" if index == last else _ANY_DIRS)
            continue
        parts.append(_segment(segment))
        if index != last:
            parts.append("/")
    return re.compile("".join(parts), re.DOTALL)


def _segment(segment: str) -> str:
    """One `/`-free segment of a pattern as a regular expression."""
    out: list[str] = []
    position, length = 0, len(segment)
    while position < length:
        char = segment[position]
        if char == "*":
            while position < length and segment[position] == "*":
                position += 1
            out.append("[^/]*")
            continue
        if char == "?":
            out.append("[^/]")
        elif char == "\\" and position + 1 < length:
            position += 1
            out.append(re.escape(segment[position]))
        elif char == "[":
            end = _class_end(segment, position)
            if end is None:
                out.append(re.escape(char))
            else:
                out.append(_char_class(segment[position + 1 : end]))
                position = end
        else:
            out.append(re.escape(char))
        position += 1
    return "".join(out)


def _class_end(segment: str, start: int) -> int | None:
    """The index of the `]` closing the class opened at `start` (a leading `]` is literal)."""
    position = start + 1
    if position < len(segment) and segment[position] in "!^":
        position += 1
    if position < len(segment) and segment[position] == "]":
        position += 1
    end = segment.find("]", position)
    return None if end < 0 else end


def _char_class(body: str) -> str:
    negated = body[:1] in ("!", "^")
    if negated:
        body = body[1:]
    members = "".join("\\" + char if char in "\\^[]" else char for char in body)
    return f"[^/{members}]" if negated else f"(?!/)[{members}]"
