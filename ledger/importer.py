"""Bulk import of envelope JSON lines into the log, in atomic batches.

The whole input is parsed and validated before anything is written, so bad
input changes nothing. Batches then commit one by one; because appends are
idempotent by event id, re-running an interrupted import is always safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger.errors import ErrorCode, InvalidInput, LedgerError
from ledger.model import PreparedEvent, prepare_json
from ledger.store import AppendOutcome, AppendRequest

DEFAULT_BATCH_SIZE = 1000


class Appender(Protocol):
    """What appends one atomic batch: an `LmdbEventLog`, or a daemon reached through a client."""

    def append(self, requests: Sequence[AppendRequest], /) -> AppendOutcome: ...


@dataclass(frozen=True)
class NumberedEvent:
    """A validated event and the 1-based input line it came from."""

    line: int
    event: PreparedEvent


@dataclass(frozen=True)
class ImportSummary:
    events: int
    appended: int
    duplicates: int
    tree_size: int


def parse_jsonl(data: bytes) -> list[NumberedEvent]:
    """Decode one envelope per non-blank line; errors name the line."""
    parsed = []
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark some editors add
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            parsed.append(NumberedEvent(number, prepare_json(line)))
        except LedgerError as exc:
            exc.add_context(where=f"line {number}", line=number)
            raise
    if not parsed:
        raise InvalidInput(
            ErrorCode.EMPTY_BATCH,
            "the input holds no events",
            hint="give a file with one JSON envelope per line",
        )
    return parsed


def import_events(
    log: Appender,
    events: list[NumberedEvent],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Append `events` in order, `batch_size` per atomic transaction."""
    if batch_size < 1:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            "batch size must be at least 1",
            hint="pass --batch-size 1000",
        )
    appended = duplicates = tree_size = 0
    for start in range(0, len(events), batch_size):
        batch = events[start : start + batch_size]
        try:
            outcome = log.append([AppendRequest(item.event) for item in batch])
        except LedgerError as exc:
            index = exc.details.get("batch_index")
            line = batch[index].line if isinstance(index, int) else batch[0].line
            committed = (
                f"; the first {start} events were committed, and re-running the import is safe"
            )
            exc.add_context(
                where=f"line {line}",
                hint=committed if start else "",
                line=line,
                events_committed=start,
            )
            raise
        new = sum(not result.duplicate for result in outcome.results)
        appended += new
        duplicates += len(batch) - new
        tree_size = outcome.tree_size
        if progress is not None:
            progress(start + len(batch), len(events))
    return ImportSummary(len(events), appended, duplicates, tree_size)
