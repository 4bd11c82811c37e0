"""Every page an operator, a responder or a viewer opens, scanned for English in visible text,
tooltips, placeholders and toasts (codes, units and brand names allowed: web/english_scan.py).
Prints english_strings_seen per page; the test fails on any.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.web.conftest import PASSWORD, ServerThread, seeded_database
from web.english_scan import record_toasts, scan
from xueliang.runtime import free_port
from xueliang.settings import Settings


from tests.web.conftest import CHROMIUM  # the browser fixture lives there too

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server):
    from sqlalchemy import select

    from command import Actor, AlertIn, Jurisdiction, ReportIn, Responder, create_user, dispatch, intake_alerts, submit_report
    from web import create_app, hash_password

    data_dir = tmp_path_factory.mktemp("pages-english")
    db_url = f"sqlite:///{data_dir / 'web.db'}"
    database = seeded_database(db_url)
    now = datetime.now(UTC)
    with database.session() as session:
        village = session.get(Jurisdiction, "330381101201")
        unit = session.scalar(select(Responder).where(Responder.kind == "police", Responder.jurisdiction_code == "330381101"))
        create_user(session, "scan_county", hash_password(PASSWORD), "county_operator", "330381", display_name="钱值班")
        create_user(session, "scan_police", hash_password(PASSWORD), "responder", "330381101", display_name="孙民警", responder_id=unit.id)
        create_user(session, "scan_viewer", hash_password(PASSWORD), "viewer", "330381", display_name="周查看")
        operator = Actor("scan_county", "county_operator", "330381", None, "test")
        alert = AlertIn(alert_id=uuid.uuid4().hex, camera_id="scancam", camera_name="东城街道 车站", jurisdiction_code="330381101201",
                        lat=village.center_lat, lon=village.center_lon, rule_id="zone", rule_kind="zone_intrusion", object_class="person",
                        confidence=0.8, track_id=1, ts=now, boxes=[[1, 2, 30, 60]], frame_width=480, frame_height=360,
                        dedup_key="scancam:1", clip_path=None)
        [video] = intake_alerts(session, [(alert, None)], now=now)
        dispatch(session, video.incident.id, operator, responder_ids=[unit.id], now=now)
        hotline = submit_report(session, ReportIn(source="hotline_12345", title="楼上漏水", description="楼上住户漏水，多次沟通无果",
                                                  category_code="dispute", jurisdiction_code="330381101201", address="东城街道幸福路8号",
                                                  reporter_name="吴先生", reporter_phone="13700001234"), operator, now=now).incident
        ids = {"video": video.incident.id, "hotline": hotline.id}
    cameras = data_dir / "cameras.yaml"
    cameras.write_text(f"""version: 1
cameras:
  - id: scancam
    name: 东城街道 车站
    jurisdiction: "330381101201"
    position: {{lat: {village.center_lat}, lon: {village.center_lon}}}
    kind: fixed
    streams: {{main: rtsp://127.0.0.1:9/none}}
    analysis: {{mode: off}}
""", encoding="utf-8")
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/7"
    import redis as redis_lib

    from command import publish_event

    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    # a camera whose RTSP connection is refused: the devices page names the error in Chinese
    publish_event(client, "device.status", "330381101201", {"camera_id": "scancam", "status": "offline", "reason": "Connection refused",
                                                            "since": now.isoformat(), "last_frame_at": None,
                                                            "metrics": {"mean": 80.5, "sharpness": 0.31}})
    client.close()
    settings = Settings(data_dir=data_dir, cameras_file=cameras, database_url=db_url,
                        redis_url=redis_url, secret_key="pages-english-secret-0123456789abcdef",
                        web_port=free_port())
    server = ServerThread(create_app(settings), settings.web_port)
    server.start()
    try:
        yield {"url": f"http://127.0.0.1:{settings.web_port}", "ids": ids}
    finally:
        server.stop()
        database.dispose()


def _visit(browser, stack, username: str, paths: list[str], phone: bool = False) -> dict[str, list[str]]:
    args = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True} if phone else {"viewport": {"width": 1440, "height": 900}}
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **args)
    context.route("**/api/live/**", lambda route: route.abort())
    page = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        page.goto(stack["url"] + "/")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("#overview:not(.hidden)", timeout=30_000)
        for path in paths:
            page.goto(stack["url"] + path)
            page.wait_for_selector("#overview:not(.hidden)" if path == "/" else "body[data-ready]", timeout=30_000)
            record_toasts(page)
            page.wait_for_timeout(1500)
            found[f"{username} {path}"] = scan(page)
    finally:
        context.close()
    return found


def test_no_english_on_any_page(browser, stack):
    ids = stack["ids"]
    found = {}
    found.update(_visit(browser, stack, "scan_county", ["/", "/wall", f"/desk#{ids['video']}", f"/desk#{ids['hotline']}",
                                                          "/map", "/reports", "/devices"]))
    found.update(_visit(browser, stack, "scan_police", ["/responder"], phone=True))
    found.update(_visit(browser, stack, "scan_viewer", ["/", "/desk", "/reports"]))
    seen = sum(len(v) for v in found.values())
    print(f"english_strings_seen {seen}")
    for page, words in found.items():
        print(f"  {page}: {len(words)} {words[:8]}")
    assert seen == 0, {k: v for k, v in found.items() if v}


def test_devices_page_names_a_network_error_in_chinese(browser, stack):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    try:
        page.goto(stack["url"] + "/")
        page.fill("#username", "scan_county")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("#overview:not(.hidden)")
        page.goto(stack["url"] + "/devices")
        row = page.locator("tr[data-camera='scancam']")
        row.wait_for()
        text = row.inner_text()
        assert "连接被拒绝" in text and "离线" in text, text
        assert "前山村" in text, text  # the village by name, not 330381101201
        assert "Connection" not in text and "330381101201" not in text
    finally:
        context.close()
