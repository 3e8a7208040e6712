"""Events validated once and frozen into their canonical bytes, ready to append.

Validation decodes JSON, which is the costliest step of an append, so it must
happen exactly once per event: a `PreparedEvent` records that it did. It keeps
the canonical encoding as immutable bytes, and the store writes those bytes, so
nothing done to the envelope object afterwards can change what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.model.envelope import Envelope, canonical_digest, decode_envelope, encode_envelope
from ledger.model.registry import PayloadSchema, schema_for


@dataclass(frozen=True)
class PreparedEvent:
    """A validated envelope, its schema, its canonical JSON bytes and their SHA-256.

    Build one with :func:`prepare_event` or :func:`prepare_json`, never directly.
    """

    envelope: Envelope
    schema: PayloadSchema
    canonical: bytes
    digest: bytes

    @property
    def unique_key(self) -> str | None:
        """The value this event claims under its type's uniqueness rule, if it has one."""
        unique = self.schema.unique
        return unique.key(self.envelope.data) if unique is not None else None


def _prepared(envelope: Envelope, canonical: bytes) -> PreparedEvent:
    schema = schema_for(envelope.type, envelope.schema_version)
    return PreparedEvent(envelope, schema, canonical, canonical_digest(canonical))


def prepare_json(raw: bytes) -> PreparedEvent:
    """Validate one envelope given as JSON bytes (any key order, any spacing)."""
    envelope = decode_envelope(raw)
    return _prepared(envelope, encode_envelope(envelope))


def prepare_event(envelope: Envelope) -> PreparedEvent:
    """Validate an envelope built in Python (where msgspec applies no field constraints)."""
    canonical = encode_envelope(envelope)
    # Encoding an envelope object already gives its canonical bytes; decoding them
    # is the validation.
    return _prepared(decode_envelope(canonical), canonical)
