"""What the sync and async clients share: targets, methods, requests and replies.

Only the transport differs between `LedgerClient` and `AsyncLedgerClient`;
everything about the contract (method paths, how requests are built, how
replies and errors are read) lives here once.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf.message import Message

from clients.event import Event
from clients.retry import RetryPolicy
from ledger.errors import ErrorCode, LedgerError, NetworkPermanent
from ledger.store import AppendOutcome, AppendResult
from ledger.v1 import ledger_pb2 as pb
from ledger.wire.status import error_from_status

DEFAULT_SERVER = "127.0.0.1:7700"
SERVER_ENV = "LEDGER_SERVER"

CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    # A LogEntry carries an event twice (decoded and as leaf bytes); events are <= 1 MiB.
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
    # Notice a dead daemon under a long-lived subscription.
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # gRPC's own reconnect backoff grows to 120 s by default, and while it waits
    # every call fails at once, which would spend our retries without trying:
    # keep it no longer than our own backoff.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)


def resolve_target(target: str | None) -> str:
    """The server address: the argument, else $LEDGER_SERVER, else 127.0.0.1:7700."""
    return target or os.environ.get(SERVER_ENV) or DEFAULT_SERVER


Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


@dataclass(frozen=True)
class Method(Generic[Req, Resp]):
    """One RPC: its path and message types."""

    path: str
    request: type[Req]
    response: type[Resp]


APPEND = Method("/ledger.v1.Ledger/Append", pb.AppendRequest, pb.AppendResponse)
READ = Method("/ledger.v1.Ledger/Read", pb.ReadRequest, pb.ReadResponse)
SUBSCRIBE = Method("/ledger.v1.Ledger/Subscribe", pb.SubscribeRequest, pb.SubscribeResponse)
GET_EVENT = Method("/ledger.v1.Ledger/GetEvent", pb.GetEventRequest, pb.LogEntry)
GET_CHECKPOINT = Method("/ledger.v1.Ledger/GetCheckpoint", pb.GetCheckpointRequest, pb.Checkpoint)
GET_INCLUSION = Method(
    "/ledger.v1.Ledger/GetInclusionProof", pb.GetInclusionProofRequest, pb.InclusionProof
)
GET_CONSISTENCY = Method(
    "/ledger.v1.Ledger/GetConsistencyProof", pb.GetConsistencyProofRequest, pb.ConsistencyProof
)


@dataclass(frozen=True)
class Entry:
    """A stored event as the server returned it: not yet verified (see `clients.verified`)."""

    seq: int
    prev: str
    recorded_at: str
    event: Event
    leaf: bytes
    leaf_hash: bytes

    @classmethod
    def from_proto(cls, entry: pb.LogEntry) -> Entry:
        return cls(
            seq=entry.seq,
            prev=entry.prev,
            recorded_at=entry.recorded_at,
            event=Event.from_proto(entry.event),
            leaf=entry.leaf,
            leaf_hash=entry.leaf_hash,
        )


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint as served; `note` is the signed note to verify with a pinned key."""

    origin: str
    tree_size: int
    root_hash: bytes
    note: str


def append_request(events: Sequence[Event]) -> pb.AppendRequest:
    return pb.AppendRequest(
        items=[
            pb.AppendItem(event=event.to_proto(), expected_version=event.expected_version)
            for event in events
        ]
    )


def append_outcome(response: pb.AppendResponse, sent: int) -> AppendOutcome:
    if len(response.results) != sent:
        raise protocol_error(f"the server answered {len(response.results)} results for {sent}")
    return AppendOutcome(
        results=tuple(
            AppendResult(seq=r.seq, stream_version=r.stream_version, duplicate=r.duplicate)
            for r in response.results
        ),
        tree_size=response.tree_size,
    )


def read_request(
    *,
    from_seq: int,
    to_seq: int | None,
    stream: str | None,
    from_version: int,
    type: str | None,
    limit: int,
) -> pb.ReadRequest:
    return pb.ReadRequest(
        from_seq=from_seq,
        to_seq=to_seq,
        stream=stream or "",
        from_version=from_version,
        type=type or "",
        limit=limit,
    )


def get_event_request(seq: int | None, event_id: str | None) -> pb.GetEventRequest:
    if (seq is None) == (event_id is None):
        raise ValueError("give exactly one of seq and event_id")
    return pb.GetEventRequest(seq=seq) if seq is not None else pb.GetEventRequest(event_id=event_id)


def checkpoint_info(response: pb.Checkpoint) -> CheckpointInfo:
    return CheckpointInfo(
        origin=response.origin,
        tree_size=response.tree_size,
        root_hash=response.root_hash,
        note=response.note,
    )


def rpc_error(exc: grpc.RpcError) -> LedgerError:
    """The LedgerError a failed call stands for (both grpc and grpc.aio errors)."""
    call: Any = exc
    code = call.code() if hasattr(call, "code") else None
    details = call.details() if hasattr(call, "details") else str(exc)
    trailers = call.trailing_metadata() if hasattr(call, "trailing_metadata") else None
    return error_from_status(code, details or "", list(trailers or ()))


def protocol_error(message: str) -> NetworkPermanent:
    return NetworkPermanent(
        ErrorCode.PROTOCOL_ERROR,
        message,
        hint="the server is not behaving like a compatible ledgerd",
    )


def check_next(entry: pb.LogEntry, expected_seq: int) -> None:
    """A subscription is gap-free and ordered; anything else is the server's fault."""
    if entry.seq != expected_seq:
        raise protocol_error(f"subscription delivered seq {entry.seq} where {expected_seq} was due")


def gave_up_reconnecting(policy: RetryPolicy, failures: int, last_success: float) -> bool:
    """A subscription's outage is bounded like a call: by `max_attempts` reconnects in
    a row or `overall_deadline_s` since it last worked, whichever comes first. Each
    message received, even the empty one that opens a subscription, ends an outage."""
    return (
        policy.max_attempts is not None and failures >= policy.max_attempts
    ) or time.monotonic() - last_success >= policy.overall_deadline_s


def backoff_s(policy: RetryPolicy, attempt: int) -> float:
    """Full-jitter backoff before reconnect `attempt` (1, 2, ...) of a stream.

    The schedule of tenacity's `wait_random_exponential`, which calls use: a wait
    drawn from 0 to min(max_backoff_s, initial_backoff_s * 2**(attempt - 1)).
    """
    ceiling = min(policy.max_backoff_s, policy.initial_backoff_s * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not secrecy
