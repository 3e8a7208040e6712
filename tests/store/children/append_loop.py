"""Test child: append batches of sample events until killed, acknowledging each commit.

Run as `python append_loop.py DATA_DIR --start N --seed S [--pad P] [--map-size B]`.
It prints one JSON line per step on stdout, flushed before going on:

- `{"open": pid, "recovered": pid|null, "map_size": bytes}` once the log is open
  (so the writer lock is held from then on);
- `{"begin": [[event_id, sha256 of the canonical envelope], ...]}` just before
  each `append` call;
- `{"ack": [[event_id, seq], ...], "dups": n, "size": tree_size, "map": bytes}`
  right after `append` returned, i.e. once the batch is committed and synced.

Event `run-<i>` is `sample_run(i, notes="x" * P)` and `finding-<i>` is
`sample_finding(i)`, with every index taken once from `--start` upwards, so the
parent can rebuild each event from its id. The loop ends on its own only if its
parent process goes away, so an orphan never keeps writing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
from pathlib import Path

from ledger.model import Envelope, encode_envelope
from ledger.samples import sample_finding, sample_run
from ledger.store import AppendRequest, LmdbEventLog

MAX_EVENTS = 5_000_000


def emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--pad", type=int, default=0)
    parser.add_argument("--map-size", type=int, default=None)
    parser.add_argument("--max-batch", type=int, default=20)
    args = parser.parse_args()

    parent = os.getppid()
    rng = random.Random(args.seed)
    notes = "x" * args.pad
    options: dict[str, int] = {} if args.map_size is None else {"map_size": args.map_size}
    log = LmdbEventLog(args.data_dir, **options)  # type: ignore[arg-type]
    emit(
        {
            "open": os.getpid(),
            "recovered": log.recovered_stale_lock_from,
            "map_size": log._env.info()["map_size"],
        }
    )
    index = args.start
    while index < args.start + MAX_EVENTS and os.getppid() == parent:
        count = 1 if rng.random() < 0.3 else rng.randint(2, args.max_batch)
        batch: list[Envelope] = []
        for _ in range(count):
            run = rng.random() < 0.5
            batch.append(sample_run(index, notes=notes) if run else sample_finding(index))
            index += 1
        emit(
            {
                "begin": [
                    [env.event_id, hashlib.sha256(encode_envelope(env)).hexdigest()]
                    for env in batch
                ]
            }
        )
        outcome = log.append([AppendRequest(env) for env in batch])
        emit(
            {
                "ack": [
                    [env.event_id, result.seq]
                    for env, result in zip(batch, outcome.results, strict=True)
                ],
                "dups": sum(result.duplicate for result in outcome.results),
                "size": outcome.tree_size,
                "map": log._env.info()["map_size"],
            }
        )
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
