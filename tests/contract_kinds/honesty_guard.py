"""Contract kinds of specs/honesty-guard.md: `honesty_guard` (a diff, inspected) and `guard_glob`.

`honesty_guard` cases give an inline `diff`, optional `policy` (a [guard] table),
`automated` and `now`, and expect either `verdict` and `edits` (and `allowed`),
each edit as {type, file, line} plus optionally `evidence`, or `error` and `line`
for a diff the parser refuses. `guard_glob` cases give `pattern`, `path`, `matches`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import pytest

from gate._globs import glob_match
from gate.config import GuardPolicy
from gate.guard import inspect_patch
from ledger.errors import LedgerError
from ledger.model.gate_records import PatchEdit

_DEFAULT_NOW = "2026-06-01T00:00:00Z"


def _edits(found: tuple[PatchEdit, ...], expected: list[dict[str, Any]]) -> None:
    """The edits, as {type, file, line} plus `evidence` where the case gives it."""
    assert len(found) == len(expected), [(e.type, e.file, e.line) for e in found]
    got = [
        {key: getattr(edit, key) for key in ("type", "file", "line", "evidence") if key in want}
        for edit, want in zip(found, expected, strict=True)
    ]
    assert got == expected


def check_honesty_guard(case: Any) -> None:
    c = case.case
    policy = msgspec.convert(c.get("policy") or {}, GuardPolicy)
    now = datetime.fromisoformat(c.get("now", _DEFAULT_NOW))
    diff = c["diff"].encode("utf-8")

    def run() -> Any:
        return inspect_patch(diff, policy, automated=c.get("automated", False), now=now)

    if "error" in c:
        with pytest.raises(LedgerError) as caught:
            run()
        assert caught.value.code == c["error"], caught.value
        assert caught.value.details == {"line": c["line"]}, caught.value
        return
    inspection = run()
    assert inspection.verdict == c["verdict"], inspection.summary
    _edits(inspection.edits, c["edits"])
    _edits(inspection.allowed, c.get("allowed", []))
    if "summary" in c:
        assert inspection.summary == c["summary"].rstrip("\n")


def check_guard_glob(case: Any) -> None:
    c = case.case
    assert glob_match(c["pattern"], c["path"]) is c["matches"]


CHECKERS: dict[str, Callable[..., None]] = {
    "honesty_guard": check_honesty_guard,
    "guard_glob": check_guard_glob,
}
NEEDS_TMP: set[str] = set()
