"""`LedgerClient`: the blocking client stub, with retries, deadlines and resumable streams."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc

from clients._calls import (
    APPEND,
    CHANNEL_OPTIONS,
    GET_CHECKPOINT,
    GET_CONSISTENCY,
    GET_EVENT,
    GET_INCLUSION,
    READ,
    SUBSCRIBE,
    CheckpointInfo,
    Entry,
    Method,
    Req,
    Resp,
    append_outcome,
    append_request,
    backoff_s,
    check_next,
    checkpoint_info,
    gave_up_reconnecting,
    get_event_request,
    read_request,
    resolve_target,
    rpc_error,
)
from clients.event import Event
from clients.projections import ProjectionsClient
from clients.retry import RetryPolicy
from ledger.store import AppendOutcome, AppendResult, ConsistencyProof, InclusionProof
from ledger.v1 import ledger_pb2 as pb
from ledger.wire.convert import consistency_from_proto, inclusion_from_proto


class LedgerClient:
    """A connection to one ledgerd. Thread-safe; close it (or use `with`) when done.

    Unary calls retry retryable failures under `retry`; `subscribe` resumes
    where it left off after a disconnect. Errors are the same `LedgerError`
    classes the daemon raised.
    """

    def __init__(self, target: str | None = None, *, retry: RetryPolicy | None = None) -> None:
        self.target = resolve_target(target)
        self.retry = retry or RetryPolicy()
        self._channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        #: Verdicts, findings, health, runs, replays and history (`clients.projections`).
        self.projections = ProjectionsClient(self._call)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Plumbing ---------------------------------------------------------------------------

    def _unary(self, method: Method[Req, Resp]) -> Callable[..., Resp]:
        return self._channel.unary_unary(
            method.path,
            request_serializer=method.request.SerializeToString,
            response_deserializer=method.response.FromString,
        )

    def _stream(self, method: Method[Req, Resp]) -> Callable[..., Any]:
        return self._channel.unary_stream(
            method.path,
            request_serializer=method.request.SerializeToString,
            response_deserializer=method.response.FromString,
        )

    def _call(self, method: Method[Req, Resp], request: Req) -> Resp:
        started = time.monotonic()
        stub = self._unary(method)
        for attempt in self.retry.retrying():
            with attempt:
                remaining = self.retry.overall_deadline_s - (time.monotonic() - started)
                timeout = max(min(self.retry.call_timeout_s, remaining), 0.001)
                try:
                    return stub(request, timeout=timeout)
                except grpc.RpcError as exc:
                    raise rpc_error(exc) from None
        raise AssertionError("unreachable: tenacity re-raises the last error")

    # Writes -----------------------------------------------------------------------------

    def append(self, event: Event) -> AppendResult:
        """Append one event durably; a retried append of the same event is a duplicate."""
        return self.append_batch([event]).results[0]

    def append_batch(self, events: Sequence[Event]) -> AppendOutcome:
        """Append events atomically and durably: all of them or none."""
        response = self._call(APPEND, append_request(events))
        return append_outcome(response, len(events))

    # Reads ------------------------------------------------------------------------------

    def read(
        self,
        *,
        from_seq: int = 0,
        to_seq: int | None = None,
        stream: str | None = None,
        from_version: int = 1,
        type: str | None = None,
        limit: int = 0,
        timeout_s: float = 300.0,
    ) -> Iterator[Entry]:
        """Stored events in seq order: a seq range, or one stream, optionally of one type."""
        request = read_request(
            from_seq=from_seq,
            to_seq=to_seq,
            stream=stream,
            from_version=from_version,
            type=type,
            limit=limit,
        )
        try:
            for response in self._stream(READ)(request, timeout=timeout_s):
                for entry in response.entries:
                    yield Entry.from_proto(entry)
        except grpc.RpcError as exc:
            raise rpc_error(exc) from None

    def subscribe(self, from_seq: int = 0) -> Iterator[Entry]:
        """Every event from `from_seq` on, then live, in order, each exactly once.

        Reconnects after the daemon restarts or the connection drops, resuming
        at the next undelivered seq; gives up (raising the last error) after
        `retry.max_attempts` failed reconnects in a row.
        """
        next_seq = from_seq
        failures = 0
        last_success = time.monotonic()
        while True:
            call = self._stream(SUBSCRIBE)(pb.SubscribeRequest(from_seq=next_seq))
            try:
                for response in call:
                    # Any message, even the empty one that opens a subscription,
                    # shows the connection works: reconnect failures start over.
                    failures = 0
                    last_success = time.monotonic()
                    for entry in response.entries:
                        check_next(entry, next_seq)
                        next_seq += 1
                        yield Entry.from_proto(entry)
                return
            except grpc.RpcError as exc:
                error = rpc_error(exc)
                failures += 1
                if not error.retryable or gave_up_reconnecting(self.retry, failures, last_success):
                    raise error from None
                time.sleep(backoff_s(self.retry, failures))
            finally:
                call.cancel()

    def get_event(self, *, seq: int | None = None, event_id: str | None = None) -> Entry:
        return Entry.from_proto(self._call(GET_EVENT, get_event_request(seq, event_id)))

    def checkpoint(self, tree_size: int | None = None) -> CheckpointInfo:
        """The server's signed checkpoint (unverified: see `clients.verified`)."""
        request = pb.GetCheckpointRequest(tree_size=tree_size)
        return checkpoint_info(self._call(GET_CHECKPOINT, request))

    def inclusion_proof(self, leaf_index: int, tree_size: int | None = None) -> InclusionProof:
        request = pb.GetInclusionProofRequest(leaf_index=leaf_index, tree_size=tree_size)
        return inclusion_from_proto(self._call(GET_INCLUSION, request))

    def consistency_proof(
        self, first_size: int, second_size: int | None = None
    ) -> ConsistencyProof:
        request = pb.GetConsistencyProofRequest(first_size=first_size, second_size=second_size)
        return consistency_from_proto(self._call(GET_CONSISTENCY, request))
