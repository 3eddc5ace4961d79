"""A client with no .proto file at hand: it learns the services and their messages from server reflection alone
(grpcio-reflection's descriptor database, as grpcurl does), writes a job and reads it back; and the standard
health service says the server is serving."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Server, ok

SERVED = {"rime.JobManager", "rime.JobReader", "jobstore.v1.Audit", "jobstore.v1.Watch", "jobstore.v1.Health",
          "grpc.health.v1.Health",
          "grpc.reflection.v1alpha.ServerReflection"}


@pytest.fixture
def channel(server: Server) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.grpc_target) as opened:
        yield opened


class Reflected:
    """Messages and methods as the server describes them, and nothing else."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.database = ProtoReflectionDescriptorDatabase(channel)
        self.pool = descriptor_pool.DescriptorPool(self.database)

    def call(self, service: str, method: str, fields: dict[str, Any], metadata: list[tuple[str, str]]
             ) -> tuple[Any, grpc.Call]:
        described = self.pool.FindServiceByName(service).FindMethodByName(method)
        request_class = message_factory.GetMessageClass(described.input_type)
        response_class = message_factory.GetMessageClass(described.output_type)
        request = json_format.ParseDict(fields, request_class())
        invoke = self.channel.unary_unary(f"/{service}/{method}", request_serializer=request_class.SerializeToString,
                                          response_deserializer=response_class.FromString)
        answer, call = invoke.with_call(request, metadata=metadata, timeout=30)
        return answer, call


def test_reflection_lists_every_service(channel: grpc.Channel) -> None:
    assert set(ProtoReflectionDescriptorDatabase(channel).get_services()) == SERVED


def test_a_client_knowing_only_reflection_writes_a_job_and_gets_it(server: Server, keys: Keys,
                                                                   channel: grpc.Channel) -> None:
    reflected = Reflected(channel)
    job_id = unique("reflected")
    _, written = reflected.call(
        "rime.JobManager", "UpsertJob",
        {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST", "status": "JOB_STATUS_PENDING",
         "jobData": {"stress": {"projectId": {"uuid": "p-1"}, "testRunId": "run-1"}}},
        [("rime-api-key", keys.writer)])
    position = dict(written.trailing_metadata())["x-jobstore-position"]

    answer, _ = reflected.call("rime.JobReader", "GetJob", {"jobId": job_id, "view": "JOB_VIEW_FULL"},
                               [("rime-api-key", keys.reader), ("x-jobstore-min-position", position)])

    assert answer.DESCRIPTOR.full_name == "rime.GetJobResponse"
    job = answer.job
    assert (job.job_id, job.status, job.job_type) == (job_id, 1, 1)
    assert job.job_data.stress.project_id.uuid == "p-1"
    assert job.job_data.stress.test_run_id == "run-1"
    over_http = ok(server.call("GET", f"/v1/jobs/{job_id}?view=JOB_VIEW_FULL&minPosition={position}",
                               key=keys.reader)).body
    assert json_format.ParseDict(over_http, type(answer)()) == answer


def test_the_standard_health_check_says_serving(channel: grpc.Channel) -> None:
    checks = health_pb2_grpc.HealthStub(channel)
    for service in ("", "rime.JobManager", "rime.JobReader", "jobstore.v1.Audit"):
        answer = checks.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
