"""`scripts/bench.py --quick` runs every benchmark end to end and writes every row.

A smoke test of the harness (servers, client processes, the page), not of speed:
the sizes are tiny and no rate is asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROWS = (
    "raw LMDB put (storage ceiling)",
    "ledger import (offline)",
    "ledger verify (offline full audit)",
    "gRPC echo, 1 client",
    "gRPC echo, 32 clients",
    "Append unary (durable), 1 client",
    "Append unary (durable), 32 clients",
    "Append batched (500/call, durable)",
    "projection lag during batched Append",
    "Subscribe catch-up from seq 0",
    "projections rebuild (all 3, from seq 0)",
    "as_of replay (verdicts, in memory, to the last seq)",
    "honesty guard inspect (clean diff)",
    "report of one subject (snapshot + render, offline)",
    "SARIF export of everything (snapshot + render, offline)",
)


def test_quick_bench_writes_every_row(tmp_path: Path) -> None:
    page_file = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench.py"), "--quick", "--write", str(page_file)],
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-4000:]
    page = page_file.read_text()
    results, _, rest = page.partition("## Run details")
    details, _, notes = rest.partition("### Reading these figures")
    for row in ROWS:
        assert f"\n| {row} |" in results, row
        assert f"\n| {row} |" in details, row
    assert "| benchmark | rate (events/s; echo: calls/s; else as noted) | p50 ms |" in results
    assert "grpcio" in results
    assert "Subscribe catch-up" in notes
    assert "Projections rebuild" in notes
    assert "% of echo, 32 clients" in results  # the ratio to the ceiling was computed
