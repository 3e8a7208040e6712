"""Generate the projections fixture: a mixed event log, a workspace and golden query answers.

Writes `tests/fixtures/projections/`:

- `events.jsonl`: about 1,400 envelopes (canonical JSON, one per line) telling one story
  over January and February 2026: four agents heal eight pull requests in provenance
  chains, three gate lanes probe, inspect and judge them, people resolve, waive and
  revoke, and a prober watches five services, some registered, suppressed or silent;
- `workspace.json`: the "current workspace" (path -> content) the replay goldens check
  run inputs against: most recorded inputs match, some drifted, some are gone;
- `golden/*.json`: the answers of `ledger.projections` to the queries listed in
  `tests/projections_fixture.py` (`golden_cases`), over the log built by importing the
  events under a clock pinned at 2026-03-01T00:00:00Z, evaluated at 2026-03-01T12:00:00Z.

Everything is deterministic: no wall clock, and randomness only from one seeded
`random.Random`. Every event is validated with `ledger.model.prepare_json`.

    python scripts/gen_projection_fixture.py          # (re)write the fixture
    python scripts/gen_projection_fixture.py --check  # compare; exit 1 on any difference
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import random
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.model import prepare_json

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "projections"
SEED = 20260301
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 3, 1, tzinfo=UTC)

Json = dict[str, Any]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content(path: str, version: int) -> str:
    """A file's content at a version: what the run records' sha256 are digests of."""
    return f"{path} v{version}\n"


def _time(instant: datetime, *, millis: bool = False) -> str:
    if millis:
        return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


# The story's cast ----------------------------------------------------------------------------

HUMANS = ("alice", "bob", "carol")
LANE_1 = "gate-lane-1"  # unit tests and lint; records gate evaluations
LANE_2 = "gate-lane-2"  # integration tests and type checks, on flaky runners
LANE_SEC = "gate-lane-security"  # patch inspection and security review
PROBES = {LANE_1: ("unit-tests", "lint"), LANE_2: ("integration", "typecheck")}
COMMANDS = {
    "unit-tests": "pytest -q tests/unit",
    "lint": "ruff check src tests",
    "integration": "pytest -q tests/integration --db=[REDACTED]",
    "typecheck": "mypy src",
}
CATEGORY_LANE = {
    "correctness": LANE_1,
    "test_integrity": LANE_1,
    "contract": LANE_2,
    "performance": LANE_2,
    "resilience": LANE_2,
    "isolation": LANE_SEC,
    "security": LANE_SEC,
    "side_effects": LANE_SEC,
}
TEMPLATES = {
    "correctness": (
        "off-by-one in the pagination cursor",
        "the last item of every full page is skipped",
        "when a page holds exactly the page size",
        "use an inclusive upper bound and add a boundary test",
    ),
    "test_integrity": (
        "assertion removed from a regression test",
        "the test passes whatever the code returns",
        "always",
        "restore the assertion on the returned status",
    ),
    "contract": (
        "response field renamed without a version bump",
        "existing clients read a missing field as null",
        "for every client older than the change",
        "keep the old field until the next major version",
    ),
    "performance": (
        "query issued once per row",
        "listing 10k items makes 10k round trips",
        "on large accounts",
        "batch the lookups into one query",
    ),
    "resilience": (
        "retry loop without backoff",
        "a failing dependency is hammered and never recovers",
        "when the dependency is down",
        "retry with capped exponential backoff and jitter",
    ),
    "isolation": (
        "tenant id taken from the request body",
        "one tenant can read another tenant's records",
        "when a client forges the body",
        "derive the tenant from the authenticated session",
    ),
    "security": (
        "token compared with ==",
        "timing differences leak the token a byte at a time",
        "under a patient remote attacker",
        "use hmac.compare_digest",
    ),
    "side_effects": (
        "test writes into the shared cache directory",
        "parallel test runs corrupt each other's cache",
        "under pytest -n auto",
        "write into tmp_path instead",
    ),
}
RULES = {
    "correctness": "PAG-002",
    "test_integrity": "TST-010",
    "contract": "API-004",
    "performance": "DB-N+1",
    "resilience": "RES-001",
    "isolation": "TEN-003",
    "security": "SEC-105",
    "side_effects": "FS-007",
}
SERVICES = {
    # source_id: (tier, expected_interval_s, failure_budget, description)
    "svc-api": ("required", 86_400, 0.1, "public API health endpoint"),
    "svc-db": ("required", 28_800, 0.1, "primary database replica lag probe"),
    "svc-search": ("standard", 43_200, 0.25, "search cluster query probe"),
    "svc-legacy": ("best_effort", 3_600, 0.5, "legacy SOAP gateway, being decommissioned"),
    "svc-billing": ("required", 3_600, 0.0, "billing webhook receiver (not deployed yet)"),
}


@dataclass
class Draft:
    """One event before ordering: the log order is by arrival, the content by occurrence."""

    arrive: datetime
    order: int
    envelope: Json


@dataclass
class Run:
    run_id: str
    agent: str
    ended: datetime
    event_id: str


@dataclass
class Finding:
    finding_id: str
    subject: str
    severity: str
    category: str
    evidence: str
    file: str
    line: int | None


@dataclass
class Special:
    """A finding with a scripted life: (iteration, action, arguments) steps."""

    finding: Finding
    steps: list[tuple[int, str, Json]]


@dataclass
class Subject:
    number: int
    start: datetime
    gap_h: float
    iterations: int
    files: tuple[str, ...]
    final_probes: dict[str, str] = field(default_factory=dict)
    unsafe: dict[int, tuple[bool, list[Json], list[Json]]] = field(default_factory=dict)
    fixer: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    specials: list[Special] = field(default_factory=list)
    new_findings: int = 2

    @property
    def slug(self) -> str:
        return f"pr-{self.number}"

    @property
    def name(self) -> str:
        return f"github.com/acme/app/pull/{self.number}"

    def at(self, iteration: int) -> datetime:
        return self.start + timedelta(hours=self.gap_h * (iteration - 1))


Step = tuple[int, str, Json]


def _edit(what: str, where: str, evidence: str) -> Json:
    """A forbidden edit: `what` is "type severity", `where` is "file" or "file:line"."""
    kind, severity = what.split()
    file, _, line = where.partition(":")
    return {
        "type": kind,
        "severity": severity,
        "file": file,
        "line": int(line) if line else None,
        "evidence": evidence,
    }


def _special(subject: int, index: int, what: str, where: str, steps: list[Step]) -> Special:
    """A scripted finding: `what` is "severity category evidence", `where` "file[:line]"."""
    severity, category, evidence = what.split()
    file, _, line = where.partition(":")
    finding = Finding(
        finding_id=f"F-{subject}-S{index}",
        subject=f"github.com/acme/app/pull/{subject}",
        severity=severity,
        category=category,
        evidence=evidence,
        file=file,
        line=int(line) if line else None,
    )
    return Special(finding, steps)


def _reports(first: int, last: int) -> list[Step]:
    """The finding is reported by its lane in each of these iterations."""
    return [(k, "report", {}) for k in range(first, last + 1)]


def _waive(k: int, waiver_id: str, risk: str, owner: str, expiry: str) -> Step:
    return (k, "waive", {"id": waiver_id, "risk": risk, "owner": owner, "expiry": expiry})


def _revoke(k: int, waiver_id: str) -> Step:
    return (k, "revoke", {"id": waiver_id})


def _resolve(k: int, resolution: str) -> Step:
    return (k, "resolve", {"resolution": resolution})


_HEALER_TMP = "noqa: S108 added over a world-writable temp path"
_ADMIN_SPEC = _edit("spec_modification low", "specs/admin.md:8", "export endpoint documented")


def _story_subjects() -> list[Subject]:
    """The eight pull requests and what makes each one's verdict what it is."""
    day = timedelta(days=1)
    return [
        # Ready: everything fixed, probes pass, the last patch is clean; an early waiver
        # on a finding fixed anyway. (pr-108's lane also misfiles one report here.)
        Subject(
            101,
            START + 2 * day + timedelta(hours=9),
            gap_h=40,
            iterations=5,
            files=("src/app/auth.py", "src/app/session.py"),
            specials=[
                _special(
                    101,
                    1,
                    "P2 performance verified",
                    "src/app/session.py:88",
                    [
                        *_reports(1, 2),
                        _waive(2, "W-101-1", "low", "team-web", "2026-02-01T00:00:00Z"),
                        _resolve(4, "fixed"),
                    ],
                ),
            ],
        ),
        # Conditionally ready: open P2/P3 findings in five files (wide), a waiver revoked,
        # and a P3 waiver that expires exactly at the evaluation time (expiry is exclusive).
        Subject(
            102,
            START + 7 * day + timedelta(hours=10),
            gap_h=62,
            iterations=6,
            files=("src/app/cache.py", "src/app/http.py", "src/app/retry.py"),
            specials=[
                _special(
                    102,
                    1,
                    "P2 contract verified",
                    "src/app/http.py:41",
                    [
                        *_reports(3, 6),
                        _waive(4, "W-102-0", "medium", "team-platform", "2026-03-20T00:00:00Z"),
                        _revoke(5, "W-102-0"),
                    ],
                ),
                _special(102, 2, "P2 resilience hypothesis", "src/app/retry.py:17", _reports(4, 6)),
                _special(102, 3, "P3 performance verified", "src/app/cache.py:203", _reports(2, 6)),
                _special(
                    102, 4, "P3 side_effects hypothesis", "src/app/metrics.py", _reports(5, 6)
                ),
                _special(
                    102,
                    5,
                    "P3 resilience verified",
                    "src/app/pool.py:9",
                    [
                        *_reports(5, 6),
                        _waive(6, "W-102-1", "low", "team-platform", "2026-03-01T12:00:00Z"),
                    ],
                ),
            ],
        ),
        # Conditionally ready: a P0 security finding under an active waiver (it expires in
        # the evening of the evaluation day) and a waived P2 isolation finding.
        Subject(
            103,
            START + 14 * day + timedelta(hours=8),
            gap_h=70,
            iterations=7,
            files=("src/app/tokens.py", "src/app/tenancy.py"),
            specials=[
                _special(
                    103,
                    1,
                    "P0 security verified",
                    "src/app/tokens.py:52",
                    [
                        *_reports(2, 6),
                        _waive(6, "W-103-1", "critical", "team-security", "2026-03-01T18:00:00Z"),
                    ],
                ),
                _special(
                    103,
                    2,
                    "P2 isolation verified",
                    "src/app/tenancy.py:130",
                    [
                        *_reports(3, 5),
                        _waive(5, "W-103-2", "medium", "team-security", "2026-03-15T00:00:00Z"),
                    ],
                ),
            ],
        ),
        # Not ready, decided by the evaluation time: a P1 whose renewed waiver expired at
        # 06:00 on the evaluation day (the first waiver expired in February).
        Subject(
            104,
            START + 19 * day + timedelta(hours=11),
            gap_h=66,
            iterations=7,
            files=("src/app/orders.py", "src/app/invoices.py"),
            specials=[
                _special(
                    104,
                    1,
                    "P1 correctness verified",
                    "src/app/orders.py:310",
                    [
                        *_reports(2, 7),
                        _waive(2, "W-104-0", "high", "team-orders", "2026-02-10T00:00:00Z"),
                        _waive(7, "W-104-1", "high", "team-orders", "2026-03-01T06:00:00Z"),
                    ],
                ),
                _special(
                    104,
                    2,
                    "P3 test_integrity hypothesis",
                    "tests/test_orders.py:12",
                    [*_reports(3, 4), _resolve(5, "wont_fix")],
                ),
            ],
        ),
        # Not ready: the healer's latest patch silences a finding and weakens the gate.
        Subject(
            105,
            START + 31 * day + timedelta(hours=9),
            gap_h=70,
            iterations=6,
            files=("src/app/upload.py", "src/app/storage.py"),
            fixer={5: ("PARTIAL", "weakening_detected"), 6: ("PARTIAL", "weakening_detected")},
            unsafe={
                5: (
                    True,
                    [_edit("suppression_insertion high", "src/app/upload.py:77", _HEALER_TMP)],
                    [],
                ),
                6: (
                    True,
                    [
                        _edit("suppression_insertion high", "src/app/upload.py:77", _HEALER_TMP),
                        _edit(
                            "gate_config_weaken critical",
                            ".gate/config.toml:4",
                            "fail_under lowered from 90 to 10",
                        ),
                        _edit(
                            "severity_downgrade medium",
                            "rules/storage.yaml:18",
                            "STO-002 downgraded from error to info",
                        ),
                    ],
                    [],
                ),
            },
            specials=[
                _special(
                    105, 1, "P1 side_effects verified", "src/app/upload.py:77", _reports(3, 6)
                ),
            ],
        ),
        # Not ready: the latest unit tests fail, integration times out, the type check errs.
        Subject(
            106,
            START + 35 * day + timedelta(hours=13),
            gap_h=72,
            iterations=7,
            files=("src/app/search.py", "src/app/index.py"),
            final_probes={"unit-tests": "failed", "integration": "timed_out", "typecheck": "error"},
            fixer={4: ("FAILED", "unknown_rule"), 7: ("FAILED", "test_failed")},
        ),
        # Not ready: an eighteen-iteration healing loop (the deep provenance chain); a P0
        # fixed at iteration 10 regresses at 14 (reopened); a waiver granted then revoked.
        Subject(
            107,
            START + 4 * day + timedelta(hours=10),
            gap_h=76.5,
            iterations=18,
            files=("src/app/engine.py", "src/app/scheduler.py", "src/app/queue.py"),
            fixer={18: ("FAILED", "max_iterations"), 11: ("SKIPPED", None), 8: ("FAILED", "stuck")},
            unsafe={
                6: (
                    True,
                    [
                        _edit(
                            "pack_disable medium", ".gate/packs.toml", "concurrency pack disabled"
                        ),
                        _edit(
                            "spec_modification low",
                            "specs/scheduler.md:40",
                            "ordering guarantee deleted",
                        ),
                    ],
                    [],
                ),
            },
            specials=[
                _special(
                    107,
                    1,
                    "P0 correctness verified",
                    "src/app/scheduler.py:221",
                    [
                        *_reports(3, 9),
                        _waive(4, "W-107-1", "critical", "team-core", "2026-03-31T00:00:00Z"),
                        _revoke(5, "W-107-1"),
                        _resolve(10, "fixed"),
                        *_reports(14, 18),
                    ],
                ),
                _special(
                    107,
                    2,
                    "P1 isolation hypothesis",
                    "src/app/queue.py:64",
                    [*_reports(7, 12), _resolve(13, "false_positive")],
                ),
            ],
            new_findings=1,
        ),
        # Ready after an unsafe human patch was redone: all fixed but one P3 suspicion.
        Subject(
            108,
            START + 24 * day + timedelta(hours=9),
            gap_h=68,
            iterations=6,
            files=("src/app/admin.py", "src/app/acl.py"),
            unsafe={
                2: (
                    False,
                    [
                        _edit(
                            "auth_bypass critical",
                            "src/app/admin.py:15",
                            "@login_required removed from the export view",
                        ),
                        _edit(
                            "allowlist_weaken high",
                            "config/allowlist.txt:3",
                            "0.0.0.0/0 added to the admin allow-list",
                        ),
                    ],
                    [_ADMIN_SPEC],
                ),
                3: (False, [], [_ADMIN_SPEC]),
            },
            specials=[
                _special(108, 1, "P3 correctness hypothesis", "src/app/acl.py:71", _reports(5, 6)),
                _special(
                    108,
                    2,
                    "P2 security verified",
                    "src/app/admin.py:15",
                    [*_reports(2, 3), _resolve(4, "fixed")],
                ),
                _special(
                    108,
                    3,
                    "P2 security verified",
                    "src/app/admin.py:15",
                    [(3, "report", {}), _resolve(4, "duplicate")],
                ),
                _special(
                    108,
                    4,
                    "P3 contract hypothesis",
                    "specs/admin.md:8",
                    [(2, "report", {}), _resolve(4, "obsolete")],
                ),
            ],
        ),
    ]


FileDigestJson = dict[str, str]


class FileHistory:
    """Versions of workspace files over time: version n is `content(path, n)`."""

    def __init__(self) -> None:
        self._writes: dict[str, list[datetime]] = {}

    def write(self, path: str, at: datetime) -> FileDigestJson:
        times = self._writes.setdefault(path, [])
        bisect.insort(times, at)
        return self.digest(path, at + timedelta(microseconds=1))

    def version(self, path: str, at: datetime) -> int:
        """The version a reader at `at` sees: 1, plus the writes strictly before `at`."""
        return 1 + bisect.bisect_left(self._writes.get(path, []), at)

    def digest(self, path: str, at: datetime) -> FileDigestJson:
        return {"path": path, "sha256": _sha(content(path, self.version(path, at)))}

    def latest(self, path: str) -> int:
        return 1 + len(self._writes.get(path, []))


class Story:
    """Builds the drafts; `events()` orders them into the log."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)  # noqa: S311 - deterministic fixture data, not secrets
        self.drafts: list[Draft] = []
        self.files = FileHistory()
        self.seen_paths: set[str] = set()
        self.reports: list[tuple[datetime, str, str, str]] = []  # (time, ref, run_id, path)
        self.last_test_run: dict[str, Run] = {}

    # Envelopes -------------------------------------------------------------------------------

    def emit(
        self,
        event_id: str,
        stream: str,
        kind: str,
        producer: str,
        occurred: datetime,
        data: Json,
        *,
        correlation: str | None = None,
        late: timedelta = timedelta(0),
        millis: bool = False,
        schema_version: str = "1.0",
    ) -> None:
        envelope = {
            "event_id": event_id,
            "stream": stream,
            "type": kind,
            "schema_version": schema_version,
            "occurred_at": _time(occurred, millis=millis),
            "producer": producer,
            "correlation_id": correlation,
            "data": data,
        }
        self.drafts.append(Draft(occurred + late, len(self.drafts), envelope))

    def uuid7(self, at: datetime) -> str:
        millis = int(at.timestamp() * 1000)
        rand = self.rng.getrandbits(74)
        value = millis << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | rand & ((1 << 62) - 1)
        return str(uuid.UUID(int=value))

    # Runs ------------------------------------------------------------------------------------

    def run(
        self,
        event_id: str,
        agent: str,
        ended: datetime,
        minutes: int,
        *,
        status: str,
        reads: Sequence[str],
        writes: Sequence[str],
        input_refs: Sequence[str],
        output_refs: Sequence[str],
        mode: str,
        heal_reason: str | None = None,
        correlation: str | None = None,
        late: timedelta = timedelta(0),
        notes: str = "",
        config: str = "v1",
        prewritten: bool = False,
        subject: str | None = None,
    ) -> Run:
        """Record a run; `prewritten` when its writes are already in the file history.

        A run that names its `subject` is a schema 1.1 record; any other stays 1.0.
        """
        started = ended - timedelta(minutes=minutes, seconds=self.rng.randrange(60))
        inputs = [self.files.digest(path, started) for path in reads]
        if prewritten:
            outputs = [
                self.files.digest(path, ended + timedelta(microseconds=1)) for path in writes
            ]
        else:
            outputs = [self.files.write(path, ended) for path in writes]
        self.seen_paths.update(reads)
        self.seen_paths.update(writes)
        composite = hashlib.sha256()
        for item in sorted(inputs, key=lambda i: i["path"].encode("utf-8")):
            composite.update(f"{item['path']}\0{item['sha256']}\n".encode())
        run_id = self.uuid7(started)
        exit_code = {"SUCCESS": 0, "SKIPPED": 0, "PARTIAL": 3}.get(status, 1)
        best_effort = None
        if mode == "best_effort":
            best_effort = {
                "entropy_sources": ["llm sampling", "wall clock"],
                "seeds": {"sampler": self.rng.randrange(1 << 31)},
            }
        data = {
            "run_id": run_id,
            "agent_name": agent,
            "run_status": status,
            "status_before": "failing" if status != "SKIPPED" else "passing",
            "status_after": {"SUCCESS": "passing", "PARTIAL": "flaky", "SKIPPED": "passing"}.get(
                status, "failing"
            ),
            "started_at": _time(started),
            "ended_at": _time(ended),
            "input_files": inputs,
            "output_files": outputs,
            "input_context_sha": composite.hexdigest(),
            "git_head": None if status == "SKIPPED" else _sha(f"commit {event_id}")[:40],
            "config_fingerprint": _sha(f"config {agent} {config}"),
            "mode": mode,
            "best_effort": best_effort,
            "input_refs": list(input_refs),
            "output_refs": list(output_refs),
            "exit_code": exit_code,
            "heal_reason": heal_reason,
            "notes": notes,
        }
        if subject is not None:
            data["subject"] = subject
        self.emit(
            event_id,
            f"runs/{agent}",
            "run.recorded",
            agent,
            ended,
            data,
            correlation=correlation,
            late=late,
            schema_version="1.0" if subject is None else "1.1",
        )
        return Run(run_id, agent, ended, event_id)

    # Sources ---------------------------------------------------------------------------------

    def sources(self) -> None:
        registrar = {"svc-billing": "bob"}
        registered = {
            "svc-api": START + timedelta(hours=1),
            "svc-db": START + timedelta(hours=1, minutes=5),
            "svc-search": START + timedelta(days=31, hours=9),
            "svc-legacy": START + timedelta(hours=1, minutes=10),
            "svc-billing": START + timedelta(days=50, hours=15),
        }
        # svc-search is first registered best-effort, then promoted once it serves users.
        self.emit(
            "source-svc-search-initial",
            "sources/svc-search",
            "source.registered",
            "carol",
            START + timedelta(hours=1, minutes=15),
            {
                "source_id": "svc-search",
                "tier": "best_effort",
                "expected_interval_s": 86_400,
                "failure_budget": 0.5,
                "description": "search cluster (beta)",
            },
        )
        for source_id, (tier, interval, budget, description) in SERVICES.items():
            self.emit(
                f"source-{source_id}",
                f"sources/{source_id}",
                "source.registered",
                registrar.get(source_id, "carol"),
                registered[source_id],
                {
                    "source_id": source_id,
                    "tier": tier,
                    "expected_interval_s": interval,
                    "failure_budget": budget,
                    "description": description,
                },
            )
        # The prober checks each live service every 8 hours.
        silent_after = START + timedelta(days=19, hours=23)
        api_outage = (START + timedelta(days=17, hours=10), START + timedelta(days=19, hours=2))
        number = 0
        slot = START + timedelta(hours=3)
        late_slots = {37, 151, 402}
        while slot < END:
            for index, source_id in enumerate(("svc-api", "svc-db", "svc-search", "svc-legacy")):
                if source_id == "svc-legacy" and slot > silent_after:
                    continue
                at = slot + timedelta(minutes=2 * index, seconds=self.rng.randrange(60))
                at += timedelta(milliseconds=self.rng.randrange(1000))
                ok, code = self._probe(source_id, slot, api_outage)
                number += 1
                latency = self.rng.randrange(20, 400) if ok else self.rng.randrange(900, 30_000)
                self.emit(
                    f"check-{source_id}-{slot:%Y%m%dT%H}",
                    f"sources/{source_id}",
                    "source.checked",
                    "prober-1",
                    at,
                    {"source_id": source_id, "ok": ok, "latency_ms": latency, "error_code": code},
                    late=timedelta(hours=5) if number in late_slots else timedelta(0),
                    millis=True,
                )
            slot += timedelta(hours=8)

    def _probe(
        self, source_id: str, slot: datetime, outage: tuple[datetime, datetime]
    ) -> tuple[bool, str | None]:
        last_day = END - timedelta(days=1)
        if source_id == "svc-api":
            if outage[0] <= slot <= outage[1]:
                return False, "http_503"
            if slot >= END - timedelta(days=4):
                return True, None
            return (False, "http_502") if self.rng.random() < 0.03 else (True, None)
        if source_id == "svc-db":
            if slot >= last_day - timedelta(hours=8):
                return False, "conn_refused"
            return (False, "replica_lag") if self.rng.random() < 0.05 else (True, None)
        if source_id == "svc-search":
            if slot >= last_day + timedelta(hours=8):
                return False, "timeout"
            if slot >= last_day - timedelta(days=2):
                return True, None
            return (False, "timeout") if self.rng.random() < 0.12 else (True, None)
        return (False, "soap_fault") if self.rng.random() < 0.3 else (True, None)

    def suppressions(self) -> None:
        def added(sid: str, target: str, owner: str, at: datetime, expiry: str, why: str) -> None:
            self.emit(
                f"suppress-{sid}",
                f"sources/{target}",
                "suppression.added",
                owner,
                at,
                {
                    "suppression_id": sid,
                    "target": target,
                    "reason": why,
                    "owner": owner,
                    "expiry": expiry,
                },
            )

        def lifted(sid: str, target: str, owner: str, at: datetime, why: str) -> None:
            self.emit(
                f"lift-{sid}",
                f"sources/{target}",
                "suppression.lifted",
                owner,
                at,
                {"suppression_id": sid, "target": target, "reason": why, "owner": owner},
            )

        day = timedelta(days=1)
        added(
            "S-1",
            "svc-db",
            "bob",
            START + 24 * day,
            "2026-01-28T00:00:00Z",
            "replica rebuild after the storage migration",
        )
        added("S-2", "svc-db", "bob", START + 40 * day, "2026-02-20T00:00:00Z", "failover drill")
        lifted(
            "S-2", "svc-db", "bob", START + 40 * day + timedelta(hours=6), "drill finished early"
        )
        added(
            "S-3",
            "svc-db",
            "carol",
            END - timedelta(hours=14),
            "2026-03-03T00:00:00Z",
            "primary being replaced, vendor ticket 4411",
        )
        added(
            "S-4",
            "svc-legacy",
            "alice",
            START + 20 * day + timedelta(hours=9),
            "2026-02-15T00:00:00Z",
            "gateway is being decommissioned",
        )
        added(
            "S-5",
            LANE_2,
            "alice",
            START + 41 * day,
            "2026-02-24T00:00:00Z",
            "integration runners moving to the new cluster",
        )
        lifted("S-5", LANE_2, "alice", START + 44 * day, "runner migration rolled back")
        added(
            "S-6",
            "svc-metrics",
            "bob",
            START + 55 * day,
            "2026-03-05T00:00:00Z",
            "metrics exporter not deployed yet",
        )

    # Pull requests ---------------------------------------------------------------------------

    def subject(self, subject: Subject) -> None:
        slug = subject.slug
        filler: list[tuple[Finding, int]] = []  # open fillers and the iteration they end
        specials = {s.finding.finding_id: s for s in subject.specials}
        self.run(
            f"run-planner-{slug}",
            "planner-agent",
            subject.start - timedelta(hours=2),
            25,
            status="SUCCESS",
            reads=("docs/architecture.md", "README.md"),
            writes=(f"plans/{slug}.md",),
            input_refs=(f"issue:acme-app-{subject.number}",),
            output_refs=(f"plan:{slug}",),
            mode="best_effort",
            correlation=f"pipeline-{slug}",
        )
        finding_number = 0
        for k in range(1, subject.iterations + 1):
            start = subject.at(k)
            correlation = f"pipeline-{slug}-{k}"
            status, heal = subject.fixer.get(k, ("SUCCESS", "ship"))
            if status == "SUCCESS" and k < subject.iterations:
                status, heal = self.rng.choice(
                    [("SUCCESS", "ship")] * 5 + [("FAILED", "build_failed"), ("PARTIAL", "stuck")]
                )
            refs = [f"plan:{slug}"] if k == 1 else [f"report:{slug}:{k - 1}"]
            if k > 1 and k % 4 == 0:
                # The healer also names the test run it reacts to directly, by run id.
                refs.append(self.last_test_run[slug].run_id)
            writes = () if status in ("FAILED", "SKIPPED") else subject.files
            fixer = self.run(
                f"run-fixer-{slug}-{k:02d}",
                "fixer-agent",
                start + timedelta(minutes=40),
                38,
                status=status,
                reads=(*subject.files, f"plans/{slug}.md", "pyproject.toml"),
                writes=writes,
                input_refs=refs,
                output_refs=() if status in ("FAILED", "SKIPPED") else (f"patch:{slug}:{k}",),
                mode="best_effort",
                heal_reason=heal,
                correlation=correlation,
                notes="" if status == "SUCCESS" else f"iteration {k} did not converge",
                config="v2" if start >= START + timedelta(days=30) else "v1",
                # pr-101's healer ran an older hook, which records no subject (schema 1.0).
                subject=None if subject.number == 101 else subject.name,
            )
            test_status = "FAILED"
            probes = self._probe_outcomes(subject, k)
            if probes["unit-tests"] == "passed":
                test_status = "SUCCESS"
            test_refs = [f"patch:{slug}:{k}"] if writes else []
            if not writes and k > 1:
                test_refs = [f"report:{slug}:{k - 1}"]  # nothing new: re-test the last state
            test = self.run(
                f"run-test-{slug}-{k:02d}",
                "test-agent",
                start + timedelta(minutes=70),
                25,
                status=test_status,
                reads=(*subject.files, f"tests/test_{slug.replace('-', '_')}.py"),
                writes=(f"reports/{slug}-{k}.xml",),
                input_refs=test_refs,
                output_refs=(f"report:{slug}:{k}",),
                mode="strict",
                correlation=correlation,
            )
            self.last_test_run[slug] = test
            self.reports.append(
                (test.ended, f"report:{slug}:{k}", test.run_id, f"reports/{slug}-{k}.xml")
            )
            self._gate(subject, k, start, fixer, probes, correlation, bool(writes))
            # Fillers: earlier ones are fixed by this iteration's healer, new ones reported.
            still: list[tuple[Finding, int]] = []
            for finding, until in filler:
                if until <= k:
                    self._resolve(finding, start + timedelta(minutes=41), slug, correlation)
                else:
                    still.append((finding, until))
                    self._report(finding, start + timedelta(minutes=105), fixer, k, correlation)
            filler = still
            if k < subject.iterations - 1:
                for _ in range(self.rng.randint(1, subject.new_findings + 1)):
                    finding_number += 1
                    finding = self._new_filler(subject, finding_number)
                    self._report(finding, start + timedelta(minutes=100), fixer, k, correlation)
                    last = min(k + self.rng.randint(1, 2), subject.iterations)
                    filler.append((finding, last))
            for special in specials.values():
                for step_k, action, args in special.steps:
                    if step_k == k:
                        self._special_step(special, action, args, start, fixer, k, correlation)
            self._evaluate(subject, k, start, fixer, correlation)

    def _probe_outcomes(self, subject: Subject, k: int) -> dict[str, str]:
        outcomes = {}
        for probe in (*PROBES[LANE_1], *PROBES[LANE_2]):
            if k == subject.iterations:
                outcomes[probe] = subject.final_probes.get(probe, "passed")
            elif subject.number == 106 and k >= subject.iterations - 2 and probe == "typecheck":
                outcomes[probe] = "error"
            else:
                roll = self.rng.random()
                flaky = 0.15 if probe in PROBES[LANE_2] else 0.0
                if roll < 0.2:
                    outcomes[probe] = "failed"
                elif roll < 0.2 + flaky / 2:
                    outcomes[probe] = "timed_out"
                elif roll < 0.2 + flaky:
                    outcomes[probe] = "error"
                else:
                    outcomes[probe] = "passed"
        return outcomes

    def _gate(
        self,
        subject: Subject,
        k: int,
        start: datetime,
        fixer: Run,
        probes: dict[str, str],
        correlation: str,
        patched: bool,
    ) -> None:
        slug = subject.slug
        if patched:
            automated, edits, allowed = subject.unsafe.get(k, (True, [], []))
            data = {
                "subject": subject.name,
                "verdict": "UNSAFE_PATCH_ATTEMPT" if edits else "CLEAN",
                "automated": automated,
                "diff_sha256": _sha(f"diff {slug} {k}"),
                "edits": edits,
                "allowed": allowed,
                "summary": "forbidden edits found" if edits else "no forbidden edit",
                "run_id": fixer.run_id,
            }
            self.emit(
                f"patch-{slug}-{k:02d}",
                f"gate/{slug}",
                "patch.inspected",
                LANE_SEC,
                start + timedelta(minutes=75),
                data,
                correlation=correlation,
            )
        minute = 80
        for lane, lane_probes in PROBES.items():
            for probe in lane_probes:
                status = probes[probe]
                exit_code: int | None = {"passed": 0, "failed": 1}.get(status)
                if status == "timed_out":
                    exit_code = 137 if k % 2 else None
                elif status == "error":
                    exit_code = None if k % 2 else 127
                duration = 600_000 if status == "timed_out" else self.rng.randrange(800, 90_000)
                summary = {
                    "passed": "all checks passed",
                    "failed": f"{self.rng.randint(1, 9)} failed",
                    "timed_out": "killed after 600 s",
                    "error": "runner could not start the command",
                }[status]
                self.emit(
                    f"cmd-{slug}-{k:02d}-{probe}",
                    f"gate/{slug}",
                    "command.executed",
                    lane,
                    start + timedelta(minutes=minute),
                    {
                        "subject": subject.name,
                        "probe": probe,
                        "command": COMMANDS[probe],
                        "status": status,
                        "exit_code": exit_code,
                        "duration_ms": duration,
                        "stdout_stderr_summary": summary,
                        "run_id": fixer.run_id if k % 3 else None,
                    },
                    correlation=correlation,
                )
                minute += 5

    def _evaluate(
        self, subject: Subject, k: int, start: datetime, fixer: Run, correlation: str
    ) -> None:
        # The recorded verdict is filled in once the log order is known (see `events`).
        self.emit(
            f"gate-{subject.slug}-{k:02d}",
            f"gate/{subject.slug}",
            "gate.evaluated",
            LANE_1,
            start + timedelta(minutes=130),
            {"subject": subject.name, "run_id": fixer.run_id, "strict": k % 2 == 1},
            correlation=correlation,
        )

    def _new_filler(self, subject: Subject, number: int) -> Finding:
        category = self.rng.choice(sorted(TEMPLATES))
        severity = self.rng.choice(("P0", "P1", "P1", "P2", "P2", "P2", "P3", "P3"))
        file = self.rng.choice(subject.files)
        return Finding(
            f"F-{subject.number}-{number:03d}",
            subject.name,
            severity,
            category,
            self.rng.choice(("verified", "verified", "hypothesis")),
            file,
            self.rng.randint(1, 400) if self.rng.random() < 0.9 else None,
        )

    def _report(
        self,
        finding: Finding,
        at: datetime,
        run: Run,
        k: int,
        correlation: str,
    ) -> None:
        what, why, when, fix = TEMPLATES[finding.category]
        self.emit(
            f"report-{finding.finding_id}-{k:02d}",
            f"findings/pr-{finding.subject.rsplit('/', 1)[1]}",
            "finding.reported",
            CATEGORY_LANE[finding.category],
            at,
            {
                "finding_id": finding.finding_id,
                "subject": finding.subject,
                "severity": finding.severity,
                "evidence": finding.evidence,
                "file": finding.file,
                "line": finding.line,
                "what": what,
                "why": why,
                "when": when,
                "proposed_fix": fix,
                "rule_id": RULES[finding.category],
                "stage": "final" if k >= 6 else f"stage-{k}",
                "category": finding.category,
                "run_id": run.run_id,
            },
            correlation=correlation,
        )

    def _resolve(
        self,
        finding: Finding,
        at: datetime,
        slug: str,
        correlation: str,
        resolution: str = "fixed",
        by: str = "fixer-agent",
        late: timedelta = timedelta(0),
    ) -> None:
        note = {"fixed": "fixed by the healer", "false_positive": "the queue is per-tenant"}
        self.emit(
            f"resolve-{finding.finding_id}",
            f"findings/{slug}",
            "finding.resolved",
            by,
            at,
            {
                "finding_id": finding.finding_id,
                "resolution": resolution,
                "resolved_by": by,
                "note": note.get(resolution, ""),
            },
            correlation=correlation,
            late=late,
        )

    def _special_step(
        self,
        special: Special,
        action: str,
        args: Json,
        start: datetime,
        fixer: Run,
        k: int,
        correlation: str,
    ) -> None:
        finding = special.finding
        slug = "pr-" + finding.subject.rsplit("/", 1)[1]
        human = HUMANS[int(finding.subject[-1]) % 3]
        if action == "report":
            self._report(finding, start + timedelta(minutes=110), fixer, k, correlation)
        elif action == "resolve":
            resolution = args["resolution"]
            by = "fixer-agent" if resolution == "fixed" else human
            at = start + (timedelta(minutes=42) if by == "fixer-agent" else timedelta(hours=5))
            # One human resolution is entered a day late, from notes.
            late = timedelta(hours=26) if finding.finding_id == "F-104-S2" else timedelta(0)
            self._resolve(finding, at, slug, correlation, resolution, by, late)
        elif action == "waive":
            risk = args["risk"]
            self.emit(
                f"waiver-{args['id']}",
                f"waivers/{slug}",
                "waiver.granted",
                human,
                start + timedelta(hours=6),
                {
                    "waiver_id": args["id"],
                    "finding_id": finding.finding_id,
                    "risk": risk,
                    "owner": args["owner"],
                    "justification": f"{risk} risk accepted while the fix is scheduled",
                    "mitigation": "feature flag keeps the path off for external tenants",
                    "expiry": args["expiry"],
                },
            )
        elif action == "revoke":
            self.emit(
                f"revoke-{args['id']}",
                f"waivers/{slug}",
                "waiver.revoked",
                "carol",
                start + timedelta(hours=7),
                {
                    "waiver_id": args["id"],
                    "finding_id": finding.finding_id,
                    "reason": "the mitigation did not hold: the flag was turned on for everyone",
                    "revoked_by": "carol",
                },
            )

    # Docs ------------------------------------------------------------------------------------

    def docs_schedule(self) -> list[datetime]:
        """When the docs agent runs; registered first, since other runs read what it writes."""
        times = [START + timedelta(days=5 + 5 * i, hours=18) for i in range(11)]
        for index, at in enumerate(times):
            self.files.write("docs/changelog.md", at)
            if index % 2 == 0:
                self.files.write("README.md", at)
            if index % 3 == 2:
                self.files.write("pyproject.toml", at)
        return times

    def docs(self, times: Sequence[datetime]) -> None:
        previous: str | None = None
        for index, at in enumerate(times, start=1):
            started = at - timedelta(minutes=15)
            known = [r for r in self.reports if r[0] < started]
            latest: dict[str, tuple[datetime, str, str, str]] = {}
            for report in known:
                latest[report[1].rsplit(":", 1)[0]] = report
            chosen = sorted(latest.values())[-3:]
            refs = [ref for _, ref, _, _ in chosen]
            if chosen:
                refs.append(chosen[-1][2])  # the newest test run, named by run id
            if previous is not None:
                refs.append(previous)
            refs.append(f"release:2026.{index}")
            output = f"docs:changelog:{index}"
            reads = ["README.md", "docs/changelog.md", *(path for *_, path in chosen)]
            writes = ["docs/changelog.md", *(["README.md"] if index % 2 == 1 else [])]
            if index % 3 == 0:
                writes.append("pyproject.toml")
            # The docs agent's ninth run was spooled and landed more than a day late.
            self.run(
                f"run-docs-{index:02d}",
                "docs-agent",
                at,
                15,
                status="SUCCESS" if index != 6 else "PARTIAL",
                reads=reads,
                writes=writes,
                input_refs=refs,
                output_refs=(output,),
                mode="strict" if index % 4 else "best_effort",
                heal_reason=None,
                correlation=f"docs-{index:02d}",
                late=timedelta(hours=30) if index == 9 else timedelta(0),
                prewritten=True,
            )
            previous = output

    # Ordering --------------------------------------------------------------------------------

    def events(self) -> list[Json]:
        ordered = [d.envelope for d in sorted(self.drafts, key=lambda d: (d.arrive, d.order))]
        _fill_gate_evaluations(ordered)
        return ordered


def _fill_gate_evaluations(events: list[Json]) -> None:
    """Give each `gate.evaluated` a plausible verdict over the events before it.

    A simple gate (no waivers, no evaluation time): it is kept for the record only;
    the projections recompute verdicts and never trust these.
    """
    open_findings: dict[str, dict[str, Json]] = {}
    patches: dict[str, Json] = {}
    probes: dict[str, dict[str, str]] = {}
    owner: dict[str, str] = {}
    for seq, event in enumerate(events):
        data = event["data"]
        kind = event["type"]
        if kind == "finding.reported":
            owner.setdefault(data["finding_id"], data["subject"])
            if owner[data["finding_id"]] == data["subject"]:
                open_findings.setdefault(data["subject"], {})[data["finding_id"]] = data
        elif kind == "finding.resolved":
            subject = owner.get(data["finding_id"])
            if subject is not None:
                open_findings.get(subject, {}).pop(data["finding_id"], None)
        elif kind == "patch.inspected":
            patches[data["subject"]] = data
        elif kind == "command.executed":
            probes.setdefault(data["subject"], {})[data["probe"]] = data["status"]
        elif kind == "gate.evaluated":
            subject = data["subject"]
            found = list(open_findings.get(subject, {}).values())
            high = [f for f in found if f["severity"] in ("P0", "P1")]
            unsafe = patches.get(subject, {}).get("verdict") == "UNSAFE_PATCH_ATTEMPT"
            failing = sorted(p for p, s in probes.get(subject, {}).items() if s != "passed")
            if high or unsafe or failing:
                readiness = "not_ready"
            elif any(f["severity"] == "P2" for f in found):
                readiness = "conditionally_ready"
            else:
                readiness = "ready"
            fixes = [f"{f['severity']} {f['finding_id']}: {f['what']}" for f in high]
            fixes += ["remove the forbidden edits from the patch"] if unsafe else []
            fixes += [f"make probe {p} pass" for p in failing]
            correctness = "high_risk" if high or unsafe else "correct"
            if "unit-tests" in failing:
                correctness = "incorrect"
            weak = any(f["category"] in ("isolation", "security") for f in high)
            strict = data.pop("strict")
            run_id = data.pop("run_id")
            data.update(
                production_readiness=readiness,
                correctness=correctness,
                isolation="weak" if weak else "strong",
                blast_radius="wide" if high else "contained" if found else "minimal",
                required_fixes_before_merge=fixes,
                evaluated_at=event["occurred_at"],
                log_position=seq,
                strict=strict,
                passed=readiness == "ready" or (readiness == "conditionally_ready" and not strict),
                run_id=run_id,
            )


def build_story() -> tuple[list[bytes], dict[str, str]]:
    """The fixture's event lines (canonical, validated) and its workspace manifest."""
    story = Story()
    docs_times = story.docs_schedule()
    story.sources()
    story.suppressions()
    for subject in _story_subjects():
        story.subject(subject)
    story.docs(docs_times)
    # A report copy-pasted under the wrong subject: the finding id stays with pr-108.
    stray = next(d for d in story.drafts if d.envelope["event_id"] == "report-F-108-S2-03")
    copy = json.loads(json.dumps(stray.envelope))
    copy["event_id"] = "report-F-108-S2-03-misfiled"
    copy["stream"] = "findings/pr-101"
    copy["data"]["subject"] = "github.com/acme/app/pull/101"
    copy["occurred_at"] = _time(stray.arrive + timedelta(minutes=3))
    story.drafts.append(Draft(stray.arrive + timedelta(minutes=3), len(story.drafts), copy))
    lines = []
    for envelope in story.events():
        raw = json.dumps(envelope).encode("utf-8")
        lines.append(prepare_json(raw).canonical)
    return lines, _workspace(story)


#: Files the current workspace no longer has, and files edited there since the last run.
DELETED = ("plans/pr-107.md", "reports/pr-101-5.xml", "docs/architecture.md")
LOCALLY_EDITED = ("pyproject.toml", "src/app/http.py")


def _workspace(story: Story) -> dict[str, str]:
    files = {}
    for path in sorted(story.seen_paths):
        if path in DELETED:
            continue
        version = story.files.latest(path) + (1 if path in LOCALLY_EDITED else 0)
        files[path] = content(path, version)
    return files


# Writing and checking ---------------------------------------------------------------------


def _outputs(lines: list[bytes], manifest: dict[str, str]) -> dict[Path, bytes]:
    """Every fixture file this script owns, by path, with its bytes."""
    sys.path.insert(0, str(REPO / "tests"))
    import projections_fixture as fixture
    from ledger.projections import ProjectionQueries

    outputs = {
        fixture.EVENTS_PATH: b"".join(line + b"\n" for line in lines),
        fixture.WORKSPACE_PATH: (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(),
    }
    with tempfile.TemporaryDirectory(prefix="projection-fixture-") as tmp:
        root = Path(tmp)
        workspace = fixture.materialise_workspace(root / "workspace", manifest)
        with fixture.built_ledger(root / "data", lines) as (log, engine):
            queries = ProjectionQueries(engine, log)
            for case in fixture.golden_cases(lines):
                document = fixture.compute_case(case, queries, engine, workspace)
                outputs[fixture.GOLDEN_DIR / case.file] = fixture.encode_golden(document)
    return outputs


def _stale(outputs: dict[Path, bytes]) -> list[Path]:
    golden = FIXTURE / "golden"
    found = sorted(golden.glob("*.json")) if golden.is_dir() else []
    return [path for path in found if path not in outputs]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare; exit 1 on any difference")
    args = parser.parse_args(argv)
    lines, manifest = build_story()
    outputs = _outputs(lines, manifest)
    stale = _stale(outputs)

    def show(path: Path) -> str:
        return str(path.relative_to(REPO))

    if args.check:
        differ = [p for p, data in outputs.items() if not p.is_file() or p.read_bytes() != data]
        for path in differ:
            print(f"differs: {show(path)}", file=sys.stderr)
        for path in stale:
            print(f"not generated: {show(path)}", file=sys.stderr)
        if differ or stale:
            print(
                "if the change is intended, regenerate: python scripts/gen_projection_fixture.py",
                file=sys.stderr,
            )
            return 1
        print(f"fixture up to date: {len(lines)} events, {len(outputs) - 2} golden files")
        return 0
    for path, data in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for path in stale:
        path.unlink()
    print(f"wrote {len(lines)} events and {len(outputs) - 2} golden files to {show(FIXTURE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
