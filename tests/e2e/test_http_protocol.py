"""HTTP itself, against a real `jobstore serve`, spoken over raw sockets where a client library would hide it:
paths with a trailing slash, HEAD, the documentation pages and their assets, and clients that go away."""
from __future__ import annotations

import socket

from tests.e2e.conftest import Keys
from tests.e2e.server import Server

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
