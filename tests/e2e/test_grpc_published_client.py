"""A client of the services as the platform published them: its .proto is written here from nothing but
../shared/seed/grpc-published.md (the names, numbers and types read from rime-sdk 0.19.7's descriptor), compiled
with grpcio-tools when the test runs, and its messages built in a descriptor pool of their own (jobstore's rime
messages have the same names). It creates, updates, fails, cancels, reads and lists jobs against `jobstore serve`:
every field whose name and type the seed kept round-trips, and a field that changed is not understood (ignored,
or refused where a kept field needs it) rather than misread."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet
from grpc_tools import protoc

from jobstore.adapters.grpc.generate import PROTOS
from jobstore.adapters.grpc.protos import rime_jobs_pb2
from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Server, ok, upsert

PUBLISHED_PROTO = """
// ri/api/jobs/jobs.proto as rime-sdk 0.19.7 published it, from grpc-published.md's tables.
syntax = "proto3";
package rime;

import "google/protobuf/empty.proto";
import "google/protobuf/timestamp.proto";

service JobManager {
  rpc UpsertJob(UpsertJobRequest) returns (UpsertJobResponse);
  rpc FailJob(FailJobRequest) returns (FailJobResponse);
  rpc FinalizeCancellation(FinalizeCancellationRequest) returns (FinalizeCancellationResponse);
}

service JobReader {
  rpc ListJobs(ListJobsRequest) returns (ListJobsResponse);
  rpc GetJob(GetJobRequest) returns (GetJobResponse);
  rpc CancelJob(CancelJobRequest) returns (CancelJobResponse);
  rpc GetTestRunID(GetTestRunIDRequest) returns (GetTestRunIDResponse);
  rpc GetProjectID(GetProjectIDRequest) returns (GetProjectIDResponse);
}

enum JobStatus {
  JOB_STATUS_UNSPECIFIED = 0;
  JOB_STATUS_PENDING = 1;
  JOB_STATUS_RUNNING = 2;
  JOB_STATUS_FAILED = 3;
  JOB_STATUS_SUCCEEDED = 4;
  JOB_STATUS_REQUESTED = 5;
  JOB_STATUS_CANCELLED = 6;
}

enum TestTaskStatus {
  TEST_TASK_STATUS_UNSPECIFIED = 0;
  TEST_TASK_STATUS_PENDING = 1;
  TEST_TASK_STATUS_RUNNING = 2;
  TEST_TASK_STATUS_COMPLETED = 3;
  TEST_TASK_STATUS_FAILED = 4;
  TEST_TASK_STATUS_CANCELLED = 5;
}

enum JobType {
  JOB_TYPE_UNSPECIFIED = 0;
  JOB_TYPE_MODEL_STRESS_TEST = 1;
  JOB_TYPE_IMAGE_BUILDER = 2;
  JOB_TYPE_FIREWALL_BATCH_TEST = 3;
  JOB_TYPE_FIREWALL_TEST_FROM_REFERENCE = 4;
  JOB_TYPE_FILE_SCAN = 5;
}

enum TerminationReason {
  TERMINATION_REASON_UNSPECIFIED = 0;
  TERMINATION_REASON_NOT_TERMINATED = 1;
  TERMINATION_REASON_OOMKILLED = 2;
  TERMINATION_REASON_COMPLETED = 3;
  TERMINATION_REASON_GENERIC_ERROR = 4;
  TERMINATION_REASON_INTERNAL_ERROR = 5;
}

enum JobView {
  JOB_VIEW_UNSPECIFIED = 0;
  JOB_VIEW_BASIC = 1;
  JOB_VIEW_FULL = 2;
}

// The page names rime.SafeURL without its fields; the SDK's common/common.proto (package rime) has this one,
// and the contract's JSON ({"url": {"url": "https://..."}}) agrees.
message SafeURL {
  string url = 1;
}

message ArchivedJobLogs {
  SafeURL url = 1;
  google.protobuf.Timestamp expiration_time = 2;
}

message TestRunProgress {
  message TestBatchProgress {
    string type = 1;
    TestTaskStatus status = 2;
  }
  string test_run_id = 1;
  TestTaskStatus status = 2;
  repeated TestBatchProgress test_batches = 3;
}

message ContinuousTestRunProgress {
  TestRunProgress test_run = 1;
  google.protobuf.Timestamp bin_start_time = 2;
  google.protobuf.Timestamp bin_end_time = 3;
}

message StressTestJobProgress {
  TestRunProgress test_run = 1;
}

message ContinuousTestJobProgress {
  repeated ContinuousTestRunProgress test_runs = 1;
}

message JobData {
  message StressTest {
    string project_id = 1;
    string test_run_id = 2;
    StressTestJobProgress progress = 3;
  }
  message ContinuousIncrementalTest {
    string firewall_id = 1;
    repeated string ct_test_run_ids = 2;
    ContinuousTestJobProgress progress = 3;
  }
  message ContinuousTestFromRef {
    string firewall_id = 1;
    string stress_test_id = 2;
    repeated string ct_test_run_ids = 3;
    ContinuousTestJobProgress progress = 4;
  }
  oneof data {
    StressTest stress = 1;
    ContinuousIncrementalTest continuous_inc = 2;
    ContinuousTestFromRef continuous_from_ref = 3;
    google.protobuf.Empty file_scan = 4;
  }
}

message JobMetadata {
  string job_id = 6;
  TerminationReason termination_reason = 7;
  JobType job_type = 5;
  JobStatus status = 2;
  google.protobuf.Timestamp start_time = 10;
  google.protobuf.Timestamp creation_time = 11;
  double running_time_secs = 4;
  JobData job_data = 8;
  string job_progress_str = 9;
  bool cancellation_requested = 12;
  string agent_id = 13;
  ArchivedJobLogs archived_job_logs = 14;
}

message UpsertJobRequest {
  message WriteMask {
    message JobData {
      message StressTest {
        bool project_id = 1;
        bool test_run_id = 2;
      }
      message ContinuousIncrementalTest {
        bool firewall_id = 1;
        bool ct_test_run_ids = 2;
      }
      message ContinuousTestFromRef {
        bool firewall_id = 1;
        bool stress_test_id = 2;
        bool ct_test_run_ids = 3;
      }
      oneof mask {
        StressTest stress = 1;
        ContinuousIncrementalTest continuous_inc = 2;
        ContinuousTestFromRef continuous_from_ref = 3;
      }
    }
    bool status = 1;
    JobData job_data = 2;
    bool term_reason = 3;
    bool agent_id = 4;
    bool archived_job_logs = 5;
  }
  JobType job_type = 1;
  string job_id = 2;
  WriteMask mask = 3;
  JobStatus status = 4;
  JobData job_data = 5;
  TerminationReason term_reason = 6;
  string agent_id = 7;
  ArchivedJobLogs archived_job_logs = 8;
}

message UpsertJobResponse {
  JobMetadata job = 1;
}

message FailJobRequest {
  JobType job_type = 1;
  string job_id = 2;
  TerminationReason term_reason = 3;
  ArchivedJobLogs archived_job_logs = 8;
}

message FailJobResponse {
  JobMetadata job = 1;
}

message FinalizeCancellationRequest {
  JobType job_type = 1;
  string job_id = 2;
}

message FinalizeCancellationResponse {
  JobMetadata job = 1;
}

message ListJobsRequest {
  message Query {
    repeated JobStatus selected_statuses = 1;
    repeated JobType selected_types = 2;
    optional string object_id = 3;
    optional string agent_id = 4;
  }
  int64 page_size = 1;
  oneof list_jobs_info {
    string page_token = 2;
    Query first_page_query = 3;
  }
  JobView view = 4;
}

message ListJobsResponse {
  repeated JobMetadata jobs = 1;
  string next_page_token = 2;
  bool has_more = 3;
}

message GetJobRequest {
  string job_id = 2;
  JobView view = 3;
}

message GetJobResponse {
  JobMetadata job = 1;
}

message CancelJobRequest {
  string job_id = 1;
}

message CancelJobResponse {}

message GetTestRunIDRequest {
  string job_id = 1;
}

message GetTestRunIDResponse {
  string test_run_id = 1;
}

message GetProjectIDRequest {
  string job_id = 1;
}

message GetProjectIDResponse {
  string project_id = 1;
}
"""
# The page's method paths on the wire.
PATHS = {"UpsertJob": "/rime.JobManager/UpsertJob", "FailJob": "/rime.JobManager/FailJob",
         "FinalizeCancellation": "/rime.JobManager/FinalizeCancellation", "ListJobs": "/rime.JobReader/ListJobs",
         "GetJob": "/rime.JobReader/GetJob", "CancelJob": "/rime.JobReader/CancelJob",
         "GetTestRunID": "/rime.JobReader/GetTestRunID", "GetProjectID": "/rime.JobReader/GetProjectID"}
# What jobstore's rime_jobs.proto says it did with the fields the seed changed: each one's new number there.
AGENT_ID_NOW = 15  # JobMetadata.agent_id: a rime.UUID; published as a string at 13
COMPLETION_TIME_NOW = 16  # a new JobMetadata field
PROJECT_ID_NOW = 4  # JobData.StressTest.project_id: a rime.UUID; published as a string at 1
FILE_SCAN_NOW = 5  # JobData.file_scan: a message; published as google.protobuf.Empty at 4
SERVED_PROTO = PROTOS / "rime_jobs.proto"
# The REST API's fields that the published JobMetadata does not have with the same name and type.
CHANGED = ("agentId", "completionTime", "errorMsg")


def compile_published(folder: Path) -> dict[str, type[Message]]:
    """The published .proto, compiled by grpcio-tools, as message classes in a pool of their own."""
    (folder / "published_rime_jobs.proto").write_text(PUBLISHED_PROTO)
    descriptor_set = folder / "published.pb"
    with resources.as_file(resources.files("grpc_tools") / "_proto") as well_known:
        status = protoc.main(["grpc_tools.protoc", f"-I{folder}", f"-I{well_known}", "--include_imports",
                              f"--descriptor_set_out={descriptor_set}", "published_rime_jobs.proto"])
    assert status == 0, "the published .proto does not compile"
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    return message_factory.GetMessages(files, pool=descriptor_pool.DescriptorPool())


@dataclass
class Refused:
    code: grpc.StatusCode
    message: str


class PublishedClient:
    """Calls the published services by their wire paths with the published messages, as the platform's agents do."""

    def __init__(self, channel: grpc.Channel, messages: dict[str, type[Message]], key: str) -> None:
        self.channel, self.messages, self.key = channel, messages, key
        self.position = 0
        pool = next(iter(messages.values())).DESCRIPTOR.file.pool
        self.methods = {method.name: method for name in ("rime.JobManager", "rime.JobReader")
                        for method in pool.FindServiceByName(name).methods}

    def message(self, name: str, fields: dict[str, Any] | None = None) -> Any:
        return json_format.ParseDict(fields or {}, self.messages[f"rime.{name}"]())

    def call(self, method: str, fields: dict[str, Any]) -> Any:
        """The answer. Reads wait for the views to hold every write this client saw (x-jobstore-min-position)."""
        described = self.methods[method]
        request_class = self.messages[described.input_type.full_name]
        response_class = self.messages[described.output_type.full_name]
        invoke = self.channel.unary_unary(PATHS[method], request_serializer=request_class.SerializeToString,
                                          response_deserializer=response_class.FromString)
        metadata = [("rime-api-key", self.key)]
        if described.containing_service.name == "JobReader" and method != "CancelJob":
            metadata.append(("x-jobstore-min-position", str(self.position)))
        answer, call = invoke.with_call(json_format.ParseDict(fields, request_class()), timeout=30,
                                        metadata=metadata)
        self.saw(dict(call.trailing_metadata()).get("x-jobstore-position", "0"))
        return answer

    def refusal(self, method: str, fields: dict[str, Any]) -> Refused:
        with pytest.raises(grpc.RpcError) as refused:
            self.call(method, fields)
        error: Any = refused.value
        return Refused(error.code(), error.details())

    def saw(self, position: str) -> None:
        self.position = max(self.position, int(position))

    def get(self, job_id: str, view: str = "JOB_VIEW_FULL") -> Any:
        return self.call("GetJob", {"jobId": job_id, "view": view}).job


def unknown_numbers(message: Message) -> set[int]:
    """The numbers of the fields the published message does not know, as they came on the wire."""
    return {field.field_number for field in UnknownFieldSet(message)}


def kept(message: Message) -> Message:
    known = type(message)()
    known.CopyFrom(message)
    known.DiscardUnknownFields()
    return known


def as_published(over_http: dict[str, Any], messages: dict[str, type[Message]]) -> Message:
    """The job the REST API shows, with only the fields whose name and type the published JobMetadata kept."""
    job = {name: value for name, value in over_http.items() if name not in CHANGED}
    data = {kind: dict(fields) for kind, fields in job.get("jobData", {}).items() if kind != "fileScan"}
    data.get("stress", {}).pop("projectId", None)
    if "jobData" in job:
        job["jobData"] = data
    return json_format.ParseDict(job, messages["rime.JobMetadata"]())


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, type[Message]]:
    return compile_published(tmp_path_factory.mktemp("published"))


@pytest.fixture
def channel(server: Server) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.grpc_target) as opened:
        yield opened


@pytest.fixture
def agent(channel: grpc.Channel, messages: dict[str, type[Message]], keys: Keys) -> PublishedClient:
    return PublishedClient(channel, messages, keys.writer)


def http_job(server: Server, keys: Keys, agent: PublishedClient, job_id: str) -> dict[str, Any]:
    """The job as the REST API shows it, after every write the agent saw."""
    found = server.call("GET", f"/v1/jobs/{job_id}?view=JOB_VIEW_FULL&minPosition={agent.position}", key=keys.reader)
    return dict(ok(found).body["job"])


def http_upsert(server: Server, keys: Keys, agent: PublishedClient, job: dict[str, Any],
                mask: dict[str, Any] | None = None) -> None:
    """A write over the REST API (what the published messages cannot say), which the agent then reads."""
    agent.saw(ok(upsert(server, keys.writer, job, mask)).headers["x-jobstore-position"])


def test_the_page_describes_the_services_by_their_wire_paths(agent: PublishedClient) -> None:
    assert {name: f"/{method.containing_service.full_name}/{name}" for name, method in agent.methods.items()} == PATHS


def test_a_stress_test_is_created_run_and_read_with_its_kept_fields(server: Server, keys: Keys,
                                                                   agent: PublishedClient) -> None:
    job_id = unique("published-stress")
    created = agent.call("UpsertJob", {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                       "status": "JOB_STATUS_PENDING", "jobData": {"stress": {"testRunId": "run-1"}}})
    assert (created.job.job_id, created.job.job_type, created.job.status) == (job_id, 1, 1)
    assert created.job.job_data.stress.test_run_id == "run-1"
    assert created.job.HasField("creation_time") and not created.job.HasField("start_time")

    running = agent.call("UpsertJob", {"jobId": job_id, "status": "JOB_STATUS_RUNNING",
                                       "jobData": {"stress": {"testRunId": "run-2"}},
                                       "mask": {"status": True, "jobData": {"stress": {"testRunId": True}}}})
    assert running.job.status == 2 and running.job.HasField("start_time")
    assert running.job.job_data.stress.test_run_id == "run-2"
    assert running.job.running_time_secs >= 0

    progress = {"testRun": {"testRunId": "run-2", "status": "TEST_TASK_STATUS_COMPLETED",
                            "testBatches": [{"type": "drift", "status": "TEST_TASK_STATUS_COMPLETED"},
                                            {"type": "bias", "status": "TEST_TASK_STATUS_RUNNING"}]}}
    http_upsert(server, keys, agent, {"jobId": job_id, "jobData": {"stress": {"progress": progress}}},
                {"jobData": {"stress": {"progress": True}}})
    done = agent.call("UpsertJob", {"jobId": job_id, "status": "JOB_STATUS_SUCCEEDED", "mask": {"status": True}})
    assert done.job.status == 4

    job = agent.get(job_id)
    assert job.job_data.stress.progress.test_run.test_batches[1].type == "bias"
    assert job.job_progress_str == "1 / 2 tests completed"
    assert kept(job) == as_published(http_job(server, keys, agent, job_id), agent.messages)
    assert agent.call("GetTestRunID", {"jobId": job_id}).test_run_id == "run-2"


def test_a_continuous_test_fails_with_its_archived_logs(server: Server, keys: Keys, agent: PublishedClient) -> None:
    job_id = unique("published-ct")
    run = {"testRun": {"testRunId": "ct-1", "status": "TEST_TASK_STATUS_COMPLETED"},
           "binStartTime": "2026-01-01T00:00:00Z", "binEndTime": "2026-01-01T01:00:00.250Z"}
    data = {"firewallId": "fw-1", "ctTestRunIds": ["ct-1", "ct-2"], "progress": {"testRuns": [run]}}
    agent.call("UpsertJob", {"jobId": job_id, "jobType": "JOB_TYPE_FIREWALL_BATCH_TEST",
                             "jobData": {"continuousInc": data}})
    agent.call("UpsertJob", {"jobId": job_id, "status": "JOB_STATUS_PENDING", "mask": {"status": True}})
    logs = {"url": {"url": "https://logs.example/ct.tar.gz"}, "expirationTime": "2027-02-03T04:05:06.789Z"}

    failed = agent.call("FailJob", {"jobId": job_id, "jobType": "JOB_TYPE_FIREWALL_BATCH_TEST",
                                    "termReason": "TERMINATION_REASON_OOMKILLED", "archivedJobLogs": logs})

    assert (failed.job.status, failed.job.termination_reason) == (3, 2)
    assert json_format.MessageToDict(failed.job.archived_job_logs) == logs
    job = agent.get(job_id)
    assert job.job_data.continuous_inc.firewall_id == "fw-1"
    assert list(job.job_data.continuous_inc.ct_test_run_ids) == ["ct-1", "ct-2"]
    assert json_format.MessageToDict(job.job_data.continuous_inc.progress) == {"testRuns": [run]}
    assert job.job_progress_str == "1 / 2 time bins completed"
    assert kept(job) == as_published(http_job(server, keys, agent, job_id), agent.messages)
    assert unknown_numbers(job) == {COMPLETION_TIME_NOW}, "completion_time is new, and all that is unknown here"


def test_a_job_is_cancelled_then_finalized(server: Server, keys: Keys, agent: PublishedClient) -> None:
    job_id = unique("published-cancel")
    agent.call("UpsertJob", {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"})

    assert agent.call("CancelJob", {"jobId": job_id}) == agent.message("CancelJobResponse")
    assert agent.get(job_id).cancellation_requested

    finalized = agent.call("FinalizeCancellation", {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"})
    assert (finalized.job.status, finalized.job.cancellation_requested) == (6, True)
    assert kept(agent.get(job_id)) == as_published(http_job(server, keys, agent, job_id), agent.messages)


def test_jobs_are_listed_page_by_page_by_agent_and_type(server: Server, keys: Keys, agent: PublishedClient) -> None:
    on_agent = unique("agent")
    ids = [unique("published-list") for _ in range(3)]
    for job_id in ids:
        agent.call("UpsertJob", {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"})
        http_upsert(server, keys, agent, {"jobId": job_id, "agentId": {"uuid": on_agent}}, {"agentId": True})

    query = {"agentId": on_agent, "selectedTypes": ["JOB_TYPE_IMAGE_BUILDER"],
             "selectedStatuses": ["JOB_STATUS_REQUESTED"]}
    first = agent.call("ListJobs", {"pageSize": 2, "firstPageQuery": query, "view": "JOB_VIEW_BASIC"})
    assert first.has_more and first.next_page_token
    rest = agent.call("ListJobs", {"pageSize": 2, "pageToken": first.next_page_token})
    assert not rest.has_more and rest.next_page_token == ""

    listed = [job.job_id for job in [*first.jobs, *rest.jobs]]
    assert listed == ids[::-1], "newest first, each once"
    assert all(job.status == 5 and job.job_type == 2 for job in [*first.jobs, *rest.jobs])


# --- the fields the seed changed

# (jobstore's message, the published number, the published field): each number is reserved there, and a comment
# says what became of the field.
CHANGED_FIELDS = [("rime.JobMetadata", 13, "agent_id"), ("rime.UpsertJobRequest", 7, "agent_id"),
                  ("rime.JobData.StressTest", 1, "project_id"), ("rime.JobData", 4, "file_scan"),
                  ("rime.JobData", 3, "continuous_from_ref"), ("rime.GetProjectIDResponse", 1, "project_id"),
                  ("rime.ListJobsRequest.Query", 3, "object_id")]


@pytest.mark.parametrize(("message", "number", "name"), CHANGED_FIELDS)
def test_each_changed_field_s_number_is_reserved_and_its_fate_commented(message: str, number: int,
                                                                       name: str) -> None:
    served = descriptor_pb2.FileDescriptorProto.FromString(rime_jobs_pb2.DESCRIPTOR.serialized_pb)
    found = served_message(served, message.removeprefix("rime."))
    assert any(reserved.start <= number < reserved.end for reserved in found.reserved_range), found.reserved_range
    assert number not in {field.number for field in found.field}
    assert f"Published: {name}" in SERVED_PROTO.read_text()


def served_message(served: descriptor_pb2.FileDescriptorProto, dotted: str) -> descriptor_pb2.DescriptorProto:
    outer, *inner = dotted.split(".")
    found = next(proto for proto in served.message_type if proto.name == outer)
    for name in inner:
        found = next(proto for proto in found.nested_type if proto.name == name)
    return found


def test_a_job_s_agent_is_not_understood_as_the_published_string(server: Server, keys: Keys,
                                                                 agent: PublishedClient) -> None:
    """JobMetadata.agent_id is a rime.UUID at 15 now: the published string at 13 reads as unset, never as bytes of
    the UUID message."""
    job_id = unique("published-agent")
    agent.call("UpsertJob", {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"})
    http_upsert(server, keys, agent, {"jobId": job_id, "agentId": {"uuid": "agent-7"}}, {"agentId": True})

    job = agent.get(job_id)

    assert job.agent_id == ""
    assert AGENT_ID_NOW in unknown_numbers(job)


def test_an_agent_sent_as_the_published_string_is_refused_and_nothing_stored(server: Server, keys: Keys,
                                                                          agent: PublishedClient) -> None:
    """UpsertJobRequest.agent_id (7) is reserved: a request that holds it is refused naming the field number, as
    an unknown JSON key is in the REST API, whether it creates a job or writes an existing one's agent."""
    job_id = unique("published-agent")
    refused = agent.refusal("UpsertJob", {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER", "agentId": "a-7"})
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT, refused
    assert refused.message.startswith("request: holds field number 7, which rime.UpsertJobRequest does not define")
    assert server.call("GET", f"/v1/jobs/{job_id}", key=keys.reader).status == 404

    agent.call("UpsertJob", {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"})
    refused = agent.refusal("UpsertJob", {"jobId": job_id, "agentId": "agent-8", "mask": {"agentId": True}})
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT, refused
    assert "field number 7" in refused.message
    assert "agentId" not in http_job(server, keys, agent, job_id)


def test_a_project_is_not_understood_as_the_published_string(server: Server, keys: Keys,
                                                            agent: PublishedClient) -> None:
    """JobData.StressTest.project_id and GetProjectIDResponse.project_id are rime.UUIDs now: the published string
    is refused in a request (naming where it was), and reads as unset in an answer."""
    job_id = unique("published-project")
    refused = agent.refusal("UpsertJob", {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                          "jobData": {"stress": {"projectId": "as-string", "testRunId": "run-1"}}})
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT, refused
    assert refused.message.startswith("job_data.stress: holds field number 1, which rime.JobData.StressTest does "
                                      "not define")
    assert server.call("GET", f"/v1/jobs/{job_id}", key=keys.reader).status == 404

    http_upsert(server, keys, agent, {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                      "jobData": {"stress": {"projectId": {"uuid": "p-9"}, "testRunId": "run-1"}}})
    job = agent.get(job_id)
    assert job.job_data.stress.project_id == "" and job.job_data.stress.test_run_id == "run-1"
    assert unknown_numbers(job.job_data.stress) == {PROJECT_ID_NOW}
    answer = agent.call("GetProjectID", {"jobId": job_id})
    assert answer.project_id == "" and unknown_numbers(answer) == {2}


def test_the_published_object_id_filter_is_refused_rather_than_ignored(agent: PublishedClient) -> None:
    """ListJobsRequest.Query.object_id (3) is reserved: ignoring it would answer an unfiltered list."""
    refused = agent.refusal("ListJobs", {"firstPageQuery": {"objectId": "project-1"}})
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT, refused
    assert refused.message.startswith("first_page_query: holds field number 3, which rime.ListJobsRequest.Query")


def test_a_file_scan_s_data_is_not_understood_as_the_published_empty(server: Server, keys: Keys,
                                                                    agent: PublishedClient) -> None:
    job_id = unique("published-scan")
    http_upsert(server, keys, agent, {"jobId": job_id, "jobType": "JOB_TYPE_FILE_SCAN",
                                      "jobData": {"fileScan": {"projectId": {"uuid": "p-1"}, "fileScanId": "s-1"}}})

    job = agent.get(job_id)

    assert job.job_type == 5 and job.job_data.WhichOneof("data") is None
    assert unknown_numbers(job.job_data) == {FILE_SCAN_NOW}


@pytest.mark.parametrize(("method", "fields", "named"), [
    ("UpsertJob", {"jobType": "JOB_TYPE_FIREWALL_TEST_FROM_REFERENCE"}, "job_type"),
    ("UpsertJob", {"jobType": "JOB_TYPE_IMAGE_BUILDER", "termReason": "TERMINATION_REASON_NOT_TERMINATED",
                   "status": "JOB_STATUS_PENDING"}, "term_reason"),
    ("FailJob", {"termReason": "TERMINATION_REASON_COMPLETED"}, "term_reason"),
])
def test_enum_values_the_contract_dropped_are_refused_naming_the_field(server: Server, keys: Keys,
                                                                     agent: PublishedClient, method: str,
                                                                     fields: dict[str, Any], named: str) -> None:
    job_id = unique("published-dropped")
    if method == "FailJob":
        agent.call("UpsertJob", {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"})

    refused = agent.refusal(method, {"jobId": job_id, **fields})

    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT, refused
    assert named in refused.message
    history = server.call("GET", f"/v1/jobs/{job_id}/events", key=keys.auditor)
    assert len(history.body.get("events", [])) == (1 if method == "FailJob" else 0), history.body
