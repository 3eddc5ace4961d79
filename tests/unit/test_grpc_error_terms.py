"""An INVALID_ARGUMENT over gRPC names fields as the gRPC request does, also when it is replayed: the idempotency
record keeps the message as the core wrote it, in the REST API's terms, whichever transport first ran it."""
from __future__ import annotations

import pytest

from jobstore.adapters.errors import ReplayedError
from jobstore.adapters.grpc.convert import in_proto_terms, replayed_in_proto_terms, with_grpc_names
from jobstore.domain.errors import InvalidArgument


@pytest.mark.parametrize(("field", "problem", "expected"), [
    ("job.status", "Input should be 'JOB_STATUS_PENDING'", "status: Input should be 'JOB_STATUS_PENDING'"),
    ("writeMask.jobData.stress.testRunId", "is set but the request carries no job.jobData.stress.testRunId",
     "mask.job_data.stress.test_run_id: is set but the request carries no job_data.stress.test_run_id"),
    ("job.jobData.continuousInc.progress.testRuns.0.testRun.testBatches", "holds the batch 'a' twice",
     "job_data.continuous_inc.progress.test_runs.0.test_run.test_batches: holds the batch 'a' twice"),
    ("", "give asOf or version: either one", "give asOf or version: either one"),
])
def test_a_replayed_invalid_argument_reads_as_the_first_answer_did(field: str, problem: str, expected: str) -> None:
    first = in_proto_terms(InvalidArgument(field, problem))
    replayed = replayed_in_proto_terms(ReplayedError(3, InvalidArgument(field, problem).message))
    assert first.message == replayed.message == expected
    assert replayed.code == 3


def test_a_page_token_named_in_a_problem_is_the_requests_page_token() -> None:
    refused = in_proto_terms(InvalidArgument("pageToken", "start again from the first page without pageToken"))
    assert refused.message == "page_token: start again from the first page without page_token"


def test_headers_and_parameters_named_in_passing_are_named_as_grpc_metadata() -> None:
    message = ("minPosition 9 is beyond the newest event in the log; use the X-Jobstore-Position of a write "
               "(Idempotency-Key 'k' was used before; may not read a job as it was (asOf, version))")
    assert with_grpc_names(message) == ("x-jobstore-min-position 9 is beyond the newest event in the log; use the "
                                        "x-jobstore-position trailer of a write (idempotency-key 'k' was used "
                                        "before; may not read a job as it was (GetJobAsItWas))")
