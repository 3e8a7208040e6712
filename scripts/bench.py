"""Benchmarks for ledgerd, reported as rates measured in one run (this machine is shared and noisy).

Core (the ledger library, no daemon):
- raw LMDB puts: the ceiling, the same values in the same synced batches, no ledger logic;
- import: envelope JSON lines parsed, validated, chained, hashed into the tree, synced;
- verify: the full offline audit of the imported log.

Over gRPC (servers and clients each in their own processes; scripts/_bench_grpc.py):
- echo: a trivial grpc.aio servicer that returns the request bytes, the ceiling for
  any Python gRPC server driven by this client harness, with 1 and with 32 clients;
- unary Append, durable, 1 and 32 concurrent clients, against the real `ledgerd`;
- batched Append, 500 events per call, from several producer processes;
- Subscribe from seq 0 over the log the appends left, until caught up;
- projection lag (events and milliseconds behind the log) while batched Append runs.

Projections (the library, no daemon):
- rebuild: every projection folded again from seq 0 over a log of a pipeline's mix;
- as_of replay: one projection folded into memory up to the last seq (time travel).

Run `python scripts/bench.py [--quick] [--events N] [--write docs/benchmarks.md]`;
`--profile-dir DIR` also profiles the daemon with py-spy during the daemon benchmarks.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import shlex
import shutil
import statistics
import struct
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
import lmdb
from _bench_grpc import (
    APPEND_PATH,
    ECHO_PATH,
    JobResult,
    LoadJob,
    ServerProcess,
    SubscribeJob,
    WorkerPool,
    append_requests,
    echo_server,
    ledger_daemon,
    sample_envelope,
    split,
    tree_size,
)
from _bench_profile import PySpy

from gate.config import GuardPolicy
from gate.exports import render_export
from gate.guard import inspect_patch
from gate.report import render_report
from gate.snapshot import Scope, Snapshot, take_snapshot
from ledger.audit import audit_log
from ledger.cli._common import DataDirTarget
from ledger.cli._projection_source import open_projection_source
from ledger.clock import FixedClock
from ledger.importer import import_events, parse_jsonl
from ledger.model import encode_envelope
from ledger.projections import ProjectionEngine
from ledger.samples import sample_pipeline_events
from ledger.store import LmdbEventLog
from ledger.v1 import projections_pb2

GROUPS = ("offline", "projections", "gate", "echo", "unary", "batched", "subscribe")


@dataclass
class Result:
    name: str
    events: int
    seconds: float
    note: str = ""
    unit: str = "events/s"
    clients: str = "—"
    latencies: Sequence[float] = ()
    server_cpu: float | None = None
    client_cpu: float | None = None
    ratio: str = "—"
    target: str = "—"
    met: bool | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def percentile(self, fraction: float) -> float | None:
        """Nearest-rank percentile of the per-call latencies, in milliseconds."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
        return ordered[rank] * 1000


class IndexAllocator:
    """Hands out disjoint ranges of sample indices, so every event id in the run is unique."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, count: int) -> int:
        first = self.next
        self.next += count
        return first


# Offline (the ledger library, no daemon) ---------------------------------------------------


def _sample_jsonl(first: int, count: int) -> bytes:
    # Built in a function so the sample objects are freed before anything is timed:
    # a real import process does not hold them, and they would slow every GC pass.
    return b"".join(
        encode_envelope(sample_envelope(index)) + b"\n" for index in range(first, first + count)
    )


def _timed(action: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bench_raw_lmdb(work: Path, values: list[bytes], batch: int) -> Result:
    env = lmdb.open(str(work / "raw"), map_size=1 << 30, sync=True, metasync=True)

    def run() -> None:
        for start in range(0, len(values), batch):
            with env.begin(write=True) as txn:
                for seq in range(start, min(start + batch, len(values))):
                    txn.put(struct.pack(">Q", seq), values[seq], append=True)

    seconds = _timed(run)
    env.close()
    note = f"batches of {batch}, synced"
    return Result("raw LMDB put (storage ceiling)", len(values), seconds, note)


def bench_import(work: Path, jsonl: bytes, batch: int) -> tuple[Result, Path]:
    data_dir = work / "ledger"
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with LmdbEventLog(data_dir, clock=clock) as log:
        gc.collect()
        started = time.perf_counter()
        summary = import_events(log, parse_jsonl(jsonl), batch_size=batch)
        seconds = time.perf_counter() - started
    note = f"parse + validate + chain + tree, batches of {batch}, synced"
    return Result("ledger import (offline)", summary.appended, seconds, note), data_dir


def bench_verify(data_dir: Path) -> Result:
    with LmdbEventLog(data_dir, readonly=True) as log:
        gc.collect()
        started = time.perf_counter()
        report = audit_log(log)
        seconds = time.perf_counter() - started
    note = "every leaf, hash and index"
    return Result("ledger verify (offline full audit)", report.size, seconds, note)


def run_offline(events: int, batch: int, indices: IndexAllocator) -> list[Result]:
    jsonl = _sample_jsonl(indices.take(events), events)
    work = Path(tempfile.mkdtemp(prefix="ledgerd-bench-"))
    try:
        imported, data_dir = bench_import(work, jsonl, batch)
        del jsonl
        with LmdbEventLog(data_dir, readonly=True) as log:
            values = [item.leaf_bytes for item in log.read()]
        mean_leaf = statistics.mean(map(len, values))
        print(f"mean leaf size: {mean_leaf:.0f} bytes", flush=True)
        ceiling = bench_raw_lmdb(work, values, batch)
        del values
        verified = bench_verify(data_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ceiling.extra["mean_leaf"] = mean_leaf
    return [ceiling, imported, verified]


# Projections (the library, no daemon) ---------------------------------------------------


def _pipeline_jsonl(count: int) -> bytes:
    return b"".join(encode_envelope(envelope) + b"\n" for envelope in sample_pipeline_events(count))


def run_projections(events: int, batch: int) -> list[Result]:
    """Rebuild every projection from seq 0, then replay one into memory (as_of)."""
    work = Path(tempfile.mkdtemp(prefix="ledgerd-bench-projections-"))
    try:
        _, data_dir = bench_import(work, _pipeline_jsonl(events), batch)
        with LmdbEventLog(data_dir) as log, ProjectionEngine(log) as engine:
            engine.catch_up()
            gc.collect()
            cpu, started = time.process_time(), time.perf_counter()
            engine.rebuild()
            seconds = time.perf_counter() - started
            rebuild = Result(
                "projections rebuild (all 3, from seq 0)",
                log.size(),
                seconds,
                "verdicts + health + runs folded in one pass, chunks of 4096, state digested after",
                server_cpu=(time.process_time() - cpu) / seconds,
            )
            rows = {status.name: status.rows for status in engine.status()}
            rebuild.extra["rows"] = rows
            print(f"  {rebuild.name}: {rebuild.rate:,.0f} events/s ({rows})", flush=True)
            gc.collect()
            cpu, started = time.process_time(), time.perf_counter()
            engine.replay("verdicts", log.size() - 1)
            seconds = time.perf_counter() - started
            replay = Result(
                "as_of replay (verdicts, in memory, to the last seq)",
                log.size(),
                seconds,
                "what a query with as_of costs: the fold from seq 0 again",
                server_cpu=(time.process_time() - cpu) / seconds,
            )
            print(f"  {replay.name}: {replay.rate:,.0f} events/s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [rebuild, replay]


def _synthetic_diff(lines: int) -> bytes:
    """A clean diff of `lines` added lines over 100-line new files: code, strings, comments."""
    body = [
        "def handler_{n}(request):",
        '    message = "use # noqa to silence it, @ts-ignore too"  # a string, not a directive',
        "    total = sum(item.price for item in request.items)  # prices in cents",
        "    return {{'status': 'ok', 'total': total, 'id': {n}}}",
    ]
    chunks: list[str] = []
    for file_index in range(max(1, lines // 100)):
        added = [body[n % len(body)].format(n=n) for n in range(100)]
        chunks.append(
            f"diff --git a/src/mod_{file_index}.py b/src/mod_{file_index}.py\n"
            "new file mode 100644\n"
            f"index {'0' * 40}..{'1' * 40}\n"
            "--- /dev/null\n"
            f"+++ b/src/mod_{file_index}.py\n"
            "@@ -0,0 +1,100 @@\n" + "".join(f"+{line}\n" for line in added)
        )
    return "".join(chunks).encode("utf-8")


def _markdown_report(snapshot: Snapshot) -> bytes:
    return render_report(snapshot, fmt="md")


def _sarif(snapshot: Snapshot) -> bytes:
    return render_export(snapshot, "sarif")


def run_gate(diff_lines: int, events: int, batch: int) -> list[Result]:
    """The honesty guard over a large clean diff; a report and a SARIF export over a ledger."""
    diff = _synthetic_diff(diff_lines)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    gc.collect()
    cpu, started = time.process_time(), time.perf_counter()
    inspection = inspect_patch(diff, GuardPolicy(), automated=True, now=now)
    seconds = time.perf_counter() - started
    guard = Result(
        "honesty guard inspect (clean diff)",
        diff.count(b"\n"),
        seconds,
        f"{inspection.files} new files, {len(diff) / 1e6:.1f} MB, default policy, parse + rules",
        unit="diff lines/s",
        server_cpu=(time.process_time() - cpu) / seconds,
    )
    print(f"  {guard.name}: {guard.rate:,.0f} lines/s ({inspection.verdict})", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ledgerd-bench-gate-"))
    results = [guard]
    try:
        _, data_dir = bench_import(work, _pipeline_jsonl(events), batch)
        at = datetime(2026, 3, 1, tzinfo=UTC)
        with open_projection_source(DataDirTarget(data_dir), progress=False) as source:
            source.verdict("change-0", at=at, as_of=None, min_seq=None)  # folds everything first
            cases: list[tuple[Scope, str | None, Callable[[Snapshot], bytes], str, str]] = [
                ("subject", "change-0", _markdown_report, "report of one subject", "reports/s"),
                ("all", None, _sarif, "SARIF export of everything", "exports/s"),
            ]
            for scope, ref, render, name, unit in cases:
                gc.collect()
                cpu, started = time.process_time(), time.perf_counter()
                snapshot = take_snapshot(source, scope=scope, ref=ref, at=at)
                size = len(render(snapshot))
                seconds = time.perf_counter() - started
                row = Result(
                    f"{name} (snapshot + render, offline)",
                    1,
                    seconds,
                    f"over {events:,} pipeline events: {len(snapshot.verdicts)} subjects, "
                    f"{len(snapshot.runs)} runs, {size:,} bytes",
                    unit=unit,
                    latencies=(seconds,),
                    server_cpu=(time.process_time() - cpu) / seconds,
                )
                print(f"  {row.name}: {seconds * 1000:,.0f} ms", flush=True)
                results.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


class LagProbe:
    """Samples the daemon's projection lag while a load runs (one thread, one channel)."""

    def __init__(self, address: str, interval_s: float = 0.05) -> None:
        self._channel = grpc.insecure_channel(address)
        self._status = self._channel.unary_unary(
            "/ledger.v1.Projections/GetProjectionStatus",
            request_serializer=projections_pb2.GetProjectionStatusRequest.SerializeToString,
            response_deserializer=projections_pb2.ProjectionStatusResponse.FromString,
        )
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        #: (monotonic time, log size, the least projection position)
        self.samples: list[tuple[float, int, int]] = []

    def _sample(self) -> tuple[float, int, int]:
        request = projections_pb2.GetProjectionStatusRequest(without_digests=True)
        response = self._status(request, timeout=10)
        positions = [p.position for p in response.projections]
        return time.monotonic(), response.projections[0].log_size, min(positions)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._sample())
            self._stop.wait(self._interval_s)

    def __enter__(self) -> LagProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def drain(self, timeout_s: float = 120.0) -> float:
        """Seconds from now until the projections have folded the whole log."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            at, size, position = self._sample()
            if position >= size:
                return at - started
            time.sleep(0.01)
        raise RuntimeError("the projections did not catch up within the timeout")

    def result(self, load: Result) -> Result:
        """Lag in events, and in time: how long the oldest unfolded event can have been
        committed, an upper bound good to one sampling interval."""
        events_behind: list[float] = []
        ms_behind: list[float] = []
        first = self.samples[0][0] if self.samples else 0.0
        for index, (at, size, position) in enumerate(self.samples):
            events_behind.append(size - position)
            if position >= size:
                ms_behind.append(0.0)
                continue
            # Event `position` was not yet committed at the last earlier sample that
            # saw the log no longer than it: it was committed after that sample.
            before = [t for t, s, _ in self.samples[:index] if s <= position]
            ms_behind.append(at - (before[-1] if before else first))
        result = Result(
            "projection lag during batched Append",
            len(self.samples),
            1.0,
            f"{len(self.samples)} samples every {self._interval_s * 1000:.0f} ms of "
            "GetProjectionStatus; p50/p99 ms: how long the oldest unfolded event can have "
            "been committed (an upper bound, to one sampling interval)",
            unit="samples",
            latencies=ms_behind,
        )
        ordered = sorted(events_behind)
        result.extra["events_p50"] = ordered[len(ordered) // 2] if ordered else 0
        result.extra["events_p99"] = (
            ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] if ordered else 0
        )
        result.extra["events_max"] = ordered[-1] if ordered else 0
        result.ratio = (
            f"events behind: p50 {result.extra['events_p50']:,.0f}, "
            f"p99 {result.extra['events_p99']:,.0f}, max {result.extra['events_max']:,.0f}; "
            f"load {load.rate:,.0f} events/s"
        )
        return result


# Over gRPC --------------------------------------------------------------------------------


def _process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live descendants, all threads."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


@dataclass
class Harness:
    """Runs client jobs against one server process, measuring its CPU and optionally profiling."""

    pool: WorkerPool
    profile_dir: Path | None
    py_spy: str
    profiles: list[tuple[str, str]] = field(default_factory=list)

    def run(
        self, server: ServerProcess, jobs: Sequence[LoadJob | SubscribeJob], slug: str
    ) -> tuple[list[JobResult], float]:
        profiler = (
            PySpy(self.py_spy, server.pid, self.profile_dir / f"{slug}.txt")
            if self.profile_dir is not None
            else None
        )
        marks: list[float] = []

        def before_go() -> None:
            if profiler is not None:
                profiler.start()
            marks.append(_process_tree_cpu(server.pid))

        def after() -> None:
            marks.append(_process_tree_cpu(server.pid))
            if profiler is not None:
                profiler.stop()

        results = self.pool.run(jobs, before_go=before_go, after=after)
        if profiler is not None:
            self.profiles.append((slug, profiler.summary()))
        return results, marks[1] - marks[0]


def _result(
    name: str,
    results: list[JobResult],
    server_cpu_s: float,
    *,
    unit: str = "events/s",
    clients: str,
    note: str,
) -> Result:
    started = min(r.started for r in results)
    seconds = max(r.ended for r in results) - started
    latencies = [value for r in results for value in r.latencies]
    result = Result(
        name,
        sum(r.events for r in results),
        seconds,
        note,
        unit=unit,
        clients=clients,
        latencies=latencies,
        server_cpu=server_cpu_s / seconds,
        client_cpu=sum(r.cpu for r in results) / seconds,
    )
    result.extra["calls"] = sum(r.calls for r in results)
    print(f"  {name}: {result.rate:,.0f} {unit}", flush=True)
    return result


def _load_jobs(
    target: str,
    path: str,
    indices: IndexAllocator,
    *,
    clients: int,
    processes: int,
    calls: int,
    batch: int,
    warmup: int,
) -> list[LoadJob]:
    jobs = []
    for share in split(clients, processes):
        if share:
            job = LoadJob(target, path, 0, share, calls, batch, warmup)
            jobs.append(
                LoadJob(target, path, indices.take(job.indices), share, calls, batch, warmup)
            )
    return jobs


def _clients_text(clients: int, processes: int) -> str:
    processes = min(clients, processes)
    if processes == 1:
        return f"{clients} in 1 process"
    return f"{clients} in {processes} processes"


def run_grpc(args: argparse.Namespace, harness: Harness, indices: IndexAllocator) -> list[Result]:
    results: list[Result] = []
    groups = args.only
    per_client = max(1, args.unary_calls // args.clients)
    wrapper = shlex.split(args.daemon_wrapper)
    request_bytes = len(append_requests(0, 1, 1)[0])

    def unary_pair(server: ServerProcess, path: str, label: str, unit: str) -> list[Result]:
        pair = []
        for clients, processes, calls in (
            (1, 1, args.single_calls),
            (args.clients, args.client_procs, per_client),
        ):
            jobs = _load_jobs(
                server.address,
                path,
                indices,
                clients=clients,
                processes=processes,
                calls=calls,
                batch=1,
                warmup=args.warmup,
            )
            slug = f"{label.split()[0].lower()}-unary-{clients}"
            outcome, cpu = harness.run(server, jobs, slug)
            pair.append(
                _result(
                    f"{label}, {clients} client{'s' if clients > 1 else ''}",
                    outcome,
                    cpu,
                    unit=unit,
                    clients=_clients_text(clients, processes),
                    note=f"{request_bytes}-byte request (one event), closed loop",
                )
            )
        return pair

    if "echo" in groups:
        with echo_server() as echo:
            print(f"echo ceiling at {echo.address}", flush=True)
            results += unary_pair(echo, ECHO_PATH, "gRPC echo", "calls/s")

    wanted = {"unary", "batched", "subscribe"} & set(groups)
    if not wanted:
        return results
    work = Path(tempfile.mkdtemp(prefix="ledgerd-bench-daemon-"))
    try:
        with ledger_daemon(work / "data", wrapper) as daemon:
            print(f"ledgerd at {daemon.address}, data in {work / 'data'}", flush=True)
            expected = tree_size(daemon.address)

            def check(appended: int) -> None:
                nonlocal expected
                expected += appended
                size = tree_size(daemon.address)
                if size != expected:
                    raise RuntimeError(f"the log holds {size} events where {expected} were due")

            if "unary" in groups:
                before = indices.next
                results += unary_pair(daemon, APPEND_PATH, "Append unary (durable)", "events/s")
                check(indices.next - before)
            if "batched" in groups:
                before = indices.next
                jobs = _load_jobs(
                    daemon.address,
                    APPEND_PATH,
                    indices,
                    clients=args.batch_clients,
                    processes=args.batch_clients,
                    calls=max(1, args.batched_events // (args.batch_clients * args.append_batch)),
                    batch=args.append_batch,
                    warmup=min(args.warmup, 1),
                )
                with LagProbe(daemon.address) as probe:
                    outcome, cpu = harness.run(daemon, jobs, "append-batched")
                batched = _result(
                    f"Append batched ({args.append_batch}/call, durable)",
                    outcome,
                    cpu,
                    clients=_clients_text(args.batch_clients, args.batch_clients),
                    note=f"{args.append_batch} events per call, closed loop; latency per call",
                )
                lag = probe.result(batched)
                drained = probe.drain()
                lag.note += f"; caught up {drained * 1000:,.0f} ms after the load ended"
                print(f"  {lag.name}: {lag.ratio}; drained in {drained:.2f} s", flush=True)
                results += [batched, lag]
                check(indices.next - before)
            if "subscribe" in groups:
                size = tree_size(daemon.address)
                outcome, cpu = harness.run(
                    daemon, [SubscribeJob(daemon.address, size)], "subscribe-catch-up"
                )
                results.append(
                    _result(
                        "Subscribe catch-up from seq 0",
                        outcome,
                        cpu,
                        clients="1 in 1 process",
                        note=f"log of {size:,} stored events, entries parsed, not converted",
                    )
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


# The report -------------------------------------------------------------------------------


def _find(results: list[Result], prefix: str) -> Result | None:
    return next((r for r in results if r.name.startswith(prefix)), None)


def judge(results: list[Result], args: argparse.Namespace) -> None:
    """Fill in each row's ratio to its ceiling, and its target where the brief sets one."""
    raw = _find(results, "raw LMDB put")
    imported = _find(results, "ledger import")
    for row in results:
        if row.name.startswith("ledger") and raw is not None:
            row.ratio = f"{row.rate / raw.rate:.1%} of raw LMDB put"
    if raw is not None:
        raw.ratio = "(ceiling)"
    for clients in (f"{args.clients} clients", "1 client"):
        echo = _find(results, f"gRPC echo, {clients}")
        append = _find(results, f"Append unary (durable), {clients}")
        if echo is not None:
            echo.ratio = "(ceiling)"
        if echo is not None and append is not None:
            append.ratio = f"{append.rate / echo.rate:.1%} of echo, {clients}"
            if echo.server_cpu and append.server_cpu:
                per_call = (echo.server_cpu * echo.seconds / echo.events) / (
                    append.server_cpu * append.seconds / append.events
                )
                append.ratio += f" (by server CPU per call: {per_call:.0%})"
        if append is not None and clients != "1 client":
            append.target = "≥ 70% of echo"
            append.met = echo is not None and append.rate >= 0.7 * echo.rate
    batched = _find(results, "Append batched")
    if batched is not None:
        batched.target = "≥ 50,000 events/s"
        batched.met = batched.rate >= 50_000
        if imported is not None:
            batched.ratio = f"{batched.rate / imported.rate:.1%} of ledger import"
    rebuild = _find(results, "projections rebuild")
    if rebuild is not None:
        rebuild.target = "≥ 100,000 events/s"
        rebuild.met = rebuild.rate >= 100_000
    subscribe = _find(results, "Subscribe")
    if subscribe is not None:
        subscribe.target = "≥ 100,000 events/s"
        subscribe.met = subscribe.rate >= 100_000
        subscribe.latencies = ()


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _per_event(row: Result) -> str:
    if row.server_cpu is None:
        return "—"
    return f"{row.server_cpu * row.seconds / row.events * 1e6:,.0f}"


def _unit(row: Result) -> str:
    return "" if row.unit == "events/s" else f" {row.unit}"


def results_table(results: list[Result]) -> str:
    lines = [
        "| benchmark | rate (events/s; echo: calls/s; else as noted) | p50 ms | p99 ms "
        "| ratio to ceiling | target | met? |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for row in results:
        met = "—" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.name} | {row.rate:,.0f}{_unit(row)} | {_ms(row.percentile(0.50))} "
            f"| {_ms(row.percentile(0.99))} | {row.ratio} | {row.target} | {met} |"
        )
    return "\n".join(lines) + "\n"


def details_table(results: list[Result]) -> str:
    lines = [
        "| benchmark | events (calls) | seconds | clients | server CPU | server CPU µs/event "
        "| client CPU | conditions |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for row in results:
        calls = row.extra.get("calls")
        count = f"{row.events:,}" + (f" ({calls:,})" if calls not in (None, row.events) else "")
        lines.append(
            f"| {row.name} | {count} | {row.seconds:.2f} | {row.clients} "
            f"| {_share(row.server_cpu)} | {_per_event(row)} | {_share(row.client_cpu)} "
            f"| {row.note} |"
        )
    return "\n".join(lines) + "\n"


def conditions(args: argparse.Namespace, load_before: float, mean_leaf: float | None) -> str:
    load_after = os.getloadavg()[0]
    leaf = f"~{mean_leaf:,.0f}-byte leaves" if mean_leaf else "~1 KB leaves"
    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores (shared; 1-minute load average {load_before:.2f} before the "
        f"run, {load_after:.2f} after), Python {platform.python_version()}, grpcio "
        f"{grpc.__version__}, lmdb {'.'.join(map(str, lmdb.version()))}. One run"
        f"{' (--quick)' if args.quick else ''}: {args.events:,} events offline "
        f"(import batches of {args.batch}); echo and unary Append {args.single_calls:,} calls "
        f"with 1 client and {max(1, args.unary_calls // args.clients) * args.clients:,} calls "
        f"with {args.clients} clients in {args.client_procs} processes; batched Append "
        f"{args.batched_events:,} events in calls of {args.append_batch} from "
        f"{args.batch_clients} producer processes; {args.warmup} untimed warm-up call(s) per "
        f"client; Subscribe over the whole log those appends left. Sample events: run records "
        f"and findings ({leaf}), every event id unique."
    )


def notes(args: argparse.Namespace) -> str:
    """The explanatory notes, one wrapped bullet per measurement."""
    per_process = args.clients // max(1, args.client_procs)
    bullets = [
        "**The machine.** Servers, their clients and whatever else runs on this VM share two "
        "cores, so the figures move by a third or more between runs. Compare ratios from one "
        "run, not absolute figures across runs. 'server CPU' is the CPU time of the server "
        "process (all its threads) over the timed window: 100% is one full core; 'server CPU "
        "µs/event' divides that time by the events (echo: calls) served, a figure that moves "
        "less with the machine's load than the rates do. 'client CPU' is the same for all "
        "client processes together. When the two add up to about 200%, or the load average is "
        "above 2, the server was short of CPU and its rates are lower than the code alone "
        "would give.",
        "**The client harness** (`scripts/_bench_grpc.py`) is the same for echo and Append. "
        "Clients run in worker processes started with `spawn`, never in the server's process, "
        f"so they do not share its GIL. {args.clients} clients are {args.client_procs} processes "
        f"of {per_process} asyncio tasks, each client with its own grpc.aio channel and its own "
        f"TCP connection (what {args.clients} separate producers would have). Requests are built "
        "and serialized before the clock starts (sample run records and findings with distinct "
        "indices, so every event id in the run is unique) and sent as bytes. Each client is a "
        "closed loop: it sends its next call when the previous one returns. Rate = calls (or "
        "events) completed / (first client's start to last client's finish). Latency is per "
        "call, measured by the client, so it includes queueing in the client's own event loop. "
        "grpc.aio with per-client channels was chosen after trying sync-stub threads and a "
        "shared channel: all gave the same echo rate within the noise.",
        "**gRPC echo** is a grpc.aio server in its own process with one generic unary handler "
        "that returns the request bytes (no protobuf, identity serializers). Its request is the "
        "serialized AppendRequest of one sample event, the same bytes a unary Append sends, so "
        "its response is that size too (Append's is ~10 bytes). It is what Python gRPC alone "
        "costs per call with this harness on this machine: the ceiling for any servicer, not a "
        "target. Each unary Append row's ratio is to the echo row with as many clients; the "
        "ratio in brackets compares server CPU per call instead (echo's / Append's), which "
        "depends less on what else the machine was doing.",
        "**Append unary (durable)** runs the real `ledgerd serve` (default settings, a fresh "
        "LMDB directory in a temp dir, the system clock), started by the script, which reads "
        "its JSON announcement. Every call returns only after the LMDB commit that holds it is "
        "synced; group commit lets concurrent calls share one transaction and one sync. With 1 "
        "client every call pays a whole commit and sync on its own, so its latency is mostly "
        "the disk's. After each benchmark the script checks the daemon's tree size: every event "
        "was stored exactly once.",
        f"**Append batched** sends AppendRequests of {args.append_batch} events from "
        f"{args.batch_clients} producer processes (one client each), as independent producers "
        "would push; the daemon's group commit may merge their batches into one transaction. "
        f"Latency is per {args.append_batch}-event call. Its ratio is to the offline import of "
        "the same kind of events, which does the same validation and append work in one process "
        "without gRPC.",
        "**Subscribe catch-up** is one subscriber (its own process) from seq 0 over the whole "
        "log the append benchmarks left (all of it recently written, so in the page cache), "
        "until it has received every stored event. It parses each SubscribeResponse (protobuf) "
        "and counts entries, but does not turn them into `clients.Entry` objects as "
        "`LedgerClient.subscribe` does, which costs the subscriber more CPU.",
        "**Projection lag** is sampled by the benchmark process every 50 ms during the batched "
        "Append run, with GetProjectionStatus (without digests): events behind = log size - the "
        "least projection position. The daemon folds in its projection worker, a separate "
        "process woken after each group commit. The ms figures are upper bounds: how long the "
        "oldest unfolded event can have been committed, to one sampling interval.",
        f"**Projections rebuild** imports {args.projection_events:,} events in a busy "
        "pipeline's mix (`ledger.samples.sample_pipeline_events`: per 20 events 2 run records, "
        "3 findings and a resolution, 8 source checks, 4 probe runs, a patch inspection or "
        "waiver, a gate evaluation) and times `ProjectionEngine.rebuild()`: all three "
        "projections emptied and folded again from seq 0 in one pass over the log, synced "
        "commits of up to 65,536 events. The as_of row folds one projection (verdicts) into "
        "memory over the whole log: what a query with `as_of` costs in the daemon.",
        "**Offline rows.** The raw LMDB ceiling writes the very same leaf bytes, in the same "
        "synced batches, with nothing else: no parsing, validation, hashing or indexes. It is "
        "the storage limit, not a target. `ledger import` is the whole `ledgerctl import` path: "
        "each JSON line is decoded and validated once (strict msgspec structs with "
        "pattern-checked fields and cross-field rules), encoded canonically, then appended: "
        "chain link, leaf hash, the subtree hashes it completes, and the event-id, stream and "
        "run-id indexes (about seven LMDB operations per event), one synced transaction per "
        "batch. Profiling (cProfile, 100k events) splits it roughly evenly between validation "
        "(~30 µs/event, mostly msgspec's per-field pattern checks and the run-record rules) and "
        "the append transaction (~27 µs/event). `ledger verify` re-parses and re-validates "
        "every leaf, re-hashes it, checks the chain, every stored subtree hash and every index, "
        "and recomputes the root.",
        "**Profiling.** `scripts/bench.py --profile-dir DIR` (with `py-spy` installed, e.g. "
        "`--only unary,batched --profile-dir /tmp/prof`) attaches py-spy to each server for "
        "each timed run and prints, per thread, how busy it was and where (functions and "
        "lines).",
    ]
    wrapped = (
        textwrap.fill(
            bullet,
            95,
            initial_indent="- ",
            subsequent_indent="  ",
            break_on_hyphens=False,
            break_long_words=False,
        )
        for bullet in bullets
    )
    return "\n### Reading these figures\n\n" + "\n".join(wrapped) + "\n"


def _quick(args: argparse.Namespace) -> None:
    """Tiny sizes for a smoke run: every row, no meaningful rates."""
    args.events = min(args.events, 1000)
    args.projection_events = min(args.projection_events, 2000)
    args.diff_lines = min(args.diff_lines, 2000)
    args.gate_events = min(args.gate_events, 2000)
    args.batch = min(args.batch, 250)
    args.single_calls = min(args.single_calls, 20)
    args.unary_calls = min(args.unary_calls, 10 * args.clients)
    args.batched_events = min(args.batched_events, args.batch_clients * args.append_batch)
    args.warmup = min(args.warmup, 1)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--events", type=int, default=100_000, help="events imported and verified offline")
    add("--batch", type=int, default=1000, help="offline import batch size")
    add("--single-calls", type=int, default=1000, help="calls of the 1-client echo and Append")
    add("--unary-calls", type=int, default=16_000, help="calls of the N-client echo and Append")
    add("--clients", type=int, default=32, help="concurrent unary clients")
    add("--client-procs", type=int, default=2, help="processes the unary clients run in")
    add("--batched-events", type=int, default=100_000, help="events sent by batched Append")
    add("--projection-events", type=int, default=200_000, help="events of the rebuild benchmark")
    add("--append-batch", type=int, default=500, help="events per batched Append call")
    add("--diff-lines", type=int, default=200_000, help="lines of the guard's synthetic diff")
    add("--gate-events", type=int, default=50_000, help="events of the report/export ledger")
    add("--batch-clients", type=int, default=4, help="producer processes of batched Append")
    add("--warmup", type=int, default=5, help="untimed calls per client first")
    add("--quick", action="store_true", help="tiny sizes: a smoke run of every benchmark")
    add("--only", default=",".join(GROUPS), help=f"comma-separated subset of {','.join(GROUPS)}")
    add("--write", type=Path, default=None, help="also write this Markdown file")
    add("--profile-dir", type=Path, default=None, help="py-spy the daemon; samples go here")
    add("--py-spy", default="py-spy", help="the py-spy executable for --profile-dir")
    add("--daemon-wrapper", default="", help="a command prefix for the daemon, e.g. 'nice -n 0'")
    args = parser.parse_args(argv)
    args.only = [group.strip() for group in args.only.split(",") if group.strip()]
    unknown = set(args.only) - set(GROUPS)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}; choose from {GROUPS}")
    if args.quick:
        _quick(args)
    if args.profile_dir is not None:
        if shutil.which(args.py_spy) is None:
            parser.error(f"--profile-dir needs py-spy: {args.py_spy!r} is not on PATH")
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    indices = IndexAllocator()
    results: list[Result] = []
    profiles: list[tuple[str, str]] = []
    if "offline" in args.only:
        print("offline: import, raw LMDB put, verify", flush=True)
        results += run_offline(args.events, args.batch, indices)
    if "projections" in args.only:
        print(f"projections: rebuild over {args.projection_events:,} pipeline events", flush=True)
        results += run_projections(args.projection_events, args.batch)
    if "gate" in args.only:
        print(f"gate: guard over {args.diff_lines:,} diff lines, report and SARIF", flush=True)
        results += run_gate(args.diff_lines, args.gate_events, args.batch)
    if set(args.only) - {"offline", "projections", "gate"}:
        workers = max(args.client_procs, args.batch_clients, 1)
        with WorkerPool(workers) as pool:
            harness = Harness(pool, args.profile_dir, args.py_spy)
            results += run_grpc(args, harness, indices)
            profiles = harness.profiles
    judge(results, args)
    raw = _find(results, "raw LMDB put")
    mean_leaf = float(raw.extra["mean_leaf"]) if raw is not None else None  # type: ignore[arg-type]
    header = conditions(args, load_before, mean_leaf)
    body = results_table(results) + "\n" + details_table(results)
    print("\n" + header + "\n\n" + body)
    for slug, summary in profiles:
        print(f"\n#### server profile: {slug}\n\n{summary}")
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(
            "# Benchmarks\n\nProduced by `make bench` (`scripts/bench.py`), which regenerates "
            "this whole page.\n\n"
            + header
            + "\n\n## Results\n\n"
            + results_table(results)
            + "\n## Run details\n\n"
            + details_table(results)
            + notes(args)
        )


if __name__ == "__main__":
    main()
