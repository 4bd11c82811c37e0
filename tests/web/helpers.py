"""Raising incidents the real way: an AlertIn on xl:alerts, consumed by command's AlertConsumer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import lru_cache

import cv2
import redis

from command import AlertIn, publish_alert
from xueliang.settings import REPO_ROOT

CAMERAS = {"camA1": ("城关镇 人民广场", "330381101201"), "camB1": ("塘下镇 汽车站", "330381102203"),
           "ptzA2": ("城关镇 大桥 球机", "330381101202")}


@lru_cache(maxsize=1)
def sample_jpeg() -> bytes:
    """A real frame of the sample footage (pedestrians) at 480x360, JPEG-encoded."""
    cap = cv2.VideoCapture(str(REPO_ROOT / "samples" / "vtest.avi"))
    try:
        for _ in range(60):
            ok, frame = cap.read()
        assert ok, "cannot read samples/vtest.avi"
    finally:
        cap.release()
    frame = cv2.resize(frame, (480, 360), interpolation=cv2.INTER_AREA)  # the sub-stream size analytics works on
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def make_alert(camera_id: str, rule_kind: str = "zone_intrusion", *, position: bool = True) -> AlertIn:
    """``position=False`` leaves lat/lon empty, so command places the incident at its village's centre."""
    name, code = CAMERAS[camera_id]
    alert_id = uuid.uuid4().hex
    return AlertIn(
        alert_id=alert_id, camera_id=camera_id, camera_name=name, jurisdiction_code=code,
        lat=27.78 if position else None, lon=120.65 if position else None,
        rule_id=f"{camera_id}-{rule_kind}", rule_kind=rule_kind, object_class="person", confidence=0.87,
        track_id=7, ts=datetime.now(UTC), boxes=[[62, 50, 112, 187]], frame_width=480, frame_height=360,
        dedup_key=f"{camera_id}:{alert_id}",  # unique: every test alert opens its own incident
    )


def publish(redis_url: str, camera_id: str, rule_kind: str = "zone_intrusion", *, position: bool = True) -> AlertIn:
    client = redis.Redis.from_url(redis_url)
    try:
        alert = make_alert(camera_id, rule_kind, position=position)
        publish_alert(client, alert, sample_jpeg())
        return alert
    finally:
        client.close()


def consume(web_server, max_steps: int = 20) -> int:
    """Run command's real consumer until the alert stream is drained; returns entries handled."""
    from command.worker import AlertConsumer

    client = redis.Redis.from_url(web_server.redis_url)
    try:
        consumer = AlertConsumer(database=web_server.database, redis_client=client,
                                 media_dir=web_server.settings.media_dir, consumer_name="web-tests")
        consumer.ensure_group()
        handled = 0
        for _ in range(max_steps):
            n = consumer.step(block_ms=50)
            handled += n
            if n == 0 and handled:
                break
        return handled
    finally:
        client.close()


def raise_incident(web_server, camera_id: str, rule_kind: str = "zone_intrusion") -> int:
    """Publish one alert, consume it, and return the id of the incident it opened."""
    from sqlalchemy import select

    from command import IncidentSource

    alert = publish(web_server.redis_url, camera_id, rule_kind)
    assert consume(web_server) >= 1
    with web_server.database.session() as session:
        incident_id = session.scalar(select(IncidentSource.incident_id).where(IncidentSource.ref == alert.alert_id))
    assert incident_id is not None, "the consumer did not open an incident for the alert"
    return incident_id
