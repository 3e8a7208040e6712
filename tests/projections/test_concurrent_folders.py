"""Two processes folding the same projections at once still fold every event exactly once.

That happens for a moment when a daemon dies: its projection worker finishes the
chunk it was folding while the restarted daemon's worker starts. Each chunk
checks, inside its write transaction, that the positions it folds from are
still the stored ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ledger.projections import ProjectionEngine
from ledger.store import AppendRequest, LmdbEventLog
from lifecycle_events import finding_reported, source_checked

_FOLDER = """
import sys
from pathlib import Path
from ledger.projections import ProjectionEngine
from ledger.store import LmdbEventLog
log = LmdbEventLog(Path(sys.argv[1]), readonly=True)
with ProjectionEngine(log, chunk=int(sys.argv[2])) as engine:
    engine.catch_up()
log.close()
"""


def test_two_folders_at_once_fold_each_event_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LmdbEventLog(data) as log:
        events = [
            finding_reported(f"F-{n % 40}", event_id=f"f-{n}") if n % 3 else
            source_checked(f"svc-{n % 5}", ok=n % 7 != 0, event_id=f"c-{n}")
            for n in range(600)
        ]  # fmt: skip
        log.append([AppendRequest(event) for event in events])
        # Created (and checked) once, as the daemon does before its worker starts.
        ProjectionEngine(log).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    folders = [
        subprocess.Popen([sys.executable, "-c", _FOLDER, str(data), "1"], env=env) for _ in range(2)
    ]
    assert [folder.wait(timeout=120) for folder in folders] == [0, 0]

    with LmdbEventLog(data) as log, ProjectionEngine(log) as engine:
        assert engine.positions() == dict.fromkeys(engine.names, 600)
        folded = {s.name: s.digest for s in engine.status()}
        fresh = ProjectionEngine(log, directory=tmp_path / "fresh")
        fresh.catch_up()
        assert {s.name: s.digest for s in fresh.status()} == folded
        fresh.close()
