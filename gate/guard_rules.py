"""The honesty guard's rules: which changes in one file's diff are forbidden edits.

One function per edit type; `file_edits` runs the ones that apply to a file.
Each rule is deliberately narrow and line-based (a diff shows only a few lines
around each change, never the whole file); specs/honesty-guard.md states every
rule exactly, with its limits. Rules only look at text files: a binary change
can only be a `spec_modification`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from gate._globs import match_any
from gate.config import GuardPolicy
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

_MAX_EVIDENCE = 512
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_COMMENT_STARTS = ("#", "//", ";")
_TABULAR = (".toml", ".ini", ".cfg")
_TABLE_HEADER = re.compile(r"\[\[?[^\[\]]+\]\]?\s*(?:[#;].*)?")
_KEY_VALUE = re.compile(
    r"""\s*(?:-\s+)?(?P<key>"[^"]*"|'[^']*'|[A-Za-z0-9_.$@/-]+)\s*(?::(?!:)|=(?!=))\s*(?P<value>.*)"""
)
_SCALAR = re.compile(r"""\[?\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s,\]\}#;]+))""")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?%?")

# --- evidence and small text helpers ---------------------------------------------------


def evidence(text: str) -> str:
    """A changed line as evidence: trimmed, control characters replaced, at most 512 chars."""
    cleaned = _UNPRINTABLE.sub("\ufffd", text.replace("\t", " ").strip())
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


def string_spans(line: str) -> list[tuple[int, int]]:
    """The [start, end) spans of the quoted strings ('...', "...", `...`) on one line.

    Backslash escapes the next character inside a string. A quote with no closing
    quote on the line opens nothing (so the apostrophe in `# don't` is ignored).
    """
    spans: list[tuple[int, int]] = []
    position, length = 0, len(line)
    while position < length:
        quote = line[position]
        if quote in "'\"`":
            end = position + 1
            while end < length and line[end] != quote:
                end += 2 if line[end] == "\\" else 1
            if end < length:
                spans.append((position, end + 1))
                position = end + 1
                continue
        position += 1
    return spans


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


def _edit(kind: PatchEditType, path: str, line: int | None, text: str) -> PatchEdit:
    return PatchEdit(
        type=kind, severity=SEVERITY[kind], file=path, line=line, evidence=evidence(text)
    )


def _added(file: FileDiff) -> Iterator[DiffLine]:
    for hunk in file.hunks:
        for line in hunk.lines:
            if line.kind == "add":
                yield line


# --- where a line sits: its context in the hunk ------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    """The lines a hunk shows above a line that enclose it, outermost first.

    `known` is false when the hunk does not show where the line sits: no top-level
    line (indentation 0), no `[table]` header (TOML/INI) and no section header.
    """

    known: bool
    texts: tuple[str, ...]


def _contexts(hunk: Hunk, side: Literal["old", "new"], tabular: bool) -> dict[int, _Context]:
    """The context of every line on one side of a hunk, keyed by its index in `hunk.lines`."""
    kinds = ("context", "remove") if side == "old" else ("context", "add")
    at_top = (hunk.old_start if side == "old" else hunk.new_start) <= 1
    section = (hunk.section.strip(),) if hunk.section.strip() else ()
    header: str | None = None
    stack: list[tuple[int, str]] = []
    found: dict[int, _Context] = {}
    for index, line in enumerate(hunk.lines):
        if line.kind not in kinds:
            continue
        stripped = line.text.strip()
        if tabular and _TABLE_HEADER.fullmatch(stripped):
            header, stack = stripped, []
            found[index] = _Context(True, ())
            continue
        indent = len(line.text) - len(line.text.lstrip())
        structural = bool(stripped) and not stripped.startswith(_COMMENT_STARTS)
        if structural:
            while stack and stack[-1][0] >= indent:
                stack.pop()
        parents = tuple(text for _, text in stack)
        if tabular:
            known = header is not None or at_top
            outer = (header,) if header is not None else section
        else:
            top_visible = at_top or indent == 0 or (bool(stack) and stack[0][0] == 0)
            known = top_visible or bool(section)
            outer = () if top_visible else section
        found[index] = _Context(known, outer + parents)
        if structural:
            stack.append((indent, stripped))
    return found


def _is_tabular(path: str) -> bool:
    return path.lower().endswith(_TABULAR)


# --- spec_modification --------------------------------------------------------------------


def spec_modification(file: FileDiff, policy: GuardPolicy) -> PatchEdit | None:
    """A change to a protected file, once per file (strict and non-strict rules differ)."""
    old_protected = file.old_path is not None and match_any(policy.protected, file.old_path)
    new_protected = file.new_path is not None and match_any(policy.protected, file.new_path)
    if not (old_protected or new_protected):
        return None
    status = file.status
    mode_change = (
        status not in ("added", "deleted")
        and file.old_mode is not None
        and file.old_mode != file.new_mode
    )
    changed = [line for hunk in file.hunks for line in hunk.lines if line.kind != "context"]
    if policy.strict:
        pure_move = status == "renamed" and old_protected and new_protected
        pure_move = pure_move and not (changed or file.binary or mode_change)
        blocks = not pure_move and not (status == "copied" and not new_protected)
    else:
        # Only what takes away from an existing spec: deletions, moves out, removed lines.
        changed = [line for line in changed if line.kind == "remove"]
        existing = old_protected and status in ("modified", "renamed")
        blocks = (
            (status == "deleted")
            or (status == "renamed" and old_protected and not new_protected)
            or (existing and (bool(changed) or file.binary))
        )
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


# --- suppression_insertion ------------------------------------------------------------------


@lru_cache(maxsize=64)
def _directive_pattern(directives: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation of every directive; `#[...` directives also match the inner `#![...`."""
    alternatives: list[str] = []
    for directive in sorted(directives, key=len, reverse=True):
        alternatives.append(re.escape(directive))
        if directive.startswith("#["):
            alternatives.append(re.escape("#!" + directive[1:]))
    return re.compile("|".join(alternatives))


def suppression_insertions(file: FileDiff, directives: tuple[str, ...]) -> list[PatchEdit]:
    """Added lines holding a suppression directive outside any quoted string."""
    if not directives:
        return []
    pattern = _directive_pattern(directives)
    found: list[PatchEdit] = []
    for line in _added(file):
        if pattern.search(line.text) is None:
            continue
        spans = string_spans(line.text)
        for match in pattern.finditer(line.text):
            if not any(start <= match.start() < end for start, end in spans):
                found.append(_edit("suppression_insertion", file.path, line.new_line, line.text))
                break
    return found


# --- allowlist_weaken and auth_bypass (any text file) ---------------------------------------

_Q = "[\"'`]?"
_ALLOWLIST_KEY = (
    r"(?:allow(?:ed)?[-_]?origins?|cors[-_]?(?:allowed[-_]?)?origins?|origins?"
    r"|access[-_]control[-_]allow[-_]origin|allowed[-_]?hosts"
    r"|(?:allowed[-_]?)?redirect[-_]?(?:allow[-_]?list|white[-_]?list|uris?|urls?|hosts|domains))"
)
#: A key of an origin/host/redirect allowlist and its separator; `open` when a list follows.
_ALLOWLIST_SETTING = re.compile(
    rf"(?i)(?<![\w-]){_Q}{_ALLOWLIST_KEY}{_Q}\s*(?:=>|[:=,]|\s)\s*(?P<open>[\[(])?"
)
_WILDCARD_VALUE = re.compile(rf"{_Q}\*{_Q}(?=\s*(?:[\]),;}}#]|//|$))")
_LIST_END = re.compile(r"[\])]")
_ALLOW_ALL = re.compile(
    rf"(?i)(?<![\w-]){_Q}cors[-_]?(?:origin[-_]?allow[-_]?all|allow[-_]?all[-_]?origins)"
    rf"{_Q}\s*(?::|=(?!=))\s*{_Q}(?:true|yes|on|1){_Q}(?![\w-])"
)
_PERMIT_ALL = re.compile(r"\bpermitAll\s*\(\s*\)")
_ALLOWLIST_HINT = re.compile(r"(?i)origin|redirect|allowed|permitall|cors")

_SEP = rf"{_Q}\s*(?::|=>|=(?!=))\s*"
_TRUE = rf"{_Q}(?:true|yes|on|1){_Q}(?![\w-])"
_FALSE = rf"{_Q}(?:false|no|off|0){_Q}(?![\w-])"
_AUTH_SETTINGS = (
    re.compile(
        rf"(?i)(?<![\w-]){_Q}(?:skip|no|disable|bypass)[-_]?auth(?:entication)?{_SEP}{_TRUE}"
    ),
    re.compile(
        rf"(?i)(?<![\w-]){_Q}(?:auth(?:entication)?[-_]?(?:required|enabled)"
        rf"|requires?[-_]?auth(?:entication)?){_SEP}{_FALSE}"
    ),
    re.compile(rf"(?i)(?<![\w-]){_Q}is[-_]?authenticated{_SEP}{_TRUE}"),
)
_TRAILING_COMMENT = r"(?:(?://|#|/\*).*)?"
# A definition (not a call): the name comes first, after modifiers, a return type or a receiver.
_AUTH_FUNCTION = re.compile(
    r"(?i)\s*(?:(?:public|private|protected|internal|static|async|override|final|export"
    r"|default|function|def|fun|func|get|virtual|bool|boolean)\s+|\([^)]*\)\s*)*"
    r"is_?authenticated\s*\([^)]*\)[^;{}=]*[{:]\s*" + _TRAILING_COMMENT
)
_RETURN_TRUE = re.compile(r"(?i)\s*return(?:\s*\(\s*true\s*\)|\s+true)\s*;?\s*" + _TRAILING_COMMENT)
_AUTH_HINT = re.compile(r"(?i)auth")


def allowlist_weakenings(file: FileDiff) -> list[PatchEdit]:
    """Added lines opening an origin/redirect/host allowlist to `*`, or `permitAll()`."""
    found: list[PatchEdit] = []
    for line in _added(file):
        text = line.text
        if _ALLOWLIST_HINT.search(text) is None:
            continue
        if _opens_to_everyone(text) or _ALLOW_ALL.search(text) or _PERMIT_ALL.search(text):
            found.append(_edit("allowlist_weaken", file.path, line.new_line, text))
    return found


def _opens_to_everyone(text: str) -> bool:
    """Whether an allowlist key on the line is set to `*`, alone or as an item of its list.

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
        if any(item.strip().strip("\"'`") == "*" for item in items):
            return True
        read_up_to = end
    return False


def auth_bypasses(file: FileDiff) -> list[PatchEdit]:
    """Added lines switching authentication off, or hard-coding an authenticated answer."""
    found: list[PatchEdit] = []
    for hunk in file.hunks:
        previous = ""  # the last non-blank line on the new side
        for line in hunk.lines:
            if line.kind == "remove":
                continue
            text = line.text
            if line.kind == "add" and (
                (_AUTH_HINT.search(text) and any(p.search(text) for p in _AUTH_SETTINGS))
                or (_RETURN_TRUE.fullmatch(text) and _AUTH_FUNCTION.fullmatch(previous))
            ):
                found.append(_edit("auth_bypass", file.path, line.new_line, text))
            if text.strip():
                previous = text
    return found


# --- pack_disable and severity_downgrade (monitored configs) --------------------------------

_PACK_WORDS = frozenset({"pack", "packs", "policy", "policies"})
_PACK_OFF = (
    re.compile(rf"(?i)(?<![\w-]){_Q}enabled{_SEP}{_FALSE}"),
    re.compile(rf"(?i)(?<![\w-]){_Q}disabled{_SEP}{_TRUE}"),
)
_HIGH_LEVELS = frozenset({"error"})
_LOW_LEVELS = frozenset({"warning", "warn", "info", "note", "off", "none", "ignore", "hint"})
_LOG_WORDS = frozenset({"log", "logs", "logging", "logger", "loglevel"})
_RULES_WORDS = frozenset({"rules"})


def pack_disables(file: FileDiff) -> list[PatchEdit]:
    """Added `enabled: false` (or `disabled: true`) lines inside a policy pack."""
    found: list[PatchEdit] = []
    tabular = _is_tabular(file.path)
    for hunk in file.hunks:
        contexts: dict[int, _Context] | None = None
        for index, line in enumerate(hunk.lines):
            if line.kind != "add" or not any(p.search(line.text) for p in _PACK_OFF):
                continue
            if contexts is None:
                contexts = _contexts(hunk, "new", tabular)
            context = contexts[index]
            if not context.known or _mentions((line.text, *context.texts), _PACK_WORDS):
                found.append(_edit("pack_disable", file.path, line.new_line, line.text))
    return found


def severity_downgrades(file: FileDiff) -> list[PatchEdit]:
    """A key at `error` removed and the same key added at a lower level, in one hunk."""
    found: list[PatchEdit] = []
    tabular = _is_tabular(file.path)
    eslint = file.path.rsplit("/", 1)[-1].lower().startswith((".eslintrc", "eslint.config"))
    for hunk in file.hunks:
        removed: dict[str, list[tuple[int, _Setting]]] = {}
        added: list[tuple[int, DiffLine, _Setting]] = []
        for index, line in enumerate(hunk.lines):
            setting = _setting(line.text) if line.kind != "context" else None
            if setting is None or not _LOG_WORDS.isdisjoint(_words(setting.key)):
                continue
            if line.kind == "remove":
                removed.setdefault(setting.key, []).append((index, setting))
            else:
                added.append((index, line, setting))
        if not removed or not added:
            continue
        old_contexts = _contexts(hunk, "old", tabular)
        new_contexts = _contexts(hunk, "new", tabular)
        for index, line, setting in added:
            candidates = removed.get(setting.key)
            if not candidates:
                continue
            old_index, old_setting = candidates.pop(0)
            numeric = (
                eslint
                or _mentions(old_contexts[old_index].texts, _RULES_WORDS)
                or _mentions(new_contexts[index].texts, _RULES_WORDS)
            )
            if _level(old_setting.value, numeric) == "high" and (
                _level(setting.value, numeric) == "low"
            ):
                found.append(_edit("severity_downgrade", file.path, line.new_line, line.text))
    return found


def _level(value: str, numeric: bool) -> Literal["high", "low"] | None:
    if value in _HIGH_LEVELS or (numeric and value == "2"):
        return "high"
    if value in _LOW_LEVELS or (numeric and value in ("0", "1")):
        return "low"
    return None


# --- gate_config_weaken (gate configs) -------------------------------------------------------

_CHECK_WORDS = frozenset({"probe", "probes", "check", "checks"})
_CHECK_LIST_WORDS = frozenset(
    {"probe", "probes", "check", "checks", "required", "protected", "directives", "configs"}
)
_STRONG_TRUE = frozenset({"strict", "enforce", "enforced", "required", "enabled", "blocking"})
_STRONG_FALSE = frozenset({"skip", "disabled", "optional", "allowfailure", "allow_failure"})
_ALLOW_TABLE = re.compile(r"\[\[\s*guard\s*\.\s*allow\s*\]\]")


@dataclass(frozen=True, slots=True)
class _Change:
    """A changed line of a gate config with the setting it makes, if any."""

    hunk: int
    index: int
    line: DiffLine
    setting: _Setting | None


def gate_config_weakenings(file: FileDiff) -> list[PatchEdit]:
    """Thresholds loosened, strictness switched off, checks removed, allowances added."""
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
    found.extend(_loosened_settings(file.path, removed, added))
    found.extend(_removed_checks(file, removed, added))
    return found


def _pairs(
    removed: list[_Change], added: list[_Change]
) -> tuple[list[tuple[_Change, _Change]], list[_Change]]:
    """Pair removed and added settings of the same key, in the same hunk first, in order."""
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
    return paired, unpaired


def _loosened_settings(path: str, removed: list[_Change], added: list[_Change]) -> list[PatchEdit]:
    found: list[PatchEdit] = []
    paired, unpaired = _pairs(removed, added)
    for old, new in paired:
        if old.setting and new.setting and _weaker(old.setting, new.setting):
            found.append(_edit("gate_config_weaken", path, new.line.new_line, new.line.text))
    for old in unpaired:
        setting = old.setting
        if setting is not None and (
            (_threshold_direction(setting.key) is not None and _number(setting.value) is not None)
            or _strong_value(setting.key) == setting.value
        ):
            found.append(_edit("gate_config_weaken", path, old.line.old_line, old.line.text))
    return found


def _weaker(old: _Setting, new: _Setting) -> bool:
    direction = _threshold_direction(old.key)
    before, after = _number(old.value), _number(new.value)
    if direction is not None and before is not None and after is not None:
        return after < before if direction == "lower" else after > before
    strong = _strong_value(old.key)
    return strong is not None and old.value == strong and new.value != strong


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
    file: FileDiff, removed: list[_Change], added: list[_Change]
) -> list[PatchEdit]:
    """Removed lines naming a check or probe that no added line restores."""
    kept = {_normal(change.line.text) for change in added}
    added_items: dict[str, set[str]] = {}
    for change in added:
        if change.setting is not None and change.setting.raw_value.startswith("["):
            items = _inline_items(change.setting.raw_value)
            added_items.setdefault(change.setting.key, set()).update(items)
    tabular = _is_tabular(file.path)
    contexts: dict[int, dict[int, _Context]] = {}
    found: list[PatchEdit] = []
    for change in removed:
        if _normal(change.line.text) in kept:
            continue
        if change.hunk not in contexts:
            contexts[change.hunk] = _contexts(file.hunks[change.hunk], "old", tabular)
        context = contexts[change.hunk][change.index]
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


_LIST_ITEM = re.compile(r"""(?:"[^"]*"|'[^']*')\s*,?""")


def _inline_items(raw: str) -> set[str]:
    body = raw[1:].split("]", 1)[0]
    return {item.strip().strip("\"'") for item in body.split(",") if item.strip()}


def _normal(text: str) -> str:
    return text.strip().rstrip(",").strip()


# --- all rules for one file -------------------------------------------------------------------


def file_edits(file: FileDiff, policy: GuardPolicy) -> list[PatchEdit]:
    """Every forbidden edit in one file's diff, in no particular order."""
    found: list[PatchEdit] = []
    spec = spec_modification(file, policy)
    if spec is not None:
        found.append(spec)
    if file.binary or not file.hunks:
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
