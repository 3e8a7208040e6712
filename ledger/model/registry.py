"""Which payload schema each (event type, schema version) pair decodes with.

Readers must accept every schema version ever written, so entries are only
ever added here, never removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ledger.errors import ErrorCode, InvalidInput
from ledger.model.daemon import LedgerStartedV1
from ledger.model.finding import FindingV1
from ledger.model.gate_records import CommandExecutedV1, GateEvaluatedV1, PatchInspectedV1
from ledger.model.lifecycle import FindingResolvedV1
from ledger.model.payload import Payload
from ledger.model.run_record import RunRecordV1, RunRecordV1_1
from ledger.model.source import (
    SourceCheckedV1,
    SourceRegisteredV1,
    SuppressionAddedV1,
    SuppressionLiftedV1,
)
from ledger.model.waiver import WaiverGrantedV1, WaiverRevokedV1


@dataclass(frozen=True)
class UniqueConstraint:
    """A value that at most one event of a type may carry in the whole log."""

    key: Callable[[Payload], str]
    conflict_code: ErrorCode
    describe: str


@dataclass(frozen=True)
class PayloadSchema:
    """One registered (type, schema_version) and how to decode and constrain it."""

    event_type: str
    schema_version: str
    payload: type[Payload]
    unique: UniqueConstraint | None = None


def _run_id_key(payload: Payload) -> str:
    # 1.1 derives from 1.0, so a run id is unique across both versions.
    if not isinstance(payload, RunRecordV1):
        raise TypeError(f"run_id key asked of {type(payload).__name__}")
    return f"run_id:{payload.run_id}"


_UNIQUE_RUN_ID = UniqueConstraint(_run_id_key, ErrorCode.RUN_ALREADY_RECORDED, "run_id")

_SCHEMAS: Mapping[tuple[str, str], PayloadSchema] = {
    (schema.event_type, schema.schema_version): schema
    for schema in (
        PayloadSchema("run.recorded", "1.0", RunRecordV1, _UNIQUE_RUN_ID),
        PayloadSchema("run.recorded", "1.1", RunRecordV1_1, _UNIQUE_RUN_ID),
        PayloadSchema("finding.reported", "1.0", FindingV1),
        PayloadSchema("ledger.started", "1.0", LedgerStartedV1),
        # The lifecycle events: specs/lifecycle-events.md.
        PayloadSchema("finding.resolved", "1.0", FindingResolvedV1),
        PayloadSchema("waiver.granted", "1.0", WaiverGrantedV1),
        PayloadSchema("waiver.revoked", "1.0", WaiverRevokedV1),
        PayloadSchema("source.registered", "1.0", SourceRegisteredV1),
        PayloadSchema("source.checked", "1.0", SourceCheckedV1),
        PayloadSchema("suppression.added", "1.0", SuppressionAddedV1),
        PayloadSchema("suppression.lifted", "1.0", SuppressionLiftedV1),
        PayloadSchema("command.executed", "1.0", CommandExecutedV1),
        PayloadSchema("patch.inspected", "1.0", PatchInspectedV1),
        PayloadSchema("gate.evaluated", "1.0", GateEvaluatedV1),
    )
}


def schema_for(event_type: str, schema_version: str) -> PayloadSchema:
    """The schema for a type and version, or an invalid_input error naming what is known."""
    schema = _SCHEMAS.get((event_type, schema_version))
    if schema is not None:
        return schema
    versions = sorted(v for (t, v) in _SCHEMAS if t == event_type)
    if not versions:
        raise InvalidInput(
            ErrorCode.UNKNOWN_EVENT_TYPE,
            f"unknown event type {event_type!r}",
            hint=f"known types: {', '.join(known_event_types())}",
            details={"field": "type"},
        )
    raise InvalidInput(
        ErrorCode.UNKNOWN_SCHEMA_VERSION,
        f"event type {event_type!r} has no schema version {schema_version!r}",
        hint=f"known versions of {event_type}: {', '.join(versions)}",
        details={"field": "schema_version"},
    )


def known_event_types() -> list[str]:
    return sorted({t for (t, _) in _SCHEMAS})
