"""Events validated once and frozen into their canonical bytes, ready to append.

Validation decodes JSON, which is the costliest step of an append, so it must
happen exactly once per event: a `PreparedEvent` records that it did. It keeps
the canonical encoding as immutable bytes, and the store writes those bytes, so
nothing done to the envelope object afterwards can change what is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ledger.model.envelope import Envelope, decode_envelope, encode_envelope


@dataclass(frozen=True)
class PreparedEvent:
    """A validated envelope, its canonical JSON bytes, and their SHA-256 (the content digest).

    Build one with :func:`prepare_event` or :func:`prepare_json`, never directly.
    """

    envelope: Envelope
    canonical: bytes
    digest: bytes


def prepare_json(raw: bytes) -> PreparedEvent:
    """Validate one envelope given as JSON bytes."""
    envelope = decode_envelope(raw)
    canonical = encode_envelope(envelope)
    return PreparedEvent(envelope, canonical, hashlib.sha256(canonical).digest())


def prepare_event(envelope: Envelope) -> PreparedEvent:
    """Validate an envelope built in Python (where msgspec applies no field constraints)."""
    return prepare_json(encode_envelope(envelope))
