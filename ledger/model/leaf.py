"""The stored leaf: the exact bytes that enter the hash chain and the Merkle tree.

A leaf is the compact UTF-8 JSON object `{seq, prev, recorded_at, ...envelope}`
with its keys in that order (specs/ledger-format.md, "Leaf bytes").
"""

from __future__ import annotations

import re

import msgspec

from ledger.model._rules import Digest, UtcTime, parse_utc
from ledger.model.envelope import (
    Envelope,
    RawEnvelope,
    encode_envelope,
    envelope_from_raw,
    invalid_event,
    nested_too_deeply,
)

GENESIS_PREV = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
_RECORDED_AT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z"
)


class Leaf(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A decoded stored leaf: its chain position plus the envelope it carries."""

    seq: int
    prev: str
    recorded_at: str
    envelope: Envelope


class _RawLeaf(RawEnvelope, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seq: int
    prev: Digest
    recorded_at: UtcTime

    def __post_init__(self) -> None:
        super().__post_init__()
        parse_utc(self.recorded_at, "recorded_at")


def leaf_from_canonical(seq: int, prev: str, recorded_at: str, canonical_envelope: bytes) -> bytes:
    """The leaf bytes around an envelope's canonical encoding (`{"event_id":...}`).

    The chain members go first and the envelope's members follow unchanged, so
    the stored bytes contain exactly the bytes that were validated.
    """
    # Checked, so that neither can need JSON escaping.
    if not _HEX64.fullmatch(prev) or not _RECORDED_AT.fullmatch(recorded_at):
        raise ValueError(f"malformed chain members: prev={prev!r}, recorded_at={recorded_at!r}")
    head = b'{"seq":%d,"prev":"%s","recorded_at":"%s",' % (
        seq,
        prev.encode("ascii"),
        recorded_at.encode("ascii"),
    )
    return head + canonical_envelope[1:]


def encode_leaf(seq: int, prev: str, recorded_at: str, envelope: Envelope) -> bytes:
    """The exact leaf bytes for an envelope stored at `seq` after the leaf hashed `prev`."""
    return leaf_from_canonical(seq, prev, recorded_at, encode_envelope(envelope))


def decode_leaf(raw: bytes) -> Leaf:
    """Decode stored leaf bytes; raises invalid_input naming the field when they do not parse."""
    try:
        head = msgspec.json.decode(raw, type=_RawLeaf)
    except msgspec.MsgspecError as exc:
        raise invalid_event(exc) from None
    except RecursionError:
        raise nested_too_deeply() from None
    return Leaf(
        seq=head.seq,
        prev=head.prev,
        recorded_at=head.recorded_at,
        envelope=envelope_from_raw(head),
    )
