"""A Server-Sent Events client for the tests: it reads a watch in a thread, so that a test waits for what it
expects with a deadline instead of blocking on a socket."""
from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


@dataclass(frozen=True)
class SseEvent:
    kind: str  # "message" (a change), "leave", "bookmark", "error"
    id: str | None
    data: Any

    @property
    def position(self) -> int:
        assert self.id is not None, self
        return int(self.id)

    @property
    def job(self) -> dict[str, Any]:
        job: dict[str, Any] = self.data["job"]
        return job


class Ended(Exception):
    """The stream ended (the server closed it)."""


class EventStream:
    def __init__(self, base: str, key: str | None, query: list[tuple[str, str]] | None = None,
                 last_event_id: str | None = None, receive_buffer: int | None = None, reading: bool = True) -> None:
        """`reading=False`: nothing is read past the headers until `read()` (a client that does not read)."""
        host, _, port = base.removeprefix("http://").partition(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)
        if receive_buffer is not None:  # a client that reads slowly: the kernel holds little for it
            self.connection.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            self.connection.sock.connect((host, int(port)))
        headers = {"accept": "text/event-stream"}
        if key is not None:
            headers["rime-api-key"] = key
        if last_event_id is not None:
            headers["last-event-id"] = last_event_id
        self.connection.request("GET", "/v1/jobs:watch" + ("?" + urlencode(query) if query else ""),
                                headers=headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.events: queue.Queue[SseEvent | None] = queue.Queue()
        self.seen: list[SseEvent] = []
        self.ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        if self.status == 200:
            if reading:
                self._reader.start()
        else:
            self.body = json.loads(self.response.read() or b"{}")

    def read(self) -> None:
        self._reader.start()

    def _read(self) -> None:
        kind, event_id, data = "message", None, []
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                text = line.decode().rstrip("\n")
                if text == "":
                    if data:
                        self.events.put(SseEvent(kind, event_id, json.loads("\n".join(data))))
                    kind, event_id, data = "message", None, []
                elif text.startswith(":") or text.startswith("retry:"):
                    continue
                else:
                    name, _, value = text.partition(": ")
                    if name == "event":
                        kind = value
                    elif name == "id":
                        event_id = value
                    elif name == "data":
                        data.append(value)
        except (OSError, http.client.HTTPException, ValueError, AttributeError):  # closed while reading
            pass
        self.events.put(None)

    def next(self, timeout: float = 10) -> SseEvent:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event within {timeout} s (seen: {self.seen[-5:]})") from None
        if event is None:
            self.ended = True
            raise Ended(f"the stream ended (seen: {self.seen[-5:]})")
        self.seen.append(event)
        return event

    def until(self, done: Callable[[SseEvent], bool], timeout: float = 10) -> list[SseEvent]:
        """The events up to and including the first for which `done` holds."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            event = self.next(max(0.01, deadline - time.monotonic()))
            got.append(event)
            if done(event):
                return got

    def changes_until(self, position: int, timeout: float = 10) -> list[SseEvent]:
        """The changes and leaves up to the moment a change, leave or bookmark reaches `position`."""
        return [event for event in self.until(lambda e: e.id is not None and e.position >= position, timeout)
                if event.kind in ("message", "leave")]

    def close(self) -> None:
        try:
            if self.connection.sock is not None:
                self.connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
