"""Publish status changes as ``device.status`` events on the ``xl:events`` Redis stream.

Same entry layout as ``command.streams.publish_event`` (devices/ sits below
command/ and must not import it): one field ``event`` holding JSON
``{"id", "type": "device.status", "jurisdiction_code", "payload"}``, where the
payload is a :class:`HealthReport`. web/ pushes it to every operator whose scope
covers the camera; command/ may open a device-fault work order from it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from devices.health.status import HealthReport

EVENTS_STREAM = "xl:events"
EVENTS_MAXLEN = 100_000
DEVICE_STATUS = "device.status"


def status_event(report: HealthReport) -> dict[str, Any]:
    payload = report.model_dump(mode="json")
    payload["quality"] = payload["faults"]  # the name web/'s device page reads
    return {"id": uuid.uuid4().hex, "type": DEVICE_STATUS, "jurisdiction_code": report.jurisdiction_code, "payload": payload}


def publish_status(redis_client: Any, report: HealthReport, *, stream: str = EVENTS_STREAM) -> str:
    """XADD one ``device.status`` event; returns the stream entry id."""
    entry_id = redis_client.xadd(stream, {"event": json.dumps(status_event(report), ensure_ascii=False)},
                                 maxlen=EVENTS_MAXLEN, approximate=True)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
