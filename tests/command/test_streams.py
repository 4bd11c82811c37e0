import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import redis
from pydantic import ValidationError

from command import ALERTS_STREAM, EVENTS_STREAM, AlertIn, decode_event, publish_alert, publish_event


def make_alert(**over) -> AlertIn:
    data = dict(
        alert_id=uuid.uuid4().hex, camera_id="cam01", camera_name="东门路口", jurisdiction_code="330381101201",
        lat=27.8, lon=120.6, rule_id="r1", rule_kind="zone_intrusion", object_class="person", confidence=0.8,
        track_id=3, ts=datetime.now(UTC), boxes=[[1, 2, 30, 40]], frame_width=480, frame_height=360,
        dedup_key="cam01:r1", clip_path=None,
    )
    data.update(over)
    return AlertIn(**data)


def test_alert_validation_rejects_bad_fields():
    with pytest.raises(ValidationError, match="boxes"):
        make_alert(boxes=[[1, 2, 3]])
    with pytest.raises(ValidationError, match="jurisdiction_code"):
        make_alert(jurisdiction_code="33038")
    with pytest.raises(ValidationError, match="ts"):
        make_alert(ts=datetime(2026, 1, 1))  # naive
    with pytest.raises(ValidationError, match="unknown"):
        make_alert(unknown=1)
    local = make_alert(ts=datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))))
    assert local.ts == datetime(2026, 1, 1, 0, tzinfo=UTC) and local.ts.utcoffset() == timedelta(0)


def test_publish_alert_and_event_roundtrip(redis_url):
    client = redis.Redis.from_url(redis_url)
    alert = make_alert()
    entry_id = publish_alert(client, alert, b"\xff\xd8jpeg\xff\xd9")
    [(got_id, fields)] = client.xrange(ALERTS_STREAM)
    assert got_id.decode() == entry_id
    assert AlertIn.model_validate_json(fields[b"alert"]) == alert
    assert fields[b"snapshot"] == b"\xff\xd8jpeg\xff\xd9"

    ev_id = publish_event(client, "incident.created", "330381101", {"id": 1, "title": "区域入侵"})
    [(got, fields)] = client.xrange(EVENTS_STREAM)
    assert got.decode() == ev_id
    event = decode_event(fields)
    assert event["type"] == "incident.created" and event["jurisdiction_code"] == "330381101"
    assert event["payload"] == {"id": 1, "title": "区域入侵"} and len(event["id"]) == 32
    assert json.loads(fields[b"event"])["payload"]["title"] == "区域入侵"
    with pytest.raises(ValueError, match="jurisdiction_code"):
        publish_event(client, "incident.created", "abc", {})
    client.close()
