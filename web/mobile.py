"""Mobile units as the web process sees them: positions kept from ``device.position`` events.

Every process that receives telemetry (this one's HTTP route, the MQTT bridge worker,
GB/T 28181) publishes a ``device.position`` event; web keeps the latest position and a
bounded track of each unit from those events, and its WebSocket pushes the same events
live to the map. A restarted web process rebuilds the tracks from the retained stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from devices import MobileTracker, Registry, UnknownUnitError, parse_registry, telemetry_from_event

log = logging.getLogger("web.mobile")
_EMPTY = parse_registry("version: 1\ncameras: []\n")


def mobile_tracker(current_registry: Callable[[], Registry | None]) -> MobileTracker:
    """A tracker that follows the web's camera directory (an empty registry until one loads)."""
    return MobileTracker(lambda: current_registry() or _EMPTY)


class PositionBoard:
    """Event-hub listener: each ``device.position`` event becomes a point of its unit's track."""

    def __init__(self, tracker: MobileTracker) -> None:
        self.tracker = tracker

    def __call__(self, message: dict[str, Any]) -> None:
        try:
            report = telemetry_from_event(message)
            if report is not None:
                self.tracker.update(report)
        except ValidationError as exc:
            log.warning("device.position event %s ignored: %s", message.get("id"), exc.errors(include_url=False)[:1])
        except UnknownUnitError:
            pass  # the unit left the registry since it reported
