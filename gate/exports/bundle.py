"""The `bundle` export: a snapshot as one self-contained JSON document (specs/exports.md §2).

Verdict documents and run entries are copied as they are, so a bundle carries
everything the other exports are rendered from and can be archived or diffed.
"""

from __future__ import annotations

from gate.exports._common import json_document, scope_json
from gate.snapshot import Snapshot

BUNDLE_FORMAT = "ledgerd.bundle"
BUNDLE_VERSION = 1


def render_bundle(snapshot: Snapshot) -> bytes:
    """The bundle document of `snapshot`, members in the order of specs/exports.md §2."""
    return json_document(
        {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "scope": scope_json(snapshot),
            "checkpoint": snapshot.checkpoint.to_json(),
            "evaluated_at": snapshot.evaluated_at,
            "verdicts": list(snapshot.verdicts),
            "runs": [run.to_json() for run in snapshot.runs],
        }
    )
