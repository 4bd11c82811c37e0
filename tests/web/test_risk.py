"""Four-colour risk subjects through the API: create, re-grade (audited), revisit, scope."""

from __future__ import annotations

from tests.web.conftest import TOWNSHIP_A


def test_risk_subject_lifecycle_and_scope(web_server) -> None:
    with web_server.client("op_a") as http:
        r = http.post("/api/risk-subjects", json={"kind": "place", "name": "青山水库", "jurisdiction_code": f"{TOWNSHIP_A}203",
                                                  "colour": "orange"})
        assert r.status_code == 201, r.text
        subject = r.json()
        assert subject["next_revisit_at"]
        r = http.post(f"/api/risk-subjects/{subject['id']}/colour", json={"colour": "red", "reason": "汛期水位超警戒"})
        assert r.status_code == 200 and r.json()["colour"] == "red"
        assert r.json()["next_revisit_at"] < subject["next_revisit_at"]  # red is revisited more often
        assert http.post(f"/api/risk-subjects/{subject['id']}/revisit", json={"outcome": "已巡查"}).status_code == 200
        assert subject["id"] in [s["id"] for s in http.get("/api/risk-subjects").json()["items"]]
    with web_server.client("op_b") as other:
        assert other.get(f"/api/risk-subjects/{subject['id']}").status_code == 404
        assert subject["id"] not in [s["id"] for s in other.get("/api/risk-subjects").json()["items"]]
    with web_server.client("viewer_a") as viewer:
        assert viewer.get(f"/api/risk-subjects/{subject['id']}").status_code == 200
        assert viewer.post(f"/api/risk-subjects/{subject['id']}/colour", json={"colour": "blue", "reason": "x"}).status_code == 403
