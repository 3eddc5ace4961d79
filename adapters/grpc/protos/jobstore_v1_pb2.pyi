from google.protobuf import struct_pb2 as _struct_pb2
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as _rime_jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Event(_message.Message):
    __slots__ = ("position", "job_id", "version", "type", "recorded_at", "actor", "request_id", "server_request_id", "data", "hash", "prev_hash")
    class Actor(_message.Message):
        __slots__ = ("name", "role")
        NAME_FIELD_NUMBER: _ClassVar[int]
        ROLE_FIELD_NUMBER: _ClassVar[int]
        name: str
        role: str
        def __init__(self, name: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...
    POSITION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    position: int
    job_id: str
    version: int
    type: str
    recorded_at: str
    actor: Event.Actor
    request_id: str
    server_request_id: str
    data: _struct_pb2.Struct
    hash: str
    prev_hash: str
    def __init__(self, position: _Optional[int] = ..., job_id: _Optional[str] = ..., version: _Optional[int] = ..., type: _Optional[str] = ..., recorded_at: _Optional[str] = ..., actor: _Optional[_Union[Event.Actor, _Mapping]] = ..., request_id: _Optional[str] = ..., server_request_id: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., hash: _Optional[str] = ..., prev_hash: _Optional[str] = ...) -> None: ...

class ListJobEventsRequest(_message.Message):
    __slots__ = ("job_id", "after_version")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    after_version: int
    def __init__(self, job_id: _Optional[str] = ..., after_version: _Optional[int] = ...) -> None: ...

class ListJobEventsResponse(_message.Message):
    __slots__ = ("events", "next_version", "has_more")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_VERSION_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    next_version: int
    has_more: bool
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., next_version: _Optional[int] = ..., has_more: _Optional[bool] = ...) -> None: ...

class GetJobAsItWasRequest(_message.Message):
    __slots__ = ("job_id", "view", "as_of", "version")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    view: _rime_jobs_pb2.JobView
    as_of: str
    version: int
    def __init__(self, job_id: _Optional[str] = ..., view: _Optional[_Union[_rime_jobs_pb2.JobView, str]] = ..., as_of: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetJobAsItWasResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _rime_jobs_pb2.JobMetadata
    def __init__(self, job: _Optional[_Union[_rime_jobs_pb2.JobMetadata, _Mapping]] = ...) -> None: ...

class StreamLogRequest(_message.Message):
    __slots__ = ("after_position",)
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    after_position: int
    def __init__(self, after_position: _Optional[int] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint",)
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    checkpoint: str
    def __init__(self, checkpoint: _Optional[str] = ...) -> None: ...

class GetInclusionProofRequest(_message.Message):
    __slots__ = ("position", "tree_size")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    position: int
    tree_size: int
    def __init__(self, position: _Optional[int] = ..., tree_size: _Optional[int] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("leaf_index", "tree_size", "leaf_hash", "hashes")
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, leaf_index: _Optional[int] = ..., tree_size: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ..., hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("from_size", "to_size")
    FROM_SIZE_FIELD_NUMBER: _ClassVar[int]
    TO_SIZE_FIELD_NUMBER: _ClassVar[int]
    from_size: int
    to_size: int
    def __init__(self, from_size: _Optional[int] = ..., to_size: _Optional[int] = ...) -> None: ...

class ConsistencyProof(_message.Message):
    __slots__ = ("from_size", "to_size", "hashes")
    FROM_SIZE_FIELD_NUMBER: _ClassVar[int]
    TO_SIZE_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    from_size: int
    to_size: int
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, from_size: _Optional[int] = ..., to_size: _Optional[int] = ..., hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class LiveRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReadyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: str
    def __init__(self, status: _Optional[str] = ...) -> None: ...

class WatchJobsRequest(_message.Message):
    __slots__ = ("job_id", "project_id", "agent_id", "selected_statuses", "selected_types", "selected_termination_reasons", "view", "after_position")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SELECTED_STATUSES_FIELD_NUMBER: _ClassVar[int]
    SELECTED_TYPES_FIELD_NUMBER: _ClassVar[int]
    SELECTED_TERMINATION_REASONS_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    project_id: _rime_jobs_pb2.UUID
    agent_id: str
    selected_statuses: _containers.RepeatedScalarFieldContainer[_rime_jobs_pb2.JobStatus]
    selected_types: _containers.RepeatedScalarFieldContainer[_rime_jobs_pb2.JobType]
    selected_termination_reasons: _containers.RepeatedScalarFieldContainer[_rime_jobs_pb2.TerminationReason]
    view: _rime_jobs_pb2.JobView
    after_position: int
    def __init__(self, job_id: _Optional[str] = ..., project_id: _Optional[_Union[_rime_jobs_pb2.UUID, _Mapping]] = ..., agent_id: _Optional[str] = ..., selected_statuses: _Optional[_Iterable[_Union[_rime_jobs_pb2.JobStatus, str]]] = ..., selected_types: _Optional[_Iterable[_Union[_rime_jobs_pb2.JobType, str]]] = ..., selected_termination_reasons: _Optional[_Iterable[_Union[_rime_jobs_pb2.TerminationReason, str]]] = ..., view: _Optional[_Union[_rime_jobs_pb2.JobView, str]] = ..., after_position: _Optional[int] = ...) -> None: ...

class WatchJobsResponse(_message.Message):
    __slots__ = ("kind", "position", "job")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[WatchJobsResponse.Kind]
        KIND_CHANGE: _ClassVar[WatchJobsResponse.Kind]
        KIND_LEAVE: _ClassVar[WatchJobsResponse.Kind]
        KIND_BOOKMARK: _ClassVar[WatchJobsResponse.Kind]
    KIND_UNSPECIFIED: WatchJobsResponse.Kind
    KIND_CHANGE: WatchJobsResponse.Kind
    KIND_LEAVE: WatchJobsResponse.Kind
    KIND_BOOKMARK: WatchJobsResponse.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    kind: WatchJobsResponse.Kind
    position: int
    job: _rime_jobs_pb2.JobMetadata
    def __init__(self, kind: _Optional[_Union[WatchJobsResponse.Kind, str]] = ..., position: _Optional[int] = ..., job: _Optional[_Union[_rime_jobs_pb2.JobMetadata, _Mapping]] = ...) -> None: ...
