"""Issue #13 item 8: nobody can write a line of their own into the web process's log."""

from __future__ import annotations

import time

FORGED = "2026-12-03 14:30:00,000 INFO web.auth: login admin (admin, 330381) from 10.0.0.1"


def test_a_request_cannot_forge_a_log_line(web_process) -> None:
    with web_process.client() as http:  # no login needed for this
        http.get("/api/health%0a" + FORGED.replace(" ", "%20"))
        http.get("/api/health%0d%0a" + FORGED.replace(" ", "%20") + "%1b[2J")
        r = http.post("/api/auth/login", json={"username": "x\n" + FORGED[:50], "password": "wrong-password"})
        assert r.status_code in (401, 429)
    time.sleep(0.5)  # the access log line is written as the response finishes
    lines = web_process.log_text().splitlines()
    assert not [line for line in lines if line.startswith(FORGED[:40])]
    assert not any("\x1b" in line for line in lines)
    escaped = [line for line in lines if "/api/health\\n2026-12-03" in line]
    assert escaped, "the request is still logged, on one line, with the newline visible as \\n"
    web_process.reset_login_counters()
