"""Small helpers shared by the ingest tests (thread-safe event recording, waiting)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psutil

from ingest import Frame, StatusEvent


class StatusLog:
    """Collects status events from reader threads."""

    def __init__(self) -> None:
        self.events: list[tuple[float, StatusEvent]] = []
        self._lock = threading.Lock()

    def __call__(self, event: StatusEvent) -> None:
        with self._lock:
            self.events.append((time.monotonic(), event))

    def states(self, channel_id: str | None = None) -> list[str]:
        with self._lock:
            return [e.state for _, e in self.events if channel_id is None or e.channel_id == channel_id]

    def first(self, state: str, channel_id: str | None = None, after: float = 0.0) -> tuple[float, StatusEvent] | None:
        with self._lock:
            for t, e in self.events:
                if t >= after and e.state == state and (channel_id is None or e.channel_id == channel_id):
                    return t, e
        return None


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Frames:
    """Collects frames from reader threads."""

    def __init__(self) -> None:
        self.items: list[Frame] = []
        self._lock = threading.Lock()

    def __call__(self, f: Frame) -> None:
        with self._lock:
            self.items.append(f)

    def of(self, cid: str, after: float = 0.0) -> list[Frame]:
        with self._lock:
            return [f for f in self.items if f.channel_id == cid and f.ts_monotonic >= after]


def connections_to(port: int) -> int:
    """ESTABLISHED TCP connections from this process to ``port`` (what the camera would see)."""
    return sum(1 for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port and c.status == "ESTABLISHED")
