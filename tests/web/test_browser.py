"""The pages in real headless Chromium (Debian's /usr/bin/chromium through Playwright).

A real stack per module: migrated and seeded database, Valkey, the web app on a free
port, and command's real worker (`xueliang command run`) as a child process. Alerts
are put on xl:alerts exactly as analytics does; the worker turns them into incidents
and events, and the pages must show them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.web.conftest import ServerThread, logged_in_page, seeded_database
from tests.web.helpers import publish
from xueliang.runtime import free_port, spawn, stop
from xueliang.settings import Settings

PASSWORD = "web-test-Passw0rd"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
APPEAR_WITHIN_S = 3.0
PUSH_WITHIN_MS = 15_000  # a push reaching another page; generous because CI shares 2 cores with the RTSP server and workers

from tests.web.conftest import CHROMIUM  # the browser fixture lives there too

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server):
    data_dir = tmp_path_factory.mktemp("browser-stack")
    cameras_file = data_dir / "cameras.yaml"
    cameras_file.write_text((Path(__file__).parent / "cameras.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    # A fresh Redis database number: this module's streams and consumer group are its own.
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/3"
    import redis as redis_lib

    redis_lib.Redis.from_url(redis_url).flushdb()
    settings = Settings(data_dir=data_dir, cameras_file=cameras_file, database_url=f"sqlite:///{data_dir / 'web.db'}",
                        redis_url=redis_url, secret_key="browser-test-secret-0123456789abcdef", web_port=free_port())
    database = seeded_database(settings.resolved_database_url())
    from web import create_app

    server = ServerThread(create_app(settings), settings.web_port)
    server.start()
    worker = spawn([sys.executable, "-m", "xueliang.cli", "command", "run"], env={
        "DATABASE_URL": settings.resolved_database_url(), "REDIS_URL": redis_url,
        "XUELIANG_DATA_DIR": str(data_dir), "XUELIANG_CAMERAS_FILE": str(cameras_file),
    }, log_path=data_dir / "command.log")
    _wait_until_consuming(redis_url, worker, data_dir / "command.log")
    try:
        yield {"url": f"http://127.0.0.1:{settings.web_port}", "settings": settings, "database": database,
               "redis_url": redis_url, "worker_log": data_dir / "command.log"}
    finally:
        stop(worker, timeout=10)
        server.stop()
        database.dispose()


def _wait_until_consuming(redis_url: str, worker, log: Path, timeout: float = 60) -> None:
    """The worker is up once its consumer shows in group 'command' (so the 3 s budget is not spent on its start)."""
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            assert worker.poll() is None, f"command worker exited: {log.read_text()[-2000:]}"
            try:
                if any(g["consumers"] for g in client.xinfo_groups("xl:alerts")):
                    return
            except redis_lib.ResponseError:
                pass  # stream not created yet
            time.sleep(0.1)
    finally:
        client.close()
    raise AssertionError(f"command worker did not start consuming within {timeout}s: {log.read_text()[-2000:]}")


def login(browser, stack, username: str, **context_args):
    return logged_in_page(browser, stack["url"], username, **context_args)


def open_live(page, path: str) -> None:
    page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + path)
    page.wait_for_selector("#conn-state.live", timeout=10_000)


def wait_js(page, expression: str, timeout: float = 10) -> None:
    """Poll a JS expression with page.evaluate (wait_for_function would need eval, which the app's CSP forbids)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(f"() => Boolean({expression})"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{expression} still false after {timeout}s")


def incident_for(stack, alert) -> int:
    from sqlalchemy import select

    from command import IncidentSource

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with stack["database"].session() as session:
            found = session.scalar(select(IncidentSource.incident_id).where(IncidentSource.ref == alert.alert_id))
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"the command worker opened no incident; log:\n{stack['worker_log'].read_text()[-3000:]}")


def test_login_shows_the_live_list_and_an_alert_reaches_the_desk_within_3s(browser, stack, shots) -> None:
    context, page = login(browser, stack, "op_a", viewport=DESKTOP)
    page.screenshot(path=str(shots / "overview-empty.png"))
    open_live(page, "/desk")
    started = time.monotonic()
    alert = publish(stack["redis_url"], "camA1", position=False)
    page.wait_for_selector(".queue-item", timeout=APPEAR_WITHIN_S * 1000)
    elapsed = time.monotonic() - started
    incident_id = incident_for(stack, alert)
    assert page.locator(f'.queue-item[data-id="{incident_id}"]').count() == 1
    print(f"alert on xl:alerts -> incident on the desk: {elapsed:.2f}s")
    assert elapsed <= APPEAR_WITHIN_S
    page.click(f'.queue-item[data-id="{incident_id}"]')
    page.wait_for_selector(".detail-snap img")
    wait_js(page, "document.querySelector('.detail-snap img').naturalWidth > 0")
    assert page.locator(".detail-snap .box-overlay rect").count() == 1
    # the drawn box sits on the detection: box [62, 50, 112, 187] of a 480x360 frame (narrower than the pane)
    g = page.evaluate("""() => {
      const i = document.querySelector('.detail-snap img').getBoundingClientRect();
      const r = document.querySelector('.detail-snap .box-overlay rect').getBoundingClientRect();
      return {ix: i.x, iy: i.y, iw: i.width, ih: i.height, rx: r.x, ry: r.y, rw: r.width, rh: r.height};
    }""")
    assert abs(g["rx"] - (g["ix"] + 62 / 480 * g["iw"])) < 3 and abs(g["ry"] - (g["iy"] + 50 / 360 * g["ih"])) < 3, g
    assert abs(g["rw"] - 50 / 480 * g["iw"]) < 4, g
    page.screenshot(path=str(shots / "desk.png"))
    # the overview page lists it with its snapshot
    open_live(page, "/")
    page.wait_for_selector(f'.incident-card[data-id="{incident_id}"] img')
    page.screenshot(path=str(shots / "overview.png"))
    assert page.errors == []
    context.close()


def test_responder_accepts_on_the_phone_and_the_desk_updates(browser, stack, shots) -> None:
    desk_ctx, desk = login(browser, stack, "op_a", viewport=DESKTOP)
    phone_ctx, phone = login(browser, stack, "police_a", **PHONE)
    open_live(phone, "/responder")
    alert = publish(stack["redis_url"], "ptzA2", position=False)
    incident_id = incident_for(stack, alert)
    open_live(desk, f"/desk#{incident_id}")
    desk.wait_for_selector('#actions button[data-action="dispatch"]')
    desk.click('#actions button[data-action="dispatch"]')
    police_a = _responder_id(stack, "police_a")
    desk.wait_for_selector(f'.dispatch-form .unit-row[data-responder="{police_a}"] input')
    desk.check(f'.dispatch-form .unit-row[data-responder="{police_a}"] input')
    desk.click('.action-form[data-action="dispatch"] button[type="submit"]')
    # the push reaches the phone: banner, task card, accept button
    phone.wait_for_selector(f'.task[data-id="{incident_id}"] button[data-action="acknowledge"]', timeout=PUSH_WITHIN_MS)
    assert phone.get_attribute("body", "data-last-push") == str(incident_id)
    phone.screenshot(path=str(shots / "responder-new-task.png"))
    phone.click(f'.task[data-id="{incident_id}"] button[data-action="acknowledge"]')
    desk.wait_for_selector(f'.queue-item[data-id="{incident_id}"][data-status="acknowledged"]', timeout=PUSH_WITHIN_MS)
    # arrive, then resolve with a note and a photo
    phone.click(f'.task[data-id="{incident_id}"] button[data-action="arrive"]')
    phone.wait_for_selector(f'.task[data-id="{incident_id}"][data-status="on_scene"]')
    phone.fill(f'.task[data-id="{incident_id}"] textarea', "现场人员已劝离，秩序恢复")
    photo = stack["settings"].data_dir / "scene.jpg"
    from tests.web.helpers import sample_jpeg

    photo.write_bytes(sample_jpeg())
    phone.set_input_files(f'.task[data-id="{incident_id}"] input[type=file]', str(photo))
    phone.screenshot(path=str(shots / "responder.png"))
    phone.click(f'.task[data-id="{incident_id}"] button[data-action="resolve"]')
    desk.wait_for_selector(f'.queue-item[data-id="{incident_id}"][data-status="resolved"]', timeout=PUSH_WITHIN_MS)
    desk.wait_for_selector("#detail-status")
    desk.wait_for_selector('ol.timeline li:has-text("办结")', timeout=PUSH_WITHIN_MS)  # the detail re-renders after the queue
    timeline = desk.inner_text("ol.timeline")
    assert "系统 · 受理" in timeline and "分类登记" in timeline and "办结" in timeline, timeline
    assert not any(word in timeline for word in ("system", "receive", "classify", "dispatch")), timeline  # all zh-CN
    desk.screenshot(path=str(shots / "desk-resolved.png"))
    assert desk.errors == [] and phone.errors == []
    desk_ctx.close()
    phone_ctx.close()


def test_hotline_call_registered_on_the_desk_becomes_an_incident(browser, stack, shots) -> None:
    context, page = login(browser, stack, "op_a", viewport=DESKTOP)
    open_live(page, "/desk")
    page.click("#new-report")
    page.wait_for_selector("#report-jurisdiction option", state="attached")
    page.fill('#report-form input[name="title"]', "施工噪声扰民")
    page.fill('#report-form textarea[name="description"]', "夜间23点后仍在施工")
    page.select_option("#report-jurisdiction", "330381101201")
    page.fill('#report-form input[name="reporter_phone"]', "13800000000")
    page.screenshot(path=str(shots / "desk-intake.png"))
    page.click('#report-form button[type="submit"]')
    page.wait_for_selector('.queue-item.selected')
    page.wait_for_selector("#detail-status")
    assert "施工噪声扰民" in page.inner_text(".queue-item.selected")
    assert "12345" in page.inner_text("#detail")
    assert page.errors == []
    context.close()


def test_device_page_follows_device_status_events(browser, stack, shots) -> None:
    """devices' own publisher (devices.health.publish_status) → xl:events → the device page, live."""
    from datetime import UTC, datetime

    import redis as redis_lib

    from devices.health import DeviceStatus, HealthReport, publish_status

    context, page = login(browser, stack, "op_a", viewport=DESKTOP)
    open_live(page, "/devices")
    page.wait_for_selector('tr[data-camera="camA1"]')
    assert page.locator('tr[data-camera="camB1"]').count() == 0  # another township's camera
    now = datetime.now(UTC)
    client = redis_lib.Redis.from_url(stack["redis_url"])
    for camera_id, code, status, faults in (("camA1", "330381101201", DeviceStatus.degraded, {"blur": "laplacian variance 12"}),
                                            ("camB1", "330381102203", DeviceStatus.offline, {})):
        publish_status(client, HealthReport(camera_id=camera_id, camera_name=camera_id, jurisdiction_code=code, status=status,
                                            reason="picture blurred" if faults else "no frames for 30 s", since=now,
                                            last_frame_at=now, faults=faults, checked_at=now))
    page.wait_for_selector('tr[data-camera="camA1"][data-status="degraded"]', timeout=PUSH_WITHIN_MS)
    assert "模糊" in page.inner_text('tr[data-camera="camA1"]')
    # back to a sharp picture: the row shows the measured figures instead of a fault
    publish_status(client, HealthReport(camera_id="camA1", camera_name="camA1", jurisdiction_code="330381101201",
                                        status=DeviceStatus.online, reason="picture OK", since=now, last_frame_at=now,
                                        faults={}, metrics={"mean": 121.6, "std": 48.2, "sharpness": 0.843}, checked_at=now))
    client.close()
    page.wait_for_selector('tr[data-camera="camA1"][data-status="online"]', timeout=PUSH_WITHIN_MS)
    row = page.inner_text('tr[data-camera="camA1"]')
    assert "正常 · 亮度 122 · 清晰度 0.84" in row and "画面正常" in row and "模糊" not in row, row
    page.screenshot(path=str(shots / "devices.png"))
    assert page.errors == []
    context.close()


def _responder_id(stack, username: str) -> int:
    from command import get_user

    with stack["database"].session() as session:
        return get_user(session, username).responder_id


def test_township_operator_does_not_see_another_townships_incident(browser, stack, shots) -> None:
    ctx_b, page_b = login(browser, stack, "op_b", viewport=DESKTOP)
    open_live(page_b, "/desk")
    alert_a = publish(stack["redis_url"], "camA1", position=False)
    alert_b = publish(stack["redis_url"], "camB1", position=False)
    id_a, id_b = incident_for(stack, alert_a), incident_for(stack, alert_b)
    page_b.wait_for_selector(f'.queue-item[data-id="{id_b}"]', timeout=PUSH_WITHIN_MS)  # B's own arrives ...
    assert page_b.locator(f'.queue-item[data-id="{id_a}"]').count() == 0  # ... A's, published first, never does
    page_b.goto(stack["url"] + f"/desk#{id_a}")
    page_b.wait_for_selector("#detail .error")
    assert page_b.locator(f'.queue-item[data-id="{id_a}"]').count() == 0
    open_live(page_b, "/")
    page_b.wait_for_selector(f'.incident-card[data-id="{id_b}"]')
    assert page_b.locator(f'.incident-card[data-id="{id_a}"]').count() == 0
    ctx_b.close()


@pytest.mark.parametrize("path", ["/wall", "/map", "/reports"])
def test_pages_render_without_errors(browser, stack, shots, path) -> None:
    context, page = login(browser, stack, "county_t", viewport=DESKTOP)
    open_live(page, path)
    page.wait_for_selector("[data-ready]", timeout=10_000)
    page.screenshot(path=str(shots / f"{path.strip('/')}.png"))
    assert page.errors == []
    context.close()


def test_wall_pops_an_alarm_into_a_tile_with_its_boxes(browser, stack, shots) -> None:
    context, page = login(browser, stack, "op_a", viewport=DESKTOP)
    open_live(page, "/wall")
    page.wait_for_selector("[data-ready]")
    page.click('#layouts button[data-n="9"]')
    assert page.locator(".tile").count() == 9
    page.click('.tile[data-index="4"]')
    page.click('#camera-list li[data-camera="ptzA2"]')
    assert page.get_attribute('.tile[data-index="4"]', "data-camera") == "ptzA2"
    assert page.locator('.tile[data-index="4"] .ptz button').count() == 6  # PTZ controls on the PTZ dome only
    alert = publish(stack["redis_url"], "camA1", rule_kind="loitering", position=False)
    page.wait_for_selector(".tile.alarm .alarm-pip .box-overlay rect", timeout=PUSH_WITHIN_MS)
    # an earlier test's camA1 incident may already be on the wall (it is still alarming): wait for this one
    wait_js(page, f"document.body.dataset.lastAlarm === '{incident_for(stack, alert)}'", PUSH_WITHIN_MS / 1000)
    wait_js(page, "document.querySelector('.tile.alarm .alarm-pip img').naturalWidth > 0")
    page.screenshot(path=str(shots / "wall-alarm.png"))
    # a tour by township: the wall shows a page of that township's cameras
    page.select_option("#tour-groups", "township")
    page.click("#tour-toggle")
    page.wait_for_selector("body[data-tour='0']")
    shown = {page.get_attribute(f'.tile[data-index="{i}"]', "data-camera") for i in range(9)} - {""}
    assert shown == {"camA1", "ptzA2", "uavA"}
    page.click("#tour-toggle")
    assert page.errors == []
    context.close()


def test_wall_opened_after_an_alarm_shows_it(browser, stack, shots) -> None:
    """A wall opened mid-shift lists what is alarming now; it does not wait for the next new incident."""
    alert = publish(stack["redis_url"], "ptzA2", rule_kind="loitering", position=False)
    incident = incident_for(stack, alert)
    context, page = login(browser, stack, "op_a", viewport=DESKTOP)
    open_live(page, "/wall")
    page.wait_for_selector("[data-ready]")
    row = page.locator(f'#alarm-list .alarm-row[data-incident="{incident}"]')
    row.wait_for(timeout=5_000)
    assert "confirmed" not in (row.get_attribute("class") or "")
    rows = page.evaluate("() => [...document.querySelectorAll('#alarm-list .alarm-row')].map(r => r.dataset.incident)")
    assert len(rows) == len(set(rows)) == int(page.get_attribute("body", "data-pops") or 0)
    # a re-alert merging into it raises its count, never a second row
    publish(stack["redis_url"], "ptzA2", rule_kind="loitering", position=False)
    wait_js(page, "Number(document.body.dataset.realerts || 0) >= 1", PUSH_WITHIN_MS / 1000)
    rows = page.evaluate("() => [...document.querySelectorAll('#alarm-list .alarm-row')].map(r => r.dataset.incident)")
    assert rows.count(str(incident)) == 1
    assert page.errors == []
    context.close()


def test_phone_rejects_with_a_reason_and_lists_it_in_history(browser, stack, shots) -> None:
    desk_ctx, desk = login(browser, stack, "op_a", viewport=DESKTOP)
    phone_ctx, phone = login(browser, stack, "police_a", **PHONE)
    open_live(phone, "/responder")
    alert = publish(stack["redis_url"], "camA1", rule_kind="loitering", position=False)
    incident_id = incident_for(stack, alert)
    open_live(desk, f"/desk#{incident_id}")
    desk.click('#actions button[data-action="dispatch"]')
    police_a = _responder_id(stack, "police_a")
    desk.check(f'.dispatch-form .unit-row[data-responder="{police_a}"] input')
    desk.click('.dispatch-form button[type="submit"]')
    card = f'.task[data-id="{incident_id}"]'
    phone.wait_for_selector(f'{card} button[data-action="reject"]', timeout=PUSH_WITHIN_MS)
    phone.click(f'{card} button[data-action="reject"]')
    phone.click(f'{card} button[data-action="reject-submit"]')  # no reason yet: refused on the page
    assert phone.locator(card).count() == 1
    phone.fill(f"{card} textarea[name=reason]", "不在本组辖区，请改派")
    phone.click(f'{card} button[data-action="reject-submit"]')
    phone.wait_for_selector(card, state="detached", timeout=PUSH_WITHIN_MS)
    phone.click('button[data-tab="history"]')
    phone.wait_for_selector(f'#history .history-item[data-id="{incident_id}"]', timeout=PUSH_WITHIN_MS)
    phone.screenshot(path=str(shots / "responder-history.png"))
    # the desk sees it handed back, with the reason on the timeline
    desk.wait_for_selector('ol.timeline li[data-action="reject"]', timeout=PUSH_WITHIN_MS)
    assert "不在本组辖区，请改派" in desk.inner_text("ol.timeline")
    assert desk.errors == [] and phone.errors == []
    desk_ctx.close()
    phone_ctx.close()


def test_desk_edits_the_arming_schedule_and_mutes_a_rule(browser, stack, shots) -> None:
    context, page = login(browser, stack, "op_a", viewport=DESKTOP)
    open_live(page, "/desk")
    alert = publish(stack["redis_url"], "camA1", position=False)
    incident_id = incident_for(stack, alert)
    open_live(page, f"/desk#{incident_id}")
    page.wait_for_selector(f'#detail[data-id="{incident_id}"] .schedule-editor')
    page.click(".schedule-editor summary")
    rule = '.rule-schedule[data-rule="camA1-zone_intrusion"]'
    page.wait_for_selector(rule)
    page.click(f"{rule} .add-window")
    page.fill(f"{rule} .window-row input[type=time] >> nth=0", "20:00")
    page.fill(f"{rule} .window-row input[type=time] >> nth=1", "07:30")
    page.click(f"{rule} .save-schedule")
    page.wait_for_selector(f"{rule} >> text=已在此修改", timeout=10_000)
    # 屏蔽 the rule for 2 hours from the incident; the editor lists the mute with a lift button
    page.click('#actions button[data-action="mute"]')
    page.select_option('.action-form[data-action="mute"] select[name=minutes]', "120")
    page.click('.action-form[data-action="mute"] button[type=submit]')
    page.wait_for_selector('.action-form[data-action="mute"]', state="detached", timeout=10_000)
    page.click(".schedule-editor summary")  # close and reopen: read back from the server
    page.click(".schedule-editor summary")
    page.wait_for_selector(f"{rule} .mute-line .lift-mute", timeout=10_000)
    page.screenshot(path=str(shots / "desk-schedule.png"))
    page.click(f"{rule} .lift-mute")
    page.wait_for_selector(f"{rule} .mute-line", state="detached", timeout=10_000)
    assert page.errors == []
    context.close()


def test_desk_shows_already_handled_when_the_other_desk_wins_first(browser, stack, shots) -> None:
    """The other desk's 标记误报 lands while this desk's 上报上级 is on its way: the push removes the
    open form before the 409 comes back, and the desk must still say 已被他人处理 (not only in a toast)."""
    import httpx

    context, page = login(browser, stack, "op_a", viewport=DESKTOP)
    alert = publish(stack["redis_url"], "camA1", rule_kind="loitering", position=False)
    incident_id = incident_for(stack, alert)
    open_live(page, f"/desk#{incident_id}")
    page.wait_for_selector(f'#detail[data-id="{incident_id}"] #actions button[data-action="escalate"]')
    page.click('#actions button[data-action="escalate"]')
    page.fill('.action-form[data-action="escalate"] textarea[name=reason]', "需要县级协调")
    with httpx.Client(base_url=stack["url"], timeout=15) as http:
        token = http.post("/api/auth/login", json={"username": "op_a", "password": PASSWORD}).json()["access_token"]

    def other_desk_first(route) -> None:
        with httpx.Client(base_url=stack["url"], timeout=15, headers={"Authorization": f"Bearer {token}"}) as http:
            version = http.get(f"/api/incidents/{incident_id}").json()["version"]
            won = http.post(f"/api/incidents/{incident_id}/false_alarm", json={"reason": "树影晃动", "version": version})
            assert won.status_code == 200, won.text
        time.sleep(2.0)  # the push reaches the page and its form goes while our request is held
        route.continue_()

    page.route(f"**/api/incidents/{incident_id}/escalate", other_desk_first)
    page.click('.action-form[data-action="escalate"] button[type=submit]')
    page.wait_for_selector("#action-error", timeout=10_000)
    assert "已被他人处理" in page.inner_text("#action-error")
    assert "误报" in page.inner_text("#detail-status")
    page.screenshot(path=str(shots / "desk-conflict.png"))
    assert page.errors == []
    context.close()
