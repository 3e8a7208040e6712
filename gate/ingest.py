"""Findings files a gate ingests, read into `finding.reported` payloads (specs/findings-import.md).

Two formats: `ledger`, our own JSON list of findings, strict like every
ledgerd input; and `sarif`, SARIF 2.1.0 as real analysers write it, mapped by
gate/sarif_import.py. Either way the output is deterministic: the same bytes,
subject and run give the same findings, with the same ids, in finding-id
order. A file that is not valid is refused as a whole with every problem found
(up to a bound), each at a JSON pointer; nothing is half-ingested.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args, get_origin

import msgspec

from gate.sarif_import import (
    Problems,
    SkippedResult,
    derive_finding_id,
    located_id_parts,
    map_sarif,
    pointer_token,
)
from ledger.errors import ErrorCode, InvalidInput, IoFailure
from ledger.model._rules import TextLine, Uuid, check_relative_path
from ledger.model.finding import FindingV1

FindingsFormat = Literal["ledger", "sarif"]

#: A findings file larger than this is refused before it is parsed.
MAX_INPUT_BYTES = 64 << 20
#: At most this many findings (ledger) or results (SARIF, all runs together) per file.
MAX_FINDINGS = 50_000
#: Finding ids ledgerd derives (the honesty guard's, and those this importer derives):
#: a findings file may not name them.
RESERVED_ID_PREFIXES = ("guard-", "f-")

#: The problems an error lists in `details.problems`; `details.problem_count` counts all.
MAX_PROBLEMS = 100

_UTF8_BOM = b"\xef\xbb\xbf"
_HINT = "fix the named members; specs/findings-import.md describes both formats"

#: What a ledger-format finding may leave out, and what it then is.
_DEFAULTS: Mapping[str, object] = {
    "evidence": "hypothesis",
    "when": "",
    "proposed_fix": "",
    "stage": "gate",
    "line": None,
}
#: Supplied by the gate run; a finding that names them must name the same.
_GATE_SUPPLIED = ("subject", "run_id")
_FIELD_TYPES: dict[str, Any] = {
    field.name: field.type for field in msgspec.structs.fields(FindingV1)
}
_REQUIRED = tuple(
    name
    for name in _FIELD_TYPES
    if name not in _DEFAULTS and name not in _GATE_SUPPLIED and name != "finding_id"
)


@dataclass(frozen=True)
class IngestReport:
    """The findings of one file (by id), the SARIF results skipped (in log order), warnings."""

    findings: tuple[FindingV1, ...]
    skipped: tuple[SkippedResult, ...] = ()
    warnings: tuple[str, ...] = ()


def load_findings_report(
    path: Path,
    fmt: FindingsFormat,
    *,
    subject: str,
    run_id: str,
    base_dir: Path | None = None,
) -> IngestReport:
    """The findings of a file, what was skipped and why; FILE_UNREADABLE if it cannot be
    read, INVALID_FINDINGS if it is not valid.

    `base_dir` is the repository: SARIF locations given as absolute paths are
    made relative to it (its real path: tools see the working directory with
    symbolic links resolved). Only a regular file is read, and no more of it
    than the size bound: a findings path may be a link to a device or a pipe.
    """
    data = _read_bounded(path)
    repository = PurePosixPath(base_dir.resolve().as_posix()) if base_dir is not None else None
    return parse_findings_report(
        data, fmt, subject=subject, run_id=run_id, origin=str(path), base_dir=repository
    )


def parse_findings_report(
    data: bytes,
    fmt: FindingsFormat,
    *,
    subject: str,
    run_id: str,
    origin: str,
    base_dir: PurePosixPath | None = None,
) -> IngestReport:
    """The findings in `data`, what was skipped and why; a pure function of its arguments.

    `origin` names the input in error messages.
    """
    _check_arguments(fmt, subject, run_id, base_dir)
    if len(data) > MAX_INPUT_BYTES:
        raise _too_large(origin)
    problems = Problems(MAX_PROBLEMS)
    document = _decode(data, origin)
    if fmt == "sarif":
        found = map_sarif(
            document,
            subject=subject,
            run_id=run_id,
            base_dir=base_dir,
            problems=problems,
            max_results=MAX_FINDINGS,
        )
        report = IngestReport(found.findings, found.skipped, found.warnings)
    else:
        report = IngestReport(_ledger_findings(document, subject, run_id, problems))
    if problems.count():
        raise _invalid(origin, fmt, problems)
    return report


# --- checks and errors -----------------------------------------------------------------------


def _check_arguments(fmt: str, subject: str, run_id: str, base_dir: PurePosixPath | None) -> None:
    problems = []
    if fmt not in get_args(FindingsFormat):
        problems.append(f"format must be ledger or sarif, not {fmt!r}")
    for name, value, kind in (("subject", subject, TextLine), ("run_id", run_id, Uuid)):
        try:
            msgspec.convert(value, kind)
        except msgspec.ValidationError as exc:
            problems.append(f"{name} {value!r} is not valid: {exc}")
    if base_dir is not None and not base_dir.is_absolute():
        problems.append(f"the repository directory must be absolute, not {str(base_dir)!r}")
    if problems:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            "; ".join(problems),
            hint="the gate passes the subject, its run's uuid and the repository directory",
        )


def _decode(data: bytes, origin: str) -> object:
    # RFC 8259 lets a parser ignore a byte order mark; some Windows tools write one.
    raw = data.removeprefix(_UTF8_BOM)
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        reason = f"not UTF-8 JSON: {exc}"
    except RecursionError:
        # msgspec follows nesting as deep as the interpreter's recursion limit allows.
        reason = "nested too deeply to decode"
    raise InvalidInput(
        ErrorCode.INVALID_FINDINGS,
        f"{origin}: findings file is {reason}",
        hint="a findings file is one UTF-8 JSON document",
        details=_one_problem(origin, reason),
    )


def _read_bounded(path: Path) -> bytes:
    try:
        # Non-blocking: opening a named pipe must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise _unreadable(f"findings file {path} does not exist", "check the path") from None
    except OSError as exc:
        raise _unreadable(
            f"could not read findings file {path}: {exc.strerror or exc}",
            "check the path and its permissions",
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _unreadable(
                f"findings file {path} is not a regular file", "point the gate at a file"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise _unreadable(
            f"could not read findings file {path}: {exc.strerror or exc}",
            "check the file and the disk",
        ) from None
    finally:
        os.close(fd)
    if len(data) > MAX_INPUT_BYTES:
        raise _too_large(str(path))
    return data


def _unreadable(message: str, hint: str) -> IoFailure:
    return IoFailure(ErrorCode.FILE_UNREADABLE, message, hint=hint)


def _too_large(origin: str) -> InvalidInput:
    message = f"is larger than {MAX_INPUT_BYTES:,} bytes, the most that is read"
    return InvalidInput(
        ErrorCode.INVALID_FINDINGS,
        f"{origin}: findings file {message}",
        hint="split the findings over several files, or report fewer",
        details={**_one_problem(origin, message), "limit": MAX_INPUT_BYTES},
    )


def _one_problem(origin: str, message: str) -> dict[str, object]:
    """The details of a file refused as a whole: one problem, at the document."""
    return {
        "path": origin,
        "pointer": "",
        "problems": [{"pointer": "", "message": message}],
        "problem_count": 1,
    }


def _invalid(origin: str, fmt: str, problems: Problems) -> InvalidInput:
    first = problems.kept[0]
    more = problems.count() - 1
    also = f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""
    where = first.pointer or "the document"
    what = "ledger findings" if fmt == "ledger" else "SARIF 2.1.0"
    return InvalidInput(
        ErrorCode.INVALID_FINDINGS,
        f"{origin}: not valid {what}: at {where}: {first.message}{also}",
        hint=_HINT,
        details={
            "path": origin,
            "pointer": first.pointer,
            "problems": [problem.to_dict() for problem in problems.kept],
            "problem_count": problems.count(),
        },
    )


# --- the ledger format -----------------------------------------------------------------------


def _ledger_findings(
    document: object, subject: str, run_id: str, problems: Problems
) -> tuple[FindingV1, ...]:
    items, at = _ledger_items(document, problems)
    if len(items) > MAX_FINDINGS:
        problems.add(at, f"holds {len(items):,} findings; at most {MAX_FINDINGS:,} are accepted")
        return ()
    found: dict[str, FindingV1] = {}
    first_at: dict[str, str] = {}
    for index, item in enumerate(items):
        pointer = at + pointer_token(index)
        finding = _ledger_item(item, pointer, subject, run_id, problems)
        if finding is None:
            continue
        if finding.finding_id in found:
            problems.add(
                pointer,
                f"has the finding id {finding.finding_id} of {first_at[finding.finding_id]}:"
                " finding ids are unique in a file (give the findings distinct finding_id)",
            )
            continue
        found[finding.finding_id] = finding
        first_at[finding.finding_id] = pointer
    return tuple(found[key] for key in sorted(found))


def _ledger_items(document: object, problems: Problems) -> tuple[list[object], str]:
    """The findings array and its pointer: `{"findings": [...]}` or a bare array."""
    if isinstance(document, list):
        return document, ""
    if not isinstance(document, dict):
        problems.add("", 'must be an object {"findings": [...]} or an array of findings')
        return [], ""
    for name in document:
        if name != "findings":
            problems.add(pointer_token(name), "unknown member: the document holds only `findings`")
    items = document.get("findings")
    if not isinstance(items, list):
        problems.add("/findings", "is required and must be an array of findings")
        return [], "/findings"
    return items, "/findings"


def _ledger_item(
    item: object, pointer: str, subject: str, run_id: str, problems: Problems
) -> FindingV1 | None:
    if not isinstance(item, dict):
        problems.add(pointer, "must be a finding object")
        return None
    before = problems.count()
    for name in item:
        if name not in _FIELD_TYPES:
            near = difflib.get_close_matches(name, list(_FIELD_TYPES), n=1)
            guess = f"; did you mean `{near[0]}`?" if near else ""
            problems.add(pointer + pointer_token(name), f"unknown member{guess}")
    for name in _REQUIRED:
        if name not in item:
            problems.add(pointer + pointer_token(name), "is required")
    for name, expected in (("subject", subject), ("run_id", run_id)):
        if name in item and item[name] != expected:
            problems.add(
                pointer + pointer_token(name),
                f"is {item[name]!r}, but the gate ingests this file for {name} {expected!r}",
            )
    for name, value in item.items():
        if name in _FIELD_TYPES and name not in _GATE_SUPPLIED:
            _check_field(name, value, pointer + pointer_token(name), problems)
    given_id = item.get("finding_id")
    if isinstance(given_id, str) and given_id.startswith(RESERVED_ID_PREFIXES):
        # Ids the ledger derives itself: a file naming one could re-report (and so
        # downgrade or reword) a finding the guard or another tool made.
        problems.add(
            pointer + pointer_token("finding_id"),
            f"uses a reserved prefix ({', '.join(RESERVED_ID_PREFIXES)}): leave it out "
            "and the id is derived, or choose another",
        )
    if problems.count() > before:
        return None
    fields = {**_DEFAULTS, **item, "subject": subject, "run_id": run_id}
    if "finding_id" not in fields:
        fields["finding_id"] = derive_finding_id(
            located_id_parts(
                subject,
                str(fields["rule_id"]),
                str(fields["file"]),
                _line(fields["line"]),
                str(fields["what"]),
            )
        )
    return msgspec.convert(fields, FindingV1)


def _check_field(name: str, value: object, pointer: str, problems: Problems) -> None:
    kind = _FIELD_TYPES[name]
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        allowed = get_args(kind) if get_origin(kind) is Literal else ()
        if allowed and isinstance(value, str):
            problems.add(pointer, f"must be one of {', '.join(allowed)}; got {value!r}")
        else:
            problems.add(pointer, str(exc))
        return
    if name == "file" and isinstance(value, str):
        try:
            check_relative_path(value, name)
        except ValueError as exc:
            problems.add(pointer, str(exc))


def _line(value: object) -> int | None:
    return value if isinstance(value, int) else None
