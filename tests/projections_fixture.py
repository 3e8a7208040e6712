"""The projections fixture (tests/fixtures/projections/): its events, workspace and golden cases.

Shared by `tests/test_projection_fixture.py` (the library, in process), by
`scripts/gen_projection_fixture.py` (which writes the golden files with these very
helpers) and by daemon-level tests that query over gRPC. What they share:

- `fixture_lines()` / `fixture_events()`: the events, in log order; seq N is line N
  (0-based), since each event id is unique and the log starts empty;
- `workspace(tmp)`: the workspace manifest written out as files, for replay checks;
- `golden_cases()`: every query with its parameters (plain JSON values: `at` as an RFC
  3339 string, `as_of` as a seq) and its golden file name. A case is data: an in-process
  runner is `compute_case`; another runner (gRPC) maps `case.kind` and `case.params` to
  its own calls, applies `normalise_replay` to replay reports, and compares
  `encode_golden(document)` with `case.golden()`;
- `built_ledger(dir, lines)`: a log imported under the pinned clock, with its projection
  engine caught up.

The goldens describe a log holding exactly the fixture's events. A daemon appends a
`ledger.started` record at every start (specs/grpc-api.md), which no projection folds:
a daemon-level test should import the fixture offline first (`ledgerctl import
--data-dir`, with `LEDGERD_CLOCK=fixed:<RECORDED_AT>`), so that those records come after
it, and compare with `expected_bytes(case, trailing_events=<records since>)`.

The log is always built with `recorded_at` pinned at `RECORDED_AT` (`FixedClock`, or
`LEDGERD_CLOCK=fixed:2026-03-01T00:00:00Z` for a daemon); answers that judge time are
evaluated at `EVALUATED_AT` unless a case says otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from ledger.clock import FixedClock
from ledger.importer import import_events, parse_jsonl
from ledger.model import PreparedEvent, prepare_json
from ledger.projections import ProjectionEngine, ProjectionQueries, ProjectionStatus
from ledger.projections.replay import replay_report
from ledger.store import LmdbEventLog

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "projections"
EVENTS_PATH = FIXTURE_DIR / "events.jsonl"
WORKSPACE_PATH = FIXTURE_DIR / "workspace.json"
GOLDEN_DIR = FIXTURE_DIR / "golden"

RECORDED_AT = "2026-03-01T00:00:00Z"
EVALUATED_AT = "2026-03-01T12:00:00Z"
#: What a replay report's `workspace` member is replaced with, so no temp path is golden.
WORKSPACE_PLACEHOLDER = "<workspace>"

#: The runs whose detail and replay are golden, by event id: a label for each.
CHOSEN_RUNS = {
    # The last iteration of pr-107's eighteen-step healing loop: provenance deeper than
    # the projection follows (truncated), a plan file since deleted, a locally edited input.
    "deep": "run-fixer-pr-107-18",
    # A docs run over three test reports, the previous docs run and an external ref;
    # its inputs were rewritten since, and one report is gone.
    "docs": "run-docs-02",
    # pr-101's last test run: nothing touched its inputs since, so it replays clean.
    "clean": "run-test-pr-101-05",
}
#: Mid-way log positions for `as_of` queries, by the event they end with.
AS_OF_EVENTS = {
    # mid January: svc-api's fourth failed check in a row (an outage), W-107-1 revoked
    "asof1": "check-svc-api-20260119T11",
    # early February: right after the renewed waiver on pr-104's P1 was granted
    "asof2": "waiver-W-104-1",
}
HISTORY_STREAMS = ("gate/pr-107", "waivers/pr-104", "sources/svc-db")
#: A subject nothing was ever said about, and the evaluation time that flips pr-104.
UNKNOWN_SUBJECT = "github.com/acme/app/pull/999"
EARLY_AT = "2026-03-01T05:00:00Z"
RUNS_PAGE = 50

Json = dict[str, Any]

_SUBJECT_TYPES = frozenset(
    {"finding.reported", "command.executed", "patch.inspected", "gate.evaluated"}
)


# The fixture's files -------------------------------------------------------------------------


def fixture_lines(path: Path = EVENTS_PATH) -> list[bytes]:
    """The event lines, canonical JSON, in log order."""
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]


def fixture_events(path: Path = EVENTS_PATH) -> list[PreparedEvent]:
    """The events, each validated (`prepare_json`), in log order."""
    return [prepare_json(line) for line in fixture_lines(path)]


def workspace_manifest(path: Path = WORKSPACE_PATH) -> dict[str, str]:
    """The current workspace: relative path -> file content."""
    manifest: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def materialise_workspace(directory: Path, manifest: Mapping[str, str] | None = None) -> Path:
    """Write the workspace's files under `directory` (created) and return it."""
    files = workspace_manifest() if manifest is None else manifest
    directory.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
    return directory


def workspace(tmp: Path) -> Path:
    """The fixture's workspace materialised in `tmp/workspace`."""
    return materialise_workspace(tmp / "workspace")


def pinned_clock() -> FixedClock:
    return FixedClock(datetime.fromisoformat(RECORDED_AT))


# Building the log ----------------------------------------------------------------------------


def open_ledger(data_dir: Path) -> tuple[LmdbEventLog, ProjectionEngine]:
    """Open (or create) the log under the pinned clock, and its projection engine."""
    log = LmdbEventLog(data_dir, clock=pinned_clock())
    try:
        return log, ProjectionEngine(log)
    except BaseException:
        log.close()
        raise


def append_lines(log: LmdbEventLog, lines: Sequence[bytes], batch_size: int = 1000) -> int:
    """Import lines the way `ledgerctl import` does; returns the tree size after."""
    return import_events(log, parse_jsonl(b"\n".join(lines)), batch_size=batch_size).tree_size


@contextmanager
def built_ledger(
    data_dir: Path, lines: Sequence[bytes] | None = None, batch_size: int = 1000
) -> Iterator[tuple[LmdbEventLog, ProjectionEngine]]:
    """The fixture imported into a new log at `data_dir`, projections caught up."""
    log, engine = open_ledger(data_dir)
    try:
        append_lines(log, fixture_lines() if lines is None else lines, batch_size)
        engine.catch_up()
        yield log, engine
    finally:
        engine.close()
        log.close()


# The golden cases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldenCase:
    """One query, its JSON-valued parameters, and (by name) its golden file.

    kinds and their params (ProjectionQueries methods unless said):
    verdict(subject, at, as_of?), findings(at, as_of?), health(at, as_of?),
    suppressions(source, at), runs(limit, before_seq?, agent?, status?), run(run_id),
    replay(run_id, mode): `replay_report(replay(run_id), workspace, mode)` normalised
    (`ProjectionQueries.replay` gives the record and provenance; the workspace check
    runs where the workspace is),
    history(stream, from_version?, limit?, as_of?), status(): every ProjectionStatus.
    """

    name: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def file(self) -> str:
        return f"{self.name}.json"

    @property
    def path(self) -> Path:
        return GOLDEN_DIR / self.file

    def golden(self) -> bytes:
        return self.path.read_bytes()

    def expected_bytes(self, trailing_events: int = 0) -> bytes:
        """The golden bytes for a log with `trailing_events` unfolded events after the fixture.

        Such events (a daemon's `ledger.started` records) change no projection state,
        seq or answer; only the positions that count the whole log grow.
        """
        if not trailing_events:
            return self.golden()
        document = msgspec.json.decode(self.golden())
        if self.kind == "status":
            for status in document["projections"]:
                status["position"] += trailing_events
                status["log_size"] += trailing_events
        elif self.kind == "history" or document["as_of"] is None:
            document["log_position"] += trailing_events
        return encode_golden(document)


@dataclass(frozen=True)
class FixtureIndex:
    """What the cases are chosen from, read from the event lines."""

    seq_of: dict[str, int]
    subjects: list[str]
    suppressed: list[str]
    run_ids: dict[str, str]
    run_seqs: list[int]


def index_fixture(lines: Sequence[bytes]) -> FixtureIndex:
    seq_of: dict[str, int] = {}
    subjects: set[str] = set()
    suppressed: set[str] = set()
    run_ids: dict[str, str] = {}
    run_seqs: list[int] = []
    for seq, line in enumerate(lines):
        event = json.loads(line)
        if event["event_id"] in seq_of:
            raise ValueError(f"event id {event['event_id']} is repeated: seqs would shift")
        seq_of[event["event_id"]] = seq
        data = event["data"]
        if event["type"] in _SUBJECT_TYPES:
            subjects.add(data["subject"])
        elif event["type"] == "suppression.added":
            suppressed.add(data["target"])
        elif event["type"] == "run.recorded":
            run_ids[event["event_id"]] = data["run_id"]
            run_seqs.append(seq)
    return FixtureIndex(seq_of, sorted(subjects), sorted(suppressed), run_ids, run_seqs)


def _slug(subject: str) -> str:
    return "pr-" + subject.rsplit("/", 1)[1]


def golden_cases(lines: Sequence[bytes] | None = None) -> list[GoldenCase]:
    """Every golden query over the fixture, in a fixed order."""
    index = index_fixture(fixture_lines() if lines is None else lines)
    at = EVALUATED_AT
    subjects = [*index.subjects, UNKNOWN_SUBJECT]
    cases = [
        GoldenCase(f"verdict-{_slug(s)}", "verdict", {"subject": s, "at": at}) for s in subjects
    ]
    cases.append(
        GoldenCase(
            "verdict-pr-104-before-expiry",
            "verdict",
            {"subject": "github.com/acme/app/pull/104", "at": EARLY_AT},
            "before 06:00 the renewed waiver on pr-104's P1 still counts",
        )
    )
    cases.append(GoldenCase("findings-all", "findings", {"at": at}))
    cases.append(GoldenCase("health-all", "health", {"at": at}))
    cases += [
        GoldenCase(f"suppressions-{source}", "suppressions", {"source": source, "at": at})
        for source in index.suppressed
    ]
    newest = sorted(index.run_seqs, reverse=True)
    cases += [
        GoldenCase("runs-page-1", "runs", {"limit": RUNS_PAGE}),
        GoldenCase(
            "runs-page-2", "runs", {"limit": RUNS_PAGE, "before_seq": newest[RUNS_PAGE - 1]}
        ),
        GoldenCase(
            "runs-fixer-failed",
            "runs",
            {"limit": RUNS_PAGE, "agent": "fixer-agent", "status": "FAILED"},
        ),
    ]
    for label, event_id in CHOSEN_RUNS.items():
        run_id = index.run_ids[event_id]
        cases.append(GoldenCase(f"run-{label}", "run", {"run_id": run_id}, event_id))
    for label, event_id in CHOSEN_RUNS.items():
        run_id = index.run_ids[event_id]
        for mode in ("strict", "best_effort"):
            params = {"run_id": run_id, "mode": mode}
            cases.append(GoldenCase(f"replay-{label}-{mode}", "replay", params, event_id))
    cases += [
        GoldenCase("history-" + stream.replace("/", "-"), "history", {"stream": stream})
        for stream in HISTORY_STREAMS
    ]
    for label, event_id in AS_OF_EVENTS.items():
        as_of = index.seq_of[event_id]
        about = f"as of seq {as_of} ({event_id})"
        cases += [
            GoldenCase(
                f"{label}-verdict-{_slug(s)}", "verdict", {"subject": s, "at": at, "as_of": as_of},
                about,
            )
            for s in subjects
        ]  # fmt: skip
        cases.append(GoldenCase(f"{label}-findings", "findings", {"at": at, "as_of": as_of}, about))
        cases.append(GoldenCase(f"{label}-health", "health", {"at": at, "as_of": as_of}, about))
    cases.append(GoldenCase("status", "status", {}, "every projection's position and digest"))
    return cases


# Running the cases in process ----------------------------------------------------------------


def _time(params: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(params["at"])


def normalise_replay(report: Json) -> Json:
    """A replay report with the workspace path replaced by `WORKSPACE_PLACEHOLDER`."""
    return {**report, "replay": {**report["replay"], "workspace": WORKSPACE_PLACEHOLDER}}


def status_json(found: Sequence[ProjectionStatus]) -> Json:
    return {"projections": [asdict(status) for status in found]}


def compute_case(
    case: GoldenCase, queries: ProjectionQueries, engine: ProjectionEngine, workspace: Path
) -> Json:
    """Answer one case with the library, as a JSON document."""
    p = case.params
    kind = case.kind
    if kind == "verdict":
        return queries.verdict(p["subject"], at=_time(p), as_of=p.get("as_of"))
    if kind == "findings":
        return queries.findings(at=_time(p), as_of=p.get("as_of"))
    if kind == "health":
        return queries.health(at=_time(p), as_of=p.get("as_of"))
    if kind == "suppressions":
        return queries.suppressions(p["source"], at=_time(p))
    if kind == "runs":
        return queries.runs(
            agent=p.get("agent"),
            status=p.get("status"),
            before_seq=p.get("before_seq"),
            limit=p["limit"],
        )
    if kind == "run":
        return queries.run(p["run_id"])
    if kind == "replay":
        document = queries.replay(p["run_id"])
        return normalise_replay(replay_report(document, workspace, p["mode"]))
    if kind == "history":
        return queries.history(
            p["stream"],
            from_version=p.get("from_version", 1),
            limit=p.get("limit", 100),
            as_of=p.get("as_of"),
        )
    if kind == "status":
        return status_json(engine.status())
    raise ValueError(f"unknown case kind {kind!r}")


def encode_golden(document: Json) -> bytes:
    """A golden file's bytes: `msgspec.json.encode` (compact, members in order) and a newline."""
    return msgspec.json.encode(document) + b"\n"


def compute_all(
    queries: ProjectionQueries,
    engine: ProjectionEngine,
    workspace: Path,
    cases: Sequence[GoldenCase] | None = None,
) -> dict[str, bytes]:
    """Every case's encoded answer, by case name."""
    chosen = golden_cases() if cases is None else cases
    return {
        case.name: encode_golden(compute_case(case, queries, engine, workspace)) for case in chosen
    }
