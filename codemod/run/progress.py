"""A one-line counter on stderr while a long run goes on; nothing at all when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

# Runs shorter than this print nothing; the line is redrawn at most this often.
DELAY_S = 0.5
INTERVAL_S = 0.1


class Progress:
    """`contiguify: reading 1200 files` / `contiguify: parsing 3/40 files`, redrawn in place, erased at the end."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._start = time.monotonic()
        self._next = self._start + DELAY_S
        self._shown = False

    @classmethod
    def for_terminal(cls) -> Progress:
        return cls(sys.stderr if sys.stderr is not None and sys.stderr.isatty() else None)

    def update(self, phase: str, done: int, total: int | None = None) -> None:
        if self._stream is None:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + INTERVAL_S
        count = f"{done}/{total}" if total is not None else str(done)
        self._stream.write(f"\r\x1b[Kcontiguify: {phase} {count} files")
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._stream is not None and self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False
