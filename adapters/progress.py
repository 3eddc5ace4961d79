"""A progress line for long commands, on standard error: redrawn in place on a terminal, a line every few
seconds otherwise (CI logs)."""
from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, stream: TextIO = sys.stderr, every_seconds: float = 2.0) -> None:
        self.label = label
        self.stream = stream
        self.tty = stream.isatty()
        self.every = 0.1 if self.tty else every_seconds
        self.started = self.last = time.monotonic()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every and done < total:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        if total > 0:
            width = 30
            filled = min(width, int(width * done / total))
            text = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({rate:,.0f}/s)"
        else:
            text = f"{self.label} {done} ({rate:,.0f}/s)"
        self.stream.write(("\r" + text) if self.tty else (text + "\n"))
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()
