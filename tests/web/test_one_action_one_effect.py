"""One action, one effect: simultaneous submits of the same action over real HTTP give one
change and HTTP 409 "已被他人处理" for the others; 上报上级 goes exactly one level up."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select

from command import Assignment, AuditEvent, intake_alerts
from tests.web.helpers import make_alert


def _fresh_incident(web_server) -> int:
    """A new video incident in township A's village 330381101201 (its own camera: no merge with other tests)."""
    alert = make_alert("camA1").model_copy(update={"camera_id": f"camX-{uuid.uuid4().hex[:8]}", "ts": datetime.now(UTC)})
    with web_server.database.session() as session:
        [result] = intake_alerts(session, [(alert, None)])
        return result.incident.id


def _at_once(web_server, username: str, path: str, body: dict, n: int) -> list[httpx.Response]:
    """``n`` POSTs released together by a barrier, each on its own connection and token."""
    token = web_server.token(username)
    clients = [httpx.Client(base_url=web_server.url, timeout=30, headers={"Authorization": f"Bearer {token}"})
               for _ in range(n)]
    barrier = threading.Barrier(n)
    responses: list[httpx.Response | None] = [None] * n

    def fire(i: int) -> None:
        barrier.wait()
        responses[i] = clients[i].post(path, json=body)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for c in clients:
        c.close()
    assert all(r is not None for r in responses)
    return responses  # type: ignore[return-value]


def _count(web_server, model, *where) -> int:
    with web_server.database.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_simultaneous_dispatches_give_one_assignment_and_409s(web_server) -> None:
    incident_id = _fresh_incident(web_server)
    with web_server.client("op_a") as http:
        detail = http.get(f"/api/incidents/{incident_id}").json()
        responder = http.get(f"/api/incidents/{incident_id}/recommendations").json()["items"][0]["responder_id"]
    body = {"responder_ids": [responder], "note": "双击", "version": detail["version"]}
    responses = _at_once(web_server, "op_a", f"/api/incidents/{incident_id}/dispatch", body, 4)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409], [r.text for r in responses]
    for r in responses:
        if r.status_code == 409:
            assert r.json()["detail"]["reason"] == "已被他人处理", r.text
    assert _count(web_server, Assignment, Assignment.incident_id == incident_id) == 1
    assert _count(web_server, AuditEvent, AuditEvent.incident_id == incident_id, AuditEvent.action == "dispatch") == 1


def test_without_a_version_a_race_still_has_one_winner(web_server) -> None:
    incident_id = _fresh_incident(web_server)
    responses = _at_once(web_server, "op_a", f"/api/incidents/{incident_id}/false_alarm", {"reason": "树影"}, 3)
    assert sorted(r.status_code for r in responses) == [200, 409, 409], [r.text for r in responses]
    assert _count(web_server, AuditEvent, AuditEvent.incident_id == incident_id, AuditEvent.action == "false_alarm") == 1


def test_an_outdated_version_is_refused_without_effect(web_server) -> None:
    incident_id = _fresh_incident(web_server)
    with web_server.client("op_a") as http:
        version = http.get(f"/api/incidents/{incident_id}").json()["version"]
        assert http.post(f"/api/incidents/{incident_id}/colour",
                         json={"colour": "red", "reason": "人员聚集", "version": version}).status_code == 200
        stale = http.post(f"/api/incidents/{incident_id}/escalate", json={"reason": "旧页面", "version": version})
        assert stale.status_code == 409 and stale.json()["detail"]["reason"] == "已被他人处理"
        assert http.get(f"/api/incidents/{incident_id}").json()["escalation_count"] == 0


def test_escalation_goes_one_level_above_the_acting_centre_and_none_at_county(web_server) -> None:
    incident_id = _fresh_incident(web_server)  # a village's camera: handled at township level (orange)
    with web_server.client("op_a") as http:
        before = http.get(f"/api/incidents/{incident_id}").json()
        assert "escalate" in before["allowed_actions"]
        r = http.post(f"/api/incidents/{incident_id}/escalate", json={"reason": "需要县级协调"})
        assert r.status_code == 200, r.text
        assert r.json()["handling_level"] == "county" and r.json()["escalation_count"] == 1
    with web_server.client("county_t") as http:
        detail = http.get(f"/api/incidents/{incident_id}").json()
        assert "escalate" not in detail["allowed_actions"]  # nothing above the county
        again = http.post(f"/api/incidents/{incident_id}/escalate", json={"reason": "再上报"})
        assert again.status_code == 409 and "县级" in again.json()["detail"]["reason"]
    with web_server.client("village_a") as http:  # a village desk escalates its own case to the township
        other = _fresh_incident(web_server)
        with web_server.database.session() as session:
            from command import Incident

            session.get(Incident, other).handling_level = "village"
        r = http.post(f"/api/incidents/{other}/escalate", json={"reason": "村级无法处置"})
        assert r.status_code == 200 and r.json()["handling_level"] == "township", r.text
