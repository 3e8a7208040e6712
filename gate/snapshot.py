"""What reports and exports render: the ledger's views of a scope, pinned to one checkpoint.

A `Snapshot` holds the verdict documents of the subjects in scope (the
projections' own JSON, specs/projections.md), the full run records that belong
to them, and the checkpoint (tree size and root) every view was computed at.
Renderers take a snapshot and return bytes; they never query anything, so the
same snapshot always renders the same bytes.

`take_snapshot` builds one from any `SnapshotSource`: the CLI's offline source
(a data directory) or online source (a daemon) both satisfy it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import msgspec

from ledger.clock import format_utc
from ledger.errors import ErrorCode, InvalidInput
from ledger.model.leaf import Leaf

Json = dict[str, Any]
Scope = Literal["subject", "run", "all"]

#: Finding groups in a verdict document, in the order they are rendered.
FINDING_GROUPS = ("open", "expired_waiver", "waived", "resolved")

#: How many times the views are asked again for one common log position before
#: the snapshot falls back to `as_of` (a replay, exact however busy the log is).
_ALIGN_ATTEMPTS = 3
_PAGE = 1000


@dataclass(frozen=True)
class CheckpointRef:
    """The tree every view in a snapshot was computed over."""

    #: The signed checkpoint's origin line; None offline, where nothing is signed.
    origin: str | None
    tree_size: int
    #: The RFC 6962 root hash, lowercase hex.
    root_hash: str

    def to_json(self) -> Json:
        return {"origin": self.origin, "tree_size": self.tree_size, "root_hash": self.root_hash}


@dataclass(frozen=True)
class RunEntry:
    """One `run.recorded` event: where it sits in the log and its whole payload."""

    seq: int
    event_id: str
    recorded_at: str
    producer: str
    #: The run record's `data` member as stored (specs/run-record-v1.md).
    record: Mapping[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])

    def to_json(self) -> Json:
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "recorded_at": self.recorded_at,
            "producer": self.producer,
            "record": dict(self.record),
        }


@dataclass(frozen=True)
class Snapshot:
    """The views of one scope at one checkpoint (see the module docstring)."""

    scope: Scope
    #: The subject or run id the scope names; None for `all`.
    scope_ref: str | None
    checkpoint: CheckpointRef
    #: The evaluation time the verdicts were judged at (waiver expiry depends on it).
    evaluated_at: str
    #: Verdict documents (`ledgerctl verdict --json`), one per subject, ordered by subject.
    verdicts: tuple[Json, ...]
    #: Run records in scope, in log order.
    runs: tuple[RunEntry, ...]

    def findings(self) -> Iterator[Json]:
        """Every finding of every subject: by subject, then group order, then finding id."""
        for verdict in self.verdicts:
            groups = verdict["findings"]
            for group in FINDING_GROUPS:
                yield from groups[group]

    def run(self, run_id: str) -> RunEntry | None:
        return next((r for r in self.runs if r.run_id == run_id), None)


def run_entry(leaf: Leaf) -> RunEntry:
    """A stored `run.recorded` leaf as a `RunEntry` (NOT_FOUND for any other type)."""
    envelope = leaf.envelope
    if envelope.type != "run.recorded":
        raise InvalidInput(
            ErrorCode.NOT_FOUND,
            f"seq {leaf.seq} is a {envelope.type} event, not a run record",
            hint="the runs projection points at a seq that holds no run: rebuild the projections",
            details={"seq": leaf.seq},
        )
    return RunEntry(
        seq=leaf.seq,
        event_id=envelope.event_id,
        recorded_at=leaf.recorded_at,
        producer=envelope.producer,
        record=msgspec.to_builtins(envelope.data),
    )


class SnapshotSource(Protocol):
    """The queries a snapshot is built from (the CLI's projection sources satisfy it)."""

    def verdict(
        self, subject: str, *, at: datetime | None, as_of: int | None, min_seq: int | None
    ) -> Json: ...

    def findings(
        self,
        *,
        subject: str | None,
        statuses: Sequence[str],
        severities: Sequence[str],
        at: datetime | None,
        as_of: int | None,
        min_seq: int | None,
    ) -> Json: ...

    def runs(
        self,
        *,
        agent: str | None,
        status: str | None,
        subject: str | None,
        before_seq: int | None,
        limit: int,
        as_of: int | None,
        min_seq: int | None,
    ) -> Json: ...

    def run(self, run_id: str, *, as_of: int | None, min_seq: int | None) -> Json:
        """One run's row (NOT_FOUND when no such run is recorded)."""
        ...

    def run_event(self, seq: int) -> RunEntry:
        """The `run.recorded` event stored at `seq`."""
        ...

    def checkpoint_at(self, tree_size: int) -> CheckpointRef:
        """The log's root over its first `tree_size` entries."""
        ...


@dataclass(frozen=True)
class _Views:
    position: int
    verdicts: tuple[Json, ...]
    run_rows: tuple[Json, ...]
    #: The position every view read was computed at.
    positions: frozenset[int]


def _run_rows(
    source: SnapshotSource, subject: str | None, as_of: int | None, min_seq: int | None
) -> tuple[list[Json], int]:
    """Every run row (of `subject`, when given), and the position of the first page.

    Later pages list older runs, whose rows never change, so they agree with it.
    """
    rows: list[Json] = []
    before: int | None = None
    position: int | None = None
    while True:
        page = source.runs(
            agent=None,
            status=None,
            subject=subject,
            before_seq=before,
            limit=_PAGE,
            as_of=as_of,
            min_seq=min_seq,
        )
        rows.extend(page["runs"])
        position = page["log_position"] if position is None else position
        before = page["next_before_seq"]
        if before is None:
            return rows, position


def _subjects_in(
    source: SnapshotSource, at: datetime, as_of: int | None, min_seq: int | None
) -> tuple[list[str], int]:
    """Every subject with a finding, and the position the findings view was read at."""
    found = source.findings(
        subject=None, statuses=(), severities=(), at=at, as_of=as_of, min_seq=min_seq
    )
    return sorted({item["subject"] for item in found["findings"]}), found["log_position"]


def _query(
    source: SnapshotSource,
    scope: Scope,
    ref: str | None,
    at: datetime,
    as_of: int | None,
    min_seq: int | None,
) -> _Views:
    if scope == "run":
        if ref is None:
            raise ValueError("a run scope needs a run id")
        found = source.run(ref, as_of=as_of, min_seq=min_seq)
        run_rows = [found["run"]]
        positions = [found["log_position"]]
        subjects = [found["run"]["subject"]] if found["run"].get("subject") else []
    elif scope == "subject":
        if ref is None:
            raise ValueError("a subject scope needs a subject")
        run_rows, position = _run_rows(source, ref, as_of, min_seq)
        positions = [position]
        subjects = [ref]
    else:
        run_rows, position = _run_rows(source, None, as_of, min_seq)
        with_findings, findings_position = _subjects_in(source, at, as_of, min_seq)
        positions = [position, findings_position]
        subjects = sorted(
            set(with_findings) | {row["subject"] for row in run_rows if row.get("subject")}
        )
    verdicts = []
    for subject in subjects:
        document = source.verdict(subject, at=at, as_of=as_of, min_seq=min_seq)
        verdicts.append(document)
        positions.append(document["log_position"])
    if scope == "subject":
        # Runs the subject's findings name belong to it too, subject or not in their record.
        named = {
            finding["run_id"]
            for verdict in verdicts
            for group in FINDING_GROUPS
            for finding in verdict["findings"][group]
        } - {row["run_id"] for row in run_rows}
        for run_id in sorted(named):
            try:
                found = source.run(run_id, as_of=as_of, min_seq=min_seq)
            except InvalidInput as exc:
                if exc.code is not ErrorCode.NOT_FOUND:
                    raise
                continue  # a finding may name a run that was never recorded
            run_rows.append(found["run"])
            positions.append(found["log_position"])
    return _Views(max(positions), tuple(verdicts), tuple(run_rows), frozenset(positions))


def take_snapshot(
    source: SnapshotSource,
    *,
    scope: Scope,
    ref: str | None,
    at: datetime,
    min_seq: int | None = None,
) -> Snapshot:
    """The views of `scope` (a subject, a run, or everything) and the checkpoint they share.

    Views are first asked for what the projections hold; when their positions
    differ (the log grew between calls) they are asked again at the highest, and
    after `_ALIGN_ATTEMPTS` tries replayed `as_of` that position, which is exact.
    """
    views = _query(source, scope, ref, at, None, min_seq)
    for _ in range(_ALIGN_ATTEMPTS):
        if _aligned(views):
            break
        views = _query(source, scope, ref, at, None, views.position - 1)
    if not _aligned(views):
        views = _query(source, scope, ref, at, views.position - 1, None)
    runs = tuple(
        source.run_event(row["seq"]) for row in sorted(views.run_rows, key=lambda r: r["seq"])
    )
    verdicts = tuple(sorted(views.verdicts, key=lambda v: v["subject"]))
    evaluated = verdicts[0]["evaluated_at"] if verdicts else format_utc(at)
    return Snapshot(
        scope=scope,
        scope_ref=ref,
        checkpoint=source.checkpoint_at(views.position),
        evaluated_at=evaluated,
        verdicts=verdicts,
        runs=runs,
    )


def _aligned(views: _Views) -> bool:
    return len(views.positions) == 1
