"""Property: however the log was folded, each projection's state is the fold of the log.

Hypothesis writes random interleavings of events from many producers (findings reported,
re-reported under another subject, resolved and reopened; waivers granted and revoked,
some for findings never reported; probes of every status; clean and unsafe patches; gate
evaluations; sources registered, checked and suppressed; run records linked through
refs and through run ids; healing runs, schema 1.1 records naming a subject, by a few
healers, some without a heal reason) in batches of random size, one append transaction each. In
between, the engine catches up, catches up only part of the way, is closed and reopened
with its log, or rebuilds some projections, at random, folding a random number of
events per write transaction (`chunk`).

Then, for every projection:

- at every point, its stored state is the replay of the log up to its own position
  (a fold is never lost, doubled or half-applied);
- after a final catch-up, its status digest equals the digest after `rebuild()` and the
  digest of `replay(name, size - 1)`;
- every state seen after a full catch-up along the way equals `replay` to that point;
- `replay(name, N)` for a random N equals the state of a second, fresh log holding only
  the first N + 1 events, caught up;
- each subject's running sum of unresolved findings (specs/verdicts.md §7.1) equals
  the sum computed afresh from its finding rows.

Each example builds its logs in a temporary directory of its own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ledger.clock import FixedClock
from ledger.model import Envelope
from ledger.projections import ProjectionEngine
from ledger.projections import subjects as subjects_table
from ledger.projections.state import MemoryState, state_digest
from ledger.store import AppendRequest, LmdbEventLog
from lifecycle_events import (
    EXPIRY,
    command_executed,
    finding_reported,
    finding_resolved,
    gate_evaluated,
    patch_edit,
    patch_inspected,
    run_recorded,
    source_checked,
    source_registered,
    suppression_added,
    suppression_lifted,
    uuid_for,
    waiver_granted,
    waiver_revoked,
)

CLOCK = FixedClock(datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC))
NAMES = ("verdicts", "health", "runs")
EMPTY_DIGEST = state_digest(MemoryState())
MAX_EVENTS = 80

SUBJECTS = ("pr-1", "pr-2", "github.com/acme/app/pull/3")
FINDINGS = ("F-1", "F-2", "F-3", "F-4", "F-5")
NEVER_REPORTED = "F-ghost"
WAIVERS = ("W-1", "W-2", "W-3")
SOURCES = ("ci-lint", "scanner", "gate-1")  # gate-1 also produces gate events
PRODUCERS = ("gate-1", "gate-2", "agent-a", "agent-b")
SUPPRESSIONS = ("S-1", "S-2")
REFS = ("ref-a", "ref-b", "ref-c")
# Before, at and after the pinned clock (health caps observation times at recorded_at).
TIMES = ("2026-01-01T11:00:00Z", "2026-01-01T11:59:59.25Z", "2026-01-01T13:00:00Z")
EXPIRIES = ("2026-01-01T11:30:00Z", "2026-01-01T12:00:00Z", EXPIRY)
EDITS = ("auth_bypass", "gate_config_weaken", "spec_modification", "suppression_insertion")

Spec = tuple[Any, ...]

# Event specs: plain tuples (readable when Hypothesis prints a failing example), built
# into envelopes by `build` once their index in the log is known.
_finding_ids = st.sampled_from((*FINDINGS, NEVER_REPORTED))
EVENT = st.one_of(
    st.tuples(
        st.just("report"),
        st.sampled_from(FINDINGS),
        st.sampled_from(SUBJECTS),
        st.sampled_from(("P0", "P1", "P2", "P3")),
        st.sampled_from(("correctness", "isolation", "security", "resilience", "contract")),
        st.sampled_from(("verified", "hypothesis")),
        st.sampled_from(("src/a.py", "src/b.py", "src/c.py")),
        st.sampled_from(PRODUCERS),
        st.sampled_from(TIMES),
    ),
    st.tuples(
        st.just("resolve"),
        _finding_ids,
        st.sampled_from(("fixed", "false_positive", "obsolete")),
    ),
    st.tuples(
        st.just("grant"),
        st.sampled_from(WAIVERS),
        _finding_ids,
        st.sampled_from(EXPIRIES),
    ),
    st.tuples(st.just("revoke"), st.sampled_from(WAIVERS), _finding_ids),
    st.tuples(
        st.just("probe"),
        st.sampled_from(SUBJECTS),
        st.sampled_from(("unit", "lint")),
        st.sampled_from(("passed", "failed", "timed_out", "error")),
        st.sampled_from(PRODUCERS),
        st.sampled_from(TIMES),
    ),
    st.tuples(
        st.just("patch"),
        st.sampled_from(SUBJECTS),
        st.lists(st.sampled_from(EDITS), max_size=2),
        st.sampled_from(PRODUCERS),
    ),
    st.tuples(
        st.just("gate"),
        st.sampled_from(SUBJECTS),
        st.sampled_from(("ready", "conditionally_ready", "not_ready")),
        st.booleans(),
        st.sampled_from(PRODUCERS),
    ),
    st.tuples(
        st.just("register"),
        st.sampled_from(SOURCES),
        st.sampled_from(("required", "standard", "best_effort")),
        st.sampled_from((0.0, 0.25, 1.0)),
    ),
    st.tuples(
        st.just("check"),
        st.sampled_from(SOURCES),
        st.booleans(),
        st.sampled_from(("prober-1", "prober-2")),
        st.sampled_from(TIMES),
    ),
    st.tuples(
        st.just("suppress"),
        st.sampled_from(SUPPRESSIONS),
        st.sampled_from((*SOURCES, "never-seen")),
        st.sampled_from(EXPIRIES),
    ),
    st.tuples(st.just("lift"), st.sampled_from(SUPPRESSIONS), st.sampled_from(SOURCES)),
    st.tuples(
        st.just("run"),
        st.sampled_from(("agent-a", "agent-b")),
        st.sampled_from(("SUCCESS", "FAILED", "PARTIAL")),
        st.lists(st.sampled_from(REFS), max_size=2),
        st.lists(st.sampled_from(REFS), max_size=2),
        # Run ids used directly as input refs: of earlier, later or no runs at all.
        st.lists(st.integers(0, MAX_EVENTS - 1), max_size=2),
    ),
    st.tuples(
        st.just("heal"),
        st.sampled_from(("healer-a", "healer-b")),
        st.sampled_from(SUBJECTS),
        st.sampled_from(("FAILED", "PARTIAL", "SUCCESS")),
        st.sampled_from((None, "ship", "stuck", "test_failed")),
    ),
)


def run_uuid(index: int) -> str:
    """The run id of a run record at log index `index`."""
    return uuid_for(f"property-run-{index}")


def build(spec: Spec, index: int) -> Envelope:
    """The envelope for one event spec, at log index `index` (its id: `ev-<index>`)."""
    kind, *args = spec
    event_id = f"ev-{index}"
    if kind == "report":
        finding_id, subject, severity, category, evidence, file, producer, at = args
        return finding_reported(
            finding_id,
            subject,
            severity=severity,
            category=category,
            evidence=evidence,
            file=file,
            producer=producer,
            occurred_at=at,
            event_id=event_id,
        )
    if kind == "resolve":
        finding_id, resolution = args
        return finding_resolved(finding_id, resolution=resolution, event_id=event_id)
    if kind == "grant":
        waiver_id, finding_id, expiry = args
        return waiver_granted(waiver_id, finding_id, expiry=expiry, event_id=event_id)
    if kind == "revoke":
        waiver_id, finding_id = args
        return waiver_revoked(waiver_id, finding_id, event_id=event_id)
    if kind == "probe":
        subject, probe, status, producer, at = args
        return command_executed(
            subject, probe, status=status, producer=producer, occurred_at=at, event_id=event_id
        )
    if kind == "patch":
        subject, edits, producer = args
        return patch_inspected(
            subject,
            edits=[patch_edit(edit, line=n + 1) for n, edit in enumerate(edits)],
            producer=producer,
            event_id=event_id,
        )
    if kind == "gate":
        subject, readiness, strict, producer = args
        return gate_evaluated(
            subject,
            readiness=readiness,
            strict=strict,
            log_position=index,
            producer=producer,
            event_id=event_id,
        )
    if kind == "register":
        source_id, tier, budget = args
        return source_registered(source_id, tier=tier, failure_budget=budget, event_id=event_id)
    if kind == "check":
        source_id, ok, producer, at = args
        return source_checked(
            source_id, ok=ok, producer=producer, occurred_at=at, event_id=event_id
        )
    if kind == "suppress":
        suppression_id, target, expiry = args
        return suppression_added(suppression_id, target, expiry=expiry, event_id=event_id)
    if kind == "lift":
        suppression_id, target = args
        return suppression_lifted(suppression_id, target, event_id=event_id)
    if kind == "heal":
        agent, subject, status, heal_reason = args
        return run_recorded(
            run_uuid(index),
            agent=agent,
            status=status,
            subject=subject,
            heal_reason=heal_reason,
            event_id=event_id,
        )
    assert kind == "run", kind
    agent, status, input_refs, output_refs, direct = args
    return run_recorded(
        run_uuid(index),
        agent=agent,
        status=status,
        input_refs=[*input_refs, *(run_uuid(i) for i in direct)],
        output_refs=output_refs,
        event_id=event_id,
    )


ACTION = st.one_of(
    st.tuples(st.just("catch_up")),
    # Catch up, but stop before the k-th chunk.
    st.tuples(st.just("catch_up_until"), st.integers(0, 4)),
    st.tuples(st.just("reopen")),
    st.tuples(st.just("rebuild"), st.lists(st.sampled_from(NAMES), min_size=1, unique=True)),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, list[Spec], int]:
    """(chunk, steps, cut): batches of events and the actions between them, and the N
    for the fresh-log comparison."""
    chunk = draw(st.integers(1, 12))
    steps: list[Spec] = []
    total = 0
    for _ in range(draw(st.integers(1, 6))):
        size = min(draw(st.integers(1, 24)), MAX_EVENTS - total)
        if size <= 0:
            break
        steps.append(("append", draw(st.lists(EVENT, min_size=size, max_size=size))))
        total += size
        steps += draw(st.lists(ACTION, max_size=2))
    cut = draw(st.integers(0, total - 1))
    return chunk, steps, cut


def digests(engine: ProjectionEngine) -> dict[str, str]:
    return {status.name: status.digest for status in engine.status()}


def replayed(engine: ProjectionEngine, through_seq: int) -> dict[str, str]:
    if through_seq < 0:
        return dict.fromkeys(NAMES, EMPTY_DIGEST)
    return {name: state_digest(engine.replay(name, through_seq).state) for name in NAMES}


def append(log: LmdbEventLog, envelopes: Sequence[Envelope]) -> None:
    outcome = log.append([AppendRequest(envelope) for envelope in envelopes])
    assert not any(result.duplicate for result in outcome.results)


def assert_open_findings_add_up(engine: ProjectionEngine) -> None:
    """Each subject's running sum of unresolved findings is the sum of its finding rows."""
    with engine.view("verdicts") as view:
        for subject in SUBJECTS:
            state = subjects_table.subject_state(view.state, subject)
            unresolved = [row for row in state.findings if not row.resolved]
            total = sum(subjects_table.finding_digest(row) for row in unresolved) % (1 << 256)
            assert (state.open_findings.count, state.open_findings.total) == (
                len(unresolved),
                total.to_bytes(32, "big"),
            ), subject


def assert_states_match_positions(engine: ProjectionEngine) -> None:
    """Each projection's stored state is exactly the fold of the events before its position."""
    stored = digests(engine)
    for name, position in engine.positions().items():
        expected = (
            EMPTY_DIGEST if position == 0 else state_digest(engine.replay(name, position - 1).state)
        )
        assert stored[name] == expected, f"{name} at position {position}"


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
)
@given(scenario=scenarios())
def test_every_way_of_folding_gives_the_fold_of_the_log(
    scenario: tuple[int, list[Spec], int],
) -> None:
    chunk, steps, cut = scenario
    with tempfile.TemporaryDirectory(prefix="ledgerd-projection-property-") as temp:
        root = Path(temp)
        envelopes: list[Envelope] = []
        caught_up: list[tuple[int, dict[str, str]]] = []
        log = LmdbEventLog(root / "data", clock=CLOCK)
        engine = ProjectionEngine(log, chunk=chunk)
        try:
            for step in steps:
                kind = step[0]
                if kind == "append":
                    batch = [build(spec, len(envelopes) + n) for n, spec in enumerate(step[1])]
                    append(log, batch)
                    envelopes += batch
                elif kind == "catch_up":
                    assert engine.catch_up() == dict.fromkeys(NAMES, len(envelopes))
                    caught_up.append((len(envelopes), digests(engine)))
                elif kind == "catch_up_until":
                    calls = [0]

                    def stop(limit: int = step[1], calls: list[int] = calls) -> bool:
                        calls[0] += 1
                        return calls[0] > limit

                    engine.catch_up(stop=stop)
                    assert_states_match_positions(engine)
                elif kind == "reopen":
                    engine.close()
                    log.close()
                    log = LmdbEventLog(root / "data", clock=CLOCK)
                    engine = ProjectionEngine(log, chunk=chunk)
                    assert_states_match_positions(engine)
                else:
                    assert kind == "rebuild", kind
                    assert engine.rebuild(step[1]) == dict.fromkeys(NAMES, len(envelopes))
                    caught_up.append((len(envelopes), digests(engine)))

            size = len(envelopes)
            assert log.size() == size
            assert engine.catch_up() == dict.fromkeys(NAMES, size)
            final = digests(engine)
            assert final == replayed(engine, size - 1)
            assert_open_findings_add_up(engine)
            for position, seen in caught_up:
                assert replayed(engine, position - 1) == seen, f"state at {position}"
            assert engine.rebuild() == dict.fromkeys(NAMES, size)
            assert digests(engine) == final

            # The first cut + 1 events alone, in a log of their own, fold to the replay.
            with LmdbEventLog(root / "prefix", clock=CLOCK) as prefix_log:
                append(prefix_log, envelopes[: cut + 1])
                with ProjectionEngine(prefix_log) as prefix_engine:
                    prefix_engine.catch_up()
                    assert digests(prefix_engine) == replayed(engine, cut)
        finally:
            engine.close()
            log.close()
