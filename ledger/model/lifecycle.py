"""Finding resolution v1.0: closing a reported finding (`finding.resolved`).

A finding's life starts with `finding.reported` (ledger.model.finding). It ends
with `finding.resolved`, or its risk is accepted for a while with a waiver
(ledger.model.waiver). A later `finding.reported` with the same id reopens it.
"""

from __future__ import annotations

from typing import Literal

from ledger.model._rules import Identifier, Label, Text
from ledger.model.payload import Payload

Resolution = Literal["fixed", "false_positive", "wont_fix", "duplicate", "obsolete"]


class FindingResolvedV1(Payload, frozen=True):
    """`finding.resolved` schema 1.0: who closed which finding, and how."""

    finding_id: Identifier
    resolution: Resolution
    resolved_by: Label
    note: Text = ""
