"""HTTP itself, against a real `jobstore serve`, spoken over raw sockets where a client library would hide it:
paths with a trailing slash, HEAD, the documentation pages and their assets, and clients that go away."""
from __future__ import annotations

import json
import re
import socket
import time
import urllib.parse
import urllib.request

import pytest

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Server, ok, upsert

# --- helpers


def exchange(server: Server, request: bytes, timeout: float = 10) -> bytes:
    """Send `request` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def request(method: str, path: str, host: str = "127.0.0.1", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def stream_head(server: Server, request: bytes, timeout: float = 10) -> bytes:
    """Send `request` on a fresh connection and read its answer's status and headers alone (a watch's body
    never ends)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received and (chunk := sock.recv(65536)):
            received += chunk
    return received.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"


def split(response: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of one HTTP/1.1 response without chunked framing."""
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


# --- a trailing slash


def test_a_path_with_a_trailing_slash_is_not_found_and_never_redirected_to_the_clients_host(
        server: Server, keys: Keys) -> None:
    for path in ("/v1/jobs/j3/", "/v1/jobs/", "/healthz/", "/v1/jobs/j3/events/"):
        status, headers, body = split(exchange(server, request("GET", path, host="evil.example.com",
                                                               rime_api_key=keys.admin)))
        assert status == 404, (path, status, headers)
        assert "location" not in headers
        assert b"evil.example.com" not in body
        assert body.startswith(b'{"code":5,') and b'"details":[]' in body, body


# --- HEAD


def test_head_answers_on_every_get_route_with_the_status_and_headers_of_get_and_no_body(
        server: Server, keys: Keys) -> None:
    job_id = unique("head")
    ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}))
    server.eventually(f"/v1/jobs/{job_id}", keys.reader, lambda reply: reply.status == 200)
    documented = server.call("GET", "/openapi.json").body["paths"]
    templates = [path for path, operations in documented.items() if "get" in operations]
    assert {"/healthz", "/v1/jobs/{jobId}", "/v1/jobs", "/v1/events"} <= set(templates)
    for template in [*templates, "/openapi.json", "/docs", "/redoc", "/v1/jobs/no-such-job"]:
        path = template.replace("{jobId}", job_id).replace("{projectId}", "some-project")
        same = {"rime_api_key": keys.admin, "X_Request_Id": unique("head")}
        if path == "/v1/jobs:watch":  # a stream: its GET's headers, and no Content-Length but chunks
            got_status, got_headers, _ = split(stream_head(server, request("GET", path, **same)))
            assert got_headers.pop("transfer-encoding") == "chunked"
            got_headers["content-length"] = "0"
        else:
            got_status, got_headers, got_body = split(exchange(server, request("GET", path, **same)))
            assert len(got_body) == int(got_headers["content-length"]), path
        status, headers, body = split(exchange(server, request("HEAD", path, **same)))
        assert status == got_status, (path, status, got_status)
        assert body == b"", (path, body[:100])
        del headers["date"], got_headers["date"]  # and the ids the server gave each request, its own:
        assert headers.pop("x-jobstore-request-id") != got_headers.pop("x-jobstore-request-id")
        if path == "/metrics":  # its counters moved between the two requests
            assert int(headers.pop("content-length")) > 0
            del got_headers["content-length"]
        assert headers == got_headers, path
    logged = [json.loads(line) for line in server.log().splitlines() if same["X_Request_Id"] in line]
    assert [(line["method"], line["route"], line["status"]) for line in logged] == [
        ("GET", "/v1/jobs/{jobId}", 404), ("HEAD", "/v1/jobs/{jobId}", 404)]


# --- the documentation pages


def fetch(server: Server, path: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(server.base + path, timeout=30) as response:
        return response.status, response.headers.get("content-type", ""), response.read()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_documentation_page_loads_every_asset_from_jobstore_itself(server: Server, page: str) -> None:
    status, content_type, body = fetch(server, page)
    assert status == 200 and content_type.startswith("text/html")
    html = body.decode()
    off_host = [url for url in re.findall(r"(?:https?:)?//[^\s\"'<>)]+", html)
                if urllib.parse.urlsplit(url).netloc != f"127.0.0.1:{server.port}"]
    assert off_host == [], f"{page} loads {off_host}"
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    scripts = [url for url in assets if url.endswith(".js")]
    assert scripts, f"{page} loads no script: {html}"
    for url in assets:
        status, content_type, content = fetch(server, url)
        assert status == 200, url
        if url.endswith(".js"):
            assert "javascript" in content_type and len(content) > 100_000, (url, content_type, len(content))
        elif url.endswith(".css"):
            assert content_type.startswith("text/css") and len(content) > 10_000, (url, content_type)
    assert "/openapi.json" in html


# --- a client that goes away


def counted(server: Server, route: str, code: int) -> float:
    text = server.call("GET", "/metrics").body
    match = re.search(rf'jobstore_http_requests_total\{{code="{code}",route="{re.escape(route)}"\}} ([0-9.e+]+)', text)
    return float(match.group(1)) if match else 0.0


def test_a_client_that_goes_away_in_the_middle_of_its_body_is_counted_as_499_and_logged_without_a_traceback(
        server: Server, keys: Keys) -> None:
    route = "/v1/jobs/{jobId}:fail"
    before_499, before_500 = counted(server, route, 499), counted(server, route, 500)
    request_ids = [unique("gone"), unique("gone")]
    body = b'{"terminationReason": "TERMINATION_REASON_GENERIC_ERROR"}'
    cut_short = [  # fewer bytes than Content-Length, then a chunked body without its last chunk
        request("POST", "/v1/jobs/some-job:fail", rime_api_key=keys.writer, X_Request_Id=request_ids[0],
                Content_Type="application/json", Content_Length=str(len(body))) + body[:10],
        request("POST", "/v1/jobs/some-job:fail", rime_api_key=keys.writer, X_Request_Id=request_ids[1],
                Content_Type="application/json", Transfer_Encoding="chunked") + b"a\r\n" + body[:10] + b"\r\n",
    ]
    for sent in cut_short:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(sent)
            time.sleep(0.2)  # the server is reading the body when the client leaves
    deadline = time.monotonic() + 10
    while counted(server, route, 499) < before_499 + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counted(server, route, 499) == before_499 + 2
    assert counted(server, route, 500) == before_500
    for request_id in request_ids:
        lines = [line for line in server.log().splitlines() if request_id in line]
        access = [json.loads(line) for line in lines if line.startswith("{")]
        assert [(line["route"], line["status"]) for line in access] == [(route, 499)], lines
        gone = [line for line in lines if not line.startswith("{")]
        assert len(gone) == 1 and " INFO " in gone[0] and "went away" in gone[0], lines
    assert "Traceback" not in server.log() and " ERROR " not in server.log()
