"""The plumbing every ledgerd gRPC service shares: parsing requests, reporting errors.

Requests are deserialized here rather than by grpc, so that bytes that are not
the method's message get a classified INVALID_REQUEST instead of a bare
INTERNAL status. Every LedgerError leaves as a status with ErrorInfo details
(`ledger.wire.status`); anything else is logged and reported as INTERNAL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

from ledger.errors import ErrorCode, InternalFailure, InvalidInput, LedgerError
from ledger.wire.status import DETAILS_KEY, status_code_for, status_details, wire_message

_log = logging.getLogger("ledgerd")

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)
Context = grpc.aio.ServicerContext[Any, Any]


class _Undecodable:
    """What a request that failed to parse becomes, so the handler can classify it."""

    def __init__(self, message_type: type[Message], reason: str) -> None:
        self.message_type = message_type
        self.reason = reason


def _deserializer(message_type: type[Req]) -> Callable[[bytes], Req | _Undecodable]:
    def parse(data: bytes) -> Req | _Undecodable:
        try:
            return message_type.FromString(data)
        except (DecodeError, ValueError, RuntimeError) as exc:
            return _Undecodable(message_type, str(exc) or type(exc).__name__)

    return parse


def _request(received: Req | _Undecodable) -> Req:
    if isinstance(received, _Undecodable):
        raise InvalidInput(
            ErrorCode.INVALID_REQUEST,
            f"the request is not a valid {received.message_type.DESCRIPTOR.full_name}: "
            f"{received.reason}",
            hint="send the message the method takes (proto/ledger/v1/)",
        )
    return received


async def _abort(context: Context, error: LedgerError) -> None:
    await context.abort(
        status_code_for(error),
        wire_message(error),
        trailing_metadata=((DETAILS_KEY, status_details(error)),),
    )


def _unexpected(method: str, exc: Exception) -> InternalFailure:
    _log.exception("unexpected failure in %s", method)
    return InternalFailure(
        ErrorCode.INTERNAL,
        f"{method} failed unexpectedly: {type(exc).__name__}",
        hint="this is a bug in ledgerd; the daemon log has the trace",
    )


UnaryHandler = Callable[[Req | _Undecodable, Context], Awaitable[Resp | None]]
StreamHandler = Callable[[Req | _Undecodable, Context], AsyncIterator[Resp]]


def _unary(method: Callable[[Req, Context], Awaitable[Resp]]) -> UnaryHandler[Req, Resp]:
    async def handle(received: Req | _Undecodable, context: Context) -> Resp | None:
        try:
            return await method(_request(received), context)
        except LedgerError as error:
            await _abort(context, error)
        except Exception as exc:  # every failure is reported, and logged here
            await _abort(context, _unexpected(method.__name__, exc))
        return None

    return handle


def _streaming(method: Callable[[Req, Context], AsyncIterator[Resp]]) -> StreamHandler[Req, Resp]:
    async def handle(received: Req | _Undecodable, context: Context) -> AsyncIterator[Resp]:
        try:
            async for response in method(_request(received), context):
                yield response
        except LedgerError as error:
            await _abort(context, error)
        except Exception as exc:  # every failure is reported, and logged here
            await _abort(context, _unexpected(method.__name__, exc))

    return handle


def unary_handler(
    method: Callable[[Req, Context], Awaitable[Resp]], request: type[Req]
) -> grpc.RpcMethodHandler[Any, Any]:
    """Register a unary method: our deserializer in, classified errors out."""
    return grpc.unary_unary_rpc_method_handler(
        _unary(method),
        request_deserializer=_deserializer(request),
        response_serializer=_serialize,
    )


def streaming_handler(
    method: Callable[[Req, Context], AsyncIterator[Resp]], request: type[Req]
) -> grpc.RpcMethodHandler[Any, Any]:
    """Register a server-streaming method: our deserializer in, classified errors out."""
    return grpc.unary_stream_rpc_method_handler(
        _streaming(method),
        request_deserializer=_deserializer(request),
        response_serializer=_serialize,
    )


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
