"""The `runs` projection: every run record, indexed for listing and for provenance.

A run's inputs and outputs are named by refs (`input_refs`, `output_refs`). A
run is upstream of another when it produced, earlier in the log, a ref the
other consumed, or when the other names its run id as an input ref. Full
records (with their files) stay in the log; rows here hold what listing and
provenance need, plus the seq to fetch the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from ledger.projections import payload_views as views
from ledger.projections._rows import RowCodec
from ledger.projections.facts import Fact
from ledger.projections.state import StateReader, StateWriter, seq_part, state_key, table_prefix

NAME = "runs"
_RUN = "R"  # R, run_id -> RunRow
_PRODUCED = "O"  # O, ref, seq -> run_id: who produced a ref, in log order
_TIMELINE = "T"  # T, seq -> run_id
_BY_AGENT = "A"  # A, agent, seq -> run_id
_BY_SUBJECT = "S"  # S, subject, seq -> run_id (runs that name their subject)

#: Provenance stops at this depth and this many runs, and says it was cut short.
MAX_DEPTH = 16
MAX_NODES = 256


class RunRow(msgspec.Struct, frozen=True, array_like=True, gc=False):
    run_id: str
    seq: int
    event_id: str
    recorded_at: str
    producer: str
    agent_name: str
    run_status: str
    status_before: str
    status_after: str
    started_at: str
    ended_at: str
    mode: str
    exit_code: int
    config_fingerprint: str
    git_head: str | None
    #: What the run worked on (schema 1.1); null for a 1.0 record or a run that names none.
    subject: str | None
    heal_reason: str | None
    input_refs: tuple[str, ...]
    output_refs: tuple[str, ...]


RUNS = RowCodec(RunRow)


class RunsProjection:
    """Folds `run.recorded` into run rows and the indexes over them."""

    name = NAME
    version = 3
    event_types = frozenset({"run.recorded"})

    def apply(self, fact: Fact, state: StateWriter) -> None:
        data = views.RECORDED.read(fact)
        row = RunRow(
            run_id=data.run_id,
            seq=fact.seq,
            event_id=fact.event_id,
            recorded_at=fact.recorded_at,
            producer=fact.producer,
            agent_name=data.agent_name,
            run_status=data.run_status,
            status_before=data.status_before,
            status_after=data.status_after,
            started_at=data.started_at,
            ended_at=data.ended_at,
            mode=data.mode,
            exit_code=data.exit_code,
            config_fingerprint=data.config_fingerprint,
            git_head=data.git_head,
            subject=data.subject,
            heal_reason=data.heal_reason,
            input_refs=tuple(data.input_refs),
            output_refs=tuple(data.output_refs),
        )
        at = seq_part(fact.seq)
        run_id = data.run_id.encode("ascii")
        state.put_row(state_key(_RUN, data.run_id), row, RUNS)
        state.put(state_key(_TIMELINE, at), run_id)
        state.put(state_key(_BY_AGENT, data.agent_name, at), run_id)
        if data.subject is not None:
            state.put(state_key(_BY_SUBJECT, data.subject, at), run_id)
        for ref in dict.fromkeys(data.output_refs):
            state.put(state_key(_PRODUCED, ref, at), run_id)


# Reading ----------------------------------------------------------------------------------


def run_row(state: StateReader, run_id: str) -> RunRow | None:
    raw = state.get(state_key(_RUN, run_id))
    return RUNS.decode(raw) if raw is not None else None


def list_runs(
    state: StateReader,
    *,
    agent: str | None = None,
    status: str | None = None,
    subject: str | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> list[RunRow]:
    """Runs newest first, optionally one subject's, agent's or status's, before a seq (paging).

    The index is read backwards from `before_seq`, so a page costs what it holds
    (and what the filters pass over), not the whole table.
    """
    if subject is not None:
        prefix = table_prefix(_BY_SUBJECT, subject)
    elif agent is not None:
        prefix = table_prefix(_BY_AGENT, agent)
    else:
        prefix = table_prefix(_TIMELINE)
    below = prefix + seq_part(before_seq).encode("ascii") if before_seq is not None else None
    found: list[RunRow] = []
    for _, value in state.scan_back(prefix, below):
        row = run_row(state, value.decode("ascii"))
        if row is None or (status is not None and row.run_status != status):
            continue
        if agent is not None and row.agent_name != agent:
            continue
        found.append(row)
        if len(found) >= limit:
            break
    return found


@dataclass(frozen=True)
class Upstream:
    """One run in another's provenance, through the ref that links them."""

    run: RunRow
    via_ref: str
    depth: int
    upstream: tuple[Upstream, ...]


@dataclass(frozen=True)
class Provenance:
    upstream: tuple[Upstream, ...]
    #: Refs no earlier run produced (external inputs, or produced outside the ledger).
    unresolved_refs: tuple[str, ...]
    truncated: bool


def _producer_before(state: StateReader, ref: str, seq: int) -> RunRow | None:
    """The latest run before `seq` that produced `ref`, or named by it as a run id."""
    best: RunRow | None = None
    for key, value in state.scan(table_prefix(_PRODUCED, ref)):
        at = int(key.rsplit(b"\x1f", 1)[1], 16)
        if at >= seq:
            break
        candidate = run_row(state, value.decode("ascii"))
        if candidate is not None:
            best = candidate
    direct = run_row(state, ref)
    if direct is not None and direct.seq < seq and (best is None or direct.seq > best.seq):
        best = direct
    return best


def provenance(state: StateReader, run: RunRow) -> Provenance:
    """The chain of upstream runs, depth first by input ref; every link goes back in seq."""
    budget = [MAX_NODES]
    truncated = [False]

    def walk(node: RunRow, depth: int) -> tuple[tuple[Upstream, ...], list[str]]:
        links: list[Upstream] = []
        unresolved: list[str] = []
        for ref in dict.fromkeys(node.input_refs):
            source = _producer_before(state, ref, node.seq)
            if source is None:
                unresolved.append(ref)
                continue
            if depth > MAX_DEPTH or budget[0] <= 0:
                truncated[0] = True
                continue
            budget[0] -= 1
            children, _ = walk(source, depth + 1)
            links.append(Upstream(run=source, via_ref=ref, depth=depth, upstream=children))
        return tuple(links), unresolved

    upstream, unresolved = walk(run, 1)
    return Provenance(upstream=upstream, unresolved_refs=tuple(unresolved), truncated=truncated[0])
