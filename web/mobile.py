"""Mobile units as the web process sees them: positions and tracks in the database.

Telemetry received by this process's HTTP route or by the MQTT bridge worker is stored by the
receiver (``devices.PositionStore``, table ``mobile_positions``) and announced as a
``device.position`` event that the WebSocket pushes to the map. Events whose publisher did not
store the report (the GB/T 28181 worker's MobilePosition) are stored here, so every position is
in the database whichever way it came; a restarted web process reads the tracks back from there.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from devices import Registry, parse_registry
from devices.mobile import (
    MobileTracker,
    PositionStore,
    Telemetry,
    UnknownUnitError,
    stored_by_publisher,
    telemetry_from_event,
)

log = logging.getLogger("web.mobile")
_EMPTY = parse_registry("version: 1\ncameras: []\n")


def mobile_tracker(current_registry: Callable[[], Registry | None], engine: Engine) -> MobileTracker:
    """A tracker over the database's positions that follows the web's camera directory (empty until one loads)."""
    return MobileTracker(lambda: current_registry() or _EMPTY, store=PositionStore(engine))


class PositionBoard:
    """Event-hub listener: stores the report of each ``device.position`` event its publisher did not store.

    Called on the event loop; the database writes run in the default executor (:meth:`flush`).
    """

    def __init__(self, tracker: MobileTracker) -> None:
        self.tracker = tracker
        self._pending: deque[Telemetry] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def __call__(self, message: dict[str, Any]) -> None:
        if stored_by_publisher(message):
            return
        try:
            report = telemetry_from_event(message)
        except ValidationError as exc:
            log.warning("device.position event %s ignored: %s", message.get("id"), exc.errors(include_url=False)[:1])
            return
        if report is None:
            return
        self._pending.append(report)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: a plain call
            self.flush()
            return
        if not self._scheduled:
            self._scheduled = True
            loop.run_in_executor(None, self._flush_scheduled)

    def _flush_scheduled(self) -> None:
        self._scheduled = False  # before flushing: a report appended from now on schedules another flush
        self.flush()

    def flush(self) -> int:
        """Store the pending reports; how many were new."""
        stored = 0
        with self._lock:
            while self._pending:
                report = self._pending.popleft()
                try:
                    stored += self.tracker.update(report) is not None
                except UnknownUnitError:
                    pass  # the unit left the registry since it reported
                except SQLAlchemyError as exc:
                    log.error("position of %s at %s not stored: %s", report.unit_id, report.ts.isoformat(), exc)
        return stored
