"""The latest ``device.status`` of every channel, kept from the ``xl:events`` stream.

devices publishes status changes (online, offline, auth_failed, no_signal, degraded,
with reason and since-when); the board replays the retained stream at startup and
then follows the live tail, so the device-health page needs no second store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DeviceStatusBoard:
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, message: dict) -> None:
        if message.get("type") != "device.status":
            return
        payload = message.get("payload") or {}
        camera_id = payload.get("camera_id") or payload.get("id")
        if not camera_id:
            return
        self.latest[str(camera_id)] = {**payload, "jurisdiction_code": message.get("jurisdiction_code"),
                                       "stream_id": message.get("stream_id")}

    def get(self, camera_id: str) -> dict[str, Any] | None:
        return self.latest.get(camera_id)
