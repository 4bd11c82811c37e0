"""``device.position`` events: a mobile unit's accepted report, for every process that shows or uses positions.

Whoever receives telemetry (web's HTTP route, the MQTT bridge worker, the GB/T 28181
MobilePosition handler) publishes it here, and web pushes these events live to the map.
A receiver that stored the report itself (:class:`devices.mobile.PositionStore`) says so with
``payload.stored = true``; web stores the reports of the events that do not (idempotently).
"""

from __future__ import annotations

from typing import Any

from devices.events import StreamWriter, device_event, publish_device_event
from devices.mobile.report import Telemetry
from devices.registry import Camera

DEVICE_POSITION = "device.position"


def position_event(report: Telemetry, unit: Camera, *, stored: bool = False) -> dict[str, Any]:
    payload = {**report.model_dump(mode="json"), "name": unit.name, "kind": unit.kind.value, "stored": stored}
    return device_event(DEVICE_POSITION, unit.jurisdiction, payload)


def publish_position(redis_client: StreamWriter, report: Telemetry, unit: Camera, *, stored: bool = False) -> str:
    return publish_device_event(redis_client, position_event(report, unit, stored=stored))


def stored_by_publisher(event: dict[str, Any]) -> bool:
    """Did the publisher of this ``device.position`` event already store its report?"""
    return bool((event.get("payload") or {}).get("stored"))


def telemetry_from_event(event: dict[str, Any]) -> Telemetry | None:
    """The report carried by a ``device.position`` event, or None for any other event."""
    if event.get("type") != DEVICE_POSITION:
        return None
    payload = {k: v for k, v in (event.get("payload") or {}).items() if k in Telemetry.model_fields}
    return Telemetry.model_validate(payload)
