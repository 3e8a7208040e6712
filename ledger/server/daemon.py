"""Run the daemon: open the log, record the start, serve gRPC until told to stop.

The projections are folded by a worker process (`Projector`,
`projection_worker`), woken by every group commit, and served by the
Projections service beside the Ledger service.

Shutdown on SIGTERM or SIGINT: health turns NOT_SERVING (and health watches
end), subscriptions end with a retryable status telling each subscriber where
to resume, new calls are refused, in-flight appends (and reads) get up to
`shutdown_grace_s` to finish, a subscription whose client has stopped reading
is then cut (see `stop_server`), everything queued is committed, and the log is
closed; then the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ledger import __version__
from ledger.checkpoint import SignerKey
from ledger.clock import Clock, format_utc
from ledger.errors import ErrorCode, InvalidInput
from ledger.model import Envelope, LedgerStartedV1
from ledger.projections import ProjectionEngine, ProjectionQueries
from ledger.server.committer import GroupCommitter
from ledger.server.config import DaemonConfig
from ledger.server.projection_service import SERVICE_NAME as PROJECTIONS_SERVICE_NAME
from ledger.server.projection_service import ProjectionsService
from ledger.server.projector import Projector
from ledger.server.service import (
    RESERVED_ID_PREFIX,
    RESERVED_STREAM,
    RESERVED_TYPE,
    SERVICE_NAME,
    LedgerService,
)
from ledger.server.signing import load_or_create_signer
from ledger.store import AppendRequest, LmdbEventLog

_log = logging.getLogger("ledgerd")


def started_event(config: DaemonConfig, signer: SignerKey, size: int, clock: Clock) -> Envelope:
    """The `ledger.started` record; its id is derived from the log size, so it is deterministic."""
    return Envelope(
        event_id=f"{RESERVED_ID_PREFIX}{size}",
        stream=RESERVED_STREAM,
        type=RESERVED_TYPE,
        schema_version="1.0",
        occurred_at=format_utc(clock.now()),
        producer="ledgerd",
        data=LedgerStartedV1(
            daemon_version=__version__,
            config_fingerprint=config.fingerprint(),
            origin=signer.name,
        ),
    )


def _bind(server: grpc.aio.Server, listen: str) -> str:
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError as exc:
        port, reason = 0, str(exc)
    else:
        reason = "the address is in use or invalid"
    if port == 0 and not listen.startswith("unix:"):
        raise InvalidInput(
            ErrorCode.INVALID_CONFIG,
            f"cannot listen on {listen!r}: {reason}",
            hint="choose a free HOST:PORT, or unix:PATH",
        )
    if listen.startswith("unix:"):
        return listen
    host = listen.rsplit(":", 1)[0]
    return f"{host}:{port}"


_HealthContext = grpc.aio.ServicerContext[
    health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
]


class HealthStatus(health_pb2_grpc.HealthServicer):
    """`grpc.health.v1.Health`: SERVING while the daemon serves, NOT_SERVING once it stops.

    Written here rather than taken from `grpc_health.v1.health.aio.HealthServicer`
    because that servicer's Watch never returns: a single open watcher (a
    supervisor, a load balancer) held `server.stop` for the whole shutdown grace
    period on every SIGTERM. Here a Watch stream is told NOT_SERVING once shutdown
    begins, and is cut with the other endless streams once the finite calls end.
    """

    def __init__(self) -> None:
        self._status: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._shutting_down = False

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def set(self, service: str, status: int) -> None:
        if not self._shutting_down:
            self._status[service] = status
            self._notify()

    def enter_graceful_shutdown(self) -> None:
        """Every service NOT_SERVING for good; each Watch stream is told at once."""
        self._shutting_down = True
        for service in self._status:
            self._status[service] = health_pb2.HealthCheckResponse.NOT_SERVING
        self._notify()

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: _HealthContext
    ) -> health_pb2.HealthCheckResponse:
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: _HealthContext) -> None:
        last: int | None = None
        while True:
            changed = self._changed
            status = self._status.get(
                request.service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
            )
            if status != last:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                last = status
                continue  # the status may have changed while the write waited
            if self._shutting_down:
                # Stay open until the server cuts the stream (a moment after the
                # finite calls end): ending it here, at once, could lose the
                # NOT_SERVING just written when the process exits right after.
                await asyncio.Event().wait()
            await changed.wait()


_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
_AnyContext = grpc.aio.ServicerContext[Any, Any]

#: Streams that never end by themselves; told to stop, they end at once (see FiniteCalls).
ENDLESS_METHODS = frozenset({f"/{SERVICE_NAME}/Subscribe", "/grpc.health.v1.Health/Watch"})
#: After the finite calls are done, how long the endless streams get to end by themselves.
_STREAMS_END_S = 1.0


class FiniteCalls(grpc.aio.ServerInterceptor):
    """Counts the calls a shutdown waits for: every unary call and every finite stream.

    The grace period is for calls that end by themselves: appends above all, then
    reads. A subscription or a health watch never ends by itself; told the daemon
    is stopping it ends at once, unless its client has stopped reading. Its
    writes then wait on HTTP/2 flow control, and `server.stop(grace)` alone
    waited for it until the whole grace period was spent, on every shutdown
    with one slow or stalled subscriber. Knowing when the finite calls are done
    lets the daemon cut such streams then instead.
    """

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def _begin(self, context: _AnyContext) -> None:
        self._count += 1
        self._idle.clear()
        # Called once the call has ended: its status sent, an append's reply included.
        context.add_done_callback(cast("Any", self._end))

    def _end(self, context: object) -> None:
        self._count -= 1
        if self._count == 0:
            self._idle.set()

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Req, _Resp] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method in ENDLESS_METHODS:
            return handler
        begin = self._begin
        if handler.unary_unary is not None:
            unary = cast("Callable[[object, _AnyContext], Awaitable[object]]", handler.unary_unary)

            async def counted_unary(request: object, context: _AnyContext) -> object:
                begin(context)
                return await unary(request, context)

            counted = grpc.unary_unary_rpc_method_handler(
                counted_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        elif handler.unary_stream is not None:
            stream = cast(
                "Callable[[object, _AnyContext], AsyncIterator[object]]", handler.unary_stream
            )

            async def counted_stream(
                request: object, context: _AnyContext
            ) -> AsyncIterator[object]:
                begin(context)
                async for response in stream(request, context):
                    yield response

            counted = grpc.unary_stream_rpc_method_handler(
                counted_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        else:
            return handler  # client streams (reflection) are not waited for
        return counted


async def stop_server(server: grpc.aio.Server, finite: FiniteCalls, grace_s: float) -> None:
    """Stop `server`: finite calls get up to `grace_s`, then endless streams are cut.

    New calls are refused at once. Subscriptions, already told to stop, end by
    themselves within moments; one whose client is not reading is cancelled
    (its client sees UNAVAILABLE, retryable, and resumes from its last seq + 1).
    """
    stopped = asyncio.ensure_future(server.stop(grace_s))

    async def until_finite_calls_end() -> None:
        idle = asyncio.ensure_future(finite.wait_idle())
        try:
            await asyncio.wait({stopped, idle}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()

    await until_finite_calls_end()
    if not stopped.done():
        await asyncio.wait({stopped}, timeout=min(grace_s, _STREAMS_END_S))
        await until_finite_calls_end()  # one that started meanwhile still gets to finish
    if not stopped.done():
        _log.info("cancelling the streams still open: their clients are not reading")
        await server.stop(None)
    await stopped


class Daemon:
    """One serving daemon over one data directory."""

    def __init__(self, config: DaemonConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._stop_requested = asyncio.Event()

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def run(self, announce: Callable[[dict[str, object]], None]) -> None:
        config = self.config
        log = LmdbEventLog(Path(config.data_dir), clock=self._clock)
        try:
            await self._serve(log, announce)
        finally:
            log.close()
            _log.info("closed %s", config.data_dir)

    async def _serve(
        self, log: LmdbEventLog, announce: Callable[[dict[str, object]], None]
    ) -> None:
        config = self.config
        if log.recovered_stale_lock_from is not None:
            _log.warning("took over the lock of pid %d, which died", log.recovered_stale_lock_from)
        signer = load_or_create_signer(config)
        # Opened for writing once, for the checks every fold starts from (versions, the
        # log the state belongs to); then only the worker process folds, and the
        # daemon reads.
        ProjectionEngine(log).close()
        engine = ProjectionEngine(log, readonly=True)
        committer = GroupCommitter(log, max_events=config.group_commit_max_events)
        projector = Projector(
            Path(config.data_dir),
            config.projection_chunk_events,
            engine,
            committed=lambda: committer.watch.size,
        )
        committer.on_commit = projector.poke
        committer.start()
        projector.start()
        stopping = asyncio.Event()
        server: grpc.aio.Server | None = None
        stopped_cleanly = False
        try:
            finite_calls = FiniteCalls()
            server = grpc.aio.server(
                interceptors=[finite_calls],
                options=[
                    ("grpc.max_receive_message_length", config.max_message_bytes),
                    ("grpc.max_send_message_length", config.max_message_bytes),
                    # Refuse a port another process already serves, instead of sharing it.
                    ("grpc.so_reuseport", 0),
                ],
            )
            service = LedgerService(log, committer, signer, config, stopping)
            projections = ProjectionsService(
                ProjectionQueries(engine, log), projector, committer.watch, self._clock
            )
            server.add_generic_rpc_handlers(
                (service.generic_handler(), projections.generic_handler())
            )
            health_servicer = HealthStatus()
            health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
            reflection.enable_server_reflection(
                (
                    SERVICE_NAME,
                    PROJECTIONS_SERVICE_NAME,
                    health.SERVICE_NAME,
                    reflection.SERVICE_NAME,
                ),
                server,
            )
            address = _bind(server, config.listen)
            # Recorded once the address is ours (a start that cannot bind records
            # nothing) and before the first call is accepted.
            await committer.submit(
                [AppendRequest(started_event(config, signer, log.size(), self._clock))]
            )
            await server.start()
            for name in ("", SERVICE_NAME, PROJECTIONS_SERVICE_NAME):
                health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
            _log.info("serving %s on %s (origin %s)", config.data_dir, address, signer.name)
            announce(
                {
                    "event": "serving",
                    "address": address,
                    "origin": signer.name,
                    "verifier_key": signer.verifier().to_text(),
                    "tree_size": committer.watch.size,
                    "config_fingerprint": config.fingerprint(),
                    "version": __version__,
                }
            )
            await self._stop_requested.wait()
            _log.info("stopping: refusing new calls, finishing in-flight appends")
            health_servicer.enter_graceful_shutdown()
            stopping.set()
            await stop_server(server, finite_calls, config.shutdown_grace_s)
            stopped_cleanly = True
        finally:
            if server is not None and not stopped_cleanly:
                # Something failed after the server started (e.g. announcing on a
                # closed stdout): stop serving before the log under it is closed.
                await server.stop(0)
            await committer.close()
            await projector.stop()
            engine.close()


def announce_on_stdout(record: dict[str, object]) -> None:
    """The one line a supervisor (or a test) waits for: where the daemon listens."""
    sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    sys.stdout.flush()


def serve(config: DaemonConfig, clock: Clock) -> None:
    """Serve until SIGTERM or SIGINT; returns after a clean shutdown."""

    async def main() -> None:
        daemon = Daemon(config, clock)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.request_stop)
        await daemon.run(announce_on_stdout)

    asyncio.run(main())
