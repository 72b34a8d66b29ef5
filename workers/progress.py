"""Progress of a long command on stderr: done/total, percent, rate and the time left (ETA), at most one
line a second and one at the end, so that it reads the same on a terminal and in a log file."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def eta(done: int, total: int, seconds: float) -> str:
    """The time left at the rate so far, as `m:ss` (`h:mm:ss` past an hour); `?` before any progress."""
    if done <= 0 or seconds <= 0:
        return "?"
    left = max(0, round((total - done) * seconds / done))
    h, rest = divmod(left, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """`progress(done, total)`: report that `done` of `total` units (events, commands) are through."""

    def __init__(self, label: str, unit: str = "events", *, stream: TextIO | None = None,
                 every: float = 1.0) -> None:
        self.label, self.unit, self.every = label, unit, every
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < self.every:
            return
        self._last = now
        seconds = now - self.started
        rate = done / seconds if seconds > 0 else 0.0
        percent = 100.0 * done / total if total else 100.0
        self.stream.write(
            f"{self.label}: {done}/{total} {self.unit} ({percent:.0f} %), {rate:.0f}/s, "
            f"ETA {eta(done, total, seconds)}\n"
        )
        self.stream.flush()
