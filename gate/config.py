"""The gate configuration (`gate.toml`): the honesty guard's policy, the probes, the findings files.

Every table and key is optional except the probes' `name` and `argv`; the
defaults are the ones specs/gate.md lists. Unknown keys are refused, so a typo
never silently turns a check off. Errors are INVALID_CONFIG with the offending
key path in the message.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from ledger.errors import ErrorCode, InvalidInput
from ledger.fsutil import read_file
from ledger.model._rules import Label, RequiredText, UtcTime, parse_utc
from ledger.model.gate_records import PatchEditType

#: Edits to files matching these are `spec_modification` (gitignore-style `**` globs).
DEFAULT_PROTECTED = ("**/*.isl", "**/specs/**", "**/intent/**", "**/contracts/**")

#: Added lines containing one of these are `suppression_insertion`. Each entry is a token
#: sequence (specs/honesty-guard.md §3.3): words (runs of letters, digits, `_`, `-`) and
#: single symbols, matched case-insensitively with any whitespace (or none) between tokens,
#: so the entry `# type: ignore` also matches `#TYPE:ignore` and `pylint: disable` matches
#: `pylint:disable`; `...` stands for up to 200 characters of anything; an entry starting
#: with a word needs a non-word character (or nothing) before it; `#[` also matches Rust's
#: inner `#![`. Quoted strings on the line do not count (a message that names a directive).
#: The list names directives that silence a check (linters, type checkers, security scanners,
#: coverage, test runners); formatter pragmas (`fmt: off`, `isort: skip`, `prettier-ignore`)
#: are left out on purpose: they change layout, never what a check reports.
DEFAULT_SUPPRESSION_DIRECTIVES = (
    # any language, several tools
    "shipgate-ignore",
    "NOSONAR",
    "nosemgrep",
    "noinspection",
    "NOLINT",
    # Python
    "# noqa",
    "ruff: noqa",
    "flake8: noqa",
    "# type: ignore",
    "# pyright: ignore",
    "# pyright: basic",
    "# mypy: ignore-errors",
    "# mypy: disable-error-code",
    "# nosec",
    "# pragma: no cover",
    "# pragma no cover",
    "# pragma: no branch",
    "pylint: disable",
    "pylint: skip-file",
    "mark.skip",
    "mark.xfail",
    "pytest.skip(",
    "pytest.xfail(",
    "unittest.skip",
    "@skip(",
    "@skipIf(",
    "@skipUnless(",
    "skipTest(",
    # JavaScript and TypeScript
    "@ts-ignore",
    "@ts-nocheck",
    "@ts-expect-error",
    "eslint-disable",
    "/* eslint",
    "biome-ignore",
    "deno-lint-ignore",
    "tslint:disable",
    "stylelint-disable",
    "istanbul ignore",
    "c8 ignore",
    "v8 ignore",
    "it.skip(",
    "test.skip(",
    "describe.skip(",
    "xit(",
    "xtest(",
    "xdescribe(",
    # Go
    "//lint:ignore",
    "//lint:file-ignore",
    "t.Skip(",
    # Rust
    "#[allow(",
    "#[expect(",
    "#[cfg_attr(...allow(",
    "#[cfg_attr(...expect(",
    "#[ignore",
    # C, C++, C#
    "#pragma warning disable",
    "#pragma GCC diagnostic ignored",
    "#pragma clang diagnostic ignored",
    "SuppressMessage(",
    # Java and Kotlin
    "@SuppressWarnings(",
    "@Suppress(",
    "@file:Suppress(",
    "@Disabled",
    "@Ignore",
    # Ruby, PHP, shell, Dart, SQL, infrastructure scanners
    "rubocop:disable",
    "phpcs:ignore",
    "phpcs:disable",
    "@phpstan-ignore",
    "@psalm-suppress",
    "shellcheck disable",
    "hadolint ignore",
    "// ignore:",
    "// ignore_for_file:",
    "coverage:ignore",
    "-- noqa",
    "checkov:skip",
    "tfsec:ignore",
    "trivy:ignore",
    "gitleaks:allow",
    "pragma: allowlist secret",
)

#: Config files whose policy packs and rule severities are watched (`pack_disable`,
#: `severity_downgrade`). ESLint's flat config (`eslint.config.js`, `.mjs`, `.cjs`, `.ts`) is
#: JavaScript, but its rules are `'name': 'off'` entries the same rules read.
DEFAULT_MONITORED_CONFIGS = (
    "**/*.yml",
    "**/*.yaml",
    "**/*.json",
    "**/*.toml",
    "**/*.ini",
    "**/*.cfg",
    "**/.eslintrc*",
    "**/eslint.config.*",
)

#: Gate configuration files: thresholds lowered, checks removed or exclusions added there are
#: `gate_config_weaken`. Beside the gate's own files, the files that configure what the
#: probes check: pytest, coverage, mypy and linters (`pyproject.toml`, `setup.cfg`,
#: `tox.ini`, `pytest.ini`, `.coveragerc`), the ignore files of scanners, and
#: `.gitattributes` (which can make git show a text file as binary, hiding it from the guard).
#: `conftest.py` is code, not configuration: it is left to the line rules and review.
DEFAULT_GATE_CONFIGS = (
    "gate.toml",
    "**/gate.toml",
    "**/.gate/**",
    "**/*gate*.yml",
    "**/*gate*.yaml",
    "**/pyproject.toml",
    "**/setup.cfg",
    "**/tox.ini",
    "**/pytest.ini",
    "**/.coveragerc",
    "**/.gitattributes",
    "**/.semgrepignore",
    "**/.eslintignore",
)

#: Passed through to every probe. HOME is not: a probe gets an empty home of its own
#: unless the config allows HOME (specs/probes.md).
DEFAULT_ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_OUTPUT_CAP_BYTES = 16_384

_Glob = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
_Directive = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
_Timeout = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
#: The summary is a `Text` (16384 characters at most), so more output could never be kept.
_OutputCap = Annotated[int, msgspec.Meta(ge=256, le=16_384)]
_EnvName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_Arg = Annotated[str, msgspec.Meta(max_length=32_768)]


class _Table(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config table: immutable, and unknown keys are errors."""


class AllowedSuppression(_Table, frozen=True):
    """A forbidden edit a person accepted: which, where, why, and until when.

    It covers an edit of `type` whose evidence contains `pattern`, in a file
    matching `files`, until `expiry` (exclusive). Automated patches never use it.
    """

    pattern: _Directive
    justification: RequiredText
    expiry: UtcTime
    type: PatchEditType = "suppression_insertion"
    files: _Glob = "**"

    def __post_init__(self) -> None:
        parse_utc(self.expiry, "expiry")


class GuardPolicy(_Table, frozen=True):
    """What the honesty guard treats as forbidden (specs/gate.md, "Honesty guard")."""

    #: Strict (the default): every edit to a protected file is blocking, critical.
    strict: bool = True
    protected: tuple[_Glob, ...] = DEFAULT_PROTECTED
    suppression_directives: tuple[_Directive, ...] = DEFAULT_SUPPRESSION_DIRECTIVES
    monitored_configs: tuple[_Glob, ...] = DEFAULT_MONITORED_CONFIGS
    gate_configs: tuple[_Glob, ...] = DEFAULT_GATE_CONFIGS
    allow: tuple[AllowedSuppression, ...] = ()


class ProbeDefaults(_Table, frozen=True):
    """Settings every probe inherits unless it sets its own."""

    timeout_s: _Timeout = DEFAULT_TIMEOUT_S
    output_cap_bytes: _OutputCap = DEFAULT_OUTPUT_CAP_BYTES
    #: Variables passed through from the gate's environment; nothing else is.
    env_allow: tuple[_EnvName, ...] = DEFAULT_ENV_ALLOW
    #: Extra regular expressions whose matches are redacted from summaries.
    redact: tuple[_Directive, ...] = ()

    def __post_init__(self) -> None:
        for pattern in self.redact:
            _check_regex(pattern)


class ProbeSpec(_Table, frozen=True):
    """One command the gate runs: an argv list, never a shell line."""

    name: Label
    argv: Annotated[tuple[_Arg, ...], msgspec.Meta(min_length=1, max_length=4096)]
    #: Relative to the repository the gate runs in.
    cwd: str = "."
    timeout_s: _Timeout | None = None
    output_cap_bytes: _OutputCap | None = None
    #: Variables allowed in addition to `[probes].env_allow`.
    env_allow: tuple[_EnvName, ...] = ()
    #: Fixed values set for this probe (they are not secret: they are recorded in the config).
    env: dict[_EnvName, _Arg] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.argv[0]:
            raise ValueError("`argv[0]` must name a program")


FindingsFormat = Literal["ledger", "sarif"]


class FindingsFile(_Table, frozen=True):
    """A findings file the gate ingests after its probes ran."""

    path: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    format: FindingsFormat = "ledger"
    #: A file that is absent is an error unless it is optional.
    optional: bool = False


class GateSettings(_Table, frozen=True):
    """The `[gate]` table: who the gate is and how long it waits."""

    #: The producer and `agent_name` the gate's events carry.
    name: Label = "ledger-gate"
    #: Conditionally ready fails the gate too (the `--strict` flag also sets it).
    strict: bool = False
    #: How long to wait for the projections to reflect the gate's writes.
    wait_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0


class GateConfig(_Table, frozen=True):
    """A whole `gate.toml`."""

    gate: GateSettings = msgspec.field(default_factory=GateSettings)
    guard: GuardPolicy = msgspec.field(default_factory=GuardPolicy)
    probes: ProbeDefaults = msgspec.field(default_factory=ProbeDefaults)
    probe: tuple[ProbeSpec, ...] = ()
    findings: tuple[FindingsFile, ...] = ()

    def __post_init__(self) -> None:
        names = [p.name for p in self.probe]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"probe names must be unique; repeated: {', '.join(duplicated)}")


def _check_regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(
        ErrorCode.INVALID_CONFIG,
        message,
        hint="fix the gate config; specs/gate.md lists every table and key",
    )


def parse_gate_config(text: str, *, origin: str = "gate config") -> GateConfig:
    """Parse and validate a gate config's TOML text."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _invalid(f"{origin} is not valid TOML: {exc}") from None
    try:
        return msgspec.convert(document, GateConfig)
    except msgspec.ValidationError as exc:
        raise _invalid(f"{origin}: {exc}") from None


@dataclass(frozen=True)
class LoadedGateConfig:
    """A gate config as read from its file, and the SHA-256 of exactly the bytes parsed."""

    config: GateConfig
    sha256: str


def load_gate_config(path: Path) -> LoadedGateConfig:
    """Read and validate a gate config file (FILE_UNREADABLE when it cannot be read).

    The digest is of the bytes that were parsed, so it names the configuration
    the gate really ran with, even if the file changes while the gate runs.
    """
    raw = read_file(path, what="gate config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(f"{path} is not UTF-8 text") from None
    return LoadedGateConfig(
        parse_gate_config(text, origin=str(path)), hashlib.sha256(raw).hexdigest()
    )
