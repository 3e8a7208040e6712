"""Conversions between the proto messages and the model: events in, log entries out.

An event arrives as a proto `Event` and becomes the JSON envelope the model
validates, so the gRPC path applies exactly the rules an import does. A stored
leaf goes out as a `LogEntry` with its exact bytes and leaf hash; its decoded
`event` is read from those bytes without re-validating them (they were
validated on the way in, and `ledgerctl verify` re-checks them).
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from ledger.errors import ErrorCode, InvalidInput, VerificationFailed
from ledger.model.envelope import nested_too_deeply
from ledger.store import ConsistencyProof, InclusionProof
from ledger.v1 import ledger_pb2 as pb

_ENCODER = msgspec.json.Encoder()


class StoredLeafMembers(msgspec.Struct, frozen=True, gc=False):
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


_LEAF_DECODER = msgspec.json.Decoder(StoredLeafMembers)


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
    except RecursionError:
        # The same refusal the model gives an imported line nested this deeply.
        raise nested_too_deeply("$.data") from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(
            ErrorCode.INVALID_JSON,
            f"data_json is not one JSON value: {exc}",
            hint="data_json must be exactly one JSON object, e.g. {}",
            details={"field": "$.data"},
        ) from None
    head["data"] = data
    return _ENCODER.encode(head)


def _damaged_leaf(code: ErrorCode, seq: int | None, why: str) -> VerificationFailed:
    where = f"seq {seq}" if seq is not None else "a stored leaf"
    return VerificationFailed(
        code,
        f"{where}: {why}",
        hint="the data directory is damaged; run `ledgerctl verify` and restore it",
        details={} if seq is None else {"seq": seq},
    )


class ServedLeaf(NamedTuple):
    """A stored leaf on its way out: its bytes, stored hash and members, read once."""

    leaf: bytes
    leaf_hash: bytes
    members: StoredLeafMembers

    @property
    def seq(self) -> int:
        return self.members.seq

    @property
    def type(self) -> str:
        return self.members.type

    def size_bound(self) -> int:
        """An upper bound on the bytes this leaf's `LogEntry` adds to a message.

        The event's fields are decoded from the leaf, so together they take no
        more bytes than the leaf; the rest is the fixed members and framing.
        """
        return 2 * len(self.leaf) + _ENTRY_OVERHEAD_BOUND


#: seq, prev, recorded_at, leaf_hash, and the tags and lengths of every field.
_ENTRY_OVERHEAD_BOUND = 256


def serve_leaf(leaf: bytes, leaf_hash: bytes, *, seq: int | None = None) -> ServedLeaf:
    """Read a stored leaf's members (without re-validation) to serve it.

    `seq`, when given, is where the leaf is stored; a leaf that does not parse,
    or names another seq, is damage (verification_failed), not a daemon bug.
    """
    try:
        members = _LEAF_DECODER.decode(leaf)
    except (msgspec.MsgspecError, RecursionError) as exc:
        raise _damaged_leaf(
            ErrorCode.LEAF_UNREADABLE, seq, f"stored leaf does not parse: {exc}"
        ) from None
    if seq is not None and members.seq != seq:
        raise _damaged_leaf(ErrorCode.SEQ_MISMATCH, seq, f"the leaf says it is seq {members.seq}")
    return ServedLeaf(leaf, leaf_hash, members)


def fill_log_entry(entry: pb.LogEntry, served: ServedLeaf) -> None:
    """Fill an (empty) `LogEntry` in place.

    In place, because adding entries to a response with `entries.add()` and
    filling them avoids copying each finished message into the response, which
    was the largest single cost of a catch-up.
    """
    members = served.members
    entry.seq = members.seq
    entry.prev = members.prev
    entry.recorded_at = members.recorded_at
    entry.leaf = served.leaf
    entry.leaf_hash = served.leaf_hash
    event = entry.event
    event.event_id = members.event_id
    event.stream = members.stream
    event.type = members.type
    event.schema_version = members.schema_version
    event.occurred_at = members.occurred_at
    event.producer = members.producer
    if members.correlation_id:
        event.correlation_id = members.correlation_id
    event.data_json = bytes(members.data).decode("utf-8")


def log_entry(leaf: bytes, leaf_hash: bytes, *, seq: int | None = None) -> pb.LogEntry:
    """The `LogEntry` for a stored leaf and its (stored) leaf hash."""
    entry = pb.LogEntry()
    fill_log_entry(entry, serve_leaf(leaf, leaf_hash, seq=seq))
    return entry


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
