"""The honesty guard's rules: which changes in one file's diff are forbidden edits.

One function per edit type (several rules per type); `file_edits` runs the ones
that apply to a file. Each rule is deliberately narrow and line-based (a diff
shows only a few lines around each change, never the whole file);
specs/honesty-guard.md states every rule exactly, with its limits. Text rules
only read text: a binary change is judged by the file it touches (a protected
file, a gate or monitored config, or, in an automated patch, a source file).
Every rule runs in time linear in the length of a line: the regular
expressions are anchored or guarded so that no start position rescans a run.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from gate._globs import match_any
from gate.config import (
    DEFAULT_GATE_CONFIGS,
    DEFAULT_MONITORED_CONFIGS,
    DEFAULT_PROTECTED,
    DEFAULT_SUPPRESSION_DIRECTIVES,
    GuardPolicy,
)
from gate.diff import DiffLine, FileDiff, Hunk
from ledger.model.gate_records import PatchEdit, PatchEditSeverity, PatchEditType

SEVERITY: Mapping[PatchEditType, PatchEditSeverity] = {
    "spec_modification": "critical",
    "suppression_insertion": "high",
    "pack_disable": "critical",
    "severity_downgrade": "high",
    "allowlist_weaken": "high",
    "auth_bypass": "critical",
    "gate_config_weaken": "critical",
}


def _vocabulary(words: str) -> frozenset[str]:
    """A set of words written as one space-separated string (long lists stay compact)."""
    return frozenset(words.split())


#: Extensions of source and text files: a binary change to one, in an automated patch, hides
#: text from every rule (lowercase, without the dot).
TEXT_EXTENSIONS = _vocabulary(
    "py pyi js mjs cjs ts mts cts tsx jsx go rs java kt kts rb php cs c h cc cpp hpp "
    "toml yml yaml json cfg ini md txt sh"
)

_MAX_EVIDENCE = 512
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_COMMENT_STARTS = ("#", "//", ";")
_TABULAR = (".toml", ".ini", ".cfg")
_SCRIPTS = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")
_TABLE_HEADER = re.compile(r"\[\[?[^\[\]]+\]\]?\s*(?:[#;].*)?")
_KEY_VALUE = re.compile(
    r"""\s*(?:-\s+)?(?P<key>"[^"]*"|'[^']*'|[A-Za-z0-9_.$@/-]+)\s*(?::(?!:)|=(?!=))\s*(?P<value>.*)"""
)
_SCALAR = re.compile(r"""\[?\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s,\]\}#;]+))""")
#: A key whose value opens on the following lines (`key:`, `key =`, `key = [`, `"key": {`).
_OPEN_KEY = re.compile(
    r"""\s*(?:-\s+)?(?P<key>"[^"]*"|'[^']*'|[A-Za-z0-9_.$@/-]+)\s*(?::(?!:)|=(?!=))"""
    r"""\s*(?:[\[({|>][-+]?\s*)?(?:(?:#|//|;).*)?"""
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?%?")
_BOOLEAN = {
    **dict.fromkeys(("true", "yes", "on", "y", "1"), "true"),
    **dict.fromkeys(("false", "no", "off", "n", "0"), "false"),
}

# --- evidence and small text helpers ---------------------------------------------------


def evidence(text: str) -> str:
    """A changed line as evidence: trimmed, control characters replaced, at most 512 chars."""
    trimmed = text.replace("\t", " ").strip()
    # Replacing is one character for one, so cutting first gives the same text, faster.
    cleaned = _UNPRINTABLE.sub("\ufffd", trimmed[: _MAX_EVIDENCE + 1])
    if len(cleaned) > _MAX_EVIDENCE:
        cleaned = cleaned[: _MAX_EVIDENCE - 1] + "\u2026"
    return cleaned or "(empty line)"


def _words(text: str) -> list[str]:
    """`policyPacks`, `policy_packs`, `policy-packs` -> ["policy", "packs"]."""
    return [word for word in _NOT_ALNUM.split(_CAMEL.sub(" ", text).lower()) if word]


@lru_cache(maxsize=4096)
def _word_set(text: str) -> frozenset[str]:
    # Cached: the same enclosing line is consulted for every line below it.
    return frozenset(_words(text))


def _mentions(texts: Iterable[str], vocabulary: frozenset[str]) -> bool:
    return any(not vocabulary.isdisjoint(_word_set(text)) for text in texts)


def _name(path: str) -> str:
    """The file name of a path, lowercase."""
    return path.rsplit("/", 1)[-1].lower()


def _extension(path: str) -> str:
    name = _name(path)
    return name.rsplit(".", 1)[-1] if "." in name.lstrip(".") else ""


def _is_eslint_config(path: str) -> bool:
    return _name(path).startswith((".eslintrc", "eslint.config."))


# --- quoted strings -----------------------------------------------------------------------

#: What the string scanner stops at: a quote, or the start of a comment. `--` (SQL, Lua,
#: Haskell) only counts between whitespace, so `i--` and `--flag` do not start a comment.
_SCAN = re.compile(r"""['"`#]|//|/\*|<!--|(?<!\S)--(?!\S)""")
#: The rest of a string after its opening quote (possessive, so an unclosed one fails
#: without backtracking).
_CLOSING = {
    "'": re.compile(r"(?:[^'\\]|\\.)*+'", re.DOTALL),
    '"': re.compile(r'(?:[^"\\]|\\.)*+"', re.DOTALL),
    "`": re.compile(r"(?:[^`\\]|\\.)*+`", re.DOTALL),
}
_COMMENT_ENDS = {"/*": "*/", "<!--": "-->"}


def string_spans(line: str) -> list[tuple[int, int]]:
    """The [start, end) spans of the quoted strings ('...', "...", `...`) on one line.

    Backslash escapes the next character inside a string. A quote with no closing
    quote on the line opens nothing (so the apostrophe in `don't` is ignored), and
    once a kind of quote fails to close, no later quote of that kind can (each
    would scan the same rest of the line), so it is not tried again: the scan is
    linear. Quotes after an unquoted comment start (`#`, `//`, `--` between
    spaces) open nothing: the rest of the line is a comment, whose apostrophes
    are prose. `/* ... */` and `<!-- ... -->` comments end where they close.
    """
    spans: list[tuple[int, int]] = []
    unclosed: set[str] = set()
    position = 0
    while (found := _SCAN.search(line, position)) is not None:
        token = found.group()
        position = found.end()
        closing = _CLOSING.get(token)
        if closing is not None:
            if token in unclosed:
                continue
            body = closing.match(line, position)
            if body is None:
                unclosed.add(token)
                continue
            spans.append((found.start(), body.end()))
            position = body.end()
            continue
        end = _COMMENT_ENDS.get(token)
        if end is None:
            break
        close = line.find(end, position)
        if close < 0:
            break
        position = close + len(end)
    return spans


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with every quoted string (quotes included) replaced by NULs of the same length."""
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts.append(text[last:start])
        parts.append("\x00" * (end - start))
        last = end
    parts.append(text[last:])
    return "".join(parts)


# --- settings --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Setting:
    """A `key: value` / `key = value` line: the key (unquoted) and its first scalar."""

    key: str
    value: str
    raw_value: str

    @property
    def name(self) -> str:
        """The last component of a dotted key, lowercase."""
        return self.key.rsplit(".", 1)[-1].lower()


def _setting(text: str) -> _Setting | None:
    match = _KEY_VALUE.match(text)
    if match is None:
        return None
    key = match.group("key").strip("\"'")
    raw = match.group("value").strip()
    scalar = _SCALAR.match(raw)
    if not key or scalar is None:
        return None
    value = scalar.group("dq") if scalar.group("dq") is not None else scalar.group("sq")
    if value is None:
        value = scalar.group("bare")
    return _Setting(key, value.lower(), raw)


def _open_key(text: str) -> str | None:
    """The key of a line whose value follows on the next lines (`exclude:`, `omit =`)."""
    match = _OPEN_KEY.fullmatch(text)
    return match.group("key").strip("\"'") if match is not None else None


_PAIR_KEY = r"""(?<![^\s{,\[(])(?:"(?P<dk>[^"]*)"|'(?P<sk>[^']*)'|(?P<bk>[A-Za-z0-9_@/.$-]+))\s*"""
_PAIR_VALUE = r"""\s*\[?\s*(?:"(?P<dv>[^"]*)"|'(?P<sv>[^']*)'|(?P<bv>[^\s,\]\}#;'"]+))"""
#: Every `key: value` on a line (JSON, YAML flow mappings, JavaScript objects); the key starts
#: the line or follows whitespace, `{`, `,`, `[` or `(`, so a run is never rescanned.
_PAIR_COLON = re.compile(_PAIR_KEY + r"(?::(?![:/]))" + _PAIR_VALUE)
_PAIR_ANY = re.compile(_PAIR_KEY + r"(?::(?![:/])|=(?![=>]))" + _PAIR_VALUE)


@dataclass(frozen=True, slots=True)
class _Pair:
    """One `key: value` on a line: `nested` when an unclosed `[` precedes it on the line."""

    key: str
    value: str
    nested: bool


def _pairs_on(text: str, script: bool) -> list[_Pair]:
    """The settings of one line, in order; scripts (JavaScript, TypeScript) only use `:`."""
    found: list[_Pair] = []
    depth = 0
    previous = 0  # where the previous pair started: its own `[` counts for the next pair
    for match in (_PAIR_COLON if script else _PAIR_ANY).finditer(text):
        between = text[previous : match.start()]
        depth = max(0, depth + between.count("[") - between.count("]"))
        key = next(k for k in match.group("dk", "sk", "bk") if k is not None)
        value = next(v for v in match.group("dv", "sv", "bv") if v is not None)
        found.append(_Pair(key, value.lower(), depth > 0))
        previous = match.start()
    return found


def _edit(kind: PatchEditType, path: str, line: int | None, text: str) -> PatchEdit:
    return PatchEdit(
        type=kind, severity=SEVERITY[kind], file=path, line=line, evidence=evidence(text)
    )


def _added(file: FileDiff) -> Iterator[DiffLine]:
    for hunk in file.hunks:
        for line in hunk.lines:
            if line.kind == "add":
                yield line


def _normal(text: str) -> str:
    return text.strip().rstrip(",").strip()


def _is_comment(stripped: str) -> bool:
    return stripped.startswith(_COMMENT_STARTS)


# --- where a line sits: its context in the hunk ------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    """The lines a hunk shows above a line that enclose it.

    `texts` is outermost first and may start with the hunk's section header (a
    stand-in when no top-level line or table header is visible); `enclosing`
    holds only real lines of the hunk (the table header first, in TOML/INI).
    `known` is false when the hunk does not show where the line sits: no
    top-level line (indentation 0), no `[table]` header (TOML/INI) and no
    section header. `owner_added` says whether the innermost enclosing line is
    an added line (the line belongs to something the patch creates).
    """

    known: bool
    texts: tuple[str, ...]
    enclosing: tuple[str, ...]
    owner_added: bool


def _contexts(hunk: Hunk, side: Literal["old", "new"], tabular: bool) -> dict[int, _Context]:
    """The context of every line on one side of a hunk, keyed by its index in `hunk.lines`."""
    kinds = ("context", "remove") if side == "old" else ("context", "add")
    at_top = (hunk.old_start if side == "old" else hunk.new_start) <= 1
    section = (hunk.section.strip(),) if hunk.section.strip() else ()
    header: tuple[str, bool] | None = None
    stack: list[tuple[int, str, bool]] = []
    found: dict[int, _Context] = {}
    for index, line in enumerate(hunk.lines):
        if line.kind not in kinds:
            continue
        stripped = line.text.strip()
        if tabular and _TABLE_HEADER.fullmatch(stripped):
            header, stack = (stripped, line.kind != "context"), []
            found[index] = _Context(True, (), (), False)
            continue
        indent = len(line.text) - len(line.text.lstrip())
        structural = bool(stripped) and not _is_comment(stripped)
        if structural:
            while stack and stack[-1][0] >= indent:
                stack.pop()
        parents = tuple(text for _, text, _ in stack)
        enclosing = ((header[0],) if header is not None else ()) + parents
        owner_added = stack[-1][2] if stack else header is not None and header[1]
        if tabular:
            known = header is not None or at_top
            outer = (header[0],) if header is not None else section
        else:
            top_visible = at_top or indent == 0 or (bool(stack) and stack[0][0] == 0)
            known = top_visible or bool(section)
            outer = () if top_visible else section
        found[index] = _Context(known, outer + parents, enclosing, owner_added)
        if structural:
            stack.append((indent, stripped, line.kind != "context"))
    return found


class _Sides:
    """The contexts of a file's hunks, each side computed once, when first needed."""

    def __init__(self, file: FileDiff) -> None:
        self._file = file
        self._tabular = _is_tabular(file.path)
        self._cache: dict[tuple[int, str], dict[int, _Context]] = {}

    def of(self, hunk: int, index: int, side: Literal["old", "new"]) -> _Context:
        key = (hunk, side)
        if key not in self._cache:
            self._cache[key] = _contexts(self._file.hunks[hunk], side, self._tabular)
        return self._cache[key][index]

    def of_line(self, hunk: int, index: int, line: DiffLine) -> _Context:
        """The context of a line on its own side (an added line's new side, else the old)."""
        return self.of(hunk, index, "new" if line.kind == "add" else "old")


def _is_tabular(path: str) -> bool:
    return path.lower().endswith(_TABULAR)


def _owner_with_words(context: _Context) -> str | None:
    """The innermost enclosing line that has a word (a JSON `{` line has none)."""
    return next((text for text in reversed(context.enclosing) if _word_set(text)), None)


# --- spec_modification --------------------------------------------------------------------


def spec_modification(
    file: FileDiff, policy: GuardPolicy, *, automated: bool = False
) -> PatchEdit | None:
    """A change to a protected file, once per file (strict and non-strict rules differ)."""
    old_protected = file.old_path is not None and match_any(policy.protected, file.old_path)
    new_protected = file.new_path is not None and match_any(policy.protected, file.new_path)
    if not (old_protected or new_protected):
        return None
    status = file.status
    mode_change = _mode_changed(file)
    changed = [line for hunk in file.hunks for line in hunk.lines if line.kind != "context"]
    # A protected file renamed: harmless only when it keeps its name, stays protected and
    # gains no hidden directory; an automated patch may not rename one at all.
    bad_move = (
        status == "renamed"
        and old_protected
        and (automated or not (new_protected and _same_name_move(file)))
    )
    if policy.strict:
        pure_move = status == "renamed" and old_protected and new_protected and not bad_move
        pure_move = pure_move and not (changed or file.binary or mode_change)
        blocks = not pure_move and not (status == "copied" and not new_protected)
    else:
        # Only what takes away from an existing spec: deletions, moves, removed lines.
        changed = [line for line in changed if line.kind == "remove"]
        existing = old_protected and status in ("modified", "renamed")
        blocks = (status == "deleted") or bad_move or (existing and (bool(changed) or file.binary))
    if not blocks:
        return None
    path = file.old_path if old_protected and not new_protected else file.path
    what = _describe_change(file, mode_change)
    if not changed:
        return _edit("spec_modification", path or file.path, None, what)
    first = changed[0]
    verb, number = ("added", first.new_line) if first.kind == "add" else ("removed", first.old_line)
    shown = first.text.strip() or "(empty)"
    return _edit("spec_modification", path or file.path, number, f"{what}: {verb} line: {shown}")


def _same_name_move(file: FileDiff) -> bool:
    """A move that keeps the file's name and puts it in no new hidden (`.`) directory."""
    old, new = file.old_path or "", file.new_path or ""
    old_dirs, new_dirs = old.split("/")[:-1], new.split("/")[:-1]
    hidden_before = {d for d in old_dirs if d.startswith(".")}
    hidden_after = {d for d in new_dirs if d.startswith(".")}
    return old.rsplit("/", 1)[-1] == new.rsplit("/", 1)[-1] and hidden_after <= hidden_before


def _mode_changed(file: FileDiff) -> bool:
    return (
        file.status not in ("added", "deleted")
        and file.old_mode is not None
        and file.old_mode != file.new_mode
    )


def _describe_change(file: FileDiff, mode_change: bool) -> str:
    described = {
        "added": "new file",
        "deleted": "deleted file",
        "renamed": f"renamed from {file.old_path} to {file.new_path}",
        "copied": f"copied from {file.old_path}",
        "modified": "modified",
        "mode_changed": f"mode changed from {file.old_mode} to {file.new_mode}",
    }[file.status]
    if mode_change and file.status != "mode_changed":
        described += f" (mode {file.old_mode} -> {file.new_mode})"
    if file.binary:
        described += " (binary)"
    return described


# --- binary changes ----------------------------------------------------------------------------


def binary_change(file: FileDiff, policy: GuardPolicy, *, automated: bool) -> PatchEdit | None:
    """A binary change the text rules cannot read, to a file whose text they would judge.

    A gate config is `gate_config_weaken` and a monitored config `pack_disable` (a
    config the guard cannot read could switch anything off); in an automated patch,
    a file with a source or text extension is `suppression_insertion` (the most
    common edit such a change would hide). Deletions hide nothing.
    """
    if not file.binary or file.status == "deleted":
        return None
    kind: PatchEditType
    if match_any(policy.gate_configs, file.path):
        kind = "gate_config_weaken"
    elif match_any(policy.monitored_configs, file.path):
        kind = "pack_disable"
    elif automated and _extension(file.path) in TEXT_EXTENSIONS:
        kind = "suppression_insertion"
    else:
        return None
    return _edit(kind, file.path, None, _describe_change(file, _mode_changed(file)))


# --- suppression_insertion ------------------------------------------------------------------

_DIRECTIVE_TOKEN = re.compile(r"\.\.\.|[A-Za-z0-9_-]+|\S")
_GAP = "..."
_WORD_START = re.compile(r"[a-z0-9_]")
#: ASCII letters to lowercase, nothing else: a line keeps its length, so positions found in
#: the lowered line are positions in the line.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _directive_regex(directive: str) -> str | None:
    """One directive as a regular expression over a lowered line, None if it has no token.

    specs/honesty-guard.md §3.3 states the syntax. Every alternative starts with a
    literal character (a word's boundary is checked by a lookbehind after its first
    character), so the engine skips positions that cannot start any directive.
    """
    tokens = _DIRECTIVE_TOKEN.findall(directive.translate(_ASCII_LOWER))
    while tokens and tokens[0] == _GAP:
        tokens.pop(0)
    while tokens and tokens[-1] == _GAP:
        tokens.pop()
    if not tokens:
        return None
    parts: list[str] = []
    for index, token in enumerate(tokens):
        if token == _GAP:
            parts.append(".{0,200}?")
            continue
        if index and tokens[index - 1] != _GAP:
            # Rust's inner attribute `#![...]` is the outer `#[...]` with a `!`.
            parts.append(r"\s*(?:!\s*)?" if tokens[index - 1 : index + 1] == ["#", "["] else r"\s*")
        if index == 0 and _WORD_START.match(token):
            first = re.escape(token[0])
            parts.append(f"{first}(?<![a-z0-9_]{first}){re.escape(token[1:])}")
        else:
            parts.append(re.escape(token))
    return "".join(parts)


@lru_cache(maxsize=64)
def _directive_pattern(directives: tuple[str, ...]) -> re.Pattern[str] | None:
    """One alternation of every directive, over lowered lines; None when none has a token."""
    alternatives = [regex for regex in map(_directive_regex, directives) if regex is not None]
    if not alternatives:
        return None
    return re.compile("|".join(f"(?:{regex})" for regex in alternatives))


def suppression_insertions(file: FileDiff, directives: tuple[str, ...]) -> list[PatchEdit]:
    """Added lines holding a suppression directive outside any quoted string."""
    pattern = _directive_pattern(directives)
    if pattern is None:
        return []
    found: list[PatchEdit] = []
    for line in _added(file):
        lowered = line.text.translate(_ASCII_LOWER)
        if pattern.search(lowered) is None:
            continue
        if pattern.search(_masked(lowered, string_spans(line.text))) is not None:
            found.append(_edit("suppression_insertion", file.path, line.new_line, line.text))
    return found


# --- allowlist_weaken and auth_bypass (any text file) ---------------------------------------

_Q = "[\"'`]?"
_ALLOWLIST_KEY = (
    r"(?:allow(?:ed)?[-_]?origins?|cors[-_]?(?:allowed[-_]?)?origins?|origins?"
    r"|(?:allow[-_]?)?origin[-_]?regex"
    r"|access[-_]control[-_]allow[-_]origin|allowed[-_]?hosts"
    r"|(?:allowed[-_]?)?redirect[-_]?(?:allow[-_]?list|white[-_]?list|uris?|urls?|hosts|domains))"
)
#: A key of an origin/host/redirect allowlist and its separator; `open` when a list follows.
#: A comma separates only a quoted key from its value (`setHeader("Access-Control-Allow-Origin",
#: "*")`): after a bare name it is a parameter list (`def f(origin, *, x)`).
_ALLOWLIST_SETTING = re.compile(
    rf"(?i)(?<![\w-])(?:[\"'`]{_ALLOWLIST_KEY}[\"'`]\s*(?:=>|[:=,]|\s)"
    rf"|{_ALLOWLIST_KEY}\s*(?:=>|[:=]|\s))\s*(?P<open>[\[(])?"
)
#: `*`, or a regular expression matching everything, as a whole value.
_EVERYTHING = r"(?:\*|\^?\.[*+]\$?|/\^?\.[*+]\$?/)"
_EVERYTHING_ITEMS = frozenset({"*", ".*", ".+", "^.*$", "^.+$", "^.*", "/.*/", "/.+/", "/^.*$/"})
_WILDCARD_VALUE = re.compile(rf"{_Q}{_EVERYTHING}{_Q}(?=\s*(?:[\]),;}}#]|//|$))")
_LIST_END = re.compile(r"[\])]")
_ALLOW_ALL = re.compile(
    rf"(?i)(?<![\w-]){_Q}cors[-_]?(?:origin[-_]?allow[-_]?all|allow[-_]?all[-_]?origins)"
    rf"{_Q}\s*(?::|=(?!=))\s*{_Q}(?:true|yes|on|1){_Q}(?![\w-])"
)
#: An origin key set to `true`: the `cors` package then reflects every request's origin.
_ORIGIN_TRUE = re.compile(
    rf"(?i)(?<![\w-]){_Q}(?:origins?|allow(?:ed)?[-_]?origins?|cors[-_]?(?:allowed[-_]?)?origins?)"
    rf"{_Q}\s*(?::|=(?!=))\s*true(?![\w-])"
)
#: `cors()` without options (every origin) and Flask-CORS's `CORS(app)` (every origin).
_CORS_DEFAULT = re.compile(r"(?<![\w$.])(?:cors\s*\(\s*\)|CORS\s*\(\s*\w+\s*\))")
#: `permitAll()`, Kotlin's `authorize(anyRequest, permitAll)` and the `@PermitAll` annotation.
_PERMIT_ALL = re.compile(r"\bpermitAll\s*\(\s*\)|[(,]\s*permitAll\s*[),]|@PermitAll\b")
_ALLOWLIST_HINT = re.compile(r"(?i)origin|redirect|allowed|permitall|cors")

_SEP = rf"{_Q}\s*(?::|=>|=(?!=))\s*"
_TRUE = rf"(?:!!bool\s+)?{_Q}(?:true|yes|on|y|1){_Q}(?![\w-])"
_FALSE = rf"(?:!!bool\s+)?{_Q}(?:false|no|off|n|0){_Q}(?![\w-])"
_AUTH_SETTINGS = (
    re.compile(
        rf"(?i)(?<![\w-]){_Q}(?:(?:skip|no|disable|bypass)[-_]?auth(?:entication)?"
        rf"|login[-_]?disabled){_SEP}{_TRUE}"
    ),
    re.compile(
        rf"(?i)(?<![\w-]){_Q}(?:auth(?:entication)?[-_]?(?:required|enabled)"
        rf"|requires?[-_]?auth(?:entication)?|login[-_]?required|requires?[-_]?login)"
        rf"{_SEP}{_FALSE}"
    ),
    # A route's or service's whole `auth` option switched off (hapi's `auth: false`, YAML):
    # with `:` only, since `auth = False` is as often a local variable in code.
    re.compile(rf"(?i)(?<![\w-]){_Q}(?:auth|authenticate|authentication){_Q}\s*:\s*{_FALSE}"),
    # An authentication mode of `none`: lowercase, so Python's `auth_type=None` is no match.
    re.compile(
        rf"(?i)(?<![\w.-]){_Q}(?:authentication|auth[-_]?(?:mode|type|method|strategy))"
        rf"{_SEP}{_Q}(?-i:none|disabled|anonymous){_Q}(?![\w-])"
    ),
    re.compile(rf"(?i)(?<![\w-]){_Q}is[-_]?authenticated{_SEP}{_TRUE}"),
)
#: ASP.NET's attribute that lets anonymous callers into an action or controller.
_ALLOW_ANONYMOUS = re.compile(r"\[\s*AllowAnonymous\s*\]")
_TRAILING_COMMENT = r"(?:(?://|#|/\*).*)?"
_AUTH_MODIFIERS = (
    r"(?:(?:public|private|protected|internal|static|async|override|final|export"
    r"|default|function|def|fun|func|get|virtual|bool|boolean)\s+|\([^)]*\)\s*)*"
)
# A definition (not a call): the name comes first, after modifiers, a return type or a receiver.
_AUTH_FUNCTION = re.compile(
    rf"(?i)\s*{_AUTH_MODIFIERS}is_?authenticated\s*\([^)]*\)[^;{{}}=]*[{{:]\s*" + _TRAILING_COMMENT
)
#: A definition whose parameters continue on the next lines (its `(` is not closed).
_AUTH_FUNCTION_START = re.compile(
    rf"(?i)\s*{_AUTH_MODIFIERS}is_?authenticated\s*\([^)]*" + _TRAILING_COMMENT
)
_HEADER_END = re.compile(r".*[{:]\s*" + _TRAILING_COMMENT)
_RETURN_TRUE = re.compile(r"(?i)\s*return(?:\s*\(\s*true\s*\)|\s+true)\s*;?\s*" + _TRAILING_COMMENT)
#: A definition and its `return true` on one line.
_AUTH_ONE_LINER = re.compile(
    rf"(?i)\s*{_AUTH_MODIFIERS}is_?authenticated\s*\([^)]*\)[^;{{}}=]*[{{:]\s*"
    r"return(?:\s*\(\s*true\s*\)|\s+true)\s*;?\s*\}?\s*" + _TRAILING_COMMENT
)
#: An arrow function that returns true, assigned to isAuthenticated (parameters bounded so a
#: line of repeated openings stays linear).
_AUTH_ARROW = re.compile(
    r"(?i)(?<![\w$])is_?authenticated\s*[:=]\s*(?:async\s*)?"
    r"(?:\([^)]{0,200}\)|[\w$]+)\s*(?::\s*\w+\s*)?=>\s*\(?\s*true\b"
)
_AUTH_HINT = re.compile(r"(?i)auth|login|anonymous")
_TRIPLE_QUOTES = ('"""', "'''")
_BLOCK_COMMENT_LINE = ("#", "//", "/*", "*", "--")


def allowlist_weakenings(file: FileDiff) -> list[PatchEdit]:
    """Added lines opening an origin/redirect/host allowlist to everyone, or `permitAll`."""
    found: list[PatchEdit] = []
    for line in _added(file):
        text = line.text
        if _ALLOWLIST_HINT.search(text) is None:
            continue
        if (
            _opens_to_everyone(text)
            or _ALLOW_ALL.search(text)
            or _ORIGIN_TRUE.search(text)
            or _CORS_DEFAULT.search(text)
            or _PERMIT_ALL.search(text)
        ):
            found.append(_edit("allowlist_weaken", file.path, line.new_line, text))
    return found


def _opens_to_everyone(text: str) -> bool:
    """Whether an allowlist key on the line is set to everyone, alone or as an item of its list.

    Each list is read up to its first `]` or `)`; a list already read (several keys
    can share one end) is not read again, so a line costs time linear in its length.
    """
    read_up_to = -1
    for match in _ALLOWLIST_SETTING.finditer(text):
        start = match.end()
        if match.group("open") is None:
            if _WILDCARD_VALUE.match(text, start):
                return True
            continue
        found = _LIST_END.search(text, max(start, read_up_to))
        end = found.start() if found is not None else len(text)
        if end == read_up_to:
            continue
        items = text[start:end].split(",")
        if any(item.strip().strip("\"'`") in _EVERYTHING_ITEMS for item in items):
            return True
        read_up_to = end
    return False


def auth_bypasses(file: FileDiff) -> list[PatchEdit]:
    """Added lines switching authentication off, or hard-coding an authenticated answer."""
    found: list[PatchEdit] = []
    for hunk in file.hunks:
        found.extend(_auth_in_hunk(file.path, hunk))
    return found


def _auth_in_hunk(path: str, hunk: Hunk) -> Iterator[PatchEdit]:
    # `awaiting`: the next statement is the first of an isAuthenticated definition's body;
    # `signature`: such a definition's parameters continue; `docstring`: the closing quotes.
    awaiting = signature = False
    docstring: str | None = None
    for line in hunk.lines:
        if line.kind == "remove":
            continue
        text = line.text
        stripped = text.strip()
        if line.kind == "add" and _auth_setting(text):
            yield _edit("auth_bypass", path, line.new_line, text)
            awaiting = signature = False
            continue
        if docstring is not None:
            if docstring in stripped:
                docstring = None
            continue
        if not stripped or stripped.startswith(_BLOCK_COMMENT_LINE):
            continue
        if awaiting and stripped.startswith(_TRIPLE_QUOTES):
            quotes = stripped[:3]
            if quotes not in stripped[3:]:
                docstring = quotes
            continue
        if awaiting and line.kind == "add" and _RETURN_TRUE.fullmatch(text):
            yield _edit("auth_bypass", path, line.new_line, text)
        awaiting = False
        if signature:
            signature = _HEADER_END.fullmatch(text) is None
            awaiting = not signature
        elif _AUTH_FUNCTION.fullmatch(text):
            awaiting = True
        elif _AUTH_FUNCTION_START.fullmatch(text):
            signature = True


def _auth_setting(text: str) -> bool:
    if _AUTH_HINT.search(text) is None:
        return False
    return (
        any(pattern.search(text) for pattern in _AUTH_SETTINGS)
        or _ALLOW_ANONYMOUS.search(text) is not None
        or _AUTH_ONE_LINER.fullmatch(text) is not None
        or _AUTH_ARROW.search(text) is not None
    )


# --- pack_disable (monitored configs) ---------------------------------------------------------

_PACK_WORDS = frozenset({"pack", "packs", "policy", "policies"})
_PACK_OFF = (
    re.compile(rf"(?i)(?<![\w-]){_Q}enabled{_SEP}{_FALSE}"),
    re.compile(rf"(?i)(?<![\w-]){_Q}disabled{_SEP}{_TRUE}"),
)
#: A pack's mode switched to one that does not block.
_PACK_MODE_OFF = re.compile(
    rf"(?i)(?<![\w-]){_Q}(?:mode|state|status|enforcement(?:[-_]?(?:mode|action))?){_SEP}"
    rf"{_Q}(?:disabled?|off|none|inactive|monitor|audit|dry[-_]?run|warn){_Q}(?![\w-])"
)
#: `enabled:` / `disabled:` with the value on the next line.
_SPLIT_KEY = re.compile(rf"(?i)\s*(?:-\s+)?{_Q}(?P<key>enabled|disabled){_Q}\s*(?::|=>?)\s*")
_SPLIT_VALUE = re.compile(
    rf"(?i)\s*(?:!!bool\s+)?{_Q}(?P<value>true|false|yes|no|on|off|y|n|0|1){_Q}\s*,?\s*"
    + _TRAILING_COMMENT
)
_PACK_ITEM_KEYS = frozenset({"name", "id", "pack", "uses"})
_LIST_ITEM = re.compile(r"""(?:"[^"]*"|'[^']*')\s*,?""")


def pack_disables(file: FileDiff) -> list[PatchEdit]:
    """Packs switched off (`enabled: false`, `mode: disabled`) or removed from their list."""
    sides = _Sides(file)
    found: list[PatchEdit] = []
    for number, hunk in enumerate(file.hunks):
        new_side = [(index, line) for index, line in enumerate(hunk.lines) if line.kind != "remove"]
        for position, (index, line) in enumerate(new_side):
            text = line.text
            if line.kind == "add" and any(p.search(text) for p in _PACK_OFF):
                context = sides.of(number, index, "new")
                if not context.known or _mentions((text, *context.texts), _PACK_WORDS):
                    found.append(_edit("pack_disable", file.path, line.new_line, text))
            elif line.kind == "add" and _PACK_MODE_OFF.search(text):
                context = sides.of(number, index, "new")
                if _mentions((text, *context.texts), _PACK_WORDS):
                    found.append(_edit("pack_disable", file.path, line.new_line, text))
            split = _split_pack_off(new_side, position)
            if split is not None:
                context = sides.of(number, index, "new")
                if not context.known or _mentions((text, *context.texts), _PACK_WORDS):
                    found.append(_edit("pack_disable", file.path, split.new_line, split.text))
    found.extend(_removed_packs(file, sides))
    return found


def _split_pack_off(new_side: list[tuple[int, DiffLine]], position: int) -> DiffLine | None:
    """`enabled:` with `false` on the next line (or `disabled:` with `true`): the added one."""
    line = new_side[position][1]
    key = _SPLIT_KEY.fullmatch(line.text)
    if key is None:
        return None
    following = next(
        (
            other
            for _, other in itertools.islice(new_side, position + 1, None)
            if other.text.strip() and not _is_comment(other.text.strip())
        ),
        None,
    )
    if following is None:
        return None
    value = _SPLIT_VALUE.fullmatch(following.text)
    if value is None:
        return None
    off = "false" if key.group("key").lower() == "enabled" else "true"
    if _BOOLEAN[value.group("value").lower()] != off:
        return None
    if line.kind == "add":
        return line
    return following if following.kind == "add" else None


def _removed_packs(file: FileDiff, sides: _Sides) -> list[PatchEdit]:
    """Removed lines naming a pack in a pack list, that no added line restores."""
    restored = {_normal(line.text) for line in _added(file)}
    added_items: dict[str, set[str]] = {}
    for line in _added(file):
        setting = _setting(line.text)
        if setting is not None and setting.raw_value.startswith("["):
            added_items.setdefault(setting.key, set()).update(_inline_items(setting.raw_value))
    tabular = _is_tabular(file.path)
    found: list[PatchEdit] = []
    for number, hunk in enumerate(file.hunks):
        for index, line in enumerate(hunk.lines):
            stripped = line.text.strip()
            if line.kind != "remove" or not stripped or _is_comment(stripped):
                continue
            if _normal(line.text) in restored:
                continue
            if _names_pack(line.text, tabular, sides.of(number, index, "old"), added_items):
                found.append(_edit("pack_disable", file.path, line.old_line, line.text))
    return found


def _names_pack(
    text: str, tabular: bool, context: _Context, added_items: dict[str, set[str]]
) -> bool:
    stripped = text.strip()
    if tabular and _TABLE_HEADER.fullmatch(stripped):
        return not _PACK_WORDS.isdisjoint(_word_set(stripped))
    setting = _setting(text)
    if setting is not None and setting.raw_value.startswith("["):
        if _PACK_WORDS.isdisjoint(_words(setting.key)):
            return False
        return bool(_inline_items(setting.raw_value) - added_items.get(setting.key, set()))
    owner = _owner_with_words(context)
    if owner is None or _PACK_WORDS.isdisjoint(_word_set(owner)):
        return False
    item = stripped.startswith(("- ", "{")) or _LIST_ITEM.fullmatch(stripped) is not None
    return (
        item
        or (setting is not None and setting.name in _PACK_ITEM_KEYS)
        or _open_key(text) is not None
    )


# --- severity_downgrade (monitored configs) ---------------------------------------------------

_HIGH_LEVELS = frozenset({"error"})
_LOW_LEVELS = frozenset({"warning", "warn", "info", "note", "off", "none", "ignore", "hint"})
_LOG_WORDS = frozenset({"log", "logs", "logging", "logger", "loglevel"})
_RULES_WORDS = frozenset({"rules"})
#: Keys that hold a level as an attribute of something else (`severity: ERROR` of a rule):
#: the same key belongs to many rules, so such keys are only paired within one hunk.
_ATTRIBUTE_WORDS = frozenset({"severity", "level", "levels"})
_RULE_OFF = frozenset({"off", "0"})


@dataclass(frozen=True, slots=True)
class _Level:
    """A setting's key at a level, on one line of a hunk."""

    hunk: int
    index: int
    line: DiffLine
    pair: _Pair
    position: int


_LevelOf = Callable[[_Level], Literal["high", "low"] | None]


def severity_downgrades(file: FileDiff) -> list[PatchEdit]:
    """A rule's level lowered from error: changed, overridden, or (ESLint) switched off."""
    eslint = _is_eslint_config(file.path)
    script = file.path.lower().endswith(_SCRIPTS)
    sides = _Sides(file)
    entries: list[_Level] = []
    for number, hunk in enumerate(file.hunks):
        for index, line in enumerate(hunk.lines):
            for position, pair in enumerate(_level_pairs(line.text, eslint, script)):
                if _LOG_WORDS.isdisjoint(_words(pair.key)):
                    entries.append(_Level(number, index, line, pair, position))

    def level(entry: _Level) -> Literal["high", "low"] | None:
        numeric = entry.pair.value in ("0", "1", "2") and (eslint or _in_rules(entry, sides))
        return _level(entry.pair.value, numeric)

    # Rule names at error anywhere in the diff (removed or shown unchanged): in a rules map,
    # the same key added lower elsewhere (another hunk, an override, a duplicate) wins.
    high: set[str] = set()
    for entry in entries:
        shown = entry.line.kind != "add" and not _is_attribute(entry.pair.key)
        if shown and level(entry) == "high":
            high.add(entry.pair.key)
    flagged = _paired_downgrades(entries, level)
    for entry in entries:
        if entry.line.kind != "add" or _is_attribute(entry.pair.key) or level(entry) != "low":
            continue
        if (entry.hunk, entry.index) in flagged:
            continue
        in_rules = eslint or _in_rules(entry, sides)
        overridden = in_rules and entry.pair.key in high
        if overridden or (eslint and _eslint_rule_off(entry, sides)):
            flagged[(entry.hunk, entry.index)] = entry.line
    # One edit per line, however many of its settings were lowered.
    return [
        _edit("severity_downgrade", file.path, line.new_line, line.text)
        for line in flagged.values()
    ]


def _level_pairs(text: str, eslint: bool, script: bool) -> list[_Pair]:
    """The settings whose levels count: every one on an ESLint line, else the line's first."""
    if eslint:
        return _pairs_on(text, script)
    setting = _setting(text)
    return [] if setting is None else [_Pair(setting.key, setting.value, False)]


def _paired_downgrades(entries: list[_Level], level: _LevelOf) -> dict[tuple[int, int], DiffLine]:
    """A removed setting at error and an added one of the same key lower, in one hunk.

    Added settings are paired in order, each with the first not yet paired removed
    setting of its key in the hunk.
    """
    found: dict[tuple[int, int], DiffLine] = {}
    removed: dict[tuple[int, str], deque[_Level]] = {}
    for entry in entries:
        if entry.line.kind == "context":
            continue
        key = (entry.hunk, entry.pair.key)
        if entry.line.kind == "remove":
            removed.setdefault(key, deque()).append(entry)
            continue
        candidates = removed.get(key)
        if not candidates:
            continue
        old = candidates.popleft()
        if level(old) == "high" and level(entry) == "low":
            found[(entry.hunk, entry.index)] = entry.line
    return found


def _is_attribute(key: str) -> bool:
    return not _ATTRIBUTE_WORDS.isdisjoint(_words(key.rsplit(".", 1)[-1]))


def _in_rules(entry: _Level, sides: _Sides) -> bool:
    """Whether the setting's line or its context mentions `rules`."""
    if _word_set(entry.line.text) >= _RULES_WORDS:
        return True
    return _mentions(sides.of_line(entry.hunk, entry.index, entry.line).texts, _RULES_WORDS)


def _eslint_rule_off(entry: _Level, sides: _Sides) -> bool:
    """An ESLint rule set to `off`/`0` directly in a `rules` object (not in a rule's options)."""
    if entry.pair.value not in _RULE_OFF or entry.pair.nested:
        return False
    context = sides.of_line(entry.hunk, entry.index, entry.line)
    owner = _owner_with_words(context)
    in_rules_object = owner is None or _word_set(owner) >= _RULES_WORDS
    if entry.position > 0:
        # `rules: { 'a': 'off' }`: the rules object opens on the line itself.
        return in_rules_object or _word_set(entry.line.text) >= _RULES_WORDS
    return in_rules_object


def _level(value: str, numeric: bool) -> Literal["high", "low"] | None:
    if value in _HIGH_LEVELS or (numeric and value == "2"):
        return "high"
    if value in _LOW_LEVELS or (numeric and value in ("0", "1")):
        return "low"
    return None


# --- gate_config_weaken (gate configs) -------------------------------------------------------

_CHECK_WORDS = frozenset({"probe", "probes", "check", "checks"})
_CHECK_LIST_WORDS = _vocabulary(
    "probe probes check checks required protected directives configs select enable testpaths"
)
_STRONG_TRUE = frozenset({"strict", "enforce", "enforced", "required", "enabled", "blocking"})
_STRONG_FALSE = _vocabulary(
    "skip disabled optional allowfailure allow_failure ignore_errors ignore_outcome "
    "continue_on_error"
)
_ALLOW_TABLE = re.compile(r"\[\[\s*guard\s*\.\s*allow\s*\]\]")
#: The guard's own lists (gate.toml's `[guard]`): set anew, each must keep its defaults.
_GUARD_LISTS: Mapping[str, frozenset[str]] = {
    "protected": frozenset(DEFAULT_PROTECTED),
    "suppression_directives": frozenset(DEFAULT_SUPPRESSION_DIRECTIVES),
    "monitored_configs": frozenset(DEFAULT_MONITORED_CONFIGS),
    "gate_configs": frozenset(DEFAULT_GATE_CONFIGS),
}
_EXCLUSION_WORDS = _vocabulary(
    "ignore ignores ignored exclude excludes excluded omit skip skips deselect "
    "disable norecursedirs"
)
#: pytest options that run fewer tests (or none), or stop measuring coverage.
_FEWER_TESTS = _vocabulary(
    "--deselect --ignore --ignore-glob -k -m --co --collect-only --lf --last-failed "
    "--sw --stepwise --no-cov --cov-fail-under --continue-on-collection-errors"
)
_COMMAND_KEYS = frozenset({"argv", "args", "cmd", "command", "commands", "run", "script"})
_OPTION_WORD = re.compile(r"""[^\s"'`,\[\]()]+""")
_BRACKETS_ONLY = re.compile(r"[\[\](){},\s]*")
_INLINE_COMMENT = re.compile(r"\s[#;]")
_ITEM_SEPARATORS = re.compile(r"[\s,]+")
#: git's built-in diff drivers: they only pick hunk headers, never rewrite the text.
_BUILTIN_DIFF_DRIVERS = _vocabulary(
    "ada bash bibtex cpp csharp css dts elixir fortran fountain golang html java "
    "kotlin markdown matlab objc pascal perl php python ruby rust scheme tex"
)


@dataclass(frozen=True, slots=True)
class _Change:
    """A changed line of a gate config with the setting it makes, if any."""

    hunk: int
    index: int
    line: DiffLine
    setting: _Setting | None


def gate_config_weakenings(file: FileDiff) -> list[PatchEdit]:
    """Thresholds loosened, switches turned off, checks removed, exclusions or allowances added."""
    name = _name(file.path)
    if name == ".gitattributes":
        return _gitattributes_weakenings(file)
    if _is_ignore_file(name):
        return [
            _edit("gate_config_weaken", file.path, line.new_line, line.text)
            for line in _added(file)
            if line.text.strip() and not line.text.strip().startswith(("#", "!"))
        ]
    removed: list[_Change] = []
    added: list[_Change] = []
    for number, hunk in enumerate(file.hunks):
        for index, line in enumerate(hunk.lines):
            if line.kind != "context":
                change = _Change(number, index, line, _setting(line.text))
                (removed if line.kind == "remove" else added).append(change)
    found = [
        _edit("gate_config_weaken", file.path, change.line.new_line, change.line.text)
        for change in added
        if _ALLOW_TABLE.fullmatch(change.line.text.strip())
    ]
    sides = _Sides(file)
    found.extend(_loosened_settings(file.path, removed, added, sides))
    found.extend(_removed_checks(file, removed, added, sides))
    found.extend(_fewer_tests(file.path, removed, added, sides))
    found.extend(_added_exclusions(file.path, removed, added, sides))
    found.extend(_narrowed_guard_lists(file, removed, added))
    return found


def gate_config_gone(file: FileDiff, policy: GuardPolicy) -> PatchEdit | None:
    """A gate config deleted, or renamed to a path that is no gate config (file-level).

    Files that only list exclusions (`.gitattributes`, `.*ignore`) are exempt: deleting
    them takes exclusions away.
    """
    old = file.old_path
    if old is None or not match_any(policy.gate_configs, old):
        return None
    name = _name(old)
    if name == ".gitattributes" or _is_ignore_file(name):
        return None
    gone = file.status == "deleted" or (
        file.status == "renamed"
        and not (file.new_path is not None and match_any(policy.gate_configs, file.new_path))
    )
    if not gone:
        return None
    return _edit("gate_config_weaken", old, None, _describe_change(file, _mode_changed(file)))


def locked_file_change(file: FileDiff, locked: Iterable[str]) -> PatchEdit | None:
    """Any change to a locked file (the config the gate runs with), at its first changed line.

    Whatever such a change does, it changes the rules the change is judged by.
    """
    names = set(locked)
    touched = sorted(p for p in (file.old_path, file.new_path) if p is not None and p in names)
    if not touched:
        return None
    path = touched[0]
    first = next(
        (
            line.new_line if line.kind == "add" else line.old_line
            for hunk in file.hunks
            for line in hunk.lines
            if line.kind != "context"
        ),
        None,
    )
    return _edit(
        "gate_config_weaken",
        path,
        first,
        f"{_describe_change(file, _mode_changed(file))}: the gate config this gate runs with",
    )


def _is_ignore_file(name: str) -> bool:
    return name.startswith(".") and name.endswith("ignore")


def _pairs(
    removed: list[_Change], added: list[_Change]
) -> tuple[list[tuple[_Change, _Change]], list[_Change], list[_Change]]:
    """Pair removed and added settings of the same key, in the same hunk first, in order.

    Returns the pairs, the removed settings left over and the added ones left over.
    """
    pool: dict[str, list[_Change]] = {}
    for change in added:
        if change.setting is not None:
            pool.setdefault(change.setting.key, []).append(change)
    paired: list[tuple[_Change, _Change]] = []
    unpaired: list[_Change] = []
    for same_hunk in (True, False):
        unpaired = []
        for change in removed:
            if change.setting is None:
                continue
            options = pool.get(change.setting.key, [])
            match = next((a for a in options if a.hunk == change.hunk or not same_hunk), None)
            if match is None:
                unpaired.append(change)
                continue
            options.remove(match)
            paired.append((change, match))
        removed = unpaired
    left_added = [change for options in pool.values() for change in options]
    return paired, unpaired, left_added


def _loosened_settings(
    path: str, removed: list[_Change], added: list[_Change], sides: _Sides
) -> list[PatchEdit]:
    found: list[PatchEdit] = []
    paired, unpaired, left_added = _pairs(removed, added)
    for old, new in paired:
        if old.setting and new.setting and _weaker(old.setting, new.setting):
            found.append(_edit("gate_config_weaken", path, new.line.new_line, new.line.text))
    for old in unpaired:
        setting = old.setting
        if setting is not None and (
            (_threshold_direction(setting.key) is not None and _number(setting.value) is not None)
            or _is_strong(setting)
        ):
            found.append(_edit("gate_config_weaken", path, old.line.old_line, old.line.text))
    for new in left_added:
        setting = new.setting
        if setting is None:
            continue
        strong, value = _strong_value(setting.key), _BOOLEAN.get(setting.value)
        if strong is None or value is None or value == strong:
            continue
        # A switch set weak in something the patch creates (a new probe) weakens nothing.
        if not sides.of(new.hunk, new.index, "new").owner_added:
            found.append(_edit("gate_config_weaken", path, new.line.new_line, new.line.text))
    return found


def _is_strong(setting: _Setting) -> bool:
    """Whether a hardening switch is at its strong value (`strict = true`)."""
    strong = _strong_value(setting.key)
    return strong is not None and _BOOLEAN.get(setting.value) == strong


def _weaker(old: _Setting, new: _Setting) -> bool:
    direction = _threshold_direction(old.key)
    before, after = _number(old.value), _number(new.value)
    if direction is not None and before is not None and after is not None:
        return after < before if direction == "lower" else after > before
    strong = _strong_value(old.key)
    return (
        strong is not None
        and _BOOLEAN.get(old.value) == strong
        and _BOOLEAN.get(new.value, new.value) != strong
    )


def _threshold_direction(key: str) -> Literal["lower", "higher"] | None:
    """Which way a numeric key weakens: `min_*` and thresholds lower, `max_*` higher."""
    words = set(_words(key.rsplit(".", 1)[-1]))
    if words & {"min", "minimum"}:
        return "lower"
    if words & {"max", "maximum", "allowed", "tolerance", "tolerated"}:
        return "higher"
    if words & {"threshold", "coverage", "score", "under"}:
        return "lower"
    return None


def _strong_value(key: str) -> str | None:
    """For a boolean that hardens the gate, the value that does (`strict` -> "true")."""
    name = "_".join(_words(key.rsplit(".", 1)[-1]))
    if name in _STRONG_TRUE or name.startswith("fail_on"):
        return "true"
    if name in _STRONG_FALSE:
        return "false"
    return None


def _number(value: str) -> float | None:
    return float(value.rstrip("%")) if _NUMBER.fullmatch(value) else None


def _removed_checks(
    file: FileDiff, removed: list[_Change], added: list[_Change], sides: _Sides
) -> list[PatchEdit]:
    """Removed lines naming a check or probe that no added line restores."""
    kept = {_normal(change.line.text) for change in added}
    added_items: dict[str, set[str]] = {}
    for change in added:
        if change.setting is not None and change.setting.raw_value.startswith("["):
            items = _inline_items(change.setting.raw_value)
            added_items.setdefault(change.setting.key, set()).update(items)
    found: list[PatchEdit] = []
    for change in removed:
        if _normal(change.line.text) in kept:
            continue
        context = sides.of(change.hunk, change.index, "old")
        if _names_check(change, context, added_items):
            found.append(
                _edit("gate_config_weaken", file.path, change.line.old_line, change.line.text)
            )
    return found


def _names_check(change: _Change, context: _Context, added_items: dict[str, set[str]]) -> bool:
    setting = change.setting
    stripped = change.line.text.strip()
    if setting is not None and setting.name in ("name", "id"):
        return not context.known or _mentions(context.texts, _CHECK_WORDS)
    if setting is not None and setting.raw_value.startswith("["):
        if not _CHECK_LIST_WORDS.intersection(_words(setting.key)):
            return False
        return bool(_inline_items(setting.raw_value) - added_items.get(setting.key, set()))
    if stripped.startswith("- ") or _LIST_ITEM.fullmatch(stripped):
        parent = context.texts[-1] if context.texts else ""
        parent_setting = _setting(parent)
        parent_key = parent_setting.key if parent_setting is not None else parent
        return not _CHECK_LIST_WORDS.isdisjoint(_words(parent_key))
    return False


def _inline_items(raw: str) -> set[str]:
    body = raw[1:].split("]", 1)[0]
    return {item.strip().strip("\"'") for item in body.split(",") if item.strip()}


def _option_pairs(text: str, options: frozenset[str]) -> set[tuple[str, str]]:
    """Each option of `options` on the line with the word after it (its argument, if any)."""
    words = _OPTION_WORD.findall(text)
    pairs: set[tuple[str, str]] = set()
    for position, word in enumerate(words):
        if word.split("=", 1)[0] in options:
            separate = "=" not in word and position + 1 < len(words)
            pairs.add((word, words[position + 1] if separate else ""))
    return pairs


def _fewer_tests(
    path: str, removed: list[_Change], added: list[_Change], sides: _Sides
) -> list[PatchEdit]:
    """pytest options that run fewer tests, added to `addopts` or to a command."""
    before: set[tuple[str, str]] = set()
    for change in removed:
        before |= _option_pairs(change.line.text, _FEWER_TESTS)
    found: list[PatchEdit] = []
    for change in added:
        key = _governing_key(change, sides)
        if key == "addopts":
            options = _FEWER_TESTS
        elif key in _COMMAND_KEYS:
            options = _FEWER_TESTS - {"-m"}  # `python -m pytest` is how tests are started
        else:
            continue
        if _option_pairs(change.line.text, options) - before:
            found.append(_edit("gate_config_weaken", path, change.line.new_line, change.line.text))
    return found


def _governing_key(change: _Change, sides: _Sides) -> str | None:
    """The key a line sets, or else the key whose value it continues (its owner's)."""
    if change.setting is not None:
        return change.setting.name
    own = _open_key(change.line.text)
    if own is not None:
        return own.rsplit(".", 1)[-1].lower()
    context = sides.of(change.hunk, change.index, "new")
    if not context.enclosing:
        return None
    owner = _open_key(context.enclosing[-1])
    return owner.rsplit(".", 1)[-1].lower() if owner is not None else None


def _is_exclusion_key(key: str) -> bool:
    return not _EXCLUSION_WORDS.isdisjoint(_words(key.rsplit(".", 1)[-1]))


def _exclusion_table(text: str) -> bool:
    """A TOML/INI table header whose last component names exclusions (`per-file-ignores`)."""
    stripped = text.strip()
    if not _TABLE_HEADER.fullmatch(stripped):
        return False
    body = stripped.split("]", 1)[0].strip("[ ")
    return _is_exclusion_key(body)


def _value_items(setting: _Setting) -> set[str]:
    raw = setting.raw_value
    if raw.startswith("["):
        return _inline_items(raw)
    raw = _INLINE_COMMENT.split(raw, maxsplit=1)[0]
    return {item.strip("\"'") for item in _ITEM_SEPARATORS.split(raw) if item.strip("\"'")}


def _item_text(text: str) -> str:
    """A list item or continuation line as an item: trimmed, without `- `, comma and quotes."""
    item = _normal(text)
    item = item.removeprefix("- ").strip()
    return item.strip("\"'")


def _added_exclusions(
    path: str, removed: list[_Change], added: list[_Change], sides: _Sides
) -> list[PatchEdit]:
    """Items added to a list of exclusions (`ignore`, `exclude`, `omit`, `per-file-ignores`)."""
    removed_items: dict[str, set[str]] = {}
    for change in removed:
        if change.setting is not None:
            removed_items.setdefault(change.setting.key, set()).update(_value_items(change.setting))
    removed_texts = {_item_text(change.line.text) for change in removed}
    found: list[PatchEdit] = []
    for change in added:
        stripped = change.line.text.strip()
        if not stripped or _is_comment(stripped) or _BRACKETS_ONLY.fullmatch(stripped):
            continue
        context = sides.of(change.hunk, change.index, "new")
        owner = context.enclosing[-1] if context.enclosing else None
        owner_key = _open_key(owner) if owner is not None else None
        if owner_key is not None and _is_exclusion_key(owner_key):
            # An item of a list (or a continuation line) under an exclusion key.
            if _item_text(change.line.text) in removed_texts:
                continue
        elif change.setting is not None and (
            _is_exclusion_key(change.setting.key) or (owner is not None and _exclusion_table(owner))
        ):
            # A boolean is a switch, not a list; an open key's items follow on their own lines.
            if change.setting.value in _BOOLEAN or _open_key(change.line.text) is not None:
                continue
            items = _value_items(change.setting)
            if not items - removed_items.get(change.setting.key, set()):
                continue
        else:
            continue
        found.append(_edit("gate_config_weaken", path, change.line.new_line, change.line.text))
    return found


def _narrowed_guard_lists(
    file: FileDiff, removed: list[_Change], added: list[_Change]
) -> list[PatchEdit]:
    """One of the guard's own lists set anew (no removed line of its key) without a default.

    A list replaced in place is judged by rule 5 (its removed items); a list added where
    there was none replaces the default, so every default item must still be in it.
    """
    replaced = {_list_key(change) for change in removed}
    found: list[PatchEdit] = []
    for change in added:
        key = _list_key(change)
        if key is None or key not in _GUARD_LISTS or key in replaced:
            continue
        text = change.line.text
        # The value from its `[`: on the line (`key = ["a"]`, `key = ["a",`) or opened (`key = [`).
        opening = change.setting.raw_value if change.setting is not None else "["
        if not opening.startswith("[") or "[" not in text:
            continue
        if "]" in opening:
            items = _inline_items(opening)
        else:
            items = _items_below(file.hunks[change.hunk], change.index, opening)
        if _GUARD_LISTS[key] - items:
            found.append(_edit("gate_config_weaken", file.path, change.line.new_line, text))
    return found


def _list_key(change: _Change) -> str | None:
    """The name of the key a line sets, whether its value is on the line or below it."""
    if change.setting is not None:
        return change.setting.name
    opened = _open_key(change.line.text)
    return opened.rsplit(".", 1)[-1].lower() if opened is not None else None


def _items_below(hunk: Hunk, index: int, opening: str) -> set[str]:
    """The items of a list opened on line `index` and closed by a later `]` (or the hunk's end)."""
    items = _split_items(opening.split("[", 1)[1])
    following = itertools.islice(hunk.lines, index + 1, None)
    for line in following:
        if line.kind == "remove":
            continue
        body, closed = line.text.split("]", 1)[0], "]" in line.text
        items |= _split_items(body)
        if closed:
            break
    return items


def _split_items(body: str) -> set[str]:
    return {item.strip().strip("\"'") for item in body.split(",") if item.strip()}


def _gitattributes_weakenings(file: FileDiff) -> list[PatchEdit]:
    """Attributes that make git show a text file as binary, rewrite its diff or hide it."""
    found: list[PatchEdit] = []
    for line in _added(file):
        words = line.text.split()
        if not words or words[0].startswith("#"):
            continue
        pattern, attributes = words[0], words[1:]
        if not any(_hides(attribute) for attribute in attributes):
            continue
        if not pattern.startswith("[attr]") and _binary_only(pattern):
            continue
        found.append(_edit("gate_config_weaken", file.path, line.new_line, line.text))
    return found


def _hides(attribute: str) -> bool:
    if attribute in ("-diff", "binary", "linguist-generated", "linguist-vendored"):
        return True
    if attribute in ("linguist-generated=true", "linguist-vendored=true"):
        return True
    if attribute.startswith("filter="):
        return True
    return attribute.startswith("diff=") and attribute[5:] not in _BUILTIN_DIFF_DRIVERS


def _binary_only(pattern: str) -> bool:
    """A pattern whose file names all end in one extension that is not a text extension."""
    last = pattern.rstrip("/").rsplit("/", 1)[-1]
    _, dot, extension = last.rpartition(".")
    if not dot or not extension or any(char in extension for char in "*?[]\\"):
        return False
    return extension.lower() not in TEXT_EXTENSIONS


# --- all rules for one file -------------------------------------------------------------------


def file_edits(file: FileDiff, policy: GuardPolicy, *, automated: bool = False) -> list[PatchEdit]:
    """Every forbidden edit in one file's diff, in no particular order."""
    found: list[PatchEdit] = []
    spec = spec_modification(file, policy, automated=automated)
    if spec is not None:
        found.append(spec)
    gone = gate_config_gone(file, policy)
    if gone is not None:
        found.append(gone)
    if file.binary:
        protected = any(
            path is not None and match_any(policy.protected, path)
            for path in (file.old_path, file.new_path)
        )
        binary = None if protected else binary_change(file, policy, automated=automated)
        return found if binary is None else [*found, binary]
    if not file.hunks:
        return found
    found.extend(suppression_insertions(file, policy.suppression_directives))
    found.extend(allowlist_weakenings(file))
    found.extend(auth_bypasses(file))
    if match_any(policy.monitored_configs, file.path):
        found.extend(pack_disables(file))
        found.extend(severity_downgrades(file))
    if match_any(policy.gate_configs, file.path):
        found.extend(gate_config_weakenings(file))
    return found
