"""The event model: envelopes, typed payloads and the stored leaf format."""

from __future__ import annotations

from ledger.model.daemon import LedgerStartedV1
from ledger.model.envelope import (
    Envelope,
    canonical_digest,
    content_digest,
    decode_envelope,
    encode_envelope,
    envelope_from_object,
)
from ledger.model.finding import FindingV1
from ledger.model.gate_records import (
    CommandExecutedV1,
    GateEvaluatedV1,
    PatchEdit,
    PatchInspectedV1,
)
from ledger.model.leaf import GENESIS_PREV, Leaf, decode_leaf, encode_leaf, leaf_from_canonical
from ledger.model.lifecycle import FindingResolvedV1
from ledger.model.payload import Payload
from ledger.model.prepared import PreparedEvent, prepare_event, prepare_json
from ledger.model.registry import PayloadSchema, known_event_types, schema_for
from ledger.model.run_record import (
    BestEffortMetadata,
    FileDigest,
    RunRecordV1,
    RunRecordV1_1,
    input_context_sha,
)
from ledger.model.source import (
    SourceCheckedV1,
    SourceRegisteredV1,
    SuppressionAddedV1,
    SuppressionLiftedV1,
)
from ledger.model.waiver import WaiverGrantedV1, WaiverRevokedV1

__all__ = [
    "GENESIS_PREV",
    "BestEffortMetadata",
    "CommandExecutedV1",
    "Envelope",
    "FileDigest",
    "FindingResolvedV1",
    "FindingV1",
    "GateEvaluatedV1",
    "Leaf",
    "LedgerStartedV1",
    "PatchEdit",
    "PatchInspectedV1",
    "Payload",
    "PayloadSchema",
    "PreparedEvent",
    "RunRecordV1",
    "RunRecordV1_1",
    "SourceCheckedV1",
    "SourceRegisteredV1",
    "SuppressionAddedV1",
    "SuppressionLiftedV1",
    "WaiverGrantedV1",
    "WaiverRevokedV1",
    "canonical_digest",
    "content_digest",
    "decode_envelope",
    "decode_leaf",
    "encode_envelope",
    "encode_leaf",
    "envelope_from_object",
    "input_context_sha",
    "known_event_types",
    "leaf_from_canonical",
    "prepare_event",
    "prepare_json",
    "schema_for",
]
