"""Issue #13 item 7: answers reveal nothing outside the caller's scope, and the login page follows
only a same-origin relative ``next`` (in real headless Chromium)."""

from __future__ import annotations

import http.server
import threading
import uuid
from pathlib import Path

import pytest

from tests.security.conftest import PASSWORD, TOWNSHIP_A, report
from xueliang.runtime import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_recommendations_list_only_units_in_scope(web_process) -> None:
    with web_process.client("op_a") as http:
        seen = []
        for address in ("城关镇 北门", "城关镇 南门", "城关镇 东门"):
            incident = report(http, township=TOWNSHIP_A, address=f"{address} {uuid.uuid4().hex[:4]}", category="theft")
            r = http.get(f"/api/incidents/{incident['incident']['id']}/recommendations", params={"limit": 20})
            assert r.status_code == 200, r.text
            seen += r.json()["items"]
    assert seen, "the demo county has units in township A"
    outside = [(i["name"], i["jurisdiction_code"], i["distance_m"]) for i in seen if not i["jurisdiction_code"].startswith(TOWNSHIP_A)]
    assert not outside  # before the fix: other townships' police units, with distances


def test_a_taken_username_says_the_same_inside_and_outside_the_scope(web_process) -> None:
    with web_process.client("admin_a") as http:
        def create(username: str):
            return http.post("/api/users", json={"username": username, "password": PASSWORD, "role": "viewer",
                                                 "jurisdiction_code": TOWNSHIP_A})
        outside = create("admin_t")   # the county administrator: not admin_a's to know about
        inside = create("viewer_a")   # an account in admin_a's own township
    assert outside.status_code == inside.status_code == 409
    assert outside.json()["code"] == inside.json()["code"]
    assert outside.json()["message"].replace("admin_t", "X") == inside.json()["message"].replace("viewer_a", "X")
    for r in (outside, inside):
        assert "taken" not in r.text and "330381" not in r.text


@pytest.fixture()
def phishing_site():
    """A second origin on loopback that records whether a browser ever arrived."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"phish")

        def log_message(self, *args):
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port, hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (scripts/setup.sh installs it)")
@pytest.mark.parametrize("next_value", ["/%5C127.0.0.1:{port}/phish", "//127.0.0.1:{port}/phish",
                                        "/%09/127.0.0.1:{port}/phish", "http://127.0.0.1:{port}/phish"])
def test_login_redirect_stays_on_the_site(web_process, phishing_site, next_value) -> None:
    from playwright.sync_api import sync_playwright

    port, hits = phishing_site
    web_process.reset_login_counters()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{web_process.url}/?next={next_value.format(port=port)}")
            page.fill("#username", "op_a")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_selector("#incident-list", timeout=15_000)  # logged in, on our own overview
            page.wait_for_timeout(500)
            assert page.url.startswith(web_process.url), page.url
        finally:
            browser.close()
    assert hits == []


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (scripts/setup.sh installs it)")
def test_login_redirect_follows_a_same_origin_path(web_process) -> None:
    from playwright.sync_api import sync_playwright

    web_process.reset_login_counters()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{web_process.url}/?next=/reports")
            page.fill("#username", "op_a")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_url(f"{web_process.url}/reports", timeout=15_000)
        finally:
            browser.close()
