"""Conversions between the proto messages and the model: events in, log entries out.

An event arrives as a proto `Event` and becomes the JSON envelope the model
validates, so the gRPC path applies exactly the rules an import does. A stored
leaf goes out as a `LogEntry` with its exact bytes and leaf hash; its decoded
`event` is read from those bytes without re-validating them (they were
validated on the way in, and `ledgerctl verify` re-checks them).
"""

from __future__ import annotations

import msgspec

from ledger.errors import ErrorCode, InvalidInput, VerificationFailed
from ledger.model import Envelope, PreparedEvent, prepare_json
from ledger.store import ConsistencyProof, InclusionProof
from ledger.v1 import ledger_pb2 as pb

_ENCODER = msgspec.json.Encoder()


class _StoredLeaf(msgspec.Struct, frozen=True, gc=False):
    """The members of a stored leaf, read without re-validation."""

    seq: int
    prev: str
    recorded_at: str
    event_id: str
    stream: str
    type: str
    schema_version: str
    occurred_at: str
    producer: str
    data: msgspec.Raw
    correlation_id: str | None = None


_LEAF_DECODER = msgspec.json.Decoder(_StoredLeaf)


def event_json(event: pb.Event) -> bytes:
    """The JSON envelope a proto `Event` stands for (not yet validated)."""
    head: dict[str, object] = {
        "event_id": event.event_id,
        "stream": event.stream,
        "type": event.type,
        "schema_version": event.schema_version,
        "occurred_at": event.occurred_at,
        "producer": event.producer,
    }
    if event.correlation_id:
        head["correlation_id"] = event.correlation_id
    if not event.data_json.strip():
        raise InvalidInput(
            ErrorCode.INVALID_EVENT,
            "invalid event at $.data: data_json is empty",
            hint="data_json must be one JSON object, e.g. {}",
            details={"field": "$.data"},
        )
    try:
        # Exactly one JSON value: spliced in unchecked, `{}, "stream": "x"` would
        # smuggle extra envelope members past the proto fields (last key wins).
        data = msgspec.json.decode(event.data_json.encode("utf-8"), type=msgspec.Raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than msgspec follows; not JSON we can take.
        raise InvalidInput(
            ErrorCode.INVALID_JSON,
            f"data_json is not one JSON value: {exc}",
            hint="data_json must be exactly one JSON object, e.g. {}",
            details={"field": "$.data"},
        ) from None
    head["data"] = data
    return _ENCODER.encode(head)


def prepare_proto_event(event: pb.Event) -> PreparedEvent:
    """Validate a proto `Event` exactly as an imported JSON event is validated."""
    return prepare_json(event_json(event))


def event_to_proto(envelope: Envelope) -> pb.Event:
    """The proto `Event` of an envelope built in Python (the client side of Append)."""
    return pb.Event(
        event_id=envelope.event_id,
        stream=envelope.stream,
        type=envelope.type,
        schema_version=envelope.schema_version,
        occurred_at=envelope.occurred_at,
        producer=envelope.producer,
        correlation_id=envelope.correlation_id or "",
        data_json=_ENCODER.encode(envelope.data).decode("utf-8"),
    )


def _damaged_leaf(code: ErrorCode, seq: int | None, why: str) -> VerificationFailed:
    where = f"seq {seq}" if seq is not None else "a stored leaf"
    return VerificationFailed(
        code,
        f"{where}: {why}",
        hint="the data directory is damaged; run `ledgerctl verify` and restore it",
        details={} if seq is None else {"seq": seq},
    )


def log_entry(leaf: bytes, leaf_hash: bytes, *, seq: int | None = None) -> pb.LogEntry:
    """The `LogEntry` for a stored leaf and its (stored) leaf hash.

    `seq`, when given, is where the leaf is stored; a leaf that does not parse,
    or names another seq, is damage (verification_failed), not a daemon bug.
    """
    try:
        stored = _LEAF_DECODER.decode(leaf)
    except (msgspec.MsgspecError, RecursionError) as exc:
        raise _damaged_leaf(
            ErrorCode.LEAF_UNREADABLE, seq, f"stored leaf does not parse: {exc}"
        ) from None
    if seq is not None and stored.seq != seq:
        raise _damaged_leaf(ErrorCode.SEQ_MISMATCH, seq, f"the leaf says it is seq {stored.seq}")
    return pb.LogEntry(
        seq=stored.seq,
        prev=stored.prev,
        recorded_at=stored.recorded_at,
        event=pb.Event(
            event_id=stored.event_id,
            stream=stored.stream,
            type=stored.type,
            schema_version=stored.schema_version,
            occurred_at=stored.occurred_at,
            producer=stored.producer,
            correlation_id=stored.correlation_id or "",
            data_json=bytes(stored.data).decode("utf-8"),
        ),
        leaf=leaf,
        leaf_hash=leaf_hash,
    )


def inclusion_to_proto(proof: InclusionProof) -> pb.InclusionProof:
    return pb.InclusionProof(
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=proof.leaf_hash,
        root_hash=proof.root,
        hashes=list(proof.hashes),
    )


def inclusion_from_proto(proof: pb.InclusionProof) -> InclusionProof:
    return InclusionProof(
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=proof.leaf_hash,
        root=proof.root_hash,
        hashes=tuple(proof.hashes),
    )


def consistency_to_proto(proof: ConsistencyProof) -> pb.ConsistencyProof:
    return pb.ConsistencyProof(
        first_size=proof.first_size,
        second_size=proof.second_size,
        first_root_hash=proof.first_root,
        second_root_hash=proof.second_root,
        hashes=list(proof.hashes),
    )


def consistency_from_proto(proof: pb.ConsistencyProof) -> ConsistencyProof:
    return ConsistencyProof(
        first_size=proof.first_size,
        second_size=proof.second_size,
        first_root=proof.first_root_hash,
        second_root=proof.second_root_hash,
        hashes=tuple(proof.hashes),
    )
