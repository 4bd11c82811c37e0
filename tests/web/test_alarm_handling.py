"""标记误报/屏蔽 mute a rule for a chosen time and the intake honours it; 布防时间 overrides of a
rule's cameras.yaml schedule are read and edited over the API and honoured too (all audited).
Alerts go through Valkey and command's real consumer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import redis
from sqlalchemy import select

from command import AuditEvent, Incident, IncidentSource, intake_alerts, publish_alert
from tests.web.helpers import consume, make_alert, sample_jpeg


def _publish(web_server, alert) -> None:
    client = redis.Redis.from_url(web_server.redis_url)
    try:
        publish_alert(client, alert, sample_jpeg())
    finally:
        client.close()
    assert consume(web_server) >= 1


def _incidents_of(web_server, camera_id: str) -> list[Incident]:
    with web_server.database.session() as session:
        return list(session.scalars(select(Incident).where(Incident.camera_id == camera_id).order_by(Incident.id)))


def test_false_alarm_with_a_mute_stays_quiet_until_lifted(web_server) -> None:
    camera = f"camMute{uuid.uuid4().hex[:6]}"
    first = make_alert("camA1").model_copy(update={"camera_id": camera, "ts": datetime.now(UTC)})
    with web_server.database.session() as session:
        [opened] = intake_alerts(session, [(first, None)])
        incident_id = opened.incident.id
    with web_server.client("op_a") as http:
        r = http.post(f"/api/incidents/{incident_id}/false_alarm", json={"reason": "树影晃动", "mute_minutes": 30})
        assert r.status_code == 200 and r.json()["status"] == "false_alarm", r.text
        [mute] = [m for m in http.get("/api/alarm-mutes").json()["items"] if m["camera_id"] == camera]
        assert mute["rule_id"] == first.rule_id and mute["kind"] == "false_alarm" and mute["incident_id"] == incident_id
        until = datetime.fromisoformat(mute["until"])
        assert 29 * 60 < (until - datetime.now(UTC)).total_seconds() <= 30 * 60
        # The same false alarm again: no incident opens, the mute counts it.
        _publish(web_server, make_alert("camA1").model_copy(update={"camera_id": camera, "ts": datetime.now(UTC)}))
        assert [i.id for i in _incidents_of(web_server, camera)] == [incident_id]
        assert [m for m in http.get("/api/alarm-mutes").json()["items"] if m["id"] == mute["id"]][0]["suppressed"] == 1
    with web_server.client("op_b") as http:  # another township neither sees nor lifts it
        assert all(m["id"] != mute["id"] for m in http.get("/api/alarm-mutes").json()["items"])
        assert http.delete(f"/api/alarm-mutes/{mute['id']}").status_code == 404
    with web_server.client("op_a") as http:
        assert http.delete(f"/api/alarm-mutes/{mute['id']}").status_code == 200
    _publish(web_server, make_alert("camA1").model_copy(update={"camera_id": camera, "ts": datetime.now(UTC)}))
    assert len(_incidents_of(web_server, camera)) == 2  # armed again: a new incident
    with web_server.database.session() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).where(
            AuditEvent.subject_type == "alarm_rule", AuditEvent.subject_id == f"{camera}/{first.rule_id}"))]
        assert actions == ["mute", "unmute"]


def test_mute_keeps_the_incident_open_and_applies_to_video_only(web_server) -> None:
    from command import Actor, ReportIn, submit_report

    camera = f"camMute{uuid.uuid4().hex[:6]}"
    with web_server.database.session() as session:
        [video] = intake_alerts(session, [(make_alert("camA1").model_copy(update={"camera_id": camera}), None)])
        hotline = submit_report(session, ReportIn(source="hotline_12345", title="噪音扰民", category_code="noise",
                                                  jurisdiction_code="330381101201"), Actor.system()).incident
        ids = video.incident.id, hotline.id
    with web_server.client("op_a") as http:
        assert "mute" in http.get(f"/api/incidents/{ids[0]}").json()["allowed_actions"]
        assert "mute" not in http.get(f"/api/incidents/{ids[1]}").json()["allowed_actions"]
        r = http.post(f"/api/incidents/{ids[0]}/mute", json={"minutes": 15, "reason": "施工期间"})
        assert r.status_code == 200 and r.json()["status"] == "classified"  # 屏蔽 does not close the case
        refused = http.post(f"/api/incidents/{ids[1]}/mute", json={"minutes": 10})
        assert refused.status_code == 422 and "视频" in refused.json()["message"]
    with web_server.client("viewer_a") as http:
        assert http.post(f"/api/incidents/{ids[0]}/mute", json={"minutes": 10}).status_code in (403, 409)


def test_arming_schedule_override_is_read_edited_honoured_and_audited(web_server) -> None:
    with web_server.client("op_a") as http:
        rules = http.get("/api/cameras/camA1/rules").json()["items"]
        [rule] = [r for r in rules if r["rule_id"] == "camA1-zone_intrusion"]
        assert rule["yaml"]["windows"][0]["start"] == "00:00" and rule["effective"]["source"] == "yaml"
        bad = http.put("/api/cameras/camA1/rules/camA1-zone_intrusion/schedule",
                       json={"enabled": True, "windows": [{"start": "25:00", "end": "06:00"}]})
        assert bad.status_code == 422
        r = http.put("/api/cameras/camA1/rules/camA1-zone_intrusion/schedule", json={"enabled": False, "windows": []})
        assert r.status_code == 200 and r.json()["override"]["enabled"] is False
        [rule] = [x for x in http.get("/api/cameras/camA1/rules").json()["items"] if x["rule_id"] == "camA1-zone_intrusion"]
        assert rule["effective"] == {"enabled": False, "windows": [], "source": "override"}
    held = make_alert("camA1").model_copy(update={"ts": datetime.now(UTC)})
    _publish(web_server, held)
    with web_server.database.session() as session:
        assert session.scalar(select(IncidentSource.id).where(IncidentSource.ref == held.alert_id)) is None
    with web_server.client("op_b") as http:
        assert http.get("/api/cameras/camA1/rules").status_code == 404
        assert http.put("/api/cameras/camA1/rules/camA1-zone_intrusion/schedule", json={"enabled": True}).status_code == 404
    with web_server.client("op_a") as http:
        assert http.delete("/api/cameras/camA1/rules/camA1-zone_intrusion/schedule").json()["removed"] is True
    armed = make_alert("camA1").model_copy(update={"ts": datetime.now(UTC)})
    _publish(web_server, armed)
    with web_server.database.session() as session:
        assert session.scalar(select(IncidentSource.id).where(IncidentSource.ref == armed.alert_id)) is not None
        changes = [e.detail["after"] for e in session.scalars(select(AuditEvent).where(
            AuditEvent.subject_type == "alarm_rule", AuditEvent.action == "schedule",
            AuditEvent.subject_id == "camA1/camA1-zone_intrusion").order_by(AuditEvent.id))]
        assert changes == [{"enabled": False, "windows": []}, None]
