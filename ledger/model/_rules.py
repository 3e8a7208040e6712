"""Field types and rules shared by the event payloads.

The patterns here are the single source of truth for identifier, digest and
time formats; `specs/run-record-v1.md` documents them for outsiders.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import msgspec

#: 64 lowercase hex characters: a SHA-256 digest.
Digest = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}\Z")]
#: A git object id: SHA-1 (40) or SHA-256 (64) lowercase hex.
GitObjectId = Annotated[str, msgspec.Meta(pattern=r"^(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")]
#: A UUID in canonical lowercase text form (any version; our clients write UUIDv7).
Uuid = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
]
#: An opaque identifier chosen by a producer (event ids, finding ids).
Identifier = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")]
#: A machine name: streams, producers, agents, rules, statuses.
Label = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}\Z")]
#: A pipeline stage label such as `stage-5` or `final`.
StageLabel = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}\Z")]
#: One line of human text (no C0/C1 control characters, no line or paragraph separators).
TextLine = Annotated[str, msgspec.Meta(pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,512}\Z")]
#: Free human text, possibly multi-line.
Text = Annotated[str, msgspec.Meta(max_length=16384)]
#: Non-empty free human text.
RequiredText = Annotated[str, msgspec.Meta(min_length=1, max_length=16384)]
#: A UTC instant: RFC 3339 with a `Z`, at most microsecond precision.
UtcTime = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z\Z"
    ),
]
#: A process exit status as an operating system reports it.
ExitCode = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
#: A 1-based line number.
LineNumber = Annotated[int, msgspec.Meta(ge=1)]

_MAX_PATH = 4096
_FORBIDDEN_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]")
# One pass for the common, valid case: segments of allowed characters that are not `.` or `..`.
_VALID_PATH = re.compile(
    r"(?!\.\.?(?:/|\Z))[^/\x00-\x1f\x7f-\x9f\u2028\u2029\\]+"
    r"(?:/(?!\.\.?(?:/|\Z))[^/\x00-\x1f\x7f-\x9f\u2028\u2029\\]+)*"
)


def parse_utc(value: str, field: str) -> datetime:
    """Parse a `UtcTime` that already matched its pattern; reject impossible dates."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"`{field}` is not a real date and time: {value!r}") from None


def check_relative_path(value: str, field: str) -> None:
    """A workspace-relative POSIX path: no root, no `.`/`..`/empty segments, no control chars."""
    if len(value) <= _MAX_PATH and _VALID_PATH.fullmatch(value):
        return
    if not value or len(value) > _MAX_PATH:
        raise ValueError(f"`{field}` must be 1..{_MAX_PATH} characters")
    if _FORBIDDEN_PATH_CHARS.search(value):
        raise ValueError(f"`{field}` must not contain control characters or backslashes")
    if value.startswith("/"):
        raise ValueError(f"`{field}` must be relative to the workspace, not absolute: {value!r}")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise ValueError(
            f"`{field}` must be normalised (no empty, `.` or `..` segments): {value!r}"
        )
    raise ValueError(f"`{field}` is not a valid relative path: {value!r}")
