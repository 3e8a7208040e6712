"""The `Event` a client appends: its id fixed once, before the first attempt.

Because the id and the payload bytes are fixed when the value is made, every
retry of an append sends the very same event, and the daemon's idempotency by
event id turns a retry after a lost reply into a harmless duplicate.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from ledger.clock import Clock, SystemClock, format_utc
from ledger.errors import ErrorCode, InvalidInput
from ledger.model import Envelope, Payload
from ledger.model.envelope import invalid_event
from ledger.v1 import ledger_pb2 as pb

_ENCODER = msgspec.json.Encoder()


class _JsonEnvelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An envelope as `Event.to_json` writes it, with `data` kept as its exact bytes."""

    event_id: str
    stream: str
    type: str
    schema_version: str
    occurred_at: str
    producer: str
    correlation_id: str | None = None
    data: msgspec.Raw


_JSON_ENVELOPE = msgspec.json.Decoder(_JsonEnvelope)


class _EnvelopeHead(Protocol):
    """The envelope members an Envelope, a proto Event and a spooled envelope all have."""

    @property
    def event_id(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def schema_version(self) -> str: ...
    @property
    def occurred_at(self) -> str: ...
    @property
    def producer(self) -> str: ...
    @property
    def correlation_id(self) -> str | None: ...


def new_event_id() -> str:
    """A fresh UUIDv7: time-ordered, so ids sort roughly by creation."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def _data_json(data: Mapping[str, Any] | Payload) -> str:
    try:
        encoded = _ENCODER.encode(data)
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidInput(
            ErrorCode.INVALID_EVENT,
            f"event data is not JSON-shaped: {exc}",
            hint="use only dicts, lists, strings, numbers, booleans and null",
            details={"field": "$.data"},
        ) from None
    if not encoded.startswith(b"{"):
        raise InvalidInput(
            ErrorCode.INVALID_EVENT,
            "event data must be a JSON object",
            hint="pass a mapping or a payload struct",
            details={"field": "$.data"},
        )
    return encoded.decode("utf-8")


@dataclass(frozen=True)
class Event:
    """One event to append. Build it with :meth:`create` (or :meth:`from_envelope`).

    `expected_version` is a guard on the write, not part of the event: absent
    accepts any stream version, 0 requires a new stream, N requires version N.
    """

    event_id: str
    stream: str
    type: str
    schema_version: str
    occurred_at: str
    producer: str
    data_json: str
    correlation_id: str | None = None
    expected_version: int | None = field(default=None, compare=False)

    @classmethod
    def create(
        cls,
        *,
        stream: str,
        type: str,
        data: Mapping[str, Any] | Payload,
        producer: str,
        schema_version: str = "1.0",
        correlation_id: str | None = None,
        expected_version: int | None = None,
        event_id: str | None = None,
        clock: Clock | None = None,
    ) -> Event:
        return cls(
            event_id=event_id or new_event_id(),
            stream=stream,
            type=type,
            schema_version=schema_version,
            occurred_at=format_utc((clock or SystemClock()).now()),
            producer=producer,
            data_json=_data_json(data),
            correlation_id=correlation_id,
            expected_version=expected_version,
        )

    @classmethod
    def _from_head(
        cls, head: _EnvelopeHead, data_json: str, expected_version: int | None = None
    ) -> Event:
        return cls(
            event_id=head.event_id,
            stream=head.stream,
            type=head.type,
            schema_version=head.schema_version,
            occurred_at=head.occurred_at,
            producer=head.producer,
            data_json=data_json,
            # A proto says "none" with an empty string.
            correlation_id=head.correlation_id or None,
            expected_version=expected_version,
        )

    @classmethod
    def from_envelope(cls, envelope: Envelope, *, expected_version: int | None = None) -> Event:
        return cls._from_head(envelope, _data_json(envelope.data), expected_version)

    @classmethod
    def from_proto(cls, event: pb.Event) -> Event:
        return cls._from_head(event, event.data_json)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        """The event whose :meth:`to_json` gave `raw` (what the spool stores).

        Only the envelope's shape is checked: the daemon validates the content,
        so a client never refuses an event type newer than its own model. `data`
        keeps its exact bytes, so `Event.from_json(e.to_json()) == e`.
        """
        try:
            head = _JSON_ENVELOPE.decode(raw)
        except msgspec.MsgspecError as exc:
            raise invalid_event(exc) from None
        data = bytes(head.data)
        try:
            data_json = data.decode("utf-8")
        except UnicodeDecodeError:
            # msgspec passes raw members through unchecked; the payload must still be text.
            raise InvalidInput(
                ErrorCode.INVALID_JSON,
                "event is not valid JSON: `data` is not UTF-8",
                hint="each event must be one UTF-8 JSON object",
            ) from None
        if not data.lstrip().startswith(b"{"):
            raise InvalidInput(
                ErrorCode.INVALID_EVENT,
                "invalid event at $.data: event data must be a JSON object",
                hint="the envelope's `data` must be one JSON object",
                details={"field": "$.data"},
            )
        return cls._from_head(head, data_json)

    @property
    def data(self) -> dict[str, Any]:
        """The payload as plain JSON values."""
        decoded: dict[str, Any] = msgspec.json.decode(self.data_json, type=dict[str, Any])
        return decoded

    def to_proto(self) -> pb.Event:
        return pb.Event(
            event_id=self.event_id,
            stream=self.stream,
            type=self.type,
            schema_version=self.schema_version,
            occurred_at=self.occurred_at,
            producer=self.producer,
            correlation_id=self.correlation_id or "",
            data_json=self.data_json,
        )

    def to_json(self) -> bytes:
        """The envelope as JSON (what `ledgerctl import` and the spool take)."""
        envelope: dict[str, object] = {
            "event_id": self.event_id,
            "stream": self.stream,
            "type": self.type,
            "schema_version": self.schema_version,
            "occurred_at": self.occurred_at,
            "producer": self.producer,
        }
        if self.correlation_id is not None:
            envelope["correlation_id"] = self.correlation_id
        envelope["data"] = msgspec.Raw(self.data_json.encode("utf-8"))
        return _ENCODER.encode(envelope)
