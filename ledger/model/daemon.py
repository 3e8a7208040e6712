"""LedgerStarted v1.0: the record a daemon appends each time it starts (`ledger.started`)."""

from __future__ import annotations

from ledger.model._rules import Digest, Label
from ledger.model.payload import Payload


class LedgerStartedV1(Payload, frozen=True):
    """`ledger.started` schema 1.0: which daemon version ran with which configuration."""

    daemon_version: Label
    config_fingerprint: Digest
    origin: Label
