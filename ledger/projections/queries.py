"""The questions people ask of the projections, answered as JSON documents.

`ProjectionQueries` is the one core API behind the daemon's Projections service
and the offline CLI. Every answer says which log position it reflects, and
every answer that judges time (waiver expiry, staleness) says the evaluation
time it used, which the caller passes in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from ledger.clock import format_utc
from ledger.errors import ErrorCode, InvalidInput, PolicyBlocked
from ledger.model import RunRecordV1
from ledger.projections import runs as runs_table
from ledger.projections import sources as sources_table
from ledger.projections import subjects as subjects_table
from ledger.projections.engine import ProjectionEngine, ProjectionView, check_as_of
from ledger.projections.facts import read_fact
from ledger.projections.health_rules import active_suppression, assess, judge_suppressions
from ledger.projections.verdict_rules import judge
from ledger.projections.views import (
    FINDING_STATUSES,
    Json,
    counts,
    finding_json,
    position_json,
    provenance_json,
    run_json,
    source_json,
    suppression_entry_json,
    verdict_json,
)
from ledger.store import LmdbEventLog

SEVERITIES = ("P0", "P1", "P2", "P3")
RUN_STATUSES = ("SUCCESS", "PARTIAL", "FAILED", "SKIPPED")
HEALTH_STATUSES = ("healthy", "degraded", "stale", "failing", "never_seen")
MAX_LIMIT = 10_000


# What no subject, source, run id, agent or stream contains: a query naming one is a typo.
_NOT_A_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_NAME = 2048


def check_name(value: str, field: str) -> str:
    """A name a query looks up: non-empty, one line, of bounded length."""
    if not value or len(value) > _MAX_NAME or _NOT_A_NAME.search(value):
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"{field} must be 1..{_MAX_NAME} characters of one line of text",
            hint=f"pass the {field} exactly as the events name it",
            details={"field": field},
        )
    return value


def _not_found(what: str, hint: str) -> InvalidInput:
    return InvalidInput(ErrorCode.NOT_FOUND, f"no {what}", hint=hint)


def _check_choices(name: str, values: Sequence[str], allowed: Sequence[str]) -> None:
    for value in values:
        if value not in allowed:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                f"{name} {value!r} is not one of {', '.join(allowed)}",
                hint=f"pass one of: {', '.join(allowed)}",
                details={"field": name},
            )


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"limit {limit} is not between 1 and {MAX_LIMIT}",
            hint="page with a smaller limit",
            details={"field": "limit"},
        )


class ProjectionQueries:
    """Answers over one engine and its log (see the module docstring)."""

    def __init__(self, engine: ProjectionEngine, log: LmdbEventLog) -> None:
        self._engine = engine
        self._log = log

    @contextmanager
    def _view(self, name: str, as_of: int | None) -> Iterator[ProjectionView]:
        if as_of is None:
            with self._engine.view(name) as view:
                yield view
        else:
            yield self._engine.replay(name, as_of)

    # Verdicts and findings ---------------------------------------------------------------

    def verdict(self, subject: str, *, at: datetime, as_of: int | None = None) -> Json:
        """The verdict on one subject, explained (specs/verdicts.md)."""
        check_name(subject, "subject")
        with self._view(subjects_table.NAME, as_of) as view:
            state = subjects_table.subject_state(view.state, subject)
            head = position_json(view.position, as_of, format_utc(at))
        return verdict_json(head, state, judge(state, at))

    def findings(
        self,
        *,
        at: datetime,
        as_of: int | None = None,
        subject: str | None = None,
        statuses: Sequence[str] = (),
        severities: Sequence[str] = (),
    ) -> Json:
        """Findings, with their status at `at`, across subjects or for one."""
        if subject is not None:
            check_name(subject, "subject")
        _check_choices("status", statuses, FINDING_STATUSES)
        _check_choices("severity", severities, SEVERITIES)
        with self._view(subjects_table.NAME, as_of) as view:
            names = (
                [subject]
                if subject is not None
                else [row.subject for row in subjects_table.subjects(view.state)]
            )
            states = [subjects_table.subject_state(view.state, name) for name in names]
            head = position_json(view.position, as_of, format_utc(at))
        found = [
            finding_json(judged)
            for state in states
            for judged in judge(state, at).findings
            if (not statuses or judged.status in statuses)
            and (not severities or judged.row.severity in severities)
        ]
        return {
            **head,
            "subject": subject,
            "counts": counts(found, "status", FINDING_STATUSES),
            "findings": found,
        }

    # Health ------------------------------------------------------------------------------

    def health(self, *, at: datetime, as_of: int | None = None, source: str | None = None) -> Json:
        """Every source's health at `at` (or one source's), and what would block `--strict`."""
        if source is not None:
            check_name(source, "source")
        with self._view(sources_table.NAME, as_of) as view:
            if source is not None:
                row = sources_table.source_row(view.state, source)
                if row is None:
                    raise _not_found(
                        f"source {source!r}", "list the known sources with `ledgerctl health`"
                    )
                rows = [row]
            else:
                rows = sources_table.source_rows(view.state)
            histories = {
                row.source_id: sources_table.suppression_history(view.state, row.source_id)
                for row in rows
            }
            head = position_json(view.position, as_of, format_utc(at))
        listed = []
        blocking: list[str] = []
        warnings: list[str] = []
        for row in rows:
            health = assess(row, histories[row.source_id], at)
            listed.append(source_json(row, health))
            if health.blocks is not None:
                blocking.append(row.source_id)
            elif health.status != "healthy" and health.suppressed_by is None:
                warnings.append(row.source_id)
        return {
            **head,
            "summary": counts(listed, "status", HEALTH_STATUSES),
            "blocking": blocking,
            "warnings": warnings,
            "sources": listed,
        }

    def suppressions(self, source: str, *, at: datetime, as_of: int | None = None) -> Json:
        """A source's suppression history, each entry with what it means at `at`."""
        check_name(source, "source")
        with self._view(sources_table.NAME, as_of) as view:
            history = sources_table.suppression_history(view.state, source)
            known = sources_table.source_row(view.state, source) is not None
            head = position_json(view.position, as_of, format_utc(at))
        if not known:
            raise _not_found(f"source {source!r}", "list the known sources with `ledgerctl health`")
        judged = {j.added.seq: j.status for j in judge_suppressions(history, at)}
        entries = [suppression_entry_json(row, judged.get(row.seq, "lift")) for row in history]
        active = active_suppression(history, at)
        return {
            **head,
            "source_id": source,
            "active": None if active is None else active.suppression_id,
            "history": entries,
        }

    # Runs, replays and history -----------------------------------------------------------

    def runs(
        self,
        *,
        agent: str | None = None,
        status: str | None = None,
        subject: str | None = None,
        before_seq: int | None = None,
        limit: int = 50,
        as_of: int | None = None,
    ) -> Json:
        """Run records newest first, filtered and paged by seq."""
        _check_limit(limit)
        if agent is not None:
            check_name(agent, "agent")
        if subject is not None:
            check_name(subject, "subject")
        if status is not None:
            _check_choices("status", [status], RUN_STATUSES)
        with self._view(runs_table.NAME, as_of) as view:
            rows = runs_table.list_runs(
                view.state,
                agent=agent,
                status=status,
                subject=subject,
                before_seq=before_seq,
                limit=limit,
            )
            head = position_json(view.position, as_of, None)
        return {
            **head,
            "runs": [run_json(row) for row in rows],
            "next_before_seq": rows[-1].seq if len(rows) == limit else None,
        }

    def run(self, run_id: str, *, as_of: int | None = None) -> Json:
        """One run's row, as `runs` lists it."""
        with self._view(runs_table.NAME, as_of) as view:
            row = _run_row(view, run_id)
            head = position_json(view.position, as_of, None)
        return {**head, "run": run_json(row)}

    def replay(self, run_id: str, *, as_of: int | None = None) -> Json:
        """What a replay of a run checks: its full record from the log, and its provenance.

        The workspace comparison happens where the workspace is
        (`ledger.projections.replay.replay_report`).
        """
        with self._view(runs_table.NAME, as_of) as view:
            row = _run_row(view, run_id)
            provenance = runs_table.provenance(view.state, row)
            head = position_json(view.position, as_of, None)
        stored = self._log.get(row.seq)
        record = stored.leaf.envelope.data
        if not isinstance(record, RunRecordV1):
            raise _not_found(f"run record at seq {row.seq}", "run `ledgerctl verify`")
        return {
            **head,
            "run": run_json(row),
            "record": {
                "seq": stored.seq,
                "recorded_at": stored.leaf.recorded_at,
                "event_id": stored.leaf.envelope.event_id,
                "stream": stored.leaf.envelope.stream,
                "producer": stored.leaf.envelope.producer,
                "occurred_at": stored.leaf.envelope.occurred_at,
                "input_files": [{"path": f.path, "sha256": f.sha256} for f in record.input_files],
                "output_files": [{"path": f.path, "sha256": f.sha256} for f in record.output_files],
                "input_context_sha": record.input_context_sha,
                "notes": record.notes,
            },
            "config_fingerprint": record.config_fingerprint,
            "provenance": provenance_json(provenance),
        }

    def history(
        self,
        stream: str,
        *,
        from_version: int = 1,
        limit: int = 100,
        as_of: int | None = None,
    ) -> Json:
        """A stream's events in version order: seq, times, type and producer."""
        check_name(stream, "stream")
        _check_limit(limit)
        if from_version < 1:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                "from_version must be 1 or more",
                hint="stream versions count from 1",
                details={"field": "from_version"},
            )
        size = self._log.size()
        if as_of is not None:
            check_as_of(as_of, size)
        events: list[Json] = []
        next_version: int | None = None
        for offset, stored in enumerate(self._log.stream_leaves(stream, from_version)):
            if stored.seq >= size or (as_of is not None and stored.seq > as_of):
                break  # appended after this answer's position
            if len(events) == limit:
                next_version = from_version + offset
                break
            fact = read_fact(stored.seq, stored.leaf_bytes)
            events.append(
                {
                    "seq": fact.seq,
                    "version": from_version + offset,
                    "event_id": fact.event_id,
                    "type": fact.type,
                    "producer": fact.producer,
                    "occurred_at": fact.occurred_at,
                    "recorded_at": fact.recorded_at,
                }
            )
        return {
            "log_position": size if as_of is None else as_of + 1,
            "as_of": as_of,
            "stream": stream,
            "events": events,
            "next_version": next_version,
        }


def _run_row(view: ProjectionView, run_id: str) -> runs_table.RunRow:
    check_name(run_id, "run_id")
    row = runs_table.run_row(view.state, run_id)
    if row is None:
        raise _not_found(
            f"run {run_id!r} in the projection at position {view.position}",
            "check the run id with `ledgerctl runs`, or pass --min-seq if it is new",
        )
    return row


def health_failure(document: Json) -> PolicyBlocked | None:
    """The error `health --strict` ends with when a health document lists blocking sources."""
    blocking: list[str] = document["blocking"]
    if not blocking:
        return None
    why = {s["source_id"]: s["blocks"] for s in document["sources"] if s["source_id"] in blocking}
    named = "; ".join(f"{source_id} ({why.get(source_id)})" for source_id in blocking)
    return PolicyBlocked(
        ErrorCode.SOURCE_HEALTH_BLOCKED,
        f"{len(blocking)} required source(s) block --strict: {named}",
        hint="fix the sources, or record a suppression for a known outage; "
        "`ledgerctl health --explain-suppress SOURCE` shows a source's suppressions",
        details={"sources": {source_id: why.get(source_id) for source_id in blocking}},
    )
