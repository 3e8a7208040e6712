"""Test child: create a new log and append one event, SIGKILLing itself at a chosen LMDB call.

Run as `python first_open.py DATA_DIR KILL_AT`. A profile hook numbers every call
of a method of an LMDB environment, transaction or cursor (every step after
`lmdb.open`), once as it starts and once as it returns, from 0. At number KILL_AT the child sends
itself SIGKILL, so it dies just before or just after that call, at a point chosen
by the parent rather than by timing. Otherwise it opens DATA_DIR (a new ledger),
appends `sample_run(0)`, closes, prints the number of LMDB call events it saw as
`{"events": N}` and exits 0; the parent runs it once that way to learn N.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import lmdb

from ledger.samples import sample_run
from ledger.store import AppendRequest, LmdbEventLog

_LMDB_TYPES = (lmdb.Environment, lmdb.Transaction, lmdb.Cursor)


def main() -> int:
    data_dir, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    seen = 0

    def hook(frame: FrameType, event: str, arg: object) -> None:
        nonlocal seen
        if event not in ("c_call", "c_return"):
            return
        if isinstance(getattr(arg, "__self__", None), _LMDB_TYPES):
            if seen == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            seen += 1

    sys.setprofile(hook)
    log = LmdbEventLog(data_dir)
    log.append([AppendRequest(sample_run(0))])
    log.close()
    sys.setprofile(None)
    sys.stdout.write(json.dumps({"events": seen}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
