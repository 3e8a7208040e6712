from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Freshness(_message.Message):
    __slots__ = ("min_seq", "allow_stale")
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    ALLOW_STALE_FIELD_NUMBER: _ClassVar[int]
    min_seq: int
    allow_stale: bool
    def __init__(self, min_seq: _Optional[int] = ..., allow_stale: _Optional[bool] = ...) -> None: ...

class ViewResponse(_message.Message):
    __slots__ = ("log_position", "view_json")
    LOG_POSITION_FIELD_NUMBER: _ClassVar[int]
    VIEW_JSON_FIELD_NUMBER: _ClassVar[int]
    log_position: int
    view_json: bytes
    def __init__(self, log_position: _Optional[int] = ..., view_json: _Optional[bytes] = ...) -> None: ...

class GetVerdictRequest(_message.Message):
    __slots__ = ("subject", "freshness", "as_of", "evaluated_at")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_AT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    freshness: Freshness
    as_of: int
    evaluated_at: str
    def __init__(self, subject: _Optional[str] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ..., as_of: _Optional[int] = ..., evaluated_at: _Optional[str] = ...) -> None: ...

class ListFindingsRequest(_message.Message):
    __slots__ = ("subject", "statuses", "severities", "freshness", "as_of", "evaluated_at")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    SEVERITIES_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_AT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    statuses: _containers.RepeatedScalarFieldContainer[str]
    severities: _containers.RepeatedScalarFieldContainer[str]
    freshness: Freshness
    as_of: int
    evaluated_at: str
    def __init__(self, subject: _Optional[str] = ..., statuses: _Optional[_Iterable[str]] = ..., severities: _Optional[_Iterable[str]] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ..., as_of: _Optional[int] = ..., evaluated_at: _Optional[str] = ...) -> None: ...

class GetSourceHealthRequest(_message.Message):
    __slots__ = ("source_id", "freshness", "as_of", "evaluated_at")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_AT_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    freshness: Freshness
    as_of: int
    evaluated_at: str
    def __init__(self, source_id: _Optional[str] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ..., as_of: _Optional[int] = ..., evaluated_at: _Optional[str] = ...) -> None: ...

class GetSuppressionsRequest(_message.Message):
    __slots__ = ("source_id", "freshness", "as_of", "evaluated_at")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_AT_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    freshness: Freshness
    as_of: int
    evaluated_at: str
    def __init__(self, source_id: _Optional[str] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ..., as_of: _Optional[int] = ..., evaluated_at: _Optional[str] = ...) -> None: ...

class GetReplayRequest(_message.Message):
    __slots__ = ("run_id", "freshness", "as_of")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    freshness: Freshness
    as_of: int
    def __init__(self, run_id: _Optional[str] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ..., as_of: _Optional[int] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("agent", "status", "before_seq", "limit", "freshness", "as_of", "subject")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BEFORE_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    agent: str
    status: str
    before_seq: int
    limit: int
    freshness: Freshness
    as_of: int
    subject: str
    def __init__(self, agent: _Optional[str] = ..., status: _Optional[str] = ..., before_seq: _Optional[int] = ..., limit: _Optional[int] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ..., as_of: _Optional[int] = ..., subject: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id", "freshness", "as_of")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    freshness: Freshness
    as_of: int
    def __init__(self, run_id: _Optional[str] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ..., as_of: _Optional[int] = ...) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("stream", "from_version", "limit", "as_of")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    stream: str
    from_version: int
    limit: int
    as_of: int
    def __init__(self, stream: _Optional[str] = ..., from_version: _Optional[int] = ..., limit: _Optional[int] = ..., as_of: _Optional[int] = ...) -> None: ...

class GetProjectionStatusRequest(_message.Message):
    __slots__ = ("without_digests",)
    WITHOUT_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    without_digests: bool
    def __init__(self, without_digests: _Optional[bool] = ...) -> None: ...

class RebuildProjectionsRequest(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class ProjectionStatus(_message.Message):
    __slots__ = ("name", "version", "position", "log_size", "lag", "digest", "rows")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    LOG_SIZE_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    position: int
    log_size: int
    lag: int
    digest: str
    rows: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., position: _Optional[int] = ..., log_size: _Optional[int] = ..., lag: _Optional[int] = ..., digest: _Optional[str] = ..., rows: _Optional[int] = ...) -> None: ...

class ProjectionStatusResponse(_message.Message):
    __slots__ = ("projections",)
    PROJECTIONS_FIELD_NUMBER: _ClassVar[int]
    projections: _containers.RepeatedCompositeFieldContainer[ProjectionStatus]
    def __init__(self, projections: _Optional[_Iterable[_Union[ProjectionStatus, _Mapping]]] = ...) -> None: ...
