"""A schema-driven fuzzer (schemathesis) against /openapi.json with a valid key, bounded in examples: no
response is a 5xx, every status code and body is one the OpenAPI document declares, 405s name what is allowed.

The watch route is left out: a valid watch never ends, and a fuzzer waits for each answer to end
(tests/e2e/test_watch.py checks what it refuses)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Keys
from tests.e2e.server import Server

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance,unsupported_method")


def test_fuzzing_every_operation_finds_no_server_error_and_no_undeclared_response(server: Server,
                                                                                 keys: Keys) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is part of the test extras; `bash tests/run` installs it"
    done = subprocess.run([st, "run", f"{server.base}/openapi.json", "-H", f"rime-api-key: {keys.admin}",
                           "--max-examples", "50", "--checks", CHECKS, "--seed", "20261127", "--no-color",
                           "--exclude-path", "/v1/jobs:watch"],
                          capture_output=True, text=True, timeout=600, cwd=server.home)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "passed" in done.stdout and " failed" not in done.stdout.split("Test cases:")[-1]
