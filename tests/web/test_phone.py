"""The phone's API for grid workers and responders: a report with position → the worker's own grid,
退回 with a reason, tasks with address/navigation/deadline, and the worker's history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from command import Jurisdiction, intake_alerts
from tests.web.helpers import make_alert

GRID = "330381101201001"  # grid_a's grid (tests/web/conftest.py)


def _centre(web_server, code: str) -> tuple[float, float]:
    with web_server.database.session() as session:
        place = session.get(Jurisdiction, code)
        return place.center_lat, place.center_lon


def test_grid_worker_reports_from_the_phone_into_their_own_grid(web_server) -> None:
    lat, lon = _centre(web_server, GRID)
    with web_server.client("grid_a") as http:
        r = http.post("/api/intake/reports", json={"source": "grid", "title": "井盖缺失", "category_code": "road_damage",
                                                   "lat": lat, "lon": lon, "ref": uuid.uuid4().hex[:12]})
        assert r.status_code == 200, r.text
        assert r.json()["incident"]["jurisdiction_code"] == GRID
        sibling = _centre(web_server, "330381101201002")
        refused = http.post("/api/intake/reports", json={"source": "grid", "title": "别人网格", "category_code": "road_damage",
                                                         "lat": sibling[0], "lon": sibling[1]})
        assert refused.status_code == 422 and "不在" in str(refused.json()), refused.text


def test_reject_with_reason_shows_in_the_responders_history(web_server) -> None:
    alert = make_alert("camA1").model_copy(update={"camera_id": f"camP-{uuid.uuid4().hex[:8]}", "ts": datetime.now(UTC),
                                                   "lat": 27.6, "lon": 120.4})
    with web_server.database.session() as session:
        [result] = intake_alerts(session, [(alert, None)])
        incident_id = result.incident.id
    police = web_server.responder_id("police_a")
    with web_server.client("op_a") as http:
        assert http.post(f"/api/incidents/{incident_id}/dispatch", json={"responder_ids": [police]}).status_code == 200
    with web_server.client("police_a") as http:
        [task] = [t for t in http.get("/api/me/tasks").json()["items"] if t["id"] == incident_id]
        assert task["task"]["status_label"] == "待签收" and task["task"]["ack_deadline"]
        assert task["task"]["nav_url"] == "geo:27.600000,120.400000?q=27.600000,120.400000"
        assert http.post(f"/api/incidents/{incident_id}/reject", json={"reason": ""}).status_code == 422
        r = http.post(f"/api/incidents/{incident_id}/reject", json={"reason": "不属于本所辖区"})
        assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
        [row] = [h for h in http.get("/api/me/history").json()["items"] if h["incident_id"] == incident_id]
        assert (row["status"], row["status_label"], row["note"]) == ("rejected", "已退回", "不属于本所辖区")
    with web_server.client("op_a") as http:
        rows = http.get(f"/api/responders/{police}/history").json()["items"]
        assert any(h["incident_id"] == incident_id and h["status"] == "rejected" for h in rows)
    with web_server.client("op_b") as http:
        assert http.get(f"/api/responders/{police}/history").status_code == 404
