"""Test child: open a log (for writing, or read-only) and obey commands read from stdin.

Run as `python log_child.py DATA_DIR [--readonly] [--map-size BYTES]`. Every
answer is one JSON line on stdout, flushed:

- on start: `{"open": {"pid", "recovered", "size", "map_size"}}`, or, when opening
  fails with a ledger error, `{"error": <LedgerError.to_dict()>}` and exit status 3;
- `append START COUNT PAD`: appends one batch of COUNT events, `run-<i>` for even
  positions (`sample_run(i, notes="x" * PAD)`) and `finding-<i>` for odd ones, with
  i = START, START + 1, ...; answers `{"appended": [[event_id, seq, duplicate], ...],
  "size": tree_size}`;
- `read`: reads the whole log; answers `{"read": {"size", "ids", "leaves_sha256",
  "map_size"}}` where `leaves_sha256` hashes every leaf's length and bytes in order;
- `exit` (or end of input): closes the log and exits with status 0.

A command that fails with a ledger error answers `{"error": <to_dict()>}` and the
child carries on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from ledger.errors import LedgerError
from ledger.samples import sample_finding, sample_run
from ledger.store import AppendRequest, LmdbEventLog


def emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def leaves_digest(log: LmdbEventLog) -> dict[str, object]:
    digest = hashlib.sha256()
    ids = []
    for event in log.read():
        digest.update(len(event.leaf_bytes).to_bytes(8, "big") + event.leaf_bytes)
        ids.append(event.leaf.envelope.event_id)
    return {
        "size": len(ids),
        "ids": ids,
        "leaves_sha256": digest.hexdigest(),
        "map_size": log._env.info()["map_size"],
    }


def serve(log: LmdbEventLog) -> None:
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "exit":
            return
        try:
            if words[0] == "append":
                start, count, pad = (int(word) for word in words[1:4])
                batch = [
                    sample_run(start + k, notes="x" * pad)
                    if k % 2 == 0
                    else sample_finding(start + k)
                    for k in range(count)
                ]
                outcome = log.append([AppendRequest(env) for env in batch])
                emit(
                    {
                        "appended": [
                            [env.event_id, result.seq, result.duplicate]
                            for env, result in zip(batch, outcome.results, strict=True)
                        ],
                        "size": outcome.tree_size,
                    }
                )
            elif words[0] == "read":
                emit({"read": leaves_digest(log)})
            else:
                emit({"unknown": words[0]})
        except LedgerError as exc:
            emit({"error": exc.to_dict()})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--readonly", action="store_true")
    parser.add_argument("--map-size", type=int, default=None)
    args = parser.parse_args()
    options: dict[str, object] = {"readonly": args.readonly}
    if args.map_size is not None:
        options["map_size"] = args.map_size
    try:
        log = LmdbEventLog(args.data_dir, **options)  # type: ignore[arg-type]
    except LedgerError as exc:
        emit({"error": exc.to_dict()})
        return 3
    try:
        emit(
            {
                "open": {
                    "pid": os.getpid(),
                    "recovered": log.recovered_stale_lock_from,
                    "size": log.size(),
                    "map_size": log._env.info()["map_size"],
                }
            }
        )
        serve(log)
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
