"""Incidents raised through command's real intake, read and acted on through the API with scope enforced."""

from __future__ import annotations

import pytest

from tests.web.helpers import raise_incident


@pytest.fixture(scope="module")
def incidents(web_server) -> dict[str, int]:
    return {"A": raise_incident(web_server, "camA1"), "B": raise_incident(web_server, "camB1")}


def test_list_is_scoped_to_the_jurisdiction_subtree(web_server, incidents) -> None:
    def ids(user: str) -> set[int]:
        with web_server.client(user) as http:
            r = http.get("/api/incidents", params={"limit": 500})
            assert r.status_code == 200, r.text
            return {i["id"] for i in r.json()["items"]}

    assert incidents["A"] in ids("op_a") and incidents["B"] not in ids("op_a")
    assert incidents["B"] in ids("op_b") and incidents["A"] not in ids("op_b")
    assert {incidents["A"], incidents["B"]} <= ids("county_t")
    assert incidents["A"] in ids("village_a")  # the village of camA1


def test_detail_snapshot_and_timeline(web_server, incidents) -> None:
    with web_server.client("op_a") as http:
        detail = http.get(f"/api/incidents/{incidents['A']}").json()
        assert detail["camera_id"] == "camA1" and detail["jurisdiction_code"] == "330381101201"
        assert detail["status"] == "classified"  # video alerts are classified by the intake
        assert "dispatch" in detail["allowed_actions"] and "close" not in detail["allowed_actions"]
        snap = http.get(f"/api/incidents/{incidents['A']}/snapshot")
        assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
        assert snap.content[:3] == b"\xff\xd8\xff" and len(snap.content) > 5000
        timeline = http.get(f"/api/incidents/{incidents['A']}/timeline").json()["items"]
        assert timeline and timeline[0]["action"]


def test_other_townships_incident_is_invisible(web_server, incidents) -> None:
    with web_server.client("op_a") as http:
        for path in ("", "/snapshot", "/timeline"):
            r = http.get(f"/api/incidents/{incidents['B']}{path}")
            assert r.status_code == 404, (path, r.text)
        r = http.post(f"/api/incidents/{incidents['B']}/classify", json={"category_code": "public_security"})
        assert r.status_code == 404


def test_snapshot_by_cookie_for_img_tags(web_server, incidents) -> None:
    with web_server.client() as http:
        assert http.get(f"/api/incidents/{incidents['A']}/snapshot").status_code == 401
        http.post("/api/auth/login", json={"username": "op_a", "password": "web-test-Passw0rd"})
        assert http.get(f"/api/incidents/{incidents['A']}/snapshot").status_code == 200
        # but the cookie alone cannot change anything (CSRF)
        r = http.post(f"/api/incidents/{incidents['A']}/false_alarm", json={"reason": "csrf"})
        assert r.status_code == 401


def test_actions_follow_the_state_machine_and_invalid_is_409(web_server) -> None:
    incident_id = raise_incident(web_server, "ptzA2")  # its own camera: alerts of one camera merge for 10 min
    with web_server.client("op_a") as http:
        r = http.post(f"/api/incidents/{incident_id}/resolve", json={"result": "too early"})
        assert r.status_code == 409
        assert "classified" in r.json()["detail"]["reason"]
        categories = http.get("/api/categories").json()["items"]
        assert any(c["police"] for c in categories)
        r = http.post(f"/api/incidents/{incident_id}/classify", json={"category_code": categories[0]["code"]})
        assert r.status_code == 409  # already classified by the intake
        r = http.post(f"/api/incidents/{incident_id}/colour", json={"colour": "red", "reason": "人员聚集"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "classified" and r.json()["colour"] == "red"
        police = web_server.responder_id("police_a")
        r = http.post(f"/api/incidents/{incident_id}/dispatch", json={"responder_ids": [police]})
        assert r.status_code == 200, r.text
        assert police in r.json()["assigned_responder_ids"]
    # the dispatched responder sees it and acknowledges it; another responder cannot
    with web_server.client("grid_a") as other:
        assert other.post(f"/api/incidents/{incident_id}/acknowledge", json={}).status_code in (404, 409)
    with web_server.client("police_a") as phone:
        detail = phone.get(f"/api/incidents/{incident_id}").json()
        assert "acknowledge" in detail["allowed_actions"]
        r = phone.post(f"/api/incidents/{incident_id}/acknowledge", json={})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "acknowledged"
        assert phone.post(f"/api/incidents/{incident_id}/arrive", json={}).json()["status"] == "on_scene"
        r = phone.post(f"/api/incidents/{incident_id}/resolve", json={"result": "劝离，现场恢复正常"})
        assert r.json()["status"] == "resolved"
    with web_server.client("op_a") as http:
        timeline = http.get(f"/api/incidents/{incident_id}/timeline").json()["items"]
        steps = [e["action"] for e in timeline if e["actor"] in ("op_a", "police_a")]
        assert steps == ["set_colour", "dispatch", "acknowledge", "arrive", "resolve"]


def test_photo_upload_and_limits(web_server, incidents) -> None:
    from tests.web.helpers import sample_jpeg

    with web_server.client("op_a") as http:
        r = http.post(f"/api/incidents/{incidents['A']}/photos", files={"photo": ("scene.jpg", sample_jpeg(), "image/jpeg")},
                      data={"note": "现场照片"})
        assert r.status_code == 200, r.text
        photo = http.get(f"/api/incidents/{incidents['A']}/photos/1")
        assert photo.status_code == 200 and photo.content == sample_jpeg()
        r = http.post(f"/api/incidents/{incidents['A']}/photos", files={"photo": ("x.jpg", b"not an image", "image/jpeg")})
        assert r.status_code == 422
        r = http.post(f"/api/incidents/{incidents['A']}/photos",
                      files={"photo": ("big.jpg", b"\xff\xd8\xff" + b"0" * (13 * 1024 * 1024), "image/jpeg")})
        assert r.status_code == 413


def test_oversized_json_is_413_and_malformed_is_422_with_the_field(web_server, incidents) -> None:
    with web_server.client("op_a") as http:
        r = http.post(f"/api/incidents/{incidents['A']}/reject", json={"reason": "x" * (2 * 1024 * 1024)})
        assert r.status_code == 413
        r = http.post(f"/api/incidents/{incidents['A']}/evaluate", json={"satisfaction": "very"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "body.satisfaction"
        r = http.post(f"/api/incidents/{incidents['A']}/classify", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 422
    with web_server.client() as http:
        r = http.post("/api/auth/login", json={"username": "admin_t", "password": "hunter2-secret", "extra": 1})
        assert r.status_code == 422 and "hunter2-secret" not in r.text


def test_queue_holds_open_incidents_most_urgent_first(web_server, incidents) -> None:
    with web_server.client("op_a") as http:
        r = http.post(f"/api/incidents/{incidents['A']}/colour", json={"colour": "red", "reason": "升级"})
        assert r.status_code == 200, r.text
        queue = http.get("/api/incidents/queue").json()["items"]
    assert queue and all(i["is_open"] for i in queue)
    assert queue[0]["colour"] == "red"
    rank = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}
    assert [rank[i["colour"]] for i in queue] == sorted(rank[i["colour"]] for i in queue)
    assert incidents["B"] not in [i["id"] for i in queue]
