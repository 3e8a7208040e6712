"""LedgerError <-> gRPC status with `google.rpc.Status` / `ErrorInfo` details.

The daemon turns every LedgerError into a status code plus a `google.rpc.Status`
in the `grpc-status-details-bin` trailer, whose `ErrorInfo` carries the error
code (reason), category, retryability, hint and details. The client turns it
back into the same exception class. A status without those details (a transport
failure, a deadline, a proxy) is classified from its status code alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from ledger.errors import (
    CODE_CATEGORY,
    ERROR_CLASSES,
    Category,
    ErrorCode,
    InvalidInput,
    LedgerError,
    NetworkPermanent,
)

DOMAIN = "ledgerd"
DETAILS_KEY = "grpc-status-details-bin"

# Codes whose gRPC status says more than their category's default.
_CODE_STATUS: Mapping[ErrorCode, grpc.StatusCode] = {
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.DATA_DIR_NOT_FOUND: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.REQUEST_TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.EVENT_ID_CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.RUN_ALREADY_RECORDED: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.WRONG_EXPECTED_VERSION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
}

_CATEGORY_STATUS: Mapping[Category, grpc.StatusCode] = {
    Category.INVALID_INPUT: grpc.StatusCode.INVALID_ARGUMENT,
    Category.VERIFICATION_FAILED: grpc.StatusCode.DATA_LOSS,
    Category.POLICY_BLOCKED: grpc.StatusCode.PERMISSION_DENIED,
    Category.APPROVAL_REQUIRED: grpc.StatusCode.PERMISSION_DENIED,
    Category.DEPENDENCY_MISSING: grpc.StatusCode.FAILED_PRECONDITION,
    Category.IO_FAILURE: grpc.StatusCode.INTERNAL,
    Category.STATE_CONTENTION: grpc.StatusCode.ABORTED,
    Category.NETWORK_TRANSIENT: grpc.StatusCode.UNAVAILABLE,
    Category.NETWORK_PERMANENT: grpc.StatusCode.FAILED_PRECONDITION,
    Category.INTERNAL_FAILURE: grpc.StatusCode.INTERNAL,
}

# How a bare status (no ErrorInfo) is classified on the client.
_BARE_STATUS: Mapping[grpc.StatusCode, tuple[ErrorCode, str]] = {
    grpc.StatusCode.UNAVAILABLE: (
        ErrorCode.SERVER_UNAVAILABLE,
        "check that ledgerd is running and LEDGER_SERVER points at it; retried automatically",
    ),
    grpc.StatusCode.DEADLINE_EXCEEDED: (
        ErrorCode.DEADLINE_EXCEEDED,
        "the daemon was too slow; raise the deadline or retry (appends stay idempotent)",
    ),
    grpc.StatusCode.CANCELLED: (
        ErrorCode.SERVER_UNAVAILABLE,
        "the call was cancelled before it finished; retry",
    ),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (
        ErrorCode.REQUEST_TOO_LARGE,
        "the message exceeds a gRPC size limit; split the batch",
    ),
    grpc.StatusCode.UNIMPLEMENTED: (
        ErrorCode.PROTOCOL_ERROR,
        "the server does not implement this method; is it a compatible ledgerd?",
    ),
}


# Trailers travel as HTTP/2 headers, and gRPC refuses metadata beyond 8 KiB (soft)
# or 16 KiB (hard): the client would then see RESOURCE_EXHAUSTED instead of the
# error. Messages can quote input (an unknown event id, an invalid enum value),
# so everything put in trailers is bounded, in UTF-8 bytes (before percent- or
# base64-encoding; 512 + 512 + 1024 bytes stay well below the soft limit).
MAX_MESSAGE_BYTES = 512
MAX_HINT_BYTES = 512
MAX_DETAIL_VALUE_BYTES = 256
MAX_DETAILS_BYTES = 1024
_ELLIPSIS = "\u2026"


def clip(text: str, limit: int) -> str:
    """`text`, cut to at most `limit` UTF-8 bytes (ending in an ellipsis when cut)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    room = limit - len(_ELLIPSIS.encode("utf-8"))
    return encoded[:room].decode("utf-8", "ignore") + _ELLIPSIS


def wire_message(error: LedgerError) -> str:
    """The error's message as sent in `grpc-message` and `google.rpc.Status.message`."""
    return clip(error.message, MAX_MESSAGE_BYTES)


def _details_json(details: Mapping[str, object]) -> str:
    clipped = {
        clip(str(key), MAX_DETAIL_VALUE_BYTES): (
            clip(value, MAX_DETAIL_VALUE_BYTES) if isinstance(value, str) else value
        )
        for key, value in details.items()
    }
    text = json.dumps(clipped, sort_keys=True, default=str)
    if len(text.encode("utf-8")) <= MAX_DETAILS_BYTES:
        return text
    # Still too large (many keys, or large non-string values): keep what fits.
    kept: dict[str, object] = {}
    for key in sorted(clipped):
        trial = {**kept, key: clipped[key]}
        if len(json.dumps(trial, sort_keys=True, default=str).encode("utf-8")) <= MAX_DETAILS_BYTES:
            kept = trial
    return json.dumps(kept, sort_keys=True, default=str)


def status_code_for(error: LedgerError) -> grpc.StatusCode:
    return _CODE_STATUS.get(error.code, _CATEGORY_STATUS[error.category])


def status_details(error: LedgerError) -> bytes:
    """The serialized `google.rpc.Status` for the `grpc-status-details-bin` trailer."""
    info = error_details_pb2.ErrorInfo(
        reason=str(error.code),
        domain=DOMAIN,
        metadata={
            "category": str(error.category),
            "retryable": "true" if error.retryable else "false",
            "hint": clip(error.hint, MAX_HINT_BYTES),
            "details": _details_json(error.details),
        },
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=status_code_for(error).value[0], message=wire_message(error), details=[detail]
    )
    serialized: bytes = status.SerializeToString()
    return serialized


def error_from_status(
    code: grpc.StatusCode | None,
    message: str,
    trailing_metadata: Sequence[tuple[str, str | bytes]] | None,
) -> LedgerError:
    """The LedgerError a failed call stands for, from its status and trailers."""
    for key, value in trailing_metadata or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            decoded = _decode_details(value)
            if decoded is not None:
                return decoded
    if code is not None and code in _BARE_STATUS:
        error_code, hint = _BARE_STATUS[code]
        category = CODE_CATEGORY[error_code]
        return ERROR_CLASSES[category](
            error_code,
            f"{code.name.lower()}: {message}",
            hint=hint,
            details={"grpc_status": code.name},
        )
    name = code.name if code is not None else "UNKNOWN"
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidInput(
            ErrorCode.INVALID_REQUEST,
            f"the server refused the request: {message}",
            hint="check the request against specs/grpc-api.md",
            details={"grpc_status": name},
        )
    return NetworkPermanent(
        ErrorCode.PROTOCOL_ERROR,
        f"the server failed with {name}: {message}",
        hint="is the address a compatible ledgerd? its logs may say more",
        details={"grpc_status": name},
    )


def _decode_details(blob: bytes) -> LedgerError | None:
    try:
        status = status_pb2.Status.FromString(blob)
    except Exception:
        return None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info) and info.domain == DOMAIN:
            return _error_from_info(info, status.message)
    return None


def _error_from_info(info: error_details_pb2.ErrorInfo, message: str) -> LedgerError:
    try:
        code = ErrorCode(info.reason)
    except ValueError:
        return NetworkPermanent(
            ErrorCode.PROTOCOL_ERROR,
            f"the server sent an error code this client does not know: {info.reason}: {message}",
            hint="upgrade the client to the server's version",
            details={"server_code": info.reason},
        )
    try:
        details = json.loads(info.metadata.get("details", "{}"))
    except ValueError:
        details = {}
    if not isinstance(details, dict):
        details = {}
    category = CODE_CATEGORY[code]
    return ERROR_CLASSES[category](
        code, message, hint=info.metadata.get("hint", ""), details=details
    )
