"""The `ledger.v1.Ledger` service: each method a thin translation onto the event log.

Request parsing and error reporting are shared with the other services
(`ledger.server.handlers`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from typing import Any

import grpc
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from ledger.checkpoint import Checkpoint, SignerKey
from ledger.errors import ErrorCode, InvalidInput, LedgerError, NetworkTransient
from ledger.model import prepare_json
from ledger.server.committer import GroupCommitter
from ledger.server.config import DaemonConfig
from ledger.server.handlers import Context, streaming_handler, unary_handler
from ledger.store import AppendRequest, LmdbEventLog, StoredLeaf
from ledger.v1 import ledger_pb2 as pb
from ledger.wire.convert import (
    ServedLeaf,
    consistency_to_proto,
    event_json,
    fill_log_entry,
    inclusion_to_proto,
    log_entry,
    serve_leaf,
)

SERVICE_NAME = "ledger.v1.Ledger"

#: A streamed message takes no more entries once it would pass this many bytes (or
#: entries); a single larger entry goes alone, up to `max_message_bytes`.
_MESSAGE_BYTES = 1 << 20
_MESSAGE_ENTRIES = 1024
#: Room in a ReadResponse / SubscribeResponse for what is not an entry (tree_size).
_RESPONSE_OVERHEAD = 16
#: Below this size bound an entry surely fits in a message, so its exact size is not needed.
_EXACT_SIZE_ABOVE = 64 << 10

#: What only the daemon itself writes (`ledger.server.daemon.started_event`): its
#: `ledger.started` records, their stream, and their ids `ledger.started:<size>`.
#: A client claiming one of those ids could stop the daemon from ever starting
#: again at that size, and a client's "started" record would misstate which
#: configuration wrote the log.
RESERVED_TYPE = "ledger.started"
RESERVED_STREAM = "ledgerd"
RESERVED_ID_PREFIX = "ledger.started:"


def _framed_size(served: ServedLeaf) -> int:
    """The bytes `served` adds to a response: tag, length prefix and the message.

    The cheap upper bound decides almost always; the exact size is computed only
    for an entry that might not fit in a message at all.
    """
    bound = served.size_bound()
    if bound <= _EXACT_SIZE_ABOVE:
        return bound
    entry = pb.LogEntry()
    fill_log_entry(entry, served)
    size = entry.ByteSize()
    return 1 + _varint_size(size) + size


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def _chunks(
    served: Iterable[ServedLeaf], limit: int, max_message_bytes: int
) -> Iterator[list[ServedLeaf]]:
    """Group leaves into messages that fit the message limit, stopping after `limit`.

    `limit` 0 means no limit. An entry that cannot fit in any message under
    `max_message_bytes`, or that cannot be read (damage), ends the stream with
    its error, after every entry before it was sent, so the caller knows where
    it stopped.
    """
    hard = max_message_bytes - _RESPONSE_OVERHEAD
    soft = min(_MESSAGE_BYTES, hard)
    chunk: list[ServedLeaf] = []
    size = 0
    iterator = iter(served)
    sent = 0
    while True:
        try:
            leaf = next(iterator)
        except StopIteration:
            break
        except LedgerError:
            if chunk:
                yield chunk
            raise
        sent += 1
        framed = _framed_size(leaf)
        if framed > hard:
            if chunk:
                yield chunk
            raise InvalidInput(
                ErrorCode.REQUEST_TOO_LARGE,
                f"the entry at seq {leaf.seq} needs a {framed + _RESPONSE_OVERHEAD}-byte "
                f"message; the daemon's limit is {max_message_bytes}",
                hint="the daemon's max_message_bytes is too small for this event; raise it "
                "(at least twice max_event_bytes) or read around this seq",
                details={"limit": max_message_bytes, "seq": leaf.seq},
            )
        if chunk and (size + framed > soft or len(chunk) >= _MESSAGE_ENTRIES):
            yield chunk
            chunk, size = [], 0
        chunk.append(leaf)
        size += framed
        if limit and sent >= limit:
            break
    if chunk:
        yield chunk


async def _off_the_loop(chunks: Iterator[list[ServedLeaf]]) -> AsyncIterator[list[ServedLeaf]]:
    """Advance a chunk iterator on a worker thread, one chunk at a time.

    Reading and decoding a long range, or scanning the whole log for a rare
    type, must not stall the event loop that serves every other call. Each
    chunk's LMDB read transaction opens and closes within one step.
    """
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        yield chunk


def _fill(entries: RepeatedCompositeFieldContainer[pb.LogEntry], chunk: list[ServedLeaf]) -> None:
    """Add a chunk's entries to a response's repeated `entries` field, built in place."""
    add = entries.add
    for served in chunk:
        fill_log_entry(add(), served)


def _refuse_reserved(event_id: str, stream: str, event_type: str) -> None:
    for field, reserved in (
        ("$.type", event_type == RESERVED_TYPE),
        ("$.stream", stream == RESERVED_STREAM),
        ("$.event_id", event_id.startswith(RESERVED_ID_PREFIX)),
    ):
        if reserved:
            raise InvalidInput(
                ErrorCode.INVALID_EVENT,
                f"invalid event at {field}: type {RESERVED_TYPE!r}, stream "
                f"{RESERVED_STREAM!r} and ids starting {RESERVED_ID_PREFIX!r} are the daemon's own",
                hint="use another type, stream or event id; ledgerd records its starts itself",
                details={"field": field},
            )


def _served(leaves: Iterable[StoredLeaf]) -> Iterator[ServedLeaf]:
    for leaf in leaves:
        yield serve_leaf(leaf.leaf_bytes, leaf.leaf_hash, seq=leaf.seq)


class LedgerService:
    """The handlers; `generic_handler()` registers them with the server."""

    def __init__(
        self,
        log: LmdbEventLog,
        committer: GroupCommitter,
        signer: SignerKey,
        config: DaemonConfig,
        stopping: asyncio.Event,
    ) -> None:
        self._log = log
        self._committer = committer
        self._signer = signer
        self._config = config
        self._stopping = stopping

    # Writes -------------------------------------------------------------------------------

    def _append_requests(self, request: pb.AppendRequest) -> list[AppendRequest]:
        items = request.items
        if not items:
            raise InvalidInput(
                ErrorCode.EMPTY_BATCH, "an append needs at least one event", hint="send 1 or more"
            )
        limit = self._config.max_batch_events
        if len(items) > limit:
            raise InvalidInput(
                ErrorCode.REQUEST_TOO_LARGE,
                f"batch of {len(items)} events exceeds the limit of {limit}",
                hint="split the batch",
                details={"limit": limit},
            )
        requests = []
        for position, item in enumerate(items):
            try:
                requests.append(self._append_request(item))
            except LedgerError as exc:
                # Always, even in a batch of one: every item error names its item.
                exc.add_context(batch_index=position)
                raise
        return requests

    def _append_request(self, item: pb.AppendItem) -> AppendRequest:
        if not item.HasField("event"):
            raise InvalidInput(
                ErrorCode.INVALID_EVENT,
                "invalid event at $: the item carries no event",
                hint="set AppendItem.event",
                details={"field": "$"},
            )
        raw = event_json(item.event)
        limit = self._config.max_event_bytes
        if len(raw) > limit:
            raise InvalidInput(
                ErrorCode.REQUEST_TOO_LARGE,
                f"event is {len(raw)} bytes; the limit is {limit}",
                hint="keep large artefacts outside the ledger and record their digests",
                details={"limit": limit},
            )
        expected = item.expected_version if item.HasField("expected_version") else None
        prepared = prepare_json(raw)
        _refuse_reserved(
            prepared.envelope.event_id, prepared.envelope.stream, prepared.envelope.type
        )
        return AppendRequest(prepared, expected)

    async def Append(self, request: pb.AppendRequest, context: Context) -> pb.AppendResponse:
        outcome = await self._committer.submit(self._append_requests(request))
        return pb.AppendResponse(
            results=[
                pb.AppendResult(seq=r.seq, stream_version=r.stream_version, duplicate=r.duplicate)
                for r in outcome.results
            ],
            tree_size=outcome.tree_size,
        )

    # Reads --------------------------------------------------------------------------------

    async def Read(
        self, request: pb.ReadRequest, context: Context
    ) -> AsyncIterator[pb.ReadResponse]:
        end = request.to_seq if request.HasField("to_seq") else None
        leaves: Iterable[StoredLeaf]
        if not request.stream:
            leaves = self._log.leaves(request.from_seq, end)
        elif "\x00" in request.stream:
            # No stream name holds NUL (it separates name and version in the index);
            # looking one up would read another stream's keys as if they were its own.
            leaves = ()
        else:
            # A stream's versions grow with seq, so the first leaf at or past `end` ends it.
            leaves = itertools.takewhile(
                lambda leaf: end is None or leaf.seq < end,
                (
                    leaf
                    for leaf in self._log.stream_leaves(request.stream, request.from_version)
                    if leaf.seq >= request.from_seq
                ),
            )
        served = _served(leaves)
        if request.type:
            served = (leaf for leaf in served if leaf.type == request.type)
        chunks = _chunks(served, request.limit, self._config.max_message_bytes)
        async for chunk in _off_the_loop(chunks):
            response = pb.ReadResponse()
            _fill(response.entries, chunk)
            yield response

    async def Subscribe(
        self, request: pb.SubscribeRequest, context: Context
    ) -> AsyncIterator[pb.SubscribeResponse]:
        position = request.from_seq
        watch = self._committer.watch
        if position > watch.size:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                f"from_seq {position} is beyond the log size {watch.size}",
                hint="resume from your last seen seq + 1; a log never shrinks",
                details={"tree_size": watch.size},
            )
        # An opening message, even when there is nothing to catch up on, tells the
        # client the subscription is established (its reconnect budget starts over).
        yield pb.SubscribeResponse(tree_size=watch.size)
        while not self._stopping.is_set():
            if position < watch.size:
                size = watch.size
                served = _served(self._log.leaves(position, size))
                chunks = _chunks(served, 0, self._config.max_message_bytes)
                async for chunk in _off_the_loop(chunks):
                    position += len(chunk)
                    response = pb.SubscribeResponse(tree_size=size)
                    _fill(response.entries, chunk)
                    yield response
                    if self._stopping.is_set():
                        break
                continue
            await _first(watch.wait_beyond(position), self._stopping.wait())
        raise NetworkTransient(
            ErrorCode.SERVER_UNAVAILABLE,
            "the daemon is shutting down",
            hint=f"resubscribe from seq {position} when it is back",
            details={"next_seq": position},
        )

    async def GetEvent(self, request: pb.GetEventRequest, context: Context) -> pb.LogEntry:
        key = request.WhichOneof("key")
        if key == "seq":
            leaf = self._log.leaf(request.seq)
        elif key == "event_id":
            leaf = self._log.leaf_by_event_id(request.event_id)
        else:
            raise InvalidInput(
                ErrorCode.INVALID_REQUEST,
                "GetEvent needs a seq or an event_id",
                hint="set one of GetEventRequest.seq or GetEventRequest.event_id",
            )
        return log_entry(leaf.leaf_bytes, leaf.leaf_hash, seq=leaf.seq)

    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: Context
    ) -> pb.Checkpoint:
        size = request.tree_size if request.HasField("tree_size") else None
        tree_size, root = self._log.root(size)
        note = Checkpoint(self._signer.name, tree_size, root).sign(self._signer)
        return pb.Checkpoint(
            origin=self._signer.name, tree_size=tree_size, root_hash=root, note=note
        )

    async def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: Context
    ) -> pb.InclusionProof:
        size = request.tree_size if request.HasField("tree_size") else None
        return inclusion_to_proto(self._log.inclusion_proof(request.leaf_index, size))

    async def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: Context
    ) -> pb.ConsistencyProof:
        second = request.second_size if request.HasField("second_size") else None
        return consistency_to_proto(self._log.consistency_proof(request.first_size, second))

    def generic_handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Append": unary_handler(self.Append, pb.AppendRequest),
                "Read": streaming_handler(self.Read, pb.ReadRequest),
                "Subscribe": streaming_handler(self.Subscribe, pb.SubscribeRequest),
                "GetEvent": unary_handler(self.GetEvent, pb.GetEventRequest),
                "GetCheckpoint": unary_handler(self.GetCheckpoint, pb.GetCheckpointRequest),
                "GetInclusionProof": unary_handler(
                    self.GetInclusionProof, pb.GetInclusionProofRequest
                ),
                "GetConsistencyProof": unary_handler(
                    self.GetConsistencyProof, pb.GetConsistencyProofRequest
                ),
            },
        )


async def _first(*waits: Awaitable[Any]) -> None:
    """Wait until the first of several awaitables finishes; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
