"""Encoding of projection rows: compact, deterministic MessagePack of frozen structs."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from ledger.errors import ErrorCode, IoFailure

_Row = TypeVar("_Row", bound=msgspec.Struct)
_ENCODER = msgspec.msgpack.Encoder()


class RowCodec(Generic[_Row]):
    """Encodes and decodes one row type; rows are msgspec structs with `array_like=True`."""

    def __init__(self, row: type[_Row]) -> None:
        self._decoder: msgspec.msgpack.Decoder[_Row] = msgspec.msgpack.Decoder(row)

    def encode(self, row: _Row) -> bytes:
        return _ENCODER.encode(row)

    def decode(self, raw: bytes) -> _Row:
        try:
            return self._decoder.decode(raw)
        except msgspec.MsgspecError as exc:
            raise IoFailure(
                ErrorCode.STORAGE_FAILURE,
                f"a stored projection row does not decode: {exc}",
                hint="the projections are damaged; "
                "`ledgerctl projections rebuild` folds them again",
            ) from None
