"""The `findings_import` contract kind (specs/findings-import.md): findings files to payloads.

A case gives an input (`format`, inline JSON `input`, optional `base_dir`,
`subject`, `run_id`, which may also sit on the block) and either the error
(`error` code, `pointer`, optionally every problem's pointer in `problems`) or
what comes out: `findings` in output order, each a subset of the payload, where
`id_from` lists the parts the id is derived from and is hashed here as the
spec defines it, independently of the implementation; `skipped` as
`{pointer, reason}` (default none) and `warnings` (default none).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import msgspec
import pytest

from gate.ingest import parse_findings_report
from ledger.errors import LedgerError
from ledger.model.finding import FindingV1


def _documented_id(parts: list[Any]) -> str:
    digest = hashlib.sha256()
    for part in ["ledgerd-finding-id/1", *(str(p) for p in parts)]:
        raw = part.encode("utf-8")
        digest.update(len(raw).to_bytes(4, "big") + raw)
    return "f-" + digest.hexdigest()[:24]


def check_findings_import(case: Any) -> None:
    spec = {**{k: v for k, v in case.block.items() if k != "cases"}, **case.case}
    base_dir = spec.get("base_dir")

    def parse() -> Any:
        return parse_findings_report(
            spec["input"].encode("utf-8"),
            spec["format"],
            subject=spec["subject"],
            run_id=spec["run_id"],
            origin="case",
            base_dir=None if base_dir is None else PurePosixPath(base_dir),
        )

    if "error" in spec:
        with pytest.raises(LedgerError) as raised:
            parse()
        error = raised.value
        assert error.code == spec["error"], error
        assert error.details.get("pointer") == spec["pointer"], error
        if "problems" in spec:
            assert [p["pointer"] for p in error.details["problems"]] == spec["problems"], error
        return
    report = parse()
    assert [f.finding_id for f in report.findings] == sorted(f.finding_id for f in report.findings)
    for finding in report.findings:
        assert msgspec.json.decode(msgspec.json.encode(finding), type=FindingV1) == finding
    got = [msgspec.to_builtins(f) for f in report.findings]
    assert len(got) == len(spec["findings"]), got
    for wanted, finding in zip(spec["findings"], got, strict=True):
        expected = dict(wanted)
        parts = expected.pop("id_from", None)
        if parts is not None:
            assert finding["finding_id"] == _documented_id(parts), finding
        assert {key: finding[key] for key in expected} == expected, finding
    skipped = [{"pointer": s.pointer, "reason": s.reason} for s in report.skipped]
    assert skipped == spec.get("skipped", [])
    assert list(report.warnings) == spec.get("warnings", [])


CHECKERS: dict[str, Callable[..., None]] = {"findings_import": check_findings_import}
NEEDS_TMP: set[str] = set()
