"""The `health` projection: what every source (agent, gate lane, probed service) has done.

A source appears automatically with the first event it produces (by the
envelope's `producer`) and `source.checked` observes the source it names;
`source.registered` adds a tier, an expected interval and a failure budget;
suppressions are kept as a history per source. The health status and score are
derived at query time (`health_rules.py`) against an explicit evaluation time.
"""

from __future__ import annotations

import msgspec

from ledger.projections import payload_views as views
from ledger.projections._rows import RowCodec
from ledger.projections.facts import Fact, effective_at
from ledger.projections.state import StateReader, StateWriter, seq_part, state_key, table_prefix

NAME = "health"
#: How many of a source's latest observations the failure budget is judged over.
WINDOW = 20

_SOURCE = "R"  # R, source_id -> SourceRow
_SUPPRESSION = "X"  # X, source_id, seq -> SuppressionRow

#: Event types whose producer is observed; the outcome is judged by `_outcome`.
OBSERVED_TYPES = frozenset(
    {"run.recorded", "finding.reported", "command.executed", "patch.inspected", "gate.evaluated"}
)


class _Row(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Base of the stored rows: positional MessagePack, immutable."""


class Registration(_Row, frozen=True):
    seq: int
    tier: str
    expected_interval_s: int
    failure_budget: float
    description: str


class SourceRow(_Row, frozen=True):
    source_id: str
    registration: Registration | None
    first_seen_seq: int | None
    last_seen_seq: int | None
    last_seen_at: str | None
    last_ok_at: str | None
    last_failure_at: str | None
    last_error_code: str | None
    last_latency_ms: int | None
    consecutive_failures: int
    ok_count: int
    failure_count: int
    #: The latest WINDOW outcomes, oldest first: "1" ok, "0" failed.
    window: str


class SuppressionRow(_Row, frozen=True):
    seq: int
    action: str
    suppression_id: str
    reason: str
    owner: str
    expiry: str | None
    recorded_at: str
    #: When it takes effect (`facts.effective_at`).
    effective_at: str
    producer: str


SOURCES = RowCodec(SourceRow)
SUPPRESSIONS = RowCodec(SuppressionRow)


def _new_source(source_id: str) -> SourceRow:
    return SourceRow(
        source_id=source_id,
        registration=None,
        first_seen_seq=None,
        last_seen_seq=None,
        last_seen_at=None,
        last_ok_at=None,
        last_failure_at=None,
        last_error_code=None,
        last_latency_ms=None,
        consecutive_failures=0,
        ok_count=0,
        failure_count=0,
        window="",
    )


class SourcesProjection:
    """Folds observations, registrations and suppressions per source."""

    name = NAME
    version = 2
    event_types = OBSERVED_TYPES | {
        "source.registered",
        "source.checked",
        "suppression.added",
        "suppression.lifted",
    }

    def apply(self, fact: Fact, state: StateWriter) -> None:
        kind = fact.type
        if kind == "source.checked":
            checked = views.CHECKED.read(fact)
            _observe(
                state, checked.source_id, fact, checked.ok, checked.error_code, checked.latency_ms
            )
        elif kind == "source.registered":
            _register(state, fact, views.REGISTERED.read(fact))
        elif kind in ("suppression.added", "suppression.lifted"):
            _suppress(state, fact, views.SUPPRESSION.read(fact))
        elif kind == "run.recorded":
            failed = views.RECORDED.read(fact).run_status == "FAILED"
            _observe(state, fact.producer, fact, not failed, "RUN_FAILED" if failed else None, None)
        elif kind == "command.executed":
            # A probe that could not run is the lane failing; a failing check is not.
            broken = views.EXECUTED.read(fact).status == "error"
            _observe(
                state, fact.producer, fact, not broken, "PROBE_ERROR" if broken else None, None
            )
        else:
            _observe(state, fact.producer, fact, True, None, None)


def _load(state: StateWriter, source_id: str) -> tuple[bytes, SourceRow]:
    key = state_key(_SOURCE, source_id)
    return key, state.get_row(key, SOURCES) or _new_source(source_id)


def _observe(
    state: StateWriter,
    source_id: str,
    fact: Fact,
    ok: bool,
    error_code: str | None,
    latency_ms: int | None,
) -> None:
    key, row = _load(state, source_id)
    at = effective_at(fact)
    last_seen = at if row.last_seen_at is None else max(row.last_seen_at, at)
    # Positional, in field order: this runs for nearly every event.
    updated = SourceRow(
        row.source_id,
        row.registration,
        row.first_seen_seq if row.first_seen_seq is not None else fact.seq,
        fact.seq,
        last_seen,
        (at if row.last_ok_at is None else max(row.last_ok_at, at)) if ok else row.last_ok_at,
        row.last_failure_at
        if ok
        else (at if row.last_failure_at is None else max(row.last_failure_at, at)),
        row.last_error_code if ok else error_code,
        latency_ms if latency_ms is not None else row.last_latency_ms,
        0 if ok else row.consecutive_failures + 1,
        row.ok_count + 1 if ok else row.ok_count,
        row.failure_count if ok else row.failure_count + 1,
        (row.window + ("1" if ok else "0"))[-WINDOW:],
    )
    state.put_row(key, updated, SOURCES)


def _register(state: StateWriter, fact: Fact, data: views.Registered) -> None:
    key, row = _load(state, data.source_id)
    registration = Registration(
        seq=fact.seq,
        tier=data.tier,
        expected_interval_s=data.expected_interval_s,
        failure_budget=float(data.failure_budget),
        description=data.description,
    )
    state.put_row(key, msgspec.structs.replace(row, registration=registration), SOURCES)


def _suppress(state: StateWriter, fact: Fact, data: views.Suppression) -> None:
    row = SuppressionRow(
        seq=fact.seq,
        action="added" if fact.type == "suppression.added" else "lifted",
        suppression_id=data.suppression_id,
        reason=data.reason,
        owner=data.owner,
        expiry=data.expiry if fact.type == "suppression.added" else None,
        recorded_at=fact.recorded_at,
        effective_at=effective_at(fact),
        producer=fact.producer,
    )
    state.put(state_key(_SUPPRESSION, data.target, seq_part(fact.seq)), SUPPRESSIONS.encode(row))
    # A suppression names a source the health view must list even if it never reported.
    key = state_key(_SOURCE, data.target)
    if state.get_row(key, SOURCES) is None:
        state.put_row(key, _new_source(data.target), SOURCES)


# Reading ----------------------------------------------------------------------------------


def source_rows(state: StateReader) -> list[SourceRow]:
    """Every known source, by id (keys of long ids are digests, so key order is not id order)."""
    rows = [SOURCES.decode(value) for _, value in state.scan(table_prefix(_SOURCE))]
    return sorted(rows, key=lambda row: row.source_id)


def source_row(state: StateReader, source_id: str) -> SourceRow | None:
    raw = state.get(state_key(_SOURCE, source_id))
    return SOURCES.decode(raw) if raw is not None else None


def suppression_history(state: StateReader, source_id: str) -> list[SuppressionRow]:
    """A source's suppressions, added and lifted, in log order."""
    return [
        SUPPRESSIONS.decode(value) for _, value in state.scan(table_prefix(_SUPPRESSION, source_id))
    ]
