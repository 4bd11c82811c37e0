"""The desk's search and 交接班 through the HTTP API: scope, zh-CN errors, hotline fields, paging, audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.web.conftest import PASSWORD, TOWNSHIP_A, TOWNSHIP_B


def _cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.fixture(scope="module")
def county_pair(web_server):
    """Two county operators of their own (the shared accounts stay untouched)."""
    from command import create_user
    from web import hash_password

    tag = uuid.uuid4().hex[:6]
    names = (f"out_{tag}", f"in_{tag}")
    with web_server.database.session() as session:
        for name in names:
            create_user(session, name, hash_password(PASSWORD), "county_operator", "330381", display_name=f"值班员{name[-3:]}")
    return names


def _hotline(http, tag: str, code: str, **over) -> dict:
    body = {"source": "hotline_12345", "ref": f"GD-{tag}", "title": f"噪声扰民 {tag}", "description": f"夜间施工噪音 {tag}",
            "jurisdiction_code": code, "address": f"人民路{tag}号", "reporter_name": "周晓梅", "reporter_phone": "13805771234",
            "category_code": "noise", "reported_at": "2026-11-19T21:15:00+08:00"}
    body.update(over)
    r = http.post("/api/intake/reports", json=body)
    assert r.status_code == 200, r.text
    return r.json()["incident"]


def test_search_finds_by_text_number_and_work_order_inside_scope_only(web_server):
    tag = uuid.uuid4().hex[:8]
    with web_server.client("op_a") as http:
        inc = _hotline(http, tag, f"{TOWNSHIP_A}201")
        for q in (tag, f"人民路{tag}号", f"GD-{tag}", str(inc["id"])):
            r = http.get("/api/search/incidents", params={"q": q})
            assert r.status_code == 200, r.text
            body = r.json()
            assert inc["id"] in [i["id"] for i in body["items"]], q
        hit = next(i for i in body["items"] if i["id"] == inc["id"])
        # the hotline fields travel with the result, and names come with codes
        assert (hit["description"], hit["address"], hit["reporter_name"], hit["reporter_phone"]) == (
            f"夜间施工噪音 {tag}", f"人民路{tag}号", "周晓梅", "13805771234")
        assert hit["category"] == "噪音扰民" and hit["status_label"] and hit["jurisdiction_name"]
        detail = http.get(f"/api/incidents/{inc['id']}").json()
        assert detail["reporter_phone"] == "13805771234"
        assert detail["sources"][0]["reported_at"].startswith("2026-11-19T13:15")
        r = http.get("/api/search/incidents", params={"q": tag, "source": "hotline_12345", "category": "noise",
                                                        "status": inc["status"], "jurisdiction_code": TOWNSHIP_A,
                                                        "since": datetime.now(UTC).date().isoformat()})
        assert [i["id"] for i in r.json()["items"]] == [inc["id"]]
    with web_server.client("op_b") as other:
        r = other.get("/api/search/incidents", params={"q": tag})
        assert r.status_code == 200 and r.json()["items"] == [] and r.json()["total"] == 0
        r = other.get("/api/search/incidents", params={"jurisdiction_code": TOWNSHIP_A})
        assert r.status_code == 422
        err = r.json()
        assert err["code"] == "search.out_of_scope" and _cjk(err["message"]) and err["errors"][0]["field"] == "query.jurisdiction_code"
        r = other.get("/api/search/incidents", params={"cursor": "garbage"})
        assert r.status_code == 422 and r.json()["code"] == "search.bad_cursor" and _cjk(r.json()["message"])


def test_search_pages_with_next_cursor(web_server):
    tag = uuid.uuid4().hex[:8]
    with web_server.client("op_a") as http:
        made = [_hotline(http, f"{tag}{n:02d}", f"{TOWNSHIP_A}20{1 + n % 3}", ref=f"P-{tag}-{n}")["id"] for n in range(7)]
        seen: list[int] = []
        params = {"q": tag, "limit": 3}
        first = http.get("/api/search/incidents", params=params).json()
        assert first["total"] == 7
        page = first
        while True:
            seen.extend(i["id"] for i in page["items"])
            if not page["next_cursor"]:
                break
            page = http.get("/api/search/incidents", params={**params, "cursor": page["next_cursor"]}).json()
        assert seen == sorted(made, reverse=True)


def test_handover_given_and_acknowledged_through_the_api(web_server, county_pair):
    outgoing, incoming = county_pair
    now = datetime.now(UTC)
    with web_server.client("op_a") as http:
        red = _hotline(http, uuid.uuid4().hex[:8], f"{TOWNSHIP_A}202", colour="red")
    with web_server.client(outgoing) as out:
        r = out.post("/api/handover/roster", json={"username": outgoing, "starts_at": (now - timedelta(hours=8)).isoformat(),
                                                   "ends_at": (now + timedelta(minutes=5)).isoformat()})
        assert r.status_code == 201, r.text
        r = out.post("/api/handover/roster", json={"username": incoming, "starts_at": (now + timedelta(minutes=5)).isoformat(),
                                                   "ends_at": (now + timedelta(hours=8)).isoformat()})
        assert r.status_code == 201 and r.json()["username_name"].startswith("值班员")
        roster = out.get("/api/handover/roster").json()
        assert roster["on_duty"] == outgoing and {s["username"] for s in roster["items"]} >= {outgoing, incoming}
        draft = out.get("/api/handover/draft").json()
        assert draft["next_user"] == incoming
        assert red["id"] in [i["incident_id"] for i in draft["items"]]
        r = out.post("/api/handover", json={"note": "红色警情需跟进", "item_notes": {str(red["id"]): "已通知城关派出所"}})
        assert r.status_code == 201, r.text
        given = r.json()
        assert given["to_user"] == incoming and given["from_user_name"].startswith("值班员")
        again = out.post("/api/handover", json={})
        assert again.status_code == 409 and again.json()["code"] == "handover.pending" and _cjk(again.json()["message"])
    with web_server.client("op_b") as stranger:
        assert stranger.get(f"/api/handover/{given['id']}").status_code == 404
        assert stranger.post(f"/api/handover/{given['id']}/acknowledge", json={}).status_code == 404
    with web_server.client(incoming) as inc:
        pending = inc.get("/api/handover", params={"pending_for_me": "true"}).json()["items"]
        assert [p["id"] for p in pending] == [given["id"]]
        item = next(i for i in pending[0]["items"] if i["incident_id"] == red["id"])
        assert item["note"] == "已通知城关派出所" and item["colour"] == "red"
        r = inc.post(f"/api/handover/{given['id']}/acknowledge", json={"note": "已接班"})
        assert r.status_code == 200 and r.json()["status"] == "acknowledged" and r.json()["acknowledged_by"] == incoming
        assert inc.get("/api/handover", params={"pending_for_me": "true"}).json()["items"] == []
    with web_server.client("viewer_a") as viewer:
        r = viewer.post("/api/handover", json={})
        assert r.status_code == 403 and _cjk(r.json()["message"])
    from sqlalchemy import select

    from command import AuditEvent

    with web_server.database.session() as session:
        rows = session.execute(select(AuditEvent.action, AuditEvent.actor).where(
            AuditEvent.subject_type == "handover", AuditEvent.subject_id == str(given["id"])).order_by(AuditEvent.id)).all()
    assert [tuple(r) for r in rows] == [("handover_given", outgoing), ("handover_acknowledged", incoming)]


def test_roster_outside_scope_is_not_found(web_server):
    with web_server.client("op_a") as http:
        r = http.get("/api/handover/roster", params={"centre_code": TOWNSHIP_B})
        assert r.status_code == 404 and _cjk(r.json()["message"])
