"""Run the daemon: open the log, record the start, serve gRPC until told to stop.

Shutdown on SIGTERM or SIGINT: health turns NOT_SERVING, subscriptions end
with a retryable status telling each subscriber where to resume, new calls are
refused, in-flight appends get up to `shutdown_grace_s` to finish, everything
queued is committed, and the log is closed; then the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ledger import __version__
from ledger.checkpoint import SignerKey
from ledger.clock import Clock, format_utc
from ledger.errors import ErrorCode, InvalidInput
from ledger.model import Envelope, LedgerStartedV1
from ledger.server.committer import GroupCommitter
from ledger.server.config import DaemonConfig
from ledger.server.service import SERVICE_NAME, LedgerService
from ledger.server.signing import load_or_create_signer
from ledger.store import AppendRequest, LmdbEventLog

_log = logging.getLogger("ledgerd")

STARTED_STREAM = "ledgerd"


def started_event(config: DaemonConfig, signer: SignerKey, size: int, clock: Clock) -> Envelope:
    """The `ledger.started` record; its id is derived from the log size, so it is deterministic."""
    return Envelope(
        event_id=f"ledger.started:{size}",
        stream=STARTED_STREAM,
        type="ledger.started",
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
        committer = GroupCommitter(log, max_events=config.group_commit_max_events)
        committer.start()
        stopping = asyncio.Event()
        try:
            await committer.submit(
                [AppendRequest(started_event(config, signer, log.size(), self._clock))]
            )
            server = grpc.aio.server(
                options=[
                    ("grpc.max_receive_message_length", config.max_message_bytes),
                    ("grpc.max_send_message_length", config.max_message_bytes),
                    # Refuse a port another process already serves, instead of sharing it.
                    ("grpc.so_reuseport", 0),
                ]
            )
            service = LedgerService(log, committer, signer, config, stopping)
            server.add_generic_rpc_handlers((service.generic_handler(),))
            health_servicer = health.aio.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
            reflection.enable_server_reflection(
                (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
            )
            address = _bind(server, config.listen)
            await server.start()
            for name in ("", SERVICE_NAME):
                await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
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
            await health_servicer.enter_graceful_shutdown()
            stopping.set()
            await server.stop(config.shutdown_grace_s)
        finally:
            await committer.close()


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
