"""The map and the reports page in real headless Chromium, through the pages.

Map: a video incident of a camera in 东城街道, dispatched to a police unit of that township — the
incident, its camera and the unit are drawn inside the township's boundary (checked against the
API's GeoJSON here, not by the page), with a legend and clickable popups.
Reports: the weekly report page shows 环比/同比, the tables and a 7-point trend drawn by ECharts; its
PDF link gives a multi-page PDF (rendered with pdftoppm). Both pages are scanned for English.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.web.conftest import PASSWORD, ServerThread, seeded_database
from web.english_scan import record_toasts, scan
from xueliang.runtime import free_port
from xueliang.settings import Settings

TOWNSHIP, VILLAGE = "330381101", "330381101201"
BEIJING = ZoneInfo("Asia/Shanghai")

from tests.web.conftest import CHROMIUM  # the browser fixture lives there too

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (scripts/setup.sh installs it)")


def _inside(lon: float, lat: float, ring: list[list[float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server):
    from sqlalchemy import select

    from command import Actor, AlertIn, Jurisdiction, ReportIn, Responder, create_user, dispatch, intake_alerts, submit_report
    from web import create_app, hash_password

    data_dir = tmp_path_factory.mktemp("map-reports")
    db_url = f"sqlite:///{data_dir / 'web.db'}"
    database = seeded_database(db_url)
    with database.session() as session:
        village = session.get(Jurisdiction, VILLAGE)
        lat, lon = village.center_lat, village.center_lon
        create_user(session, "map_county", hash_password(PASSWORD), "county_operator", "330381", display_name="赵调度")
        unit = session.scalar(select(Responder).where(Responder.kind == "police", Responder.jurisdiction_code == TOWNSHIP).order_by(Responder.id))
        unit_id = unit.id
    cameras = data_dir / "cameras.yaml"
    cameras.write_text(f"""version: 1
cameras:
  - id: mapcam1
    name: 东城街道 文化广场
    jurisdiction: "{VILLAGE}"
    position: {{lat: {lat}, lon: {lon}}}
    kind: fixed
    streams: {{main: rtsp://127.0.0.1:9/none}}
    analysis: {{mode: off}}
""", encoding="utf-8")
    now = datetime.now(UTC)
    operator = Actor("map_county", "county_operator", "330381", None, "test")
    with database.session() as session:
        alert = AlertIn(alert_id=uuid.uuid4().hex, camera_id="mapcam1", camera_name="东城街道 文化广场", jurisdiction_code=VILLAGE,
                        lat=lat, lon=lon, rule_id="square", rule_kind="zone_intrusion", object_class="person", confidence=0.8,
                        track_id=1, ts=now, boxes=[[1, 2, 30, 60]], frame_width=480, frame_height=360, dedup_key="mapcam1:1", clip_path=None)
        [result] = intake_alerts(session, [(alert, None)], now=now)
        incident_id = result.incident.id
        dispatch(session, incident_id, operator, responder_ids=[unit_id], now=now)
        # the reports: this week every day, the week before and the same week a year ago
        today = now.astimezone(BEIJING).date()
        monday = today - timedelta(days=today.weekday())
        for d in range(7):
            for k in range(d % 3 + 1):
                at = datetime(monday.year, monday.month, monday.day, 2, 0, tzinfo=UTC) + timedelta(days=d, minutes=k)
                if at > now:
                    at = now - timedelta(minutes=k + 1)
                submit_report(session, ReportIn(source="hotline_12345", title=f"噪音扰民 {d}-{k}", category_code="noise" if k else "dispute",
                                                jurisdiction_code=f"33038110{1 + k}201"), operator, now=at)
        for offset, count in ((timedelta(days=7), 4), (timedelta(days=364), 2)):
            for k in range(count):
                submit_report(session, ReportIn(source="citizen", title=f"往期 {k}", category_code="environment",
                                                jurisdiction_code=VILLAGE), operator,
                              now=datetime(monday.year, monday.month, monday.day, 3, tzinfo=UTC) - offset + timedelta(minutes=k))
    settings = Settings(data_dir=data_dir, cameras_file=cameras, database_url=db_url,
                        redis_url=redis_server.url.rsplit("/", 1)[0] + "/6", secret_key="map-reports-secret-0123456789abcdef",
                        web_port=free_port())
    server = ServerThread(create_app(settings), settings.web_port)
    server.start()
    try:
        yield {"url": f"http://127.0.0.1:{settings.web_port}", "database": database, "incident_id": incident_id, "unit_id": unit_id}
    finally:
        server.stop()
        database.dispose()


@pytest.fixture(scope="module")
def page(browser, stack):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1440, "height": 900})
    context.route("**/api/live/**", lambda route: route.abort())
    pg = context.new_page()
    pg.errors = []  # type: ignore[attr-defined]
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))  # type: ignore[attr-defined]
    pg.goto(stack["url"] + "/")
    pg.fill("#username", "map_county")
    pg.fill("#password", PASSWORD)
    pg.click("#login-submit")
    pg.wait_for_selector("#overview:not(.hidden)")
    yield pg
    context.close()


def test_map_shows_incident_camera_and_unit_in_their_township(page, stack, artifacts_dir):
    import httpx

    with httpx.Client(base_url=stack["url"], cookies=page.context.cookies() and {c["name"]: c["value"] for c in page.context.cookies()}) as http:
        geo = http.get("/api/jurisdictions/geojson", params={"max_level": "township"}).json()
    ring = next(f for f in geo["features"] if f["id"] == TOWNSHIP)["geometry"]["coordinates"][0]
    others = [f for f in geo["features"] if f["properties"]["level"] == "township" and f["id"] != TOWNSHIP]
    shots = artifacts_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for kind, ident in (("incident", stack["incident_id"]), ("camera", "mapcam1"), ("unit", stack["unit_id"])):
        page.goto(f"{stack['url']}/map#{kind}={ident}")
        page.wait_for_selector(f"body[data-focused='{kind}={ident}']", timeout=20_000)
        marker = page.locator(f".xl-marker[data-kind='{kind}'][data-id='{ident}']")
        lat, lon = float(marker.get_attribute("data-lat")), float(marker.get_attribute("data-lon"))
        assert _inside(lon, lat, ring), f"{kind} {ident} drawn at {lat},{lon}, outside 东城街道"
        assert not any(_inside(lon, lat, f["geometry"]["coordinates"][0]) for f in others if f["geometry"])
        # the previous popup may still be fading out: read the one that opened for this marker
        expected = {"incident": "区域入侵", "camera": "东城街道 文化广场", "unit": f"#{stack['incident_id']}"}[kind]
        deadline = time.monotonic() + 10
        while not any(expected in text for text in page.locator(".leaflet-popup-content").all_inner_texts()):
            assert time.monotonic() < deadline, f"{kind} popup: {page.locator('.leaflet-popup-content').all_inner_texts()}"
            time.sleep(0.1)
        popup = next(text for text in page.locator(".leaflet-popup-content").all_inner_texts() if expected in text)
        if kind == "incident":
            assert "区域入侵" in popup and "已派单" in popup and "在处置台打开" in popup
            page.screenshot(path=str(shots / "map.png"))
        elif kind == "camera":
            assert "东城街道 文化广场" in popup
        else:
            assert f"#{stack['incident_id']}" in popup  # the unit's popup names the case it is dispatched to
        # the popup is clickable through to the desk for incidents and dispatched units
        if kind != "camera":
            links = page.locator(".leaflet-popup-content a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
            assert f"/desk#{stack['incident_id']}" in links, links
    page.goto(f"{stack['url']}/map")
    page.wait_for_selector("body[data-ready='1']")
    page.screenshot(path=str(shots / "map-county.png"))
    legend = page.inner_text("#map-legend")
    for word in ("红色", "在线", "离线", "空闲", "辖区边界", "乡镇（街道）级"):
        assert word in legend
    # base layer = GeoJSON boundaries; no tile layer, no request left this origin
    assert page.locator(".leaflet-tile").count() == 0
    assert page.locator("path.leaflet-interactive").count() >= 13
    assert page.get_attribute(".leaflet-control-zoom-in", "title") == "放大"
    english = scan(page)
    assert english == [], english
    assert page.errors == []  # type: ignore[attr-defined]


def test_weekly_report_page_and_its_pdf(page, stack, artifacts_dir, tmp_path):
    page.goto(f"{stack['url']}/reports")
    page.wait_for_selector("body[data-loaded]", timeout=30_000)
    record_toasts(page)
    total = int(page.inner_text("#kpi-total .kpi-v"))
    assert total >= 12
    assert "环比" in page.inner_text("#kpi-total") and "同比" in page.inner_text("#kpi-year")
    assert page.inner_text("#kpi-year .kpi-v") == "2"
    points = page.evaluate("() => echarts.getInstanceByDom(document.getElementById('chart-trend')).getOption().series[0].data.length")
    assert points == 7
    assert "7 个点" in page.inner_text("#trend-title")
    compare = page.inner_text("#table-compare")
    assert "环比" in compare and "同比" in compare and "无可比数据" not in compare
    assert page.locator("#table-categories tbody tr").count() >= 2 and "噪音扰民" in page.inner_text("#table-categories")
    assert "东城街道" in page.inner_text("#table-hotspots")
    assert "矛盾纠纷" in page.inner_text("#kpi-mediation")
    shots = artifacts_dir / "screenshots"
    page.screenshot(path=str(shots / "reports.png"), full_page=True)
    english = scan(page)
    assert english == [], english
    assert page.errors == []  # type: ignore[attr-defined]
    # the page's own PDF link
    href = page.get_attribute("#pdf", "href")
    response = page.context.request.get(stack["url"] + href)
    assert response.ok and response.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "weekly.pdf"
    pdf.write_bytes(response.body())
    if not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils (pdftoppm) is not installed: scripts/setup.sh installs it")
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "p")], check=True, timeout=60)
    assert len(list(tmp_path.glob("p-*.png"))) >= 2
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = "".join(text.split())
    assert "事件类别前十" in flat and "热点区域前十" in flat and "超期清单" in flat
    shutil.copy(sorted(tmp_path.glob("p-*.png"))[0], shots / "report-pdf-page1.png")
    # CSV: Chinese headers, Beijing time
    csv_text = page.context.request.get(stack["url"] + page.get_attribute("#csv", "href")).text()
    assert csv_text.lstrip("\ufeff").startswith("分组,项目,数值") and "统计起" in csv_text
