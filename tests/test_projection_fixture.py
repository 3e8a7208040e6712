"""The projections fixture: however the log is fed to the engine, the answers are the golden bytes.

The fixture (tests/fixtures/projections/, made by scripts/gen_projection_fixture.py)
is imported into a real LMDB log under a pinned clock, and every golden query
(tests/projections_fixture.py) must answer byte for byte as recorded, with equal
state digests, whether the projections caught up in one go, batch by batch while
the log grew, after a rebuild, or across a close and reopen half-way.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import random
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

import projections_fixture as fx
from ledger.model import known_event_types
from ledger.projections import ProjectionEngine, ProjectionQueries
from ledger.projections.state import state_digest
from ledger.store import LmdbEventLog

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return fx.fixture_lines()


@pytest.fixture(scope="module")
def cases(lines: list[bytes]) -> list[fx.GoldenCase]:
    return fx.golden_cases(lines)


@pytest.fixture(scope="module")
def goldens(cases: list[fx.GoldenCase]) -> dict[str, bytes]:
    return {case.name: case.golden() for case in cases}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return fx.workspace(tmp_path)


def _first_difference(expected: bytes, actual: bytes) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )
    return (
        f"at byte {at}: golden {expected[at - 40 : at + 60]!r}, got {actual[at - 40 : at + 60]!r}"
    )


def assert_golden(
    log: LmdbEventLog,
    engine: ProjectionEngine,
    workspace: Path,
    cases: Sequence[fx.GoldenCase],
    goldens: dict[str, bytes],
) -> None:
    answers = fx.compute_all(ProjectionQueries(engine, log), engine, workspace, cases)
    differ = {
        name: _first_difference(goldens[name], answer)
        for name, answer in answers.items()
        if answer != goldens[name]
    }
    if differ:
        pytest.fail(
            f"{len(differ)} of {len(answers)} answers differ from the golden files "
            "(regenerate with scripts/gen_projection_fixture.py only if the change is intended):\n"
            + "\n".join(f"{name} {why}" for name, why in differ.items()),
            pytrace=False,
        )


# Feeding the engine ---------------------------------------------------------------------------


def test_catch_up_in_one_go(tmp_path, lines, workspace, cases, goldens) -> None:
    with fx.built_ledger(tmp_path / "data", lines) as (log, engine):
        assert log.size() == len(lines)
        assert engine.positions() == dict.fromkeys(engine.names, len(lines))
        assert_golden(log, engine, workspace, cases, goldens)
        # A replay to the last seq is the stored state, row for row.
        for status in engine.status():
            replayed = engine.replay(status.name, len(lines) - 1)
            assert state_digest(replayed.state) == status.digest, status.name


def test_catch_up_after_every_small_batch(tmp_path, lines, workspace, cases, goldens) -> None:
    sizes = random.Random(7)
    log, engine = fx.open_ledger(tmp_path / "data")
    try:
        start = batches = 0
        while start < len(lines):
            end = min(start + sizes.randint(1, 80), len(lines))
            fx.append_lines(log, lines[start:end])
            assert engine.catch_up() == dict.fromkeys(engine.names, end)
            start, batches = end, batches + 1
        assert batches >= 25
        assert_golden(log, engine, workspace, cases, goldens)
    finally:
        engine.close()
        log.close()


def test_rebuild_gives_the_same_answers(tmp_path, lines, workspace, cases, goldens) -> None:
    with fx.built_ledger(tmp_path / "data", lines, batch_size=300) as (log, engine):
        before = engine.status()
        assert engine.rebuild() == dict.fromkeys(engine.names, len(lines))
        assert engine.status() == before
        assert_golden(log, engine, workspace, cases, goldens)


def test_close_and_reopen_half_way(tmp_path, lines, workspace, cases, goldens) -> None:
    data = tmp_path / "data"
    half = len(lines) // 2
    log, engine = fx.open_ledger(data)
    try:
        fx.append_lines(log, lines[:half])
        engine.catch_up()
    finally:
        engine.close()
        log.close()
    log, engine = fx.open_ledger(data)
    try:
        # Resumed where it stopped: nothing folded twice, nothing skipped.
        assert engine.positions() == dict.fromkeys(engine.names, half)
        fx.append_lines(log, lines[half:], batch_size=97)
        engine.catch_up()
        assert_golden(log, engine, workspace, cases, goldens)
    finally:
        engine.close()
        log.close()


# The fixture itself ---------------------------------------------------------------------------


def _load_generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    path = REPO / "scripts" / "gen_projection_fixture.py"
    spec = importlib.util.spec_from_file_location("gen_projection_fixture", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_the_script_regenerates_the_events_and_workspace_byte_for_byte(lines, monkeypatch) -> None:
    generated, manifest = _load_generator(monkeypatch).build_story()
    assert generated == lines
    assert (
        fx.WORKSPACE_PATH.read_text(encoding="utf-8")
        == json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    )


def test_goldens_round_trip_for_logs_with_trailing_events(cases) -> None:
    for case in cases:
        document = json.loads(case.golden())
        assert fx.encode_golden(document) == case.golden(), case.name
        shifted = json.loads(case.expected_bytes(trailing_events=2))
        if case.kind == "status":
            assert all(p["log_size"] == p["position"] for p in shifted["projections"])
            assert (
                shifted["projections"][0]["log_size"] == document["projections"][0]["log_size"] + 2
            )
        elif case.kind == "history" or document["as_of"] is None:
            assert shifted["log_position"] == document["log_position"] + 2
        else:
            assert shifted == document


def test_every_golden_file_belongs_to_a_case(cases) -> None:
    on_disk = sorted(path.name for path in fx.GOLDEN_DIR.glob("*.json"))
    assert on_disk == sorted(case.file for case in cases)
    assert len({case.name for case in cases}) == len(cases)


def test_the_fixture_is_a_busy_mixed_log(lines) -> None:
    events = [json.loads(line) for line in lines]
    types = Counter(e["type"] for e in events)
    producers = {e["producer"] for e in events}
    assert len(events) >= 1000
    assert len(producers) >= 5
    assert set(known_event_types()) - {"ledger.started"} <= set(types)
    data = {kind: [e["data"] for e in events if e["type"] == kind] for kind in types}
    findings = data["finding.reported"]
    assert {f["severity"] for f in findings} == {"P0", "P1", "P2", "P3"}
    assert {f["evidence"] for f in findings} == {"verified", "hypothesis"}
    assert len({f["category"] for f in findings}) == 8
    assert len({f["subject"] for f in findings}) == 8
    commands = {c["status"] for c in data["command.executed"]}
    assert commands == {"passed", "failed", "timed_out", "error"}
    assert {p["verdict"] for p in data["patch.inspected"]} == {"CLEAN", "UNSAFE_PATCH_ATTEMPT"}
    runs = data["run.recorded"]
    assert len({r["agent_name"] for r in runs}) == 4
    assert {r["run_status"] for r in runs} == {"SUCCESS", "PARTIAL", "FAILED", "SKIPPED"}
    assert {r["mode"] for r in runs} == {"strict", "best_effort"}
    assert any(r["heal_reason"] for r in runs)
    assert {s["tier"] for s in data["source.registered"]} == {"required", "standard", "best_effort"}
    resolutions = {r["resolution"] for r in data["finding.resolved"]}
    assert resolutions == {"fixed", "false_positive", "wont_fix", "duplicate", "obsolete"}
    assert {w["risk"] for w in data["waiver.granted"]} == {"low", "medium", "high", "critical"}
    times = [e["occurred_at"] for e in events]
    late = sum(1 for before, after in itertools.pairwise(times) if after < before)
    assert 1 <= late <= 20, "a few events arrive out of order, most in order"
    assert min(times) >= "2026-01-01"
    assert max(times) < "2026-03-01"


def _golden(name: str) -> dict:
    return json.loads(fx.GOLDEN_DIR.joinpath(f"{name}.json").read_bytes())


def test_the_goldens_say_something(cases) -> None:
    verdicts = [_golden(c.name) for c in cases if c.kind == "verdict" and "as_of" not in c.params]
    readiness = {v["verdict"]["production_readiness"] for v in verdicts}
    assert readiness == {"ready", "conditionally_ready", "not_ready"}
    rules = {v["explanation"]["production_readiness"]["rule"] for v in verdicts}
    assert {"READY-1", "READY-2", "READY-3", "READY-4", "READY-5", "READY-6"} <= rules
    # The evaluation time decides pr-104: its waiver still counts at 05:00, not at 12:00.
    assert _golden("verdict-pr-104")["verdict"]["production_readiness"] == "not_ready"
    early = _golden("verdict-pr-104-before-expiry")["verdict"]["production_readiness"]
    assert early == "conditionally_ready"

    findings = _golden("findings-all")
    assert all(count > 0 for count in findings["counts"].values()), findings["counts"]
    assert any(f["reopened"] for f in findings["findings"])
    assert any(f["conflicting_seqs"] for f in findings["findings"])
    waivers = {w["status"] for f in findings["findings"] for w in f["waivers"]}
    assert waivers == {"active", "expired", "revoked"}

    health = _golden("health-all")
    assert all(count > 0 for count in health["summary"].values()), health["summary"]
    assert health["blocking"]
    assert health["warnings"]
    assert any(s["suppressed_by"] for s in health["sources"])
    assert any(s["status"] == "failing" for s in _golden("asof1-health")["sources"])
    statuses = {e["status_now"] for c in cases if c.kind == "suppressions"
                for e in _golden(c.name)["history"]}  # fmt: skip
    assert statuses == {"active", "expired", "lifted", "lift"}

    replays = [_golden(c.name) for c in cases if c.kind == "replay"]
    summaries = [r["replay"]["summary"] for r in replays]
    assert any(s["drift"] for s in summaries)
    assert any(s["missing"] for s in summaries)
    assert any(not s["drift"] and not s["missing"] for s in summaries)
    assert {r["replay"]["ok"] for r in replays} == {True, False}
    assert all(r["replay"]["workspace"] == fx.WORKSPACE_PLACEHOLDER for r in replays)
    deep = _golden("replay-deep-strict")["provenance"]
    assert deep["truncated"]
    depth, nodes = 0, deep["upstream"]
    while nodes:
        depth, nodes = nodes[0]["depth"], nodes[0]["upstream"]
    assert depth >= 10

    first, second = _golden("runs-page-1"), _golden("runs-page-2")
    assert len(first["runs"]) == len(second["runs"]) == fx.RUNS_PAGE
    assert first["next_before_seq"] == first["runs"][-1]["seq"] > second["runs"][0]["seq"]
    assert _golden("history-gate-pr-107")["next_version"] is not None
    status = _golden("status")["projections"]
    assert {p["name"] for p in status} == {"verdicts", "health", "runs"}
    assert all(p["position"] == p["log_size"] and p["rows"] > 0 for p in status)
