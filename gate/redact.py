"""Secret redaction for what the gate records about a probe: its command line and its output.

A `Redactor` replaces with `[REDACTED]` every stretch of text that is, or looks
like, a secret: the values of the gate's environment variables whose names look
secret, well-known token shapes, the values of secret-looking keys, and whatever
the config's extra patterns match. specs/probes.md ("Redaction") lists the rules
exactly; this module is their reference implementation.

Every rule yields spans of the *original* text; overlapping and touching spans
are merged and each merged span becomes one marker. So the rules never see each
other's output, the order they are listed in does not change the result, and a
marker already in the text is left alone (redacting twice changes nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ledger.errors import ErrorCode, InvalidInput

REDACTED = "[REDACTED]"
#: Shorter secret values are not redacted: wiping every `1`, `yes` or `true` helps nobody.
MIN_SECRET_LENGTH = 4

# A secret-looking name contains one of these words (case-insensitive), for
# environment variables, keys (`key=value`), command-line flags and JSON members.
_NAME_WORD = (
    r"(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credential|auth)"
)
_SECRET_NAME = re.compile(_NAME_WORD, re.IGNORECASE)
# Keys and flags are bounded on both sides of the word: an unbounded `\w*word\w*`
# backtracks quadratically on long runs of word characters.
_KEY = rf"[A-Za-z0-9_.-]{{0,64}}?{_NAME_WORD}[A-Za-z0-9_.-]{{0,64}}"
_FLAG = rf"--?[A-Za-z0-9_-]{{0,64}}?{_NAME_WORD}[A-Za-z0-9_-]{{0,64}}"
_QUOTED_KEY = rf"[^\"\n]{{0,64}}?{_NAME_WORD}[^\"\n]{{0,64}}"
_VALUE = r"(?P<s>\"[^\"\n]*\"?|'[^'\n]*'?|[^\s&;,\"'<>]+)"
_PEM_BEGIN = r"-----BEGIN [A-Z0-9 ]{0,64}PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END [A-Z0-9 ]{0,64}PRIVATE KEY(?: BLOCK)?-----"

#: The built-in rules, by name: a rule redacts its group `s` when it has one, else its match.
RULES: Mapping[str, re.Pattern[str]] = {
    # A private key block; one whose END line is missing (the text was cut) runs to the end.
    "pem_private_key": re.compile(rf"{_PEM_BEGIN}(?:.*?{_PEM_END}|.*)", re.DOTALL),
    # The rest of a private key block whose BEGIN line was cut off before the text starts.
    "pem_private_key_tail": re.compile(rf"\A(?:(?!{_PEM_BEGIN}).)*?{_PEM_END}", re.DOTALL),
    "github_token": re.compile(r"gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,}"),
    "aws_access_key_id": re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{16}"),
    "slack_token": re.compile(r"xox[abprs]-[A-Za-z0-9-]{10,}"),
    "authorization_header": re.compile(
        r"\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*(?P<s>[^\r\n]+)", re.IGNORECASE
    ),
    "bearer_token": re.compile(r"\bbearer[ \t]+(?P<s>[A-Za-z0-9._~+/-]{8,}=*)", re.IGNORECASE),
    "url_password": re.compile(
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s:/?#@]*:(?P<s>[^\s/?#]+)@"
    ),
    "json_member": re.compile(
        rf"\"{_QUOTED_KEY}\"[ \t]*:[ \t]*(?P<s>\"(?:[^\"\\\n]|\\.)*\"?)", re.IGNORECASE
    ),
    "key_value": re.compile(rf"(?<![A-Za-z0-9_.-]){_KEY}[ \t]*=[ \t]*{_VALUE}", re.IGNORECASE),
    "yaml_member": re.compile(
        rf"^[ \t]*(?:-[ \t]+)?{_KEY}[ \t]*:[ \t]+(?P<s>[^\r\n]+)", re.IGNORECASE | re.MULTILINE
    ),
    "flag_value": re.compile(rf"(?<!\S){_FLAG}[ \t]+{_VALUE}", re.IGNORECASE),
}

# Command-line arguments: a secret flag hides the next argument; an assignment its value.
_ARG_FLAG = re.compile(_FLAG, re.IGNORECASE)
_ARG_ASSIGNMENT = re.compile(rf"(?P<key>-{{0,2}}{_KEY})=(?P<s>.+)", re.IGNORECASE | re.DOTALL)
_MARKER = re.compile(re.escape(REDACTED))


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name says its value is a secret."""
    return _SECRET_NAME.search(name) is not None


def _secret_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values to redact verbatim: each secret value, and each line of a multi-line one.

    Lines count on their own so that a key from the environment is still redacted
    when only some of its lines are shown (the rest cut off with the output).
    """
    found: set[str] = set()
    for name, value in environ.items():
        if not looks_secret(name):
            continue
        for candidate in (value, *value.splitlines()):
            if len(candidate) >= MIN_SECRET_LENGTH:
                found.add(candidate)
    return tuple(sorted(found, key=lambda v: (-len(v), v)))


def _compile_extra(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(
            ErrorCode.INVALID_CONFIG,
            f"redaction pattern {pattern!r} is not a regular expression: {exc}",
            hint="fix `[probes].redact` in the gate config (Python `re` syntax)",
            details={"pattern": pattern},
        ) from None


def _occurrences(text: str, value: str) -> Iterator[tuple[int, int]]:
    """Every occurrence of `value`, overlapping ones included."""
    start = text.find(value)
    while start >= 0:
        yield start, start + len(value)
        start = text.find(value, start + 1)


def _rule_spans(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
    has_group = "s" in pattern.groupindex
    for match in pattern.finditer(text):
        start, end = match.span("s") if has_group else match.span()
        if end > start:
            yield start, end


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class Redactor:
    """Replaces secrets in text with `[REDACTED]`; build one with `from_environ`."""

    #: Values redacted wherever they occur, longest first.
    secrets: tuple[str, ...]
    #: The config's extra patterns: each whole match is redacted.
    extra: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
        """A redactor for the secrets in `environ` and the `extra` regular expressions.

        Raises INVALID_CONFIG when an extra pattern is not a regular expression.
        """
        return cls(_secret_values(environ), tuple(_compile_extra(p) for p in extra))

    def _spans(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for value in self.secrets:
            spans.extend(_occurrences(text, value))
        for pattern in RULES.values():
            spans.extend(_rule_spans(pattern, text))
        for pattern in self.extra:
            spans.extend(
                (m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start()
            )
        markers = [m.span() for m in _MARKER.finditer(text)]
        if markers:
            # A marker already in the text stays as it is, so redacting twice changes nothing.
            spans = [
                (start, end)
                for start, end in spans
                if not any(m_start <= start and end <= m_end for m_start, m_end in markers)
            ]
        return _merge(spans)

    def redact(self, text: str) -> str:
        """`text` with every secret stretch replaced by `[REDACTED]`."""
        pieces: list[str] = []
        position = 0
        for start, end in self._spans(text):
            pieces.append(text[position:start])
            pieces.append(REDACTED)
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def redact_argv(self, argv: Sequence[str]) -> tuple[str, ...]:
        """A command's arguments, redacted one by one, knowing where arguments begin and end.

        The argument after a secret-looking flag (`--token`, `--db-password`) is a
        secret as a whole, and so is everything after the `=` of a secret-looking
        assignment (`--password=...`, `API_TOKEN=...`): inside one argument a value
        may hold spaces that text rules would stop at.
        """
        redacted: list[str] = []
        hide_next = False
        for argument in argv:
            if hide_next and argument:
                redacted.append(REDACTED)
                hide_next = False
                continue
            hide_next = _ARG_FLAG.fullmatch(argument) is not None
            assignment = _ARG_ASSIGNMENT.fullmatch(argument)
            if assignment is not None and assignment.group("s") != REDACTED:
                redacted.append(f"{assignment.group('key')}={REDACTED}")
            else:
                redacted.append(self.redact(argument))
        return tuple(redacted)
