"""The Projections client: verdicts, findings, health, runs, replays and history over gRPC.

Reached as `LedgerClient.projections`; shares the client's channel and retry
policy. Every view comes back as the JSON document specs/projections.md
defines. By default an answer reflects everything the log held when the call
arrived; pass `min_seq` (e.g. the seq an append returned) for read-your-writes
on exactly that event, or `allow_stale=True` to answer at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from google.protobuf.message import Message

from clients._calls import Method, protocol_error
from ledger.clock import format_utc
from ledger.errors import ErrorCode, InvalidInput
from ledger.v1 import projections_pb2 as pb

Json = dict[str, Any]
Call = Callable[[Method[Any, Any], Message], Any]

_PATH = "/ledger.v1.Projections/"
GET_VERDICT = Method(_PATH + "GetVerdict", pb.GetVerdictRequest, pb.ViewResponse)
LIST_FINDINGS = Method(_PATH + "ListFindings", pb.ListFindingsRequest, pb.ViewResponse)
GET_SOURCE_HEALTH = Method(_PATH + "GetSourceHealth", pb.GetSourceHealthRequest, pb.ViewResponse)
GET_SUPPRESSIONS = Method(_PATH + "GetSuppressions", pb.GetSuppressionsRequest, pb.ViewResponse)
GET_REPLAY = Method(_PATH + "GetReplay", pb.GetReplayRequest, pb.ViewResponse)
GET_RUN = Method(_PATH + "GetRun", pb.GetRunRequest, pb.ViewResponse)
LIST_RUNS = Method(_PATH + "ListRuns", pb.ListRunsRequest, pb.ViewResponse)
GET_HISTORY = Method(_PATH + "GetHistory", pb.GetHistoryRequest, pb.ViewResponse)
GET_STATUS = Method(
    _PATH + "GetProjectionStatus", pb.GetProjectionStatusRequest, pb.ProjectionStatusResponse
)
REBUILD = Method(
    _PATH + "RebuildProjections", pb.RebuildProjectionsRequest, pb.ProjectionStatusResponse
)


@dataclass(frozen=True)
class ProjectionState:
    """One projection's position, lag and state digest, as the daemon reports them."""

    name: str
    version: int
    position: int
    log_size: int
    lag: int
    digest: str
    rows: int


def _freshness(min_seq: int | None, allow_stale: bool) -> pb.Freshness:
    return pb.Freshness(min_seq=min_seq, allow_stale=allow_stale)


def _at(at: datetime | None) -> str:
    if at is None:
        return ""
    if at.tzinfo is None:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"evaluation time {at.isoformat()} has no timezone",
            hint="pass an aware datetime, e.g. datetime(2026, 3, 1, tzinfo=UTC)",
            details={"field": "at"},
        )
    return format_utc(at)


def _document(response: pb.ViewResponse) -> Json:
    try:
        document = msgspec.json.decode(response.view_json)
    except msgspec.DecodeError as exc:
        raise protocol_error(f"the server sent a view that is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise protocol_error("the server sent a view that is not a JSON object")
    return document


def _states(response: pb.ProjectionStatusResponse) -> list[ProjectionState]:
    return [
        ProjectionState(p.name, p.version, p.position, p.log_size, p.lag, p.digest, p.rows)
        for p in response.projections
    ]


class ProjectionsClient:
    """The Projections service's calls (see the module docstring)."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def _view(self, method: Method[Any, Any], request: Message) -> Json:
        response: pb.ViewResponse = self._call(method, request)
        return _document(response)

    def verdict(
        self,
        subject: str,
        *,
        at: datetime | None = None,
        as_of: int | None = None,
        min_seq: int | None = None,
        allow_stale: bool = False,
    ) -> Json:
        """The verdict on `subject` at evaluation time `at` (default: the daemon's now)."""
        request = pb.GetVerdictRequest(
            subject=subject,
            freshness=_freshness(min_seq, allow_stale),
            as_of=as_of,
            evaluated_at=_at(at),
        )
        return self._view(GET_VERDICT, request)

    def findings(
        self,
        *,
        subject: str | None = None,
        statuses: Sequence[str] = (),
        severities: Sequence[str] = (),
        at: datetime | None = None,
        as_of: int | None = None,
        min_seq: int | None = None,
        allow_stale: bool = False,
    ) -> Json:
        request = pb.ListFindingsRequest(
            subject=subject,
            statuses=list(statuses),
            severities=list(severities),
            freshness=_freshness(min_seq, allow_stale),
            as_of=as_of,
            evaluated_at=_at(at),
        )
        return self._view(LIST_FINDINGS, request)

    def health(
        self,
        *,
        source: str | None = None,
        at: datetime | None = None,
        as_of: int | None = None,
        min_seq: int | None = None,
        allow_stale: bool = False,
    ) -> Json:
        request = pb.GetSourceHealthRequest(
            source_id=source,
            freshness=_freshness(min_seq, allow_stale),
            as_of=as_of,
            evaluated_at=_at(at),
        )
        return self._view(GET_SOURCE_HEALTH, request)

    def suppressions(
        self,
        source: str,
        *,
        at: datetime | None = None,
        as_of: int | None = None,
        min_seq: int | None = None,
        allow_stale: bool = False,
    ) -> Json:
        request = pb.GetSuppressionsRequest(
            source_id=source,
            freshness=_freshness(min_seq, allow_stale),
            as_of=as_of,
            evaluated_at=_at(at),
        )
        return self._view(GET_SUPPRESSIONS, request)

    def replay(
        self,
        run_id: str,
        *,
        as_of: int | None = None,
        min_seq: int | None = None,
        allow_stale: bool = False,
    ) -> Json:
        """A run's full record and provenance; check a workspace with `replay_report`."""
        request = pb.GetReplayRequest(
            run_id=run_id, freshness=_freshness(min_seq, allow_stale), as_of=as_of
        )
        return self._view(GET_REPLAY, request)

    def run(
        self,
        run_id: str,
        *,
        as_of: int | None = None,
        min_seq: int | None = None,
        allow_stale: bool = False,
    ) -> Json:
        request = pb.GetRunRequest(
            run_id=run_id, freshness=_freshness(min_seq, allow_stale), as_of=as_of
        )
        return self._view(GET_RUN, request)

    def runs(
        self,
        *,
        agent: str | None = None,
        status: str | None = None,
        subject: str | None = None,
        before_seq: int | None = None,
        limit: int = 50,
        as_of: int | None = None,
        min_seq: int | None = None,
        allow_stale: bool = False,
    ) -> Json:
        request = pb.ListRunsRequest(
            agent=agent,
            status=status,
            subject=subject,
            before_seq=before_seq,
            limit=limit,
            freshness=_freshness(min_seq, allow_stale),
            as_of=as_of,
        )
        return self._view(LIST_RUNS, request)

    def history(
        self, stream: str, *, from_version: int = 1, limit: int = 100, as_of: int | None = None
    ) -> Json:
        request = pb.GetHistoryRequest(
            stream=stream, from_version=from_version, limit=limit, as_of=as_of
        )
        return self._view(GET_HISTORY, request)

    def status(self, *, digests: bool = True) -> list[ProjectionState]:
        """Each projection's position and lag, and (unless `digests=False`) state digest."""
        request = pb.GetProjectionStatusRequest(without_digests=not digests)
        return _states(self._call(GET_STATUS, request))

    def rebuild(self, names: Sequence[str] = ()) -> list[ProjectionState]:
        """Fold projections again from seq 0 (all when `names` is empty); waits until done.

        One call lasts the whole rebuild (about a second per 60,000 events): give the
        client a `RetryPolicy` whose `call_timeout_s` allows for it, as `ledgerctl
        projections rebuild` does, or a retry starts the rebuild again.
        """
        return _states(self._call(REBUILD, pb.RebuildProjectionsRequest(names=list(names))))
