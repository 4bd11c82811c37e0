"""Dispatch like a CAD console (own chain first, only units in scope, several at once) and SLA
deadlines per incident (签收 while waiting, 办结 until resolved, none on closed cases)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from command import intake_alerts
from tests.web.helpers import make_alert


def _incident(web_server, camera: str = "camA1") -> int:
    alert = make_alert(camera).model_copy(update={"camera_id": f"camD-{uuid.uuid4().hex[:8]}", "ts": datetime.now(UTC)})
    with web_server.database.session() as session:
        [result] = intake_alerts(session, [(alert, None)])
        return result.incident.id


def test_recommendations_put_the_townships_station_first_and_stay_in_scope(web_server) -> None:
    incident_id = _incident(web_server)  # village 330381101201, police-type (区域入侵)
    with web_server.client("op_a") as http:
        body = http.get(f"/api/incidents/{incident_id}/recommendations", params={"limit": 20}).json()
        items = body["items"]
        assert items and all(i["jurisdiction_code"].startswith("330381101") for i in items)  # never another township's
        assert items[0]["kind"] == "police" and items[0]["chain"] == "本乡镇" and items[0]["local"] is True
        assert items[0]["status_label"] in ("空闲", "忙碌") and "distance_m" in items[0]
    with web_server.client("county_t") as http:  # the county sees every township, its own chain still first
        items = http.get(f"/api/incidents/{incident_id}/recommendations", params={"limit": 20}).json()["items"]
        assert items[0]["jurisdiction_code"] == "330381101"
        assert any(not i["local"] and i["chain"] == "其他乡镇" for i in items)
        first_other = next(n for n, i in enumerate(items) if not i["local"])
        assert all(i["local"] for i in items[:first_other])


def test_several_units_at_once_and_sla_deadlines(web_server) -> None:
    incident_id = _incident(web_server)
    with web_server.client("op_a") as http:
        detail = http.get(f"/api/incidents/{incident_id}").json()
        assert detail["ack_deadline"] is None and detail["resolve_deadline"]  # not dispatched yet: no 签收 clock
        assert detail["sla"]["resolve_overdue"] is False
        units = [i["responder_id"] for i in http.get(f"/api/incidents/{incident_id}/recommendations").json()["items"][:2]]
        assert len(units) == 2
        r = http.post(f"/api/incidents/{incident_id}/dispatch", json={"responder_ids": units, "note": "吹哨报到"})
        assert r.status_code == 200, r.text
        assert sorted(r.json()["assigned_responder_ids"]) == sorted(units)
        assert r.json()["ack_deadline"] and r.json()["sla"]["ack_deadline"] == r.json()["ack_deadline"]
        assignments = http.get(f"/api/incidents/{incident_id}").json()["assignments"]
        assert [a["lead"] for a in assignments] == [True, False]
        assert all(a["ack_deadline"] == r.json()["ack_deadline"] for a in assignments)  # same SLA, same moment
        assert http.post(f"/api/incidents/{incident_id}/acknowledge", json={}).json()["ack_deadline"] is None
        closed = http.post(f"/api/incidents/{incident_id}/false_alarm", json={"reason": "演练"}).json()
        assert closed["ack_deadline"] is None and closed["resolve_deadline"] is None  # closed: no countdown
        assert closed["sla"] == {**closed["sla"], "ack_deadline": None, "resolve_deadline": None, "supervised": False}
