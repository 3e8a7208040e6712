"""Benchmarks for ledgerd, reported as rates measured in one run (this machine is shared and noisy).

Core (the ledger library, no daemon):
- raw LMDB puts: the ceiling, the same values in the same synced batches, no ledger logic;
- import: envelope JSON lines parsed, validated, chained, hashed into the tree, synced;
- verify: the full offline audit of the imported log.

Run `python scripts/bench.py [--events N] [--batch N] [--write docs/benchmarks.md]`.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import lmdb

from ledger.audit import audit_log
from ledger.clock import FixedClock
from ledger.importer import import_events, parse_jsonl
from ledger.model import encode_envelope
from ledger.samples import sample_events
from ledger.store import LmdbEventLog


@dataclass(frozen=True)
class Result:
    name: str
    events: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def _sample_jsonl(count: int) -> bytes:
    # Built in a function so the sample objects are freed before anything is timed:
    # a real import process does not hold them, and they would slow every GC pass.
    return b"".join(encode_envelope(e) + b"\n" for e in sample_events(count))


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
    return Result("raw LMDB put (ceiling)", len(values), seconds, f"batches of {batch}, synced")


def bench_import(work: Path, jsonl: bytes, batch: int) -> tuple[Result, Path]:
    data_dir = work / "ledger"
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with LmdbEventLog(data_dir, clock=clock) as log:
        gc.collect()
        started = time.perf_counter()
        summary = import_events(log, parse_jsonl(jsonl), batch_size=batch)
        seconds = time.perf_counter() - started
    note = f"parse + validate + chain + tree, batches of {batch}, synced"
    return Result("ledger import", summary.appended, seconds, note), data_dir


def bench_verify(data_dir: Path) -> Result:
    with LmdbEventLog(data_dir, readonly=True) as log:
        gc.collect()
        started = time.perf_counter()
        report = audit_log(log)
        seconds = time.perf_counter() - started
    return Result("ledger verify (full audit)", report.size, seconds, "every leaf, hash and index")


_NOTES = """
### Reading these figures

- The raw LMDB ceiling writes the very same leaf bytes, in the same synced batches, with
  nothing else: no parsing, validation, hashing or indexes. It is the storage limit, not a target.
- `ledger import` is the whole `ledgerctl import` path: each JSON line is decoded and validated
  once (strict msgspec structs with pattern-checked fields and cross-field rules), encoded
  canonically, then appended: chain link, leaf hash, the subtree hashes it completes, and the
  event-id, stream and run-id indexes (about seven LMDB operations per event), one synced
  transaction per batch. Profiling (cProfile, 100k events) splits it roughly evenly between
  validation (~30 µs/event, mostly msgspec's per-field pattern checks and the run-record rules)
  and the append transaction (~27 µs/event).
- `ledger verify` re-parses and re-validates every leaf, re-hashes it, checks the chain, every
  stored subtree hash and every index, and recomputes the root.
- The machine is shared: compare ratios from one run, not absolute figures across runs.
"""


def _report(results: list[Result], ceiling: Result, events: int) -> str:
    lines = [
        "| benchmark | events | seconds | events/s | vs raw LMDB put | conditions |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.name} | {result.events:,} | {result.seconds:.2f} | {result.rate:,.0f} "
            f"| {result.rate / ceiling.rate:.1%} | {result.note} |"
        )
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, lmdb "
        f"{'.'.join(map(str, lmdb.version()))}; {events:,} sample events "
        "(run records and findings, ~1 KB leaves), one run."
    )
    return header + "\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--write", type=Path, default=None, help="also write this Markdown file")
    args = parser.parse_args()

    jsonl = _sample_jsonl(args.events)
    work = Path(tempfile.mkdtemp(prefix="ledgerd-bench-"))
    try:
        imported, data_dir = bench_import(work, jsonl, args.batch)
        with LmdbEventLog(data_dir, readonly=True) as log:
            values = [item.leaf_bytes for item in log.read()]
        print(f"mean leaf size: {statistics.mean(map(len, values)):.0f} bytes")
        ceiling = bench_raw_lmdb(work, values, args.batch)
        verified = bench_verify(data_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = _report([ceiling, imported, verified], ceiling, args.events)
    print(table)
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(
            "# Benchmarks\n\nProduced by `make bench` (`scripts/bench.py`).\n\n"
            "## Ledger core\n\n" + table + _NOTES
        )


if __name__ == "__main__":
    main()
