"""The event envelope and its strict JSON decoding.

Decoding is two-phase: the envelope first, with `data` kept raw, then `data`
with the payload schema that `type` and `schema_version` select. Every error
names the field and the rule it broke.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from ledger.errors import ErrorCode, InvalidInput
from ledger.model._rules import Identifier, Label, UtcTime, parse_utc
from ledger.model.payload import Payload
from ledger.model.registry import schema_for

SchemaVersion = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,4}\.[0-9]{1,4}\Z")]
EventType = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+\Z")]

MAX_EVENT_BYTES = 1 << 20


class _EnvelopeHead(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The envelope members before `data`, in canonical encoding order (untracked, like Payload)."""

    event_id: Identifier
    stream: Label
    type: EventType
    schema_version: SchemaVersion
    occurred_at: UtcTime
    producer: Label
    correlation_id: Identifier | None = None


class Envelope(_EnvelopeHead, frozen=True, kw_only=True):
    """One event as a producer submits it. Field order is the canonical encoding order."""

    data: Payload


class RawEnvelope(_EnvelopeHead, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An envelope decoded with its `data` still raw JSON, awaiting its payload schema."""

    data: msgspec.Raw

    def __post_init__(self) -> None:
        parse_utc(self.occurred_at, "occurred_at")


def envelope_from_raw(head: RawEnvelope) -> Envelope:
    """Decode `data` with the schema the head's type and version select."""
    return Envelope(
        event_id=head.event_id,
        stream=head.stream,
        type=head.type,
        schema_version=head.schema_version,
        occurred_at=head.occurred_at,
        producer=head.producer,
        correlation_id=head.correlation_id,
        data=decode_payload(head.type, head.schema_version, head.data),
    )


_ENCODER = msgspec.json.Encoder()


# The member a message is about: msgspec names it for unknown and missing members, and
# the model's own rules (in __post_init__) start their messages with it.
_NAMED_FIELD = re.compile(
    r"^(?:Object (?:contains unknown|missing required) field )?`([A-Za-z_][A-Za-z0-9_]*)`"
)


def _field_path(message: str) -> str | None:
    marker = " - at `"
    path = message.rsplit(marker, 1)[1].rstrip("`") if marker in message else None
    named = _NAMED_FIELD.match(message)
    if named is not None:
        return f"{path or '$'}.{named.group(1)}"
    return path


def invalid_event(exc: msgspec.MsgspecError, *, prefix: str = "$") -> InvalidInput:
    """Turn a msgspec decode or validation error into a classified invalid_input error."""
    message = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        path = _field_path(message)
        if path is not None:
            message = message.rsplit(" - at `", 1)[0]
        field = prefix + (path[1:] if path else "")
        return InvalidInput(
            ErrorCode.INVALID_EVENT,
            f"invalid event at {field}: {message}",
            hint="fix the named field; specs/run-record-v1.md lists every field and rule",
            details={"field": field},
        )
    return InvalidInput(
        ErrorCode.INVALID_JSON,
        f"event is not valid JSON: {message}",
        hint="each event must be one UTF-8 JSON object",
    )


def nested_too_deeply(field: str | None = None) -> InvalidInput:
    """The error for JSON nested deeper than the decoder follows.

    msgspec raises RecursionError there (the depth it follows depends on the
    interpreter's recursion limit and the caller's stack), which is bad input,
    not a bug, so every decoding entry point turns it into this one error.
    """
    return InvalidInput(
        ErrorCode.INVALID_JSON,
        "event is not valid JSON: nested too deeply",
        hint="flatten the event's JSON: nesting near Python's recursion limit "
        "(about 1000 levels) cannot be decoded",
        details={} if field is None else {"field": field},
    )


def decode_payload(event_type: str, schema_version: str, raw: bytes | msgspec.Raw) -> Payload:
    """Decode `data` with the schema registered for the type and version."""
    schema = schema_for(event_type, schema_version)
    try:
        return msgspec.json.decode(raw, type=schema.payload)
    except msgspec.MsgspecError as exc:
        raise invalid_event(exc, prefix="$.data") from None
    except RecursionError:
        raise nested_too_deeply("$.data") from None


def decode_envelope(raw: bytes) -> Envelope:
    """Strictly decode and validate one envelope from JSON bytes."""
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidInput(
            ErrorCode.INVALID_EVENT,
            f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}",
            hint="keep large artefacts outside the ledger and record their digests",
        )
    try:
        head = msgspec.json.decode(raw, type=RawEnvelope)
    except msgspec.MsgspecError as exc:
        raise invalid_event(exc) from None
    except RecursionError:
        # Which member nests too deeply is not known: msgspec gives up before saying.
        raise nested_too_deeply() from None
    return envelope_from_raw(head)


def envelope_from_object(obj: Mapping[str, Any]) -> Envelope:
    """Validate an envelope given as plain JSON-shaped Python objects."""
    try:
        raw = _ENCODER.encode(obj)
    except RecursionError:
        raise nested_too_deeply() from None
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidInput(
            ErrorCode.INVALID_EVENT,
            f"event is not JSON-shaped: {exc}",
            hint="use only dicts, lists, strings, numbers, booleans and null",
        ) from None
    return decode_envelope(raw)


def encode_envelope(envelope: Envelope) -> bytes:
    """The canonical JSON bytes of an envelope: compact, fields in declaration order."""
    return _ENCODER.encode(envelope)


def content_digest(envelope: Envelope) -> bytes:
    """SHA-256 of the canonical envelope bytes: what "same content" means for idempotency."""
    return canonical_digest(encode_envelope(envelope))


def canonical_digest(canonical: bytes) -> bytes:
    """The content digest of bytes that are already an envelope's canonical encoding."""
    return hashlib.sha256(canonical).digest()
