"""Finding v1.0: one problem a gate worker reports about a subject (`finding.reported`)."""

from __future__ import annotations

from typing import Literal

from ledger.model._rules import (
    Identifier,
    Label,
    LineNumber,
    RequiredText,
    StageLabel,
    Text,
    TextLine,
    Uuid,
    check_relative_path,
)
from ledger.model.payload import Payload

Severity = Literal["P0", "P1", "P2", "P3"]
Evidence = Literal["verified", "hypothesis"]
FindingCategory = Literal[
    "correctness",
    "isolation",
    "security",
    "performance",
    "resilience",
    "contract",
    "test_integrity",
    "side_effects",
]


class FindingV1(Payload, frozen=True):
    """`finding.reported` schema 1.0."""

    finding_id: Identifier
    subject: TextLine
    severity: Severity
    evidence: Evidence
    file: str
    line: LineNumber | None
    what: RequiredText
    why: RequiredText
    when: Text
    proposed_fix: Text
    rule_id: Label
    stage: StageLabel
    category: FindingCategory
    run_id: Uuid

    def __post_init__(self) -> None:
        check_relative_path(self.file, "file")
