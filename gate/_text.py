"""Free text made to fit the model's one-line fields (`TextLine`) and stream names (`Label`)."""

from __future__ import annotations

import hashlib
import re

#: `TextLine`'s limit (ledger/model/_rules.py).
TEXT_LINE_MAX = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._:/@+-]+")
_ELLIPSIS = "…"


def one_line(text: str, limit: int = TEXT_LINE_MAX) -> str:
    """`text` on one line: control characters become spaces, runs of spaces one, cut to `limit`.

    A cut is marked with an ellipsis, so a reader knows the line goes on. Empty
    text becomes `-`, since a `TextLine` may not be empty.
    """
    flat = " ".join(_CONTROL.sub(" ", text).split())
    if not flat:
        return "-"
    if len(flat) <= limit:
        return flat
    return flat[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def stream_name(prefix: str, subject: str) -> str:
    """A stream name (`Label`) for `prefix/<subject>`, readable and unique per subject.

    When the subject is not itself a valid label tail (other characters, or too
    long), a short digest of the exact subject is appended, so two subjects that
    clean up to the same text still get different streams.
    """
    cleaned = _NOT_LABEL.sub("-", subject).strip("-")[:120]
    if cleaned == subject and cleaned:
        return f"{prefix}/{cleaned}"
    digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()[:16]
    return f"{prefix}/{cleaned or 'subject'}-{digest}"
