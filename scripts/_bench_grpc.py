"""The gRPC half of `scripts/bench.py`: server processes, the echo ceiling and the client harness.

Every server (the echo ceiling and the real `ledgerd`) runs as its own child
process and announces its address in one JSON line on standard output. Every
client runs in a worker process of a `WorkerPool` (multiprocessing, spawn), so
client CPU never shares a GIL with the server. A worker runs its clients as
asyncio tasks over grpc.aio, each client on its own channel and its own TCP
connection; requests are serialized before timing starts and sent as bytes
with identity (de)serializers, so the echo ceiling and the Append benchmarks
run the very same client code and differ only in the server.

`python scripts/_bench_grpc.py echo --listen HOST:PORT` serves the echo ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    from ledger.model import Envelope

    _Unary = grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]

ECHO_SERVICE = "bench.Echo"
ECHO_PATH = f"/{ECHO_SERVICE}/Echo"
APPEND_PATH = "/ledger.v1.Ledger/Append"
SUBSCRIBE_PATH = "/ledger.v1.Ledger/Subscribe"
GET_CHECKPOINT_PATH = "/ledger.v1.Ledger/GetCheckpoint"

# What a real client sets (clients/_calls.py), plus: every client its own connection,
# instead of grpc sharing one subchannel between all channels of a process.
CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.use_local_subchannel_pool", 1),
)
_REPO = Path(__file__).resolve().parent.parent


# The echo server ---------------------------------------------------------------------------


async def _serve_echo(listen: str) -> None:
    async def echo(request: bytes, context: object) -> bytes:
        return request

    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.method_handlers_generic_handler(
        ECHO_SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(listen)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    host = listen.rsplit(":", 1)[0]
    sys.stdout.write(json.dumps({"event": "serving", "address": f"{host}:{port}"}) + "\n")
    sys.stdout.flush()
    await stop.wait()
    await server.stop(1.0)


# Server processes --------------------------------------------------------------------------


class ServerProcess:
    """A server child that prints one JSON line with its `address` once it serves."""

    def __init__(self, command: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self.command = list(command)
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.stderr_lines: list[str] = []

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=_REPO,
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        lines: list[bytes] = []
        assert self.process.stdout is not None
        stdout = self.process.stdout
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not lines or not lines[0]:
            self.kill()
            raise RuntimeError(
                f"{shlex.join(self.command)} did not announce itself within {timeout}s:\n"
                + "".join(self.stderr_lines[-30:])
            )
        self.address = str(json.loads(lines[0])["address"])
        return self

    def _drain_stderr(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            self.stderr_lines.append(raw.decode("utf-8", "replace"))

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (a clean shutdown) and wait; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def __enter__(self) -> ServerProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def echo_server(wrapper: Sequence[str] = ()) -> ServerProcess:
    return ServerProcess(
        [*wrapper, sys.executable, str(Path(__file__).resolve()), "echo", "--listen", "127.0.0.1:0"]
    )


def ledger_daemon(data_dir: Path, wrapper: Sequence[str] = ()) -> ServerProcess:
    """`ledgerd serve` with default settings (no LEDGERD_* from the caller's environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERD_")}
    command = [sys.executable, "-m", "ledger.server", "serve"]
    command += ["--data-dir", str(data_dir), "--listen", "127.0.0.1:0"]
    return ServerProcess([*wrapper, *command], env=env)


# Requests ----------------------------------------------------------------------------------


def sample_envelope(index: int) -> Envelope:
    """Sample event `index`: a run record (even) or a finding from that run (odd).

    Indices map one to one onto event ids (`run-N`, `finding-N`), so disjoint index
    ranges give events unique across the whole benchmark run.
    """
    from ledger.samples import sample_finding, sample_run

    half = index // 2
    return sample_run(half) if index % 2 == 0 else sample_finding(half)


def append_requests(first_index: int, calls: int, batch: int) -> list[bytes]:
    """`calls` serialized AppendRequests of `batch` events each, from sample `first_index` on."""
    from clients._calls import append_request
    from clients.event import Event

    requests = []
    for call in range(calls):
        start = first_index + call * batch
        events = [Event.from_envelope(sample_envelope(i)) for i in range(start, start + batch)]
        requests.append(append_request(events).SerializeToString())
    return requests


# Client jobs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadJob:
    """`clients` concurrent clients in one worker, each making `calls` unary calls to `path`.

    Client `c` sends the requests for sample indices from
    `first_index + c * (warmup + calls) * batch`; its first `warmup` calls are made
    before the start signal and are not timed.
    """

    target: str
    path: str
    first_index: int
    clients: int
    calls: int
    batch: int = 1
    warmup: int = 0

    @property
    def indices(self) -> int:
        return self.clients * (self.warmup + self.calls) * self.batch


@dataclass(frozen=True)
class SubscribeJob:
    """One subscriber from seq 0, until it has received `expected` entries."""

    target: str
    expected: int


@dataclass
class JobResult:
    calls: int
    events: int
    started: float
    ended: float
    #: CPU seconds of the worker process (all threads) between its start and end.
    cpu: float = 0.0
    latencies: array[float] = field(default_factory=lambda: array("d"))
    error: str = ""


async def _run_load(job: LoadJob, gate: _StartGate) -> JobResult:
    per_client = (job.warmup + job.calls) * job.batch
    requests = [
        append_requests(job.first_index + client * per_client, job.warmup + job.calls, job.batch)
        for client in range(job.clients)
    ]
    channels = [
        grpc.aio.insecure_channel(job.target, options=CHANNEL_OPTIONS) for _ in range(job.clients)
    ]
    latencies = array("d")
    try:
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        stubs: list[_Unary] = [channel.unary_unary(job.path) for channel in channels]
        for stub, mine in zip(stubs, requests, strict=True):
            for request in mine[: job.warmup]:
                await stub(request, timeout=120)
        gate.ready_then_wait()

        async def client(stub: _Unary, mine: list[bytes]) -> None:
            clock = time.perf_counter
            record = latencies.append
            for request in mine:
                sent = clock()
                await stub(request, timeout=120)
                record(clock() - sent)

        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(
            *(client(stub, mine[job.warmup :]) for stub, mine in zip(stubs, requests, strict=True))
        )
        ended = time.perf_counter()
        cpu = time.process_time() - cpu
    finally:
        for channel in channels:
            await channel.close()
    calls = job.clients * job.calls
    return JobResult(calls, calls * job.batch, started, ended, cpu, latencies)


async def _run_subscribe(job: SubscribeJob, gate: _StartGate) -> JobResult:
    from ledger.v1 import ledger_pb2 as pb

    request = pb.SubscribeRequest(from_seq=0).SerializeToString()
    async with grpc.aio.insecure_channel(job.target, options=CHANNEL_OPTIONS) as channel:
        await channel.channel_ready()
        subscribe: grpc.aio.UnaryStreamMultiCallable[bytes, pb.SubscribeResponse]
        subscribe = channel.unary_stream(
            SUBSCRIBE_PATH, response_deserializer=pb.SubscribeResponse.FromString
        )
        gate.ready_then_wait()
        received = messages = 0
        cpu = time.process_time()
        started = time.perf_counter()
        call = subscribe(request)
        async for response in call:
            messages += 1
            received += len(response.entries)
            if received >= job.expected:
                break
        ended = time.perf_counter()
        cpu = time.process_time() - cpu
        call.cancel()
    if received < job.expected:
        raise RuntimeError(f"the subscription ended after {received} of {job.expected} entries")
    return JobResult(messages, received, started, ended, cpu)


class _StartGate:
    """A worker's side of the start: say it is ready, then wait for the signal (once per job)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.passed = False

    def ready_then_wait(self) -> None:
        if not self.passed:
            self.passed = True
            self._conn.send("ready")
            self._conn.recv()  # "go": blocks the worker's event loop, which has nothing to do


def _worker(conn: Connection) -> None:
    while True:
        job = conn.recv()
        if job is None:
            return
        gate = _StartGate(conn)
        try:
            run = _run_load if isinstance(job, LoadJob) else _run_subscribe
            result = asyncio.run(run(job, gate))
        except Exception as exc:  # reported to the parent, which stops the benchmark
            result = JobResult(0, 0, 0.0, 0.0, error=f"{type(exc).__name__}: {exc}")
            gate.ready_then_wait()  # keep in step with the parent's protocol
        conn.send(result)


class WorkerPool:
    """Client worker processes (spawned once, reused), started together on one signal."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._processes: list[Any] = []
        for _ in range(size):
            parent, child = context.Pipe()
            process = context.Process(target=_worker, args=(child,), daemon=True)
            process.start()
            child.close()
            self._conns.append(parent)
            self._processes.append(process)

    def run(
        self,
        jobs: Sequence[LoadJob | SubscribeJob],
        *,
        before_go: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
    ) -> list[JobResult]:
        """Run one job per worker; each prepares, then all start at once. Raises on any error.

        `before_go` runs once every worker is ready, just before the start signal;
        `after` once every worker has finished.
        """
        if len(jobs) > len(self._conns):
            raise ValueError(f"{len(jobs)} jobs for {len(self._conns)} workers")
        conns = self._conns[: len(jobs)]
        for conn, job in zip(conns, jobs, strict=True):
            conn.send(job)
        for conn in conns:
            if conn.recv() != "ready":
                raise RuntimeError("a client worker did not get ready")
        if before_go is not None:
            before_go()
        for conn in conns:
            conn.send("go")
        results: list[JobResult] = [conn.recv() for conn in conns]
        if after is not None:
            after()
        errors = [result.error for result in results if result.error]
        if errors:
            raise RuntimeError("client worker failed: " + "; ".join(errors))
        return results

    def close(self) -> None:
        for conn in self._conns:
            conn.send(None)
        for process in self._processes:
            process.join(10)
            if process.is_alive():
                process.kill()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal non-negative parts."""
    return [total // parts + (1 if part < total % parts else 0) for part in range(parts)]


def tree_size(target: str) -> int:
    """The daemon's current log size (GetCheckpoint)."""
    from ledger.v1 import ledger_pb2 as pb

    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            GET_CHECKPOINT_PATH,
            request_serializer=pb.GetCheckpointRequest.SerializeToString,
            response_deserializer=pb.Checkpoint.FromString,
        )
        return int(call(pb.GetCheckpointRequest(), timeout=60).tree_size)


def _main() -> None:
    parser = argparse.ArgumentParser(description="The echo ceiling server for scripts/bench.py.")
    parser.add_argument("role", choices=["echo"])
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args()
    asyncio.run(_serve_echo(args.listen))


if __name__ == "__main__":
    _main()
