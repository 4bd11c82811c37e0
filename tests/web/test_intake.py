"""One door in: 12345 / 110 / grid / citizen reports and bulk work-order imports through the API."""

from __future__ import annotations

import json
import uuid

from tests.web.conftest import TOWNSHIP_A, TOWNSHIP_B
from tests.web.helpers import sample_jpeg


def report(**over) -> dict:
    body = {"source": "hotline_12345", "ref": uuid.uuid4().hex[:12], "title": "噪声扰民", "description": "夜间施工",
            "jurisdiction_code": f"{TOWNSHIP_A}201", "reporter_phone": "13800000000"}
    body.update(over)
    return body


def test_hotline_report_creates_an_incident_and_a_resubmission_is_a_duplicate(web_server) -> None:
    body = report()
    with web_server.client("op_a") as http:
        r = http.post("/api/intake/reports", json=body)
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["created"] and first["incident"]["source"] == "hotline_12345"
        again = http.post("/api/intake/reports", json=body).json()
        assert again["duplicate"] and again["incident"]["id"] == first["incident"]["id"]
        assert http.get(f"/api/incidents/{first['incident']['id']}").status_code == 200
    with web_server.client("op_b") as other:
        assert other.get(f"/api/incidents/{first['incident']['id']}").status_code == 404


def test_reports_outside_scope_or_role_are_refused(web_server) -> None:
    with web_server.client("op_a") as http:
        r = http.post("/api/intake/reports", json=report(jurisdiction_code=f"{TOWNSHIP_B}201"))
        assert r.status_code in (403, 422) and "jurisdiction" in r.text
        r = http.post("/api/intake/reports", json=report(jurisdiction_code=None))
        assert r.status_code == 422 and "jurisdiction_code" in r.text
    with web_server.client("viewer_a") as viewer:
        assert viewer.post("/api/intake/reports", json=report()).status_code == 403
    with web_server.client("grid_a") as grid:
        assert grid.post("/api/intake/reports", json=report()).status_code == 403  # not a hotline operator
        r = grid.post("/api/intake/reports", json=report(source="grid", jurisdiction_code=f"{TOWNSHIP_A}201001"))
        assert r.status_code == 200, r.text


def test_grid_report_with_photo_has_a_snapshot(web_server) -> None:
    body = report(source="grid", title="井盖缺失", jurisdiction_code=f"{TOWNSHIP_A}201001")
    with web_server.client("grid_a") as http:
        r = http.post("/api/intake/reports/with-photos", data={"report": json.dumps(body, ensure_ascii=False)},
                      files=[("photos", ("a.jpg", sample_jpeg(), "image/jpeg"))])
        assert r.status_code == 200, r.text
        incident_id = r.json()["incident"]["id"]
    with web_server.client("op_a") as http:
        snap = http.get(f"/api/incidents/{incident_id}/snapshot")
        assert snap.status_code == 200 and snap.content == sample_jpeg()


def test_bulk_import_reports_bad_rows_by_line_and_imports_the_rest(web_server) -> None:
    tag = uuid.uuid4().hex[:6]
    csv_text = (
        "工单编号,标题,内容,区划代码,联系电话\n"
        f"{tag}-1,路灯不亮,村口路灯坏了,{TOWNSHIP_A}201,13900000001\n"
        f"{tag}-2,,缺标题,{TOWNSHIP_A}201,13900000002\n"
        f"{tag}-3,垃圾堆放,河边垃圾,{TOWNSHIP_A}202,13900000003\n"
    )
    with web_server.client("op_a") as http:
        r = http.post("/api/intake/import?format=csv", files={"file": ("orders.csv", csv_text.encode(), "text/csv")})
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["created"] == 2
        assert [(p["line"], p["field"]) for p in result["problems"]] == [(3, "title")]
        again = http.post("/api/intake/import?format=csv", files={"file": ("orders.csv", csv_text.encode(), "text/csv")}).json()
        assert again["created"] == 0 and again["duplicates"] == 2
        outside = csv_text.replace(f"{TOWNSHIP_A}202", f"{TOWNSHIP_B}202").replace(tag, tag + "x")
        r = http.post("/api/intake/import?format=csv", files={"file": ("orders.csv", outside.encode(), "text/csv")})
        assert r.status_code in (200, 403)
        if r.status_code == 200:  # command refused the row itself
            assert any(p["field"] == "jurisdiction_code" for p in r.json()["problems"])


def test_import_accepts_gb18030_and_rejects_binary(web_server) -> None:
    tag = uuid.uuid4().hex[:6]
    gbk = f"工单编号,标题,区划代码\n{tag},占道经营,{TOWNSHIP_A}203\n".encode("gb18030")
    with web_server.client("op_a") as http:
        r = http.post("/api/intake/import?format=csv", files={"file": ("orders.csv", gbk, "text/csv")})
        assert r.status_code == 200 and r.json()["created"] == 1, r.text
        r = http.post("/api/intake/import?format=csv", files={"file": ("x.csv", b"\xff\xd8\xff\x00binary", "text/csv")})
        assert r.status_code == 422 and r.json()["detail"]["field"] == "body.file"
