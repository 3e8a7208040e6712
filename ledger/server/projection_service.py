"""The `ledger.v1.Projections` service: each method a thin edge over `ProjectionQueries`.

A query first waits until its projection has folded the seq it must reflect
(`Freshness`), then runs on a worker thread (a fold replay for `as_of` can be
long) and answers with the view's JSON bytes (specs/projections.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import grpc
import msgspec
from google.protobuf.message import Message

from ledger.clock import Clock, parse_instant
from ledger.errors import ErrorCode, InvalidInput
from ledger.projections import ProjectionQueries, ProjectionStatus
from ledger.projections.runs import NAME as RUNS
from ledger.projections.sources import NAME as HEALTH
from ledger.projections.subjects import NAME as VERDICTS
from ledger.server.committer import LogWatch
from ledger.server.handlers import Context, unary_handler
from ledger.server.projector import Projector
from ledger.v1 import projections_pb2 as pb

SERVICE_NAME = "ledger.v1.Projections"
#: The longest a query waits for its projection, whatever the call's deadline.
MAX_WAIT_S = 60.0
#: How long before the call's deadline a wait gives up, to leave time to answer.
_ANSWER_MARGIN_S = 0.25
_DEFAULT_RUNS = 50
_DEFAULT_HISTORY = 100
_ENCODER = msgspec.json.Encoder()

Json = dict[str, Any]


def _optional_int(message: Message, field: str) -> int | None:
    return int(getattr(message, field)) if message.HasField(field) else None


def _optional_str(message: Message, field: str) -> str | None:
    return str(getattr(message, field)) if message.HasField(field) else None


def _status_response(found: list[ProjectionStatus]) -> pb.ProjectionStatusResponse:
    return pb.ProjectionStatusResponse(
        projections=[
            pb.ProjectionStatus(
                name=s.name,
                version=s.version,
                position=s.position,
                log_size=s.log_size,
                lag=s.lag,
                digest=s.digest,
                rows=s.rows,
            )
            for s in found
        ]
    )


class ProjectionsService:
    """The handlers; `generic_handler()` registers them with the server."""

    def __init__(
        self, queries: ProjectionQueries, projector: Projector, watch: LogWatch, clock: Clock
    ) -> None:
        self._queries = queries
        self._projector = projector
        self._watch = watch
        self._clock = clock

    def _at(self, evaluated_at: str) -> datetime:
        if not evaluated_at:
            return self._clock.now()
        return parse_instant(evaluated_at, "evaluated_at")

    def _target(self, freshness: pb.Freshness) -> int | None:
        """The seq an answer must reflect, or None to answer at once."""
        if freshness.allow_stale:
            return None
        if freshness.HasField("min_seq"):
            if freshness.min_seq < 0:
                raise InvalidInput(
                    ErrorCode.INVALID_ARGUMENT,
                    f"min_seq {freshness.min_seq} is negative",
                    hint="pass the seq an append returned, or leave min_seq unset",
                    details={"field": "min_seq"},
                )
            return int(freshness.min_seq)
        size = self._watch.size
        return size - 1 if size else None

    async def _answer(
        self,
        projection: str,
        freshness: pb.Freshness,
        context: Context,
        query: Callable[[], Json],
        *,
        as_of: int | None = None,
    ) -> pb.ViewResponse:
        # A replay as of a seq reads the log itself; it waits for nothing.
        target = None if as_of is not None else self._target(freshness)
        remaining = context.time_remaining()
        # Give up a little before the caller's deadline, so that it hears why
        # (PROJECTION_BEHIND, with the position) rather than a bare DEADLINE_EXCEEDED.
        budget = (
            MAX_WAIT_S
            if remaining is None
            else min(remaining - min(_ANSWER_MARGIN_S, remaining / 10), MAX_WAIT_S)
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        while True:
            if target is not None:
                await self._projector.wait_for(projection, target, deadline - loop.time())
            document = await asyncio.to_thread(query)
            position = document["log_position"]
            if target is None or position > target:
                return pb.ViewResponse(log_position=position, view_json=_ENCODER.encode(document))
            # A rebuild set the projection back after the wait: wait (to the deadline) again.
            self._projector.saw_position(projection, position)

    async def GetVerdict(self, request: pb.GetVerdictRequest, context: Context) -> pb.ViewResponse:
        at = self._at(request.evaluated_at)
        as_of = _optional_int(request, "as_of")
        return await self._answer(
            VERDICTS,
            request.freshness,
            context,
            lambda: self._queries.verdict(request.subject, at=at, as_of=as_of),
            as_of=as_of,
        )

    async def ListFindings(
        self, request: pb.ListFindingsRequest, context: Context
    ) -> pb.ViewResponse:
        at = self._at(request.evaluated_at)
        as_of = _optional_int(request, "as_of")
        return await self._answer(
            VERDICTS,
            request.freshness,
            context,
            lambda: self._queries.findings(
                at=at,
                as_of=as_of,
                subject=_optional_str(request, "subject"),
                statuses=list(request.statuses),
                severities=list(request.severities),
            ),
            as_of=as_of,
        )

    async def GetSourceHealth(
        self, request: pb.GetSourceHealthRequest, context: Context
    ) -> pb.ViewResponse:
        at = self._at(request.evaluated_at)
        as_of = _optional_int(request, "as_of")
        return await self._answer(
            HEALTH,
            request.freshness,
            context,
            lambda: self._queries.health(
                at=at, as_of=as_of, source=_optional_str(request, "source_id")
            ),
            as_of=as_of,
        )

    async def GetSuppressions(
        self, request: pb.GetSuppressionsRequest, context: Context
    ) -> pb.ViewResponse:
        at = self._at(request.evaluated_at)
        as_of = _optional_int(request, "as_of")
        return await self._answer(
            HEALTH,
            request.freshness,
            context,
            lambda: self._queries.suppressions(request.source_id, at=at, as_of=as_of),
            as_of=as_of,
        )

    async def GetReplay(self, request: pb.GetReplayRequest, context: Context) -> pb.ViewResponse:
        as_of = _optional_int(request, "as_of")
        return await self._answer(
            RUNS,
            request.freshness,
            context,
            lambda: self._queries.replay(request.run_id, as_of=as_of),
            as_of=as_of,
        )

    async def GetRun(self, request: pb.GetRunRequest, context: Context) -> pb.ViewResponse:
        as_of = _optional_int(request, "as_of")
        return await self._answer(
            RUNS,
            request.freshness,
            context,
            lambda: self._queries.run(request.run_id, as_of=as_of),
            as_of=as_of,
        )

    async def ListRuns(self, request: pb.ListRunsRequest, context: Context) -> pb.ViewResponse:
        as_of = _optional_int(request, "as_of")
        return await self._answer(
            RUNS,
            request.freshness,
            context,
            lambda: self._queries.runs(
                agent=_optional_str(request, "agent"),
                status=_optional_str(request, "status"),
                subject=_optional_str(request, "subject"),
                before_seq=_optional_int(request, "before_seq"),
                limit=request.limit or _DEFAULT_RUNS,
                as_of=as_of,
            ),
            as_of=as_of,
        )

    async def GetHistory(self, request: pb.GetHistoryRequest, context: Context) -> pb.ViewResponse:
        document = await asyncio.to_thread(
            self._queries.history,
            request.stream,
            from_version=request.from_version or 1,
            limit=request.limit or _DEFAULT_HISTORY,
            as_of=_optional_int(request, "as_of"),
        )
        return pb.ViewResponse(
            log_position=document["log_position"], view_json=_ENCODER.encode(document)
        )

    async def GetProjectionStatus(
        self, request: pb.GetProjectionStatusRequest, context: Context
    ) -> pb.ProjectionStatusResponse:
        engine = self._projector.engine
        found = await asyncio.to_thread(engine.status, digests=not request.without_digests)
        return _status_response(found)

    async def RebuildProjections(
        self, request: pb.RebuildProjectionsRequest, context: Context
    ) -> pb.ProjectionStatusResponse:
        return _status_response(await self._projector.rebuild(list(request.names)))

    def generic_handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "GetVerdict": unary_handler(self.GetVerdict, pb.GetVerdictRequest),
                "ListFindings": unary_handler(self.ListFindings, pb.ListFindingsRequest),
                "GetSourceHealth": unary_handler(self.GetSourceHealth, pb.GetSourceHealthRequest),
                "GetSuppressions": unary_handler(self.GetSuppressions, pb.GetSuppressionsRequest),
                "GetReplay": unary_handler(self.GetReplay, pb.GetReplayRequest),
                "GetRun": unary_handler(self.GetRun, pb.GetRunRequest),
                "ListRuns": unary_handler(self.ListRuns, pb.ListRunsRequest),
                "GetHistory": unary_handler(self.GetHistory, pb.GetHistoryRequest),
                "GetProjectionStatus": unary_handler(
                    self.GetProjectionStatus, pb.GetProjectionStatusRequest
                ),
                "RebuildProjections": unary_handler(
                    self.RebuildProjections, pb.RebuildProjectionsRequest
                ),
            },
        )
