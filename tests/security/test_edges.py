"""Issue #13 item 9: bad input at the edge answers 4xx in the declared error body — never a 500,
never a dropped connection — and body limits hold for chunked bodies too."""

from __future__ import annotations

import csv
import json

import pytest

HUGE = str(2**64)


def _is_error_body(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"code", "message", "detail", "errors"}, body
    assert isinstance(body["code"], str) and isinstance(body["message"], str) and isinstance(body["errors"], list)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), body["message"]  # zh-CN for the operator
    return body


@pytest.mark.parametrize("method,path,payload", [
    ("GET", f"/api/incidents/{HUGE}", None),
    ("GET", f"/api/incidents/{HUGE}/timeline", None),
    ("GET", f"/api/responders/{HUGE}", None),
    ("GET", f"/api/incidents?before_id={HUGE}", None),
    ("GET", f"/api/incidents/1/recommendations?limit={HUGE}", None),
    ("POST", f"/api/incidents/{HUGE}/acknowledge", {}),
    ("POST", "/api/incidents/1/dispatch", {"responder_ids": [2**64]}),
    ("POST", "/api/users", {"username": "big-int", "password": "0123456789ab", "role": "viewer",
                            "jurisdiction_code": "330381101", "responder_id": 2**64}),
])
def test_integers_beyond_the_database_answer_422(web_process, method, path, payload) -> None:
    with web_process.client("admin_a") as http:
        r = http.request(method, path, json=payload)
    body = _is_error_body(r, 422)
    assert body["code"] == "validation_error" and body["errors"]


def test_the_422_body_is_the_declared_schema(web_process) -> None:
    with web_process.client("op_a") as http:
        spec = http.get("/api/openapi.json").json()
    declared = spec["paths"]["/api/incidents/{incident_id}"]["get"]["responses"]["422"]
    assert declared["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(spec["components"]["schemas"]["ErrorBody"]["properties"]) == {"code", "message", "detail", "errors"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_an_oversized_csv_field_is_a_422_naming_the_line(web_process) -> None:
    field = "长" * (csv.field_size_limit() + 10)
    data = f"ref,title,description,jurisdiction_code\nBIG-1,标题,\"{field}\",330381101201\n".encode()
    with web_process.client("op_a") as http:
        r = http.post("/api/intake/import?format=csv", files={"file": ("big.csv", data, "text/csv")})
    body = _is_error_body(r, 422)
    assert "第 2 行" in body["message"] and "KiB" in body["message"], body


def _chunks(total: int, size: int = 256 * 1024):
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def test_chunked_bodies_over_the_limit_answer_413(web_process) -> None:
    with web_process.client("op_a") as http:
        # no Content-Length: httpx sends a generator with Transfer-Encoding: chunked
        r = http.post("/api/intake/reports", content=_chunks(2 * 1024 * 1024),
                      headers={"Content-Type": "application/json"})
        _is_error_body(r, 413)
        boundary = "xlboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
                "Content-Type: text/csv\r\n\r\n").encode()

        def multipart():
            yield head
            yield from _chunks(13 * 1024 * 1024)
            yield f"\r\n--{boundary}--\r\n".encode()

        r = http.post("/api/intake/import?format=csv", content=multipart(),
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        _is_error_body(r, 413)


def test_six_large_photos_exceed_the_stated_upload_limit(web_process) -> None:
    photo = b"\xff\xd8\xff" + b"\x00" * (6 * 1024 * 1024)
    report = {"source": "hotline_12345", "title": "六张大照片", "jurisdiction_code": "330381101201"}
    with web_process.client("op_a") as http:
        r = http.post("/api/intake/reports/with-photos", data={"report": json.dumps(report)},
                      files=[("photos", (f"p{i}.jpg", photo, "image/jpeg")) for i in range(6)])
    body = _is_error_body(r, 413)
    assert "12 MiB" in body["message"]  # the limit docs/web.md states
