"""The README's grpcurl walkthrough, each command run as written through grpcio, the way grpcurl runs it: the
method and its messages found through server reflection alone (no .proto file, none of jobstore's modules),
the request given as the command's JSON, the headers as metadata."""
from __future__ import annotations

import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from tests.e2e.conftest import Keys
from tests.e2e.server import Server

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass
class Command:
    text: str
    expected_error: str | None = None  # grpcurl's name of the status code the README shows it ending in


def grpcurl_commands() -> list[Command]:
    """The section's grpcurl commands, in order, each with the error the README says it ends in (if any)."""
    section = README.read_text().split("### The walkthrough with grpcurl", 1)[1].split("\n## ", 1)[0]
    blocks = [textwrap.dedent(b) for b in re.findall(r"(?:^    .*\n|^\n)+", section, flags=re.MULTILINE)]
    inline = re.findall(r"`(grpcurl [^`]+)`", section)
    commands: list[Command] = []
    for block in blocks:
        current = ""
        for line in block.splitlines():
            if line.startswith("# ERROR: Code:"):
                commands[-1].expected_error = line.split(":", 2)[2].strip()
            if line.startswith("#") or not (line.strip() or current):
                continue
            current += line.rstrip("\\").rstrip() + "\n" if line.endswith("\\") else line + "\n"
            if current.count("'") % 2 == 0 and not line.endswith("\\"):
                if current.startswith("grpcurl"):
                    commands.append(Command(current.strip()))
                current = ""
    commands += [Command(text) for text in inline]
    assert len(commands) >= 10, "the grpcurl walkthrough lost its commands"
    return commands


class Grpcurl:
    """What `grpcurl -plaintext [-H h]... [-d json] ADDRESS (list | SERVICE/METHOD)` does."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.reflection = ProtoReflectionDescriptorDatabase(self.channel)
        self.pool = descriptor_pool.DescriptorPool(self.reflection)

    def run(self, text: str, variables: dict[str, str]) -> Any:
        for name, value in variables.items():
            text = text.replace(f"${name}", value)
        args = shlex.split(text)
        assert args[:2] == ["grpcurl", "-plaintext"], text
        args = args[2:]
        metadata, data = [], "{}"
        while args[0].startswith("-"):
            option, value, args = args[0], args[1], args[2:]
            if option == "-H":
                name, _, header_value = value.partition(":")
                metadata.append((name.strip().lower(), header_value.strip()))
            elif option == "-d":
                data = value
            else:
                raise AssertionError(f"the walkthrough uses an option this test does not know: {option}")
        _address, verb = args
        if verb == "list":
            return sorted(self.reflection.get_services())
        service_name, method_name = verb.split("/")
        method = self.pool.FindServiceByName(service_name).methods_by_name[method_name]
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        request = json_format.Parse(data, request_class(), descriptor_pool=self.pool)
        call = self.channel.unary_unary(f"/{service_name}/{method_name}",
                                        request_serializer=request_class.SerializeToString,
                                        response_deserializer=response_class.FromString)
        return json_format.MessageToDict(call(request, metadata=metadata, timeout=30),
                                         preserving_proto_field_name=True)


@pytest.fixture
def grpcurl(server: Server) -> Grpcurl:
    return Grpcurl(server.grpc_target)


def test_the_readme_grpcurl_walkthrough_works_as_written(server: Server, keys: Keys, grpcurl: Grpcurl) -> None:
    variables = {"KEY": keys.admin, "GRPC": server.grpc_target}
    answers = {}
    for command in grpcurl_commands():
        if command.expected_error is None:
            answers[command.text] = grpcurl.run(command.text, variables)
            continue
        with pytest.raises(grpc.RpcError) as refused:
            grpcurl.run(command.text, variables)
        code = refused.value.code()  # type: ignore[attr-defined]
        assert code.name.replace("_", "").lower() == command.expected_error.lower(), command.text

    listed = next(answer for text, answer in answers.items() if text.endswith(" list"))
    assert {"rime.JobManager", "rime.JobReader", "jobstore.v1.Audit", "grpc.health.v1.Health"} <= set(listed)
    full = next(answer for text, answer in answers.items() if "JOB_VIEW_FULL" in text)["job"]
    assert full["job_progress_str"] == "1 / 2 tests completed"
    assert full["agent_id"] == {"uuid": "agent-7"} and full["status"] == "JOB_STATUS_RUNNING"
    project = next(answer for text, answer in answers.items() if "ListJobsForProject" in text)
    assert [job["job_id"] for job in project["jobs"]] == ["walk-g1"]
    history = next(answer for text, answer in answers.items() if "ListJobEvents" in text)
    assert [event["type"] for event in history["events"]][-2:] == ["CancellationRequested",
                                                                   "CancellationFinalized"]
    final = server.call("GET", "/v1/jobs/walk-g1", key=keys.reader).body["job"]
    assert final["status"] == "JOB_STATUS_CANCELLED" and "completionTime" in final
