"""Publish status changes as ``device.status`` events on the ``xl:events`` Redis stream.

The payload is a :class:`HealthReport` (entry layout: :mod:`devices.events`). web/ pushes it to every operator whose scope
covers the camera; command/ may open a device-fault work order from it.
"""

from __future__ import annotations

from typing import Any

from devices.events import EVENTS_STREAM, StreamWriter, device_event, publish_device_event
from devices.health.status import HealthReport

DEVICE_STATUS = "device.status"
# Redis hash camera_id -> wall time (s) of its newest frame seen by device health. Status events go
# out on changes only; this heartbeat tells the device page whether a frame is recent (在线).
LAST_FRAME_KEY = "xl:device:last_frame"
__all__ = ["DEVICE_STATUS", "EVENTS_STREAM", "LAST_FRAME_KEY", "publish_status", "status_event"]


def status_event(report: HealthReport) -> dict[str, Any]:
    payload = report.model_dump(mode="json")
    payload["quality"] = payload["faults"]  # the name web/'s device page reads
    return device_event(DEVICE_STATUS, report.jurisdiction_code, payload)


def publish_status(redis_client: StreamWriter, report: HealthReport, *, stream: str = EVENTS_STREAM) -> str:
    """XADD one ``device.status`` event; returns the stream entry id."""
    return publish_device_event(redis_client, status_event(report), stream=stream)
