"""Waivers v1.0: accepting a finding's residual risk until a set time.

`waiver.granted` accepts the risk of one finding, owned by someone, until its
`expiry`; `waiver.revoked` withdraws it early. Waivers always expire.
"""

from __future__ import annotations

from typing import Literal

from ledger.model._rules import Identifier, Label, RequiredText, UtcTime, parse_utc
from ledger.model.payload import Payload

Risk = Literal["low", "medium", "high", "critical"]


class WaiverGrantedV1(Payload, frozen=True):
    """`waiver.granted` schema 1.0: a finding's accepted risk, its owner and its expiry."""

    waiver_id: Identifier
    finding_id: Identifier
    risk: Risk
    owner: Label
    justification: RequiredText
    mitigation: RequiredText
    expiry: UtcTime

    def __post_init__(self) -> None:
        parse_utc(self.expiry, "expiry")


class WaiverRevokedV1(Payload, frozen=True):
    """`waiver.revoked` schema 1.0: a waiver withdrawn before its expiry."""

    waiver_id: Identifier
    finding_id: Identifier
    reason: RequiredText
    revoked_by: Label
