"""What every export renderer shares: who wrote it, how JSON is encoded, how severities rank.

The identifiers here are part of the export formats (specs/exports.md §1): the
producer URI names this ledgerd version in OpenLineage events, SARIF and in-toto
statements, and changing any of them changes every export's bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from gate.snapshot import Json, Snapshot
from ledger import __version__

#: The ledgerd version every export names as its producer.
LEDGERD_VERSION = __version__

#: A package URL (purl, `generic` type: no registry implied) naming this ledgerd release.
PRODUCER_URI = f"pkg:generic/ledgerd@{LEDGERD_VERSION}"

#: The base of the URIs ledgerd mints for its own names (build type, facets, builders).
TYPE_URI_BASE = "urn:ledgerd"

#: Severity order: most severe first.
SEVERITY_RANK = {"P0": 0, "P1": 1, "P2": 2, "P3": 3}


def json_document(value: object) -> bytes:
    """One JSON document for people and tools: two-space indent, UTF-8, trailing newline."""
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def json_line(value: object) -> bytes:
    """One compact JSON value on one line, newline-terminated (JSON Lines)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


def json_lines(values: Iterable[object]) -> bytes:
    """JSON Lines: one compact value per line; no values is an empty file."""
    return b"".join(json_line(value) for value in values)


def canonical_json(value: object) -> bytes:
    """RFC 8785 (JCS) bytes of `value`, for values without floats and with ASCII keys.

    Run records hold no floats and their keys are ASCII, where sorting by code
    point is JCS's UTF-16 order and `json` writes numbers and strings as JCS does.
    """
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def scope_json(snapshot: Snapshot) -> Json:
    """The scope of a snapshot as exports name it: `{"kind", "ref"}`."""
    return {"kind": snapshot.scope, "ref": snapshot.scope_ref}
