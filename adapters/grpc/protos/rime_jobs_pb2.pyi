import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATUS_UNSPECIFIED: _ClassVar[JobStatus]
    JOB_STATUS_PENDING: _ClassVar[JobStatus]
    JOB_STATUS_RUNNING: _ClassVar[JobStatus]
    JOB_STATUS_FAILED: _ClassVar[JobStatus]
    JOB_STATUS_SUCCEEDED: _ClassVar[JobStatus]
    JOB_STATUS_REQUESTED: _ClassVar[JobStatus]
    JOB_STATUS_CANCELLED: _ClassVar[JobStatus]
    JOB_STATUS_RECONCILING: _ClassVar[JobStatus]

class TestTaskStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEST_TASK_STATUS_UNSPECIFIED: _ClassVar[TestTaskStatus]
    TEST_TASK_STATUS_PENDING: _ClassVar[TestTaskStatus]
    TEST_TASK_STATUS_RUNNING: _ClassVar[TestTaskStatus]
    TEST_TASK_STATUS_COMPLETED: _ClassVar[TestTaskStatus]
    TEST_TASK_STATUS_FAILED: _ClassVar[TestTaskStatus]
    TEST_TASK_STATUS_CANCELLED: _ClassVar[TestTaskStatus]
    TEST_TASK_STATUS_GARBAGE_COLLECTED: _ClassVar[TestTaskStatus]

class JobType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_TYPE_UNSPECIFIED: _ClassVar[JobType]
    JOB_TYPE_MODEL_STRESS_TEST: _ClassVar[JobType]
    JOB_TYPE_IMAGE_BUILDER: _ClassVar[JobType]
    JOB_TYPE_FIREWALL_BATCH_TEST: _ClassVar[JobType]
    JOB_TYPE_FILE_SCAN: _ClassVar[JobType]

class TerminationReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TERMINATION_REASON_UNSPECIFIED: _ClassVar[TerminationReason]
    TERMINATION_REASON_OOMKILLED: _ClassVar[TerminationReason]
    TERMINATION_REASON_GENERIC_ERROR: _ClassVar[TerminationReason]
    TERMINATION_REASON_INTERNAL_ERROR: _ClassVar[TerminationReason]

class JobView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_VIEW_UNSPECIFIED: _ClassVar[JobView]
    JOB_VIEW_BASIC: _ClassVar[JobView]
    JOB_VIEW_FULL: _ClassVar[JobView]
JOB_STATUS_UNSPECIFIED: JobStatus
JOB_STATUS_PENDING: JobStatus
JOB_STATUS_RUNNING: JobStatus
JOB_STATUS_FAILED: JobStatus
JOB_STATUS_SUCCEEDED: JobStatus
JOB_STATUS_REQUESTED: JobStatus
JOB_STATUS_CANCELLED: JobStatus
JOB_STATUS_RECONCILING: JobStatus
TEST_TASK_STATUS_UNSPECIFIED: TestTaskStatus
TEST_TASK_STATUS_PENDING: TestTaskStatus
TEST_TASK_STATUS_RUNNING: TestTaskStatus
TEST_TASK_STATUS_COMPLETED: TestTaskStatus
TEST_TASK_STATUS_FAILED: TestTaskStatus
TEST_TASK_STATUS_CANCELLED: TestTaskStatus
TEST_TASK_STATUS_GARBAGE_COLLECTED: TestTaskStatus
JOB_TYPE_UNSPECIFIED: JobType
JOB_TYPE_MODEL_STRESS_TEST: JobType
JOB_TYPE_IMAGE_BUILDER: JobType
JOB_TYPE_FIREWALL_BATCH_TEST: JobType
JOB_TYPE_FILE_SCAN: JobType
TERMINATION_REASON_UNSPECIFIED: TerminationReason
TERMINATION_REASON_OOMKILLED: TerminationReason
TERMINATION_REASON_GENERIC_ERROR: TerminationReason
TERMINATION_REASON_INTERNAL_ERROR: TerminationReason
JOB_VIEW_UNSPECIFIED: JobView
JOB_VIEW_BASIC: JobView
JOB_VIEW_FULL: JobView

class UUID(_message.Message):
    __slots__ = ("uuid",)
    UUID_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    def __init__(self, uuid: _Optional[str] = ...) -> None: ...

class SafeURL(_message.Message):
    __slots__ = ("url",)
    URL_FIELD_NUMBER: _ClassVar[int]
    url: str
    def __init__(self, url: _Optional[str] = ...) -> None: ...

class ArchivedJobLogs(_message.Message):
    __slots__ = ("url", "expiration_time")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRATION_TIME_FIELD_NUMBER: _ClassVar[int]
    url: SafeURL
    expiration_time: _timestamp_pb2.Timestamp
    def __init__(self, url: _Optional[_Union[SafeURL, _Mapping]] = ..., expiration_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TestRunProgress(_message.Message):
    __slots__ = ("test_run_id", "status", "test_batches")
    class TestBatchProgress(_message.Message):
        __slots__ = ("type", "status")
        TYPE_FIELD_NUMBER: _ClassVar[int]
        STATUS_FIELD_NUMBER: _ClassVar[int]
        type: str
        status: TestTaskStatus
        def __init__(self, type: _Optional[str] = ..., status: _Optional[_Union[TestTaskStatus, str]] = ...) -> None: ...
    TEST_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TEST_BATCHES_FIELD_NUMBER: _ClassVar[int]
    test_run_id: str
    status: TestTaskStatus
    test_batches: _containers.RepeatedCompositeFieldContainer[TestRunProgress.TestBatchProgress]
    def __init__(self, test_run_id: _Optional[str] = ..., status: _Optional[_Union[TestTaskStatus, str]] = ..., test_batches: _Optional[_Iterable[_Union[TestRunProgress.TestBatchProgress, _Mapping]]] = ...) -> None: ...

class ContinuousTestRunProgress(_message.Message):
    __slots__ = ("test_run", "bin_start_time", "bin_end_time")
    TEST_RUN_FIELD_NUMBER: _ClassVar[int]
    BIN_START_TIME_FIELD_NUMBER: _ClassVar[int]
    BIN_END_TIME_FIELD_NUMBER: _ClassVar[int]
    test_run: TestRunProgress
    bin_start_time: _timestamp_pb2.Timestamp
    bin_end_time: _timestamp_pb2.Timestamp
    def __init__(self, test_run: _Optional[_Union[TestRunProgress, _Mapping]] = ..., bin_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bin_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StressTestJobProgress(_message.Message):
    __slots__ = ("test_run",)
    TEST_RUN_FIELD_NUMBER: _ClassVar[int]
    test_run: TestRunProgress
    def __init__(self, test_run: _Optional[_Union[TestRunProgress, _Mapping]] = ...) -> None: ...

class ContinuousTestJobProgress(_message.Message):
    __slots__ = ("test_runs",)
    TEST_RUNS_FIELD_NUMBER: _ClassVar[int]
    test_runs: _containers.RepeatedCompositeFieldContainer[ContinuousTestRunProgress]
    def __init__(self, test_runs: _Optional[_Iterable[_Union[ContinuousTestRunProgress, _Mapping]]] = ...) -> None: ...

class JobData(_message.Message):
    __slots__ = ("stress", "continuous_inc", "file_scan")
    class StressTest(_message.Message):
        __slots__ = ("test_run_id", "progress", "project_id")
        TEST_RUN_ID_FIELD_NUMBER: _ClassVar[int]
        PROGRESS_FIELD_NUMBER: _ClassVar[int]
        PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
        test_run_id: str
        progress: StressTestJobProgress
        project_id: UUID
        def __init__(self, test_run_id: _Optional[str] = ..., progress: _Optional[_Union[StressTestJobProgress, _Mapping]] = ..., project_id: _Optional[_Union[UUID, _Mapping]] = ...) -> None: ...
    class ContinuousIncrementalTest(_message.Message):
        __slots__ = ("firewall_id", "ct_test_run_ids", "progress")
        FIREWALL_ID_FIELD_NUMBER: _ClassVar[int]
        CT_TEST_RUN_IDS_FIELD_NUMBER: _ClassVar[int]
        PROGRESS_FIELD_NUMBER: _ClassVar[int]
        firewall_id: str
        ct_test_run_ids: _containers.RepeatedScalarFieldContainer[str]
        progress: ContinuousTestJobProgress
        def __init__(self, firewall_id: _Optional[str] = ..., ct_test_run_ids: _Optional[_Iterable[str]] = ..., progress: _Optional[_Union[ContinuousTestJobProgress, _Mapping]] = ...) -> None: ...
    class FileScan(_message.Message):
        __slots__ = ("project_id", "file_scan_id")
        PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
        FILE_SCAN_ID_FIELD_NUMBER: _ClassVar[int]
        project_id: UUID
        file_scan_id: str
        def __init__(self, project_id: _Optional[_Union[UUID, _Mapping]] = ..., file_scan_id: _Optional[str] = ...) -> None: ...
    STRESS_FIELD_NUMBER: _ClassVar[int]
    CONTINUOUS_INC_FIELD_NUMBER: _ClassVar[int]
    FILE_SCAN_FIELD_NUMBER: _ClassVar[int]
    stress: JobData.StressTest
    continuous_inc: JobData.ContinuousIncrementalTest
    file_scan: JobData.FileScan
    def __init__(self, stress: _Optional[_Union[JobData.StressTest, _Mapping]] = ..., continuous_inc: _Optional[_Union[JobData.ContinuousIncrementalTest, _Mapping]] = ..., file_scan: _Optional[_Union[JobData.FileScan, _Mapping]] = ...) -> None: ...

class JobMetadata(_message.Message):
    __slots__ = ("job_id", "termination_reason", "job_type", "status", "start_time", "creation_time", "running_time_secs", "job_data", "job_progress_str", "cancellation_requested", "archived_job_logs", "agent_id", "completion_time", "error_msg")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINATION_REASON_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIME_FIELD_NUMBER: _ClassVar[int]
    RUNNING_TIME_SECS_FIELD_NUMBER: _ClassVar[int]
    JOB_DATA_FIELD_NUMBER: _ClassVar[int]
    JOB_PROGRESS_STR_FIELD_NUMBER: _ClassVar[int]
    CANCELLATION_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_JOB_LOGS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_MSG_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    termination_reason: TerminationReason
    job_type: JobType
    status: JobStatus
    start_time: _timestamp_pb2.Timestamp
    creation_time: _timestamp_pb2.Timestamp
    running_time_secs: float
    job_data: JobData
    job_progress_str: str
    cancellation_requested: bool
    archived_job_logs: ArchivedJobLogs
    agent_id: UUID
    completion_time: _timestamp_pb2.Timestamp
    error_msg: str
    def __init__(self, job_id: _Optional[str] = ..., termination_reason: _Optional[_Union[TerminationReason, str]] = ..., job_type: _Optional[_Union[JobType, str]] = ..., status: _Optional[_Union[JobStatus, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., creation_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., running_time_secs: _Optional[float] = ..., job_data: _Optional[_Union[JobData, _Mapping]] = ..., job_progress_str: _Optional[str] = ..., cancellation_requested: _Optional[bool] = ..., archived_job_logs: _Optional[_Union[ArchivedJobLogs, _Mapping]] = ..., agent_id: _Optional[_Union[UUID, _Mapping]] = ..., completion_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error_msg: _Optional[str] = ...) -> None: ...

class UpsertJobRequest(_message.Message):
    __slots__ = ("job_type", "job_id", "mask", "status", "job_data", "term_reason", "archived_job_logs", "agent_id")
    class WriteMask(_message.Message):
        __slots__ = ("status", "job_data", "term_reason", "agent_id", "archived_job_logs")
        class JobData(_message.Message):
            __slots__ = ("stress", "continuous_inc", "file_scan")
            class StressTest(_message.Message):
                __slots__ = ("project_id", "test_run_id", "progress")
                PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
                TEST_RUN_ID_FIELD_NUMBER: _ClassVar[int]
                PROGRESS_FIELD_NUMBER: _ClassVar[int]
                project_id: bool
                test_run_id: bool
                progress: bool
                def __init__(self, project_id: _Optional[bool] = ..., test_run_id: _Optional[bool] = ..., progress: _Optional[bool] = ...) -> None: ...
            class ContinuousIncrementalTest(_message.Message):
                __slots__ = ("firewall_id", "ct_test_run_ids", "progress")
                FIREWALL_ID_FIELD_NUMBER: _ClassVar[int]
                CT_TEST_RUN_IDS_FIELD_NUMBER: _ClassVar[int]
                PROGRESS_FIELD_NUMBER: _ClassVar[int]
                firewall_id: bool
                ct_test_run_ids: bool
                progress: bool
                def __init__(self, firewall_id: _Optional[bool] = ..., ct_test_run_ids: _Optional[bool] = ..., progress: _Optional[bool] = ...) -> None: ...
            class FileScan(_message.Message):
                __slots__ = ("project_id", "file_scan_id")
                PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
                FILE_SCAN_ID_FIELD_NUMBER: _ClassVar[int]
                project_id: bool
                file_scan_id: bool
                def __init__(self, project_id: _Optional[bool] = ..., file_scan_id: _Optional[bool] = ...) -> None: ...
            STRESS_FIELD_NUMBER: _ClassVar[int]
            CONTINUOUS_INC_FIELD_NUMBER: _ClassVar[int]
            FILE_SCAN_FIELD_NUMBER: _ClassVar[int]
            stress: UpsertJobRequest.WriteMask.JobData.StressTest
            continuous_inc: UpsertJobRequest.WriteMask.JobData.ContinuousIncrementalTest
            file_scan: UpsertJobRequest.WriteMask.JobData.FileScan
            def __init__(self, stress: _Optional[_Union[UpsertJobRequest.WriteMask.JobData.StressTest, _Mapping]] = ..., continuous_inc: _Optional[_Union[UpsertJobRequest.WriteMask.JobData.ContinuousIncrementalTest, _Mapping]] = ..., file_scan: _Optional[_Union[UpsertJobRequest.WriteMask.JobData.FileScan, _Mapping]] = ...) -> None: ...
        STATUS_FIELD_NUMBER: _ClassVar[int]
        JOB_DATA_FIELD_NUMBER: _ClassVar[int]
        TERM_REASON_FIELD_NUMBER: _ClassVar[int]
        AGENT_ID_FIELD_NUMBER: _ClassVar[int]
        ARCHIVED_JOB_LOGS_FIELD_NUMBER: _ClassVar[int]
        status: bool
        job_data: UpsertJobRequest.WriteMask.JobData
        term_reason: bool
        agent_id: bool
        archived_job_logs: bool
        def __init__(self, status: _Optional[bool] = ..., job_data: _Optional[_Union[UpsertJobRequest.WriteMask.JobData, _Mapping]] = ..., term_reason: _Optional[bool] = ..., agent_id: _Optional[bool] = ..., archived_job_logs: _Optional[bool] = ...) -> None: ...
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    JOB_DATA_FIELD_NUMBER: _ClassVar[int]
    TERM_REASON_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_JOB_LOGS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    job_type: JobType
    job_id: str
    mask: UpsertJobRequest.WriteMask
    status: JobStatus
    job_data: JobData
    term_reason: TerminationReason
    archived_job_logs: ArchivedJobLogs
    agent_id: UUID
    def __init__(self, job_type: _Optional[_Union[JobType, str]] = ..., job_id: _Optional[str] = ..., mask: _Optional[_Union[UpsertJobRequest.WriteMask, _Mapping]] = ..., status: _Optional[_Union[JobStatus, str]] = ..., job_data: _Optional[_Union[JobData, _Mapping]] = ..., term_reason: _Optional[_Union[TerminationReason, str]] = ..., archived_job_logs: _Optional[_Union[ArchivedJobLogs, _Mapping]] = ..., agent_id: _Optional[_Union[UUID, _Mapping]] = ...) -> None: ...

class UpsertJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: JobMetadata
    def __init__(self, job: _Optional[_Union[JobMetadata, _Mapping]] = ...) -> None: ...

class FailJobRequest(_message.Message):
    __slots__ = ("job_type", "job_id", "term_reason", "archived_job_logs", "error_msg")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_REASON_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_JOB_LOGS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MSG_FIELD_NUMBER: _ClassVar[int]
    job_type: JobType
    job_id: str
    term_reason: TerminationReason
    archived_job_logs: ArchivedJobLogs
    error_msg: str
    def __init__(self, job_type: _Optional[_Union[JobType, str]] = ..., job_id: _Optional[str] = ..., term_reason: _Optional[_Union[TerminationReason, str]] = ..., archived_job_logs: _Optional[_Union[ArchivedJobLogs, _Mapping]] = ..., error_msg: _Optional[str] = ...) -> None: ...

class FailJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: JobMetadata
    def __init__(self, job: _Optional[_Union[JobMetadata, _Mapping]] = ...) -> None: ...

class FinalizeCancellationRequest(_message.Message):
    __slots__ = ("job_type", "job_id")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_type: JobType
    job_id: str
    def __init__(self, job_type: _Optional[_Union[JobType, str]] = ..., job_id: _Optional[str] = ...) -> None: ...

class FinalizeCancellationResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: JobMetadata
    def __init__(self, job: _Optional[_Union[JobMetadata, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "first_page_query", "view")
    class Query(_message.Message):
        __slots__ = ("selected_statuses", "selected_types", "agent_id", "selected_termination_reasons")
        SELECTED_STATUSES_FIELD_NUMBER: _ClassVar[int]
        SELECTED_TYPES_FIELD_NUMBER: _ClassVar[int]
        AGENT_ID_FIELD_NUMBER: _ClassVar[int]
        SELECTED_TERMINATION_REASONS_FIELD_NUMBER: _ClassVar[int]
        selected_statuses: _containers.RepeatedScalarFieldContainer[JobStatus]
        selected_types: _containers.RepeatedScalarFieldContainer[JobType]
        agent_id: str
        selected_termination_reasons: _containers.RepeatedScalarFieldContainer[TerminationReason]
        def __init__(self, selected_statuses: _Optional[_Iterable[_Union[JobStatus, str]]] = ..., selected_types: _Optional[_Iterable[_Union[JobType, str]]] = ..., agent_id: _Optional[str] = ..., selected_termination_reasons: _Optional[_Iterable[_Union[TerminationReason, str]]] = ...) -> None: ...
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FIRST_PAGE_QUERY_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    first_page_query: ListJobsRequest.Query
    view: JobView
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., first_page_query: _Optional[_Union[ListJobsRequest.Query, _Mapping]] = ..., view: _Optional[_Union[JobView, str]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token", "has_more")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobMetadata]
    next_page_token: str
    has_more: bool
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobMetadata, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., has_more: _Optional[bool] = ...) -> None: ...

class ListJobsForProjectRequest(_message.Message):
    __slots__ = ("project_id", "page_size", "page_token", "first_page_query", "view")
    class Query(_message.Message):
        __slots__ = ("selected_statuses", "selected_types", "selected_termination_reasons")
        SELECTED_STATUSES_FIELD_NUMBER: _ClassVar[int]
        SELECTED_TYPES_FIELD_NUMBER: _ClassVar[int]
        SELECTED_TERMINATION_REASONS_FIELD_NUMBER: _ClassVar[int]
        selected_statuses: _containers.RepeatedScalarFieldContainer[JobStatus]
        selected_types: _containers.RepeatedScalarFieldContainer[JobType]
        selected_termination_reasons: _containers.RepeatedScalarFieldContainer[TerminationReason]
        def __init__(self, selected_statuses: _Optional[_Iterable[_Union[JobStatus, str]]] = ..., selected_types: _Optional[_Iterable[_Union[JobType, str]]] = ..., selected_termination_reasons: _Optional[_Iterable[_Union[TerminationReason, str]]] = ...) -> None: ...
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FIRST_PAGE_QUERY_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    project_id: UUID
    page_size: int
    page_token: str
    first_page_query: ListJobsForProjectRequest.Query
    view: JobView
    def __init__(self, project_id: _Optional[_Union[UUID, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., first_page_query: _Optional[_Union[ListJobsForProjectRequest.Query, _Mapping]] = ..., view: _Optional[_Union[JobView, str]] = ...) -> None: ...

class ListJobsForProjectResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token", "has_more")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobMetadata]
    next_page_token: str
    has_more: bool
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobMetadata, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., has_more: _Optional[bool] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id", "view")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    view: JobView
    def __init__(self, job_id: _Optional[str] = ..., view: _Optional[_Union[JobView, str]] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: JobMetadata
    def __init__(self, job: _Optional[_Union[JobMetadata, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetTestRunIDRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetTestRunIDResponse(_message.Message):
    __slots__ = ("test_run_id",)
    TEST_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    test_run_id: str
    def __init__(self, test_run_id: _Optional[str] = ...) -> None: ...

class GetProjectIDRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetProjectIDResponse(_message.Message):
    __slots__ = ("project_id",)
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: UUID
    def __init__(self, project_id: _Optional[_Union[UUID, _Mapping]] = ...) -> None: ...
