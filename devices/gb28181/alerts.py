"""A device's GB/T 28181 Alarm as the fields of a ``command.AlertIn`` (rule_kind ``gb28181_alarm``).

``devices`` does not import ``command``: the composition root validates the dict
with ``command.AlertIn(**fields)`` and publishes it to ``xl:alerts``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from devices.gb28181.platform import GbAlarm
from devices.registry.schema import Camera

ALERT_RULE_KIND = "gb28181_alarm"
# GB/T 28181-2016 A.2.6 AlarmMethod
ALARM_METHODS = {"1": "phone_alarm", "2": "device_alarm", "3": "sms_alarm", "4": "gps_alarm", "5": "video_alarm",
                 "6": "device_fault", "7": "other_alarm"}


def alarm_to_alert(alarm: GbAlarm, camera: Camera, *, frame_width: int = 1920, frame_height: int = 1080) -> dict[str, Any]:
    method = ALARM_METHODS.get(alarm.method, "other_alarm")
    kind = f"{method}:{alarm.alarm_type}" if alarm.alarm_type else method
    ts = dt.datetime.fromtimestamp(alarm.received_at, tz=dt.UTC)
    lat = alarm.lat if alarm.lat is not None else camera.position.lat
    lon = alarm.lon if alarm.lon is not None else camera.position.lon
    return {
        "alert_id": uuid.uuid4().hex,
        "camera_id": camera.id,
        "camera_name": camera.name,
        "jurisdiction_code": camera.jurisdiction,
        "lat": lat, "lon": lon,
        "rule_id": f"gb28181:{kind}"[:128],
        "rule_kind": ALERT_RULE_KIND,
        "object_class": kind[:64],
        "confidence": 1.0,
        "track_id": None,
        "ts": ts.isoformat(),
        "boxes": [],
        "frame_width": frame_width,
        "frame_height": frame_height,
        # one open alert per channel and alarm kind; a repeat within the merge window joins it
        "dedup_key": f"{camera.id}:gb28181:{kind}:" + hashlib.sha1(alarm.from_device.encode()).hexdigest()[:8],  # noqa: S324
    }
