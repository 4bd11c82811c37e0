"""``device.position`` events: a mobile unit's accepted report, for every process that shows or uses positions.

Whoever receives telemetry (web's HTTP route, the MQTT bridge worker, the GB/T 28181
MobilePosition handler) publishes it here; web keeps the latest positions and track of
each unit from these events and pushes them live to the map.
"""

from __future__ import annotations

from typing import Any

from devices.events import StreamWriter, device_event, publish_device_event
from devices.mobile.telemetry import Telemetry
from devices.registry import Camera

DEVICE_POSITION = "device.position"


def position_event(report: Telemetry, unit: Camera) -> dict[str, Any]:
    payload = {**report.model_dump(mode="json"), "name": unit.name, "kind": unit.kind.value}
    return device_event(DEVICE_POSITION, unit.jurisdiction, payload)


def publish_position(redis_client: StreamWriter, report: Telemetry, unit: Camera) -> str:
    return publish_device_event(redis_client, position_event(report, unit))


def telemetry_from_event(event: dict[str, Any]) -> Telemetry | None:
    """The report carried by a ``device.position`` event, or None for any other event."""
    if event.get("type") != DEVICE_POSITION:
        return None
    payload = {k: v for k, v in (event.get("payload") or {}).items() if k in Telemetry.model_fields}
    return Telemetry.model_validate(payload)
