"""Test child: fold an existing log into its projections, a few events per chunk, until killed.

Run as `python catch_up.py DATA_DIR --chunk N`. It opens DATA_DIR for writing (so it
holds the writer lock, as the daemon or an offline `ledgerctl` would), opens the
projection engine folding N events per write transaction, and catches up. It prints
one JSON line per step on stdout, flushed before going on:

- `{"open": pid, "recovered": pid|null, "size": n, "positions": {...}}` once the log and
  the engine are open;
- `{"at": {...}}` before each chunk, with the positions committed so far (the engine's
  `stop` check runs between chunks, so each of these is durable once printed);
- `{"done": {...}}` once caught up, after which it waits for its parent to kill it
  (or to close its stdin, which ends it, so an orphan never lingers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ledger.projections import ProjectionEngine
from ledger.store import LmdbEventLog


def emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--chunk", type=int, required=True)
    args = parser.parse_args()

    log = LmdbEventLog(args.data_dir)
    engine = ProjectionEngine(log, chunk=args.chunk)
    emit(
        {
            "open": os.getpid(),
            "recovered": log.recovered_stale_lock_from,
            "size": log.size(),
            "positions": engine.positions(),
        }
    )

    def report() -> bool:
        emit({"at": engine.positions()})
        return False

    emit({"done": engine.catch_up(stop=report)})
    sys.stdin.read()
    engine.close()
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
