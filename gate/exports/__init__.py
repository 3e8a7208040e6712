"""The standard exports of a ledger snapshot: bundle, csv, sarif, openlineage, intoto.

Each renderer is pure: a `Snapshot` in, bytes out, the same bytes for the same
snapshot. `render_export` picks one by name; `file_extension` gives the file
name ending specs/exports.md recommends for it.
"""

from __future__ import annotations

from collections.abc import Callable

from gate.exports.bundle import render_bundle
from gate.exports.csv_export import render_csv
from gate.exports.intoto import render_intoto
from gate.exports.openlineage import render_openlineage
from gate.exports.sarif import render_sarif
from gate.snapshot import Scope, Snapshot
from ledger.errors import ErrorCode, InvalidInput

#: Every export format, in the order `ledgerctl export --help` lists them.
EXPORT_FORMATS = ("bundle", "csv", "sarif", "openlineage", "intoto")

_RENDERERS: dict[str, Callable[[Snapshot], bytes]] = {
    "bundle": render_bundle,
    "csv": render_csv,
    "sarif": render_sarif,
    "openlineage": render_openlineage,
    "intoto": render_intoto,
}

_EXTENSIONS = {
    "bundle": ".bundle.json",
    "csv": ".csv",
    "sarif": ".sarif",
    "openlineage": ".openlineage.jsonl",
    "intoto": ".intoto.jsonl",
}


def render_export(snapshot: Snapshot, fmt: str) -> bytes:
    """`snapshot` rendered in format `fmt` (one of `EXPORT_FORMATS`)."""
    return _RENDERERS[_known(fmt)](snapshot)


def file_extension(fmt: str, scope: Scope) -> str:
    """The file name ending for `fmt`; a single run's statement is JSON, not JSON Lines."""
    if _known(fmt) == "intoto" and scope == "run":
        return ".intoto.json"
    return _EXTENSIONS[fmt]


def _known(fmt: str) -> str:
    if fmt not in _RENDERERS:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown export format {fmt!r}",
            hint=f"use one of: {', '.join(EXPORT_FORMATS)}",
            details={"field": "format", "format": fmt, "formats": list(EXPORT_FORMATS)},
        )
    return fmt
