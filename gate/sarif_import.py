"""SARIF 2.1.0 results as `finding.reported` payloads (specs/findings-import.md, "SARIF").

Only what the mapping reads is checked, and that strictly: a member of the
wrong type or outside its enumeration is a problem named by its JSON pointer,
never silently read as absent. Everything else in a log (code flows, graphs,
notifications, other property-bag members) is ignored, as SARIF's
extensibility intends. JSON `null` reads as an absent member.

This module also holds what both findings formats share: the problem list a
failed import reports, the skipped-result record and the finding-id derivation.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal, NamedTuple
from urllib.parse import unquote, urlsplit

import msgspec

from ledger.model._rules import check_relative_path
from ledger.model.finding import Evidence, FindingCategory, FindingV1, Severity

SARIF_VERSION = "2.1.0"
#: `Text` and `RequiredText` hold at most this many characters; longer texts are cut.
MAX_TEXT = 16_384
_CUT_MARK = "\u2026"
_MAX_LABEL = 200
_MAX_TOOL_SEGMENT = 64
_LABEL_HASH_CHARS = 16
_ID_DOMAIN = "ledgerd-finding-id/1"
_ID_HEX_CHARS = 24

_LEVELS = ("none", "note", "warning", "error")
_KINDS = ("notApplicable", "pass", "fail", "review", "open", "informational")
_NOT_PROBLEMS = ("notApplicable", "pass", "informational")
_BASELINE_STATES = ("new", "unchanged", "updated", "absent")
_SUPPRESSION_STATUSES = ("accepted", "underReview", "rejected")
_LEVEL_SEVERITY: Mapping[str, Severity] = {
    "error": "P1",
    "warning": "P2",
    "note": "P3",
    "none": "P3",
}
#: GitHub's bands for `security-severity`: critical, high, medium; anything lower is low.
_SECURITY_BANDS: tuple[tuple[float, Severity], ...] = ((9.0, "P0"), (7.0, "P1"), (4.0, "P2"))

_NOT_IN_LABEL = re.compile(r"[^A-Za-z0-9._:/@+-]")
_NOT_IN_TOOL = re.compile(r"[^A-Za-z0-9._+-]")
_LEADING_NON_ALNUM = re.compile(r"^[^A-Za-z0-9]+")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([0-9]+)\}")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:(?:/|\Z)")

SkipReason = Literal[
    "suppressed",
    "absent-from-baseline",
    "not-a-problem",
    "outside-repository",
    "unmappable-location",
    "duplicate",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a findings file, at a JSON pointer into it (RFC 6901)."""

    pointer: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


class Problems:
    """The distinct problems found while reading one file: the first `keep` and a count."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._seen: set[Problem] = set()
        self.kept: list[Problem] = []

    def add(self, pointer: str, message: str) -> None:
        problem = Problem(pointer, message)
        # A rule descriptor read for many results must not report its flaw many times.
        if problem in self._seen:
            return
        self._seen.add(problem)
        if len(self.kept) < self._keep:
            self.kept.append(problem)

    def count(self) -> int:
        return len(self._seen)


@dataclass(frozen=True)
class SkippedResult:
    """A SARIF result that produced no finding, and why."""

    pointer: str
    reason: SkipReason
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class SarifFindings:
    """What a SARIF log yields: findings (by id), skipped results (in log order), warnings."""

    findings: tuple[FindingV1, ...]
    skipped: tuple[SkippedResult, ...]
    warnings: tuple[str, ...]


def pointer_token(name: str | int) -> str:
    """One reference token of a JSON pointer, with `~` and `/` escaped as RFC 6901 says."""
    return "/" + str(name).replace("~", "~0").replace("/", "~1")


def derive_finding_id(parts: Iterable[str]) -> str:
    """`f-` and the first 24 hex digits of SHA-256 over the length-prefixed parts.

    Each part is its UTF-8 length (4 bytes, big-endian) and its bytes, so two
    different part lists never hash the same bytes; the domain string, hashed
    first, keeps these digests apart from other uses of SHA-256.
    """
    digest = hashlib.sha256()
    for part in (_ID_DOMAIN, *parts):
        raw = part.encode("utf-8")
        digest.update(len(raw).to_bytes(4, "big") + raw)
    return "f-" + digest.hexdigest()[:_ID_HEX_CHARS]


def located_id_parts(
    subject: str, rule_id: str, file: str, line: int | None, what: str
) -> tuple[str, ...]:
    """The id parts of a finding known by where it is and what it says."""
    return ("located", subject, rule_id, file, "" if line is None else str(line), what)


def cut_text(text: str, limit: int = MAX_TEXT) -> str:
    """`text` if it fits in `limit` characters, else its first `limit - 1` and an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + _CUT_MARK


def map_sarif(
    document: object,
    *,
    subject: str,
    run_id: str,
    base_dir: PurePosixPath | None,
    problems: Problems,
    max_results: int,
) -> SarifFindings:
    """Map a decoded SARIF log. Any problem recorded makes the outcome meaningless."""
    nothing = SarifFindings((), (), ())
    root = _Node(document, None, "", problems)
    if not root.is_object("a SARIF log object"):
        return nothing
    version = root.member("version")
    if version.absent:
        version.problem("is required: a SARIF log names its version")
    elif version.value != SARIF_VERSION:
        version.problem(f"must be {SARIF_VERSION!r}; got {version.value!r}")
    runs = root.member("runs")
    if runs.absent:
        runs.problem("is required")
    run_nodes = runs.elements()
    total = sum(len(_results_array(run)) for run in run_nodes)
    if total > max_results:
        runs.problem(f"holds {total:,} results; at most {max_results:,} are accepted")
    if problems.count():
        return nothing
    mapped: list[_Mapped] = []
    skipped: list[SkippedResult] = []
    warnings: list[str] = []
    for run_node in run_nodes:
        if not run_node.is_object("a run object"):
            continue
        run = _read_run(run_node, base_dir)
        warnings.extend(run.warnings)
        for result_node in run_node.member("results").elements():
            outcome = _map_result(run, result_node)
            if isinstance(outcome, SkippedResult):
                skipped.append(outcome)
            elif outcome is not None:
                mapped.append(outcome)
    if problems.count():
        return nothing
    findings, duplicates = _findings(mapped, subject, run_id)
    skipped = sorted([*skipped, *duplicates], key=lambda s: _pointer_order(s.pointer))
    return SarifFindings(tuple(findings), tuple(skipped), tuple(warnings))


def _results_array(run: _Node) -> list[object]:
    results = run.value.get("results") if isinstance(run.value, dict) else None
    return results if isinstance(results, list) else []


# --- reading JSON with pointers --------------------------------------------------------------


class _Node(NamedTuple):
    """A JSON value and where it is; reading it as the wrong type records a problem.

    The pointer is built only when a problem needs it: a log of 50,000 results
    has millions of members read, and almost never a problem.
    """

    value: object
    parent: _Node | None
    token: str | int
    problems: Problems

    @property
    def pointer(self) -> str:
        tokens = []
        node: _Node | None = self
        while node is not None and node.parent is not None:
            tokens.append(pointer_token(node.token))
            node = node.parent
        return "".join(reversed(tokens))

    @property
    def absent(self) -> bool:
        return self.value is None

    def problem(self, message: str) -> None:
        self.problems.add(self.pointer, message)

    def member(self, name: str) -> _Node:
        value = self.value.get(name) if isinstance(self.value, dict) else None
        return _Node(value, self, name, self.problems)

    def is_object(self, what: str = "an object") -> bool:
        if isinstance(self.value, dict):
            return True
        if not self.absent:
            self.problem(f"must be {what}")
        return False

    def elements(self) -> list[_Node]:
        if isinstance(self.value, list):
            return [
                _Node(item, self, index, self.problems) for index, item in enumerate(self.value)
            ]
        if not self.absent:
            self.problem("must be an array")
        return []

    def entries(self) -> list[tuple[str, _Node]]:
        if isinstance(self.value, dict):
            return [(name, self.member(name)) for name in self.value]
        if not self.absent:
            self.problem("must be an object")
        return []

    def text(self) -> str | None:
        if isinstance(self.value, str):
            return self.value
        if not self.absent:
            self.problem("must be a string")
        return None

    def choice(self, allowed: tuple[str, ...]) -> str | None:
        value = self.text()
        if value is None or value in allowed:
            return value
        self.problem(f"must be one of {', '.join(allowed)}; got {value!r}")
        return None

    def array_index(self) -> int | None:
        """An array index; SARIF's default -1 means "none"."""
        value = self.value
        if isinstance(value, int) and not isinstance(value, bool) and value >= -1:
            return None if value == -1 else value
        if not self.absent:
            self.problem("must be an integer >= -1")
        return None

    def line(self) -> int | None:
        value = self.value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        if not self.absent:
            self.problem("must be an integer >= 1")
        return None

    def flag(self) -> bool | None:
        if isinstance(self.value, bool):
            return self.value
        if not self.absent:
            self.problem("must be true or false")
        return None

    def message_text(self) -> str | None:
        """The `text` of a message or multiformat message string; None if absent or empty."""
        if not self.is_object():
            return None
        return self.member("text").text() or None


# --- the run: tool, rules, artifacts, uri bases ----------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """What the mapping reads from a reporting descriptor."""

    id: str | None
    short: str | None
    full: str | None
    help: str | None
    default_level: str | None
    message_strings: Mapping[str, str]
    tags: tuple[str, ...]
    security_severity: float | None


_NO_RULE = _Rule(None, None, None, None, None, {}, (), None)


@dataclass(frozen=True)
class _Component:
    """A tool component (the driver or an extension) and its rules."""

    name: str | None
    rules: tuple[_Rule, ...]
    global_strings: Mapping[str, str]
    #: The first rule with each id: a log may hold thousands of rules and results.
    by_id: Mapping[str, _Rule]


@dataclass(frozen=True)
class _Place:
    """Where a URI points: a POSIX path, absolute or relative to the repository."""

    path: str
    absolute: bool


@dataclass(frozen=True)
class _Unmapped:
    """Why a location gives no repository path."""

    reason: SkipReason
    detail: str


@dataclass(frozen=True)
class _Run:
    """A run's tool, and the tables its results refer to."""

    tool: str
    driver: _Component
    extensions: tuple[_Component, ...]
    artifacts: tuple[_Node, ...]
    bases: Mapping[str, _Place | _Unmapped]
    #: The repository directory, normalised; None when not given.
    repository: str | None
    warnings: tuple[str, ...]


def _read_run(node: _Node, base_dir: PurePosixPath | None) -> _Run:
    tool = node.member("tool")
    driver = tool.member("driver")
    name_node = driver.member("name")
    for required, parent in ((tool, node), (driver, tool), (name_node, driver)):
        if required.absent and isinstance(parent.value, dict):
            required.problem("is required")
    name = name_node.text() or ""
    tool_segment = _tool_segment(name)
    tool.is_object()
    extensions = tuple(_read_component(item) for item in tool.member("extensions").elements())
    artifacts = tuple(item.member("location") for item in node.member("artifacts").elements())
    warnings = []
    for invocation in node.member("invocations").elements():
        if invocation.is_object() and invocation.member("executionSuccessful").flag() is False:
            warnings.append(
                f"{invocation.pointer}: {name} reported that its execution failed"
                " (executionSuccessful: false)"
            )
    if node.member("results").absent:
        warnings.append(f"{node.pointer}: {name} wrote no results array: it reported no scan")
    return _Run(
        tool=tool_segment,
        driver=_read_component(driver),
        extensions=extensions,
        artifacts=artifacts,
        bases=_read_bases(node.member("originalUriBaseIds")),
        repository=None if base_dir is None else posixpath.normpath(base_dir.as_posix()),
        warnings=tuple(warnings),
    )


def _read_component(node: _Node) -> _Component:
    if not node.is_object():
        return _Component(None, (), {}, {})
    rules = tuple(_read_rule(rule) for rule in node.member("rules").elements())
    by_id: dict[str, _Rule] = {}
    for rule in rules:
        if rule.id is not None:
            by_id.setdefault(rule.id, rule)
    return _Component(
        name=node.member("name").text(),
        rules=rules,
        global_strings=_message_strings(node.member("globalMessageStrings")),
        by_id=by_id,
    )


def _read_rule(node: _Node) -> _Rule:
    if not node.is_object("a reporting descriptor object"):
        return _NO_RULE
    properties = node.member("properties")
    properties.is_object()
    configuration = node.member("defaultConfiguration")
    configuration.is_object()
    return _Rule(
        id=node.member("id").text(),
        short=node.member("shortDescription").message_text(),
        full=node.member("fullDescription").message_text(),
        help=node.member("help").message_text(),
        default_level=configuration.member("level").choice(_LEVELS),
        message_strings=_message_strings(node.member("messageStrings")),
        tags=_tags(properties),
        security_severity=_security_severity(properties),
    )


def _message_strings(node: _Node) -> dict[str, str]:
    found = {}
    for name, item in node.entries():
        text = item.message_text()
        if text is not None:
            found[name] = text
    return found


def _tags(properties: _Node) -> tuple[str, ...]:
    return tuple(
        tag for tag in (item.text() for item in properties.member("tags").elements()) if tag
    )


def _security_severity(properties: _Node) -> float | None:
    """GitHub's `security-severity` property: a score from 0.0 to 10.0, often as a string."""
    node = properties.member("security-severity")
    value = node.value
    score: float | None = None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            score = float(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        score = float(value)
    if score is not None and math.isfinite(score) and 0.0 <= score <= 10.0:
        return score
    if not node.absent:
        node.problem("must be a number from 0.0 to 10.0, or a string holding one")
    return None


def _read_bases(node: _Node) -> dict[str, _Place | _Unmapped]:
    """Each `originalUriBaseIds` entry resolved through the entries it refers to."""
    listed = {name: item for name, item in node.entries() if item.is_object()}
    resolved: dict[str, _Place | _Unmapped] = {}
    visiting: set[str] = set()

    def resolve(name: str) -> _Place | _Unmapped:
        if name in resolved:
            return resolved[name]
        item = listed[name]
        visiting.add(name)
        parent_node = item.member("uriBaseId")
        parent_name = parent_node.text()
        parent: _Place | _Unmapped | None = None
        if parent_name in visiting:
            parent_node.problem(f"refers back to {parent_name!r}: the uriBaseIds form a cycle")
        elif parent_name is not None and parent_name in listed:
            parent = resolve(parent_name)
        visiting.discard(name)
        resolved[name] = _join(parent, _uri_place(item.member("uri").text() or ""))
        return resolved[name]

    for name in listed:
        resolve(name)
    return resolved


# --- one result -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mapped:
    """A result mapped to every finding field that does not depend on the other results."""

    pointer: str
    fingerprints: tuple[tuple[str, str], ...]
    severity: Severity
    evidence: Evidence
    file: str
    line: int | None
    what: str
    why: str
    proposed_fix: str
    rule_id: str
    category: FindingCategory

    def finding(self, finding_id: str, subject: str, run_id: str) -> FindingV1:
        fields = {
            "finding_id": finding_id,
            "subject": subject,
            "severity": self.severity,
            "evidence": self.evidence,
            "file": self.file,
            "line": self.line,
            "what": self.what,
            "why": self.why,
            "when": "",
            "proposed_fix": self.proposed_fix,
            "rule_id": self.rule_id,
            "stage": "gate",
            "category": self.category,
            "run_id": run_id,
        }
        # Converting (not constructing) checks every field against the model's rules.
        return msgspec.convert(fields, FindingV1)


def _map_result(run: _Run, node: _Node) -> _Mapped | SkippedResult | None:
    """The result's finding fields, why it is skipped, or None when it is not an object."""
    if not node.is_object("a result object"):
        return None
    rule_name, rule, component = _rule_of(run, node)
    kind = node.member("kind").choice(_KINDS)
    level = node.member("level").choice(_LEVELS)
    baseline = node.member("baselineState").choice(_BASELINE_STATES)
    suppressed = _suppressed(node.member("suppressions"))
    properties = node.member("properties")
    properties.is_object()
    own_severity = _security_severity(properties)
    message = _message(node.member("message"), rule, component)
    fix = _proposed_fix(node.member("fixes"))
    place = _result_place(run, node.member("locations"))
    fingerprints = _fingerprints(node)
    if suppressed:
        return SkippedResult(node.pointer, "suppressed", "every suppression of it is accepted")
    if baseline == "absent":
        return SkippedResult(node.pointer, "absent-from-baseline", "baselineState is absent")
    if kind in _NOT_PROBLEMS:
        return SkippedResult(node.pointer, "not-a-problem", f"kind is {kind}")
    if isinstance(place, _Unmapped):
        return SkippedResult(node.pointer, place.reason, place.detail)
    rule_id = _rule_label(run.tool, rule_name)
    what = cut_text(message or rule.short or rule.full or rule_id)
    fail = kind in (None, "fail")
    if level is None:
        # SARIF §3.27.10: only a failure takes its rule's level; any other kind is `none`.
        level = (rule.default_level or "warning") if fail else "none"
    security_severity = own_severity if own_severity is not None else rule.security_severity
    return _Mapped(
        pointer=node.pointer,
        fingerprints=fingerprints,
        severity=_severity(level, security_severity),
        evidence="verified" if fail and place is not None else "hypothesis",
        file=place.path if place is not None else run.tool,
        line=place.line if place is not None else None,
        what=what,
        why=cut_text(rule.full or rule.help or rule.short or what),
        proposed_fix=cut_text(fix),
        rule_id=rule_id,
        category=_category(rule.tags + _tags(properties), security_severity),
    )


def _rule_of(run: _Run, node: _Node) -> tuple[str | None, _Rule, _Component]:
    """The result's rule id, its descriptor (if the log has one) and its tool component.

    An index (`rule.index`, else `ruleIndex`) wins over an id, as SARIF says:
    ids need not be unique across components.
    """
    reference = node.member("rule")
    reference.is_object()
    component = _component_of(run, reference.member("toolComponent"))
    name = node.member("ruleId").text() or reference.member("id").text()
    index_node = reference.member("index")
    if index_node.array_index() is None:
        index_node = node.member("ruleIndex")
    position = index_node.array_index()
    if position is not None:
        if position < len(component.rules):
            rule = component.rules[position]
            return name or rule.id, rule, component
        index_node.problem(
            f"names rule {position}, but its tool component has {len(component.rules)}"
        )
        return name, _NO_RULE, component
    if name is None:
        return None, _NO_RULE, component
    for candidate in (component, run.driver, *run.extensions):
        found = candidate.by_id.get(name)
        if found is not None:
            return name, found, candidate
    return name, _NO_RULE, component


def _component_of(run: _Run, reference: _Node) -> _Component:
    if not reference.is_object():
        return run.driver
    index_node = reference.member("index")
    position = index_node.array_index()
    if position is not None:
        if position < len(run.extensions):
            return run.extensions[position]
        index_node.problem(
            f"names tool extension {position}, but the run has {len(run.extensions)}"
        )
        return run.driver
    wanted = reference.member("name").text()
    return next((c for c in run.extensions if c.name == wanted), run.driver)


def _suppressed(node: _Node) -> bool:
    """Suppressed when every suppression is accepted (an absent status counts as accepted)."""
    statuses = [
        item.member("status").choice(_SUPPRESSION_STATUSES)
        for item in node.elements()
        if item.is_object("a suppression object")
    ]
    return bool(statuses) and all(status in (None, "accepted") for status in statuses)


def _message(node: _Node, rule: _Rule, component: _Component) -> str | None:
    if node.absent:
        node.problem("is required")
    if not node.is_object():
        return None
    arguments_node = node.member("arguments")
    arguments = [item.text() or "" for item in arguments_node.elements()]
    text = node.member("text").text()
    if text:
        return text if arguments_node.absent else _format(text, arguments)
    message_id = node.member("id").text()
    if message_id is not None:
        template = rule.message_strings.get(message_id) or component.global_strings.get(message_id)
        if template:
            return _format(template, arguments)
    return node.member("markdown").text() or None


def _format(template: str, arguments: list[str]) -> str:
    """SARIF §3.11.5: `{n}` is argument n, `{{` and `}}` are literal braces."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        position = int(match.group(1))
        return arguments[position] if position < len(arguments) else match.group(0)

    return _PLACEHOLDER.sub(replace, template)


def _proposed_fix(node: _Node) -> str:
    texts = [
        fix.member("description").message_text()
        for fix in node.elements()
        if fix.is_object("a fix object")
    ]
    return "\n".join(text for text in texts if text)


def _fingerprints(node: _Node) -> tuple[tuple[str, str], ...]:
    pairs = [
        (f"{member}/{name}", value)
        for member in ("partialFingerprints", "fingerprints")
        for name, item in node.member(member).entries()
        if (value := item.text()) is not None
    ]
    return tuple(sorted(pairs))


# --- severity, category, rule id --------------------------------------------------------------


def _severity(level: str, security_severity: float | None) -> Severity:
    if security_severity is None:
        return _LEVEL_SEVERITY[level]
    return next((s for floor, s in _SECURITY_BANDS if security_severity >= floor), "P3")


def _category(tags: tuple[str, ...], security_severity: float | None) -> FindingCategory:
    if security_severity is not None or any(tag.casefold() == "security" for tag in tags):
        return "security"
    return "correctness"


def _tool_segment(name: str) -> str:
    """The driver's name as one path segment and label part: `Semgrep OSS` -> `Semgrep-OSS`."""
    segment = _LEADING_NON_ALNUM.sub("", _NOT_IN_TOOL.sub("-", name))
    return segment[:_MAX_TOOL_SEGMENT] or "sarif"


def _rule_label(tool: str, rule: str | None) -> str:
    label = f"{tool}/{_NOT_IN_LABEL.sub('-', rule or '') or 'unknown-rule'}"
    if len(label) <= _MAX_LABEL:
        return label
    suffix = hashlib.sha256(label.encode("utf-8")).hexdigest()[:_LABEL_HASH_CHARS]
    return f"{label[: _MAX_LABEL - _LABEL_HASH_CHARS - 1]}+{suffix}"


# --- locations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Located:
    """A result's place in the repository."""

    path: str
    line: int | None


def _result_place(run: _Run, locations: _Node) -> _Located | _Unmapped | None:
    """The first location's file and line; None when it names no file in the repository."""
    items = locations.elements()
    if not items or not items[0].is_object("a location object"):
        return None
    physical = items[0].member("physicalLocation")
    if not physical.is_object():
        return None
    region = physical.member("region")
    line = region.member("startLine").line() if region.is_object() else None
    artifact = physical.member("artifactLocation")
    if not artifact.is_object():
        return None
    place = _artifact_place(run, artifact)
    if isinstance(place, _Unmapped):
        return place
    path = _repository_path(place, run.repository)
    if path is None or isinstance(path, _Unmapped):
        return path
    return _Located(path, line)


def _artifact_place(run: _Run, artifact: _Node) -> _Place | _Unmapped:
    uri = artifact.member("uri").text()
    base_id = artifact.member("uriBaseId").text()
    index_node = artifact.member("index")
    position = index_node.array_index()
    if uri is None and position is not None:
        if position >= len(run.artifacts):
            index_node.problem(f"names artifact {position}, but the run has {len(run.artifacts)}")
            return _Unmapped("unmappable-location", "its artifact index is out of range")
        listed = run.artifacts[position]
        if listed.is_object():
            uri = listed.member("uri").text()
            base_id = listed.member("uriBaseId").text()
    if uri is None:
        return _Unmapped("unmappable-location", "the location names no URI")
    # A base the log leaves undefined is the repository, as GitHub code scanning reads it.
    base = run.bases.get(base_id) if base_id is not None else None
    return _join(base, _uri_place(uri))


def _uri_place(uri: str) -> _Place | _Unmapped:
    reference = uri.replace("\\", "/")
    if _WINDOWS_DRIVE.match(reference):
        return _Unmapped("outside-repository", f"{uri!r} is a Windows drive path")
    parts = urlsplit(reference)
    if parts.scheme:
        if parts.scheme.lower() != "file":
            return _Unmapped("unmappable-location", f"{uri!r} is not a file URI")
        if parts.netloc not in ("", "localhost"):
            return _Unmapped("outside-repository", f"{uri!r} names a file on another host")
        return _Place(unquote(parts.path), absolute=True)
    if parts.netloc:
        return _Unmapped("outside-repository", f"{uri!r} names a network path")
    path = unquote(parts.path)
    return _Place(path, absolute=path.startswith("/"))


def _join(base: _Place | _Unmapped | None, place: _Place | _Unmapped) -> _Place | _Unmapped:
    if isinstance(place, _Unmapped) or place.absolute or base is None:
        return place
    if isinstance(base, _Unmapped):
        return base
    return _Place(posixpath.join(base.path, place.path), base.absolute)


def _repository_path(place: _Place, repository: str | None) -> str | _Unmapped | None:
    """The path relative to the repository; None for the repository itself."""
    # normpath keeps a leading `//` (POSIX leaves its meaning open); a URI path never means that.
    path = posixpath.normpath(re.sub("^/+", "/", place.path)) if place.path else "."
    if place.absolute:
        if repository is None:
            return _Unmapped(
                "unmappable-location", f"{path} is absolute and no repository directory was given"
            )
        if path == repository:
            return None
        inside = repository.rstrip("/") + "/"
        if not path.startswith(inside):
            return _Unmapped("outside-repository", f"{path} is not under {repository}")
        path = path[len(inside) :]
    if path == ".":
        return None
    if path == ".." or path.startswith("../"):
        return _Unmapped("outside-repository", f"{place.path} leaves the repository")
    try:
        check_relative_path(path, "file")
    except ValueError as exc:
        return _Unmapped("unmappable-location", str(exc))
    return path


# --- finding ids -----------------------------------------------------------------------------


def _findings(
    mapped: list[_Mapped], subject: str, run_id: str
) -> tuple[list[FindingV1], list[SkippedResult]]:
    """Give each result its id; of results that would share one, the first is kept.

    A result's fingerprints identify it when it has any and no other result of
    the log has the same rule, file and fingerprints; otherwise its place and
    message do (the located key, as for a ledger finding without an id).
    """
    keyed = [(item, _fingerprinted_parts(item, subject)) for item in mapped]
    shared = Counter(parts for _, parts in keyed if parts is not None)
    findings: dict[str, FindingV1] = {}
    duplicates = []
    for item, fingerprinted in keyed:
        parts = fingerprinted
        if parts is None or shared[parts] > 1:
            parts = located_id_parts(subject, item.rule_id, item.file, item.line, item.what)
        finding_id = derive_finding_id(parts)
        if finding_id in findings:
            detail = f"the same finding as an earlier result: {finding_id}"
            duplicates.append(SkippedResult(item.pointer, "duplicate", detail))
            continue
        findings[finding_id] = item.finding(finding_id, subject, run_id)
    return [findings[key] for key in sorted(findings)], duplicates


def _fingerprinted_parts(item: _Mapped, subject: str) -> tuple[str, ...] | None:
    if not item.fingerprints:
        return None
    pairs = (part for pair in item.fingerprints for part in pair)
    return ("fingerprinted", subject, item.rule_id, item.file, *pairs)


def _pointer_order(pointer: str) -> tuple[int, ...]:
    """`/runs/1/results/10` sorts after `/runs/1/results/9`: by its numbers, not as text."""
    return tuple(int(token) for token in pointer.split("/") if token.isdigit())
