"""Issue #13 item 1: a township administrator cannot bind an account to another township's unit,
and a unit binding outside an account's own scope reads nothing. Responder accounts see only what
is assigned to their unit (item 7: and attach photos only there)."""

from __future__ import annotations

import uuid

from command import create_user
from web import hash_password

from tests.security.conftest import PASSWORD, TOWNSHIP_A, TOWNSHIP_B, report

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _dispatched_incident(web_process, operator: str, township: str, responder: str) -> int:
    with web_process.client(operator) as http:
        incident = report(http, township=township, address=f"测试路 {uuid.uuid4().hex[:8]} 号")["incident"]
        r = http.post(f"/api/incidents/{incident['id']}/dispatch",
                      json={"responder_ids": [web_process.responder_id(responder)]})
        assert r.status_code == 200, r.text
    return incident["id"]


def test_admin_cannot_bind_an_account_to_another_townships_unit(web_process) -> None:
    police_b = web_process.responder_id("police_b")
    with web_process.client("admin_a") as http:
        r = http.post("/api/users", json={"username": f"takeover-{uuid.uuid4().hex[:6]}", "password": PASSWORD,
                                          "role": "responder", "jurisdiction_code": TOWNSHIP_A, "responder_id": police_b})
        assert r.status_code == 404, r.text  # like a unit that does not exist
        assert r.json()["code"] == "not_found"
        # its own unit is fine
        own = http.post("/api/users", json={"username": f"own-{uuid.uuid4().hex[:6]}", "password": PASSWORD,
                                            "role": "responder", "jurisdiction_code": TOWNSHIP_A,
                                            "responder_id": web_process.responder_id("police_a")})
        assert own.status_code == 201, own.text


def test_a_foreign_binding_reads_nothing(web_process) -> None:
    incident_id = _dispatched_incident(web_process, "op_b", TOWNSHIP_B, "police_b")
    # Accounts that carry B's unit but are scoped to A, however they came to exist (an older
    # version's API, a hand-edited database): neither a responder nor an operator reads B's case.
    names = []
    with web_process.database.session() as session:
        for role in ("responder", "township_operator"):
            name = f"foreign-{role}-{uuid.uuid4().hex[:6]}"
            create_user(session, name, hash_password(PASSWORD), role, TOWNSHIP_A,
                        responder_id=web_process.responder_id("police_b"))
            names.append(name)
    for name in names:
        with web_process.client(name) as http:
            for path in ("", "/timeline", "/snapshot"):
                assert http.get(f"/api/incidents/{incident_id}{path}").status_code == 404, (name, path)
            assert http.post(f"/api/incidents/{incident_id}/acknowledge", json={}).status_code == 404
            assert http.post(f"/api/incidents/{incident_id}/resolve", json={"result": "伪造的办结"}).status_code == 404
            assert all(i["id"] != incident_id for i in http.get("/api/incidents").json()["items"])
    with web_process.client("police_b") as http:  # the unit's real account still works
        assert http.get(f"/api/incidents/{incident_id}").status_code == 200


def test_responder_sees_and_adds_photos_only_where_assigned(web_process) -> None:
    with web_process.client("op_a") as http:
        unassigned = report(http, township=TOWNSHIP_A, address=f"城关路 {uuid.uuid4().hex[:8]} 号")["incident"]["id"]
    assigned = _dispatched_incident(web_process, "op_a", TOWNSHIP_A, "police_a")
    with web_process.client("police_a") as http:
        assert http.get(f"/api/incidents/{unassigned}").status_code == 404
        r = http.post(f"/api/incidents/{unassigned}/photos", files={"photo": ("p.png", PNG, "image/png")})
        assert r.status_code == 404, r.text
        listed = {i["id"] for i in http.get("/api/incidents").json()["items"]}
        assert unassigned not in listed and assigned in listed
        assert http.get(f"/api/incidents/{assigned}").status_code == 200
        r = http.post(f"/api/incidents/{assigned}/photos", files={"photo": ("p.png", PNG, "image/png")})
        assert r.status_code == 200, r.text
