"""Device health: 在线 only with a frame in the last few seconds (the analytics heartbeat), not
because an 'online' status event was published once, long ago."""

from __future__ import annotations

import time

import redis

from devices import LAST_FRAME_KEY
from devices.events import device_event, publish_device_event


def _status(http, camera_id: str) -> dict:
    return next(i for i in http.get("/api/devices/health").json()["items"] if i["camera_id"] == camera_id)


def test_online_needs_a_recent_frame(web_server) -> None:
    client = redis.Redis.from_url(web_server.redis_url)
    try:
        client.hset(LAST_FRAME_KEY, "camA1", time.time())
        publish_device_event(client, device_event("device.status", "330381101201", {
            "camera_id": "camA1", "status": "online", "reason": "frames arriving", "since": "2026-12-04T08:00:00+00:00"}))
        with web_server.client("op_a") as http:
            deadline = time.monotonic() + 10
            while _status(http, "camA1")["status"] != "online":  # the web follows xl:events
                assert time.monotonic() < deadline, _status(http, "camA1")
                time.sleep(0.1)
            assert _status(http, "camA1")["last_frame_age_s"] < 5
            client.hset(LAST_FRAME_KEY, "camA1", time.time() - 13 * 60)  # the worker stopped 13 minutes ago
            stale = _status(http, "camA1")
            assert stale["status"] == "offline" and "最后一帧 780 秒前" in stale["reason"], stale
            client.hset(LAST_FRAME_KEY, "camA1", time.time())
            assert _status(http, "camA1")["status"] == "online"
    finally:
        client.hdel(LAST_FRAME_KEY, "camA1")
        client.close()
