"""The stored leaf: the exact bytes that enter the hash chain and the Merkle tree.

A leaf is the compact UTF-8 JSON object `{seq, prev, recorded_at, ...envelope}`
with its keys in that order (specs/ledger-format.md, "Leaf bytes").
"""

from __future__ import annotations

import msgspec

from ledger.model._rules import Digest, Identifier, Label, UtcTime
from ledger.model.envelope import (
    Envelope,
    EventType,
    SchemaVersion,
    decode_payload,
    encode_envelope,
    invalid_event,
)

GENESIS_PREV = "0" * 64


class Leaf(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded stored leaf: its chain position plus the envelope it carries."""

    seq: int
    prev: str
    recorded_at: str
    envelope: Envelope


class _RawLeaf(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seq: int
    prev: Digest
    recorded_at: UtcTime
    event_id: Identifier
    stream: Label
    type: EventType
    schema_version: SchemaVersion
    occurred_at: UtcTime
    producer: Label
    correlation_id: Identifier | None
    data: msgspec.Raw


_ENCODER = msgspec.json.Encoder()


def leaf_from_canonical(seq: int, prev: str, recorded_at: str, canonical_envelope: bytes) -> bytes:
    """The leaf bytes around an envelope's canonical encoding (`{"event_id":...}`).

    The chain members go first and the envelope's members follow unchanged, so
    the stored bytes contain exactly the bytes that were validated.
    """
    head = _ENCODER.encode({"seq": seq, "prev": prev, "recorded_at": recorded_at})
    return head[:-1] + b"," + canonical_envelope[1:]


def encode_leaf(seq: int, prev: str, recorded_at: str, envelope: Envelope) -> bytes:
    """The exact leaf bytes for an envelope stored at `seq` after the leaf hashed `prev`."""
    return leaf_from_canonical(seq, prev, recorded_at, encode_envelope(envelope))


def decode_leaf(raw: bytes) -> Leaf:
    """Decode stored leaf bytes; raises invalid_input naming the field when they do not parse."""
    try:
        head = msgspec.json.decode(raw, type=_RawLeaf)
    except msgspec.MsgspecError as exc:
        raise invalid_event(exc) from None
    return Leaf(
        seq=head.seq,
        prev=head.prev,
        recorded_at=head.recorded_at,
        envelope=Envelope(
            event_id=head.event_id,
            stream=head.stream,
            type=head.type,
            schema_version=head.schema_version,
            occurred_at=head.occurred_at,
            producer=head.producer,
            correlation_id=head.correlation_id,
            data=decode_payload(head.type, head.schema_version, head.data),
        ),
    )
