"""The desk tools' part of ``xueliang bench operator`` (web/operator_shift.py runs these steps).

On the real demo, through the pages only, as the county operator:

- search and filters find a 12345 case among the demo's incidents plus 1,200 stored cases;
- that case's 诉求内容, 地址, 来电人 and 电话 are on screen;
- 交接班: the county operator hands over the open and overdue cases with a note, the next county
  operator (a second county account set up for the shift) acknowledges;
- the map shows the video incident, its camera and the dispatched unit inside their township;
- the weekly report page (环比/同比, tables, ECharts trend) and its PDF (≥ 2 pages, tables, a trend of
  ≥ 7 points, rendered with pdftoppm);
- every page visited is scanned for English (figure ``english_strings_seen``);
- ``search_p95_ms`` over 100,000 incidents through the same API (``xueliang bench search``, run on
  its own database so the demo is not disturbed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from web.operator_shift import Scenario  # which imports this module when the shift runs its desk tools

SECOND_COUNTY = "county_next"


def _inside(lon: float, lat: float, ring: list[list[float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


class DeskToolSteps:
    """The steps, bound to the operator shift's scenario (its demo, pages, step runner and checks)."""

    def __init__(self, scenario: Scenario, browser: Browser) -> None:
        from web.operator_shift import DESKTOP, check, wait_until

        self.sc, self.browser = scenario, browser
        self.check, self.wait_until, self.desktop = check, wait_until, DESKTOP
        self.needles: dict[str, Any] = {}
        self.english: dict[str, list[str]] = {}

    def run(self) -> None:
        sc = self.sc
        sc.step("desk: a search and a filter find a 12345 case among ≥ 1,000", self.search_and_filter, "county_desk")
        sc.step("desk: the 12345 case shows 诉求内容, 地址, 来电人, 电话, 来电时间", self.hotline_fields, "county_desk")
        sc.step("交接班: the county operator hands over open and overdue cases; the next acknowledges", self.handover, "county_next")
        sc.step("map: the incident, its camera and the dispatched unit in their township", self.map_places, "county_map")
        sc.step("reports: weekly page (环比/同比, tables, 7-point trend) and its PDF (≥ 2 pages)", self.weekly_report, "county_reports")
        sc.step("no English on any page visited (visible text, tooltips, toasts)", self.no_english, None)
        if not sc.quick:  # 100,000 rows take a minute or two to fill: the full shift only
            sc.step("search_p95_ms over 100,000 incidents through the API", self.search_p95, None)

    # -- plumbing --
    def api(self, page: Page) -> httpx.Client:
        token = page.evaluate("() => sessionStorage.getItem('xl.token')")
        return httpx.Client(base_url=self.sc.demo.base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def _scan(self, name: str, page: Page) -> None:
        from web.english_scan import scan

        self.english[name] = scan(page)

    # -- steps --
    def search_and_filter(self) -> None:
        from command import fill_search_corpus, open_database
        from xueliang.settings import Settings

        database = open_database(Settings(data_dir=self.sc.demo.data_dir).resolved_database_url())
        try:
            self.needles = fill_search_corpus(database, 1200)
        finally:
            database.dispose()
        desk = self.sc.pages["county_desk"]
        planted = self.needles["incident_id"]
        desk.fill("#search-q", self.needles["caller"])
        desk.click("#search-submit")
        desk.wait_for_selector(f"#search-results li[data-id='{planted}']", timeout=15_000)
        self.check(desk.inner_text("#search-total") == "共 1 条", f"search shows {desk.inner_text('#search-total')!r}")
        with self.api(desk) as http:
            row = http.get(f"/api/incidents/{planted}").json()
        desk.click("#search-clear")
        desk.click("#search-toggle")
        desk.select_option("#search-category", "noise")
        desk.select_option("#search-source", "hotline_12345")
        desk.select_option("#search-township", row["jurisdiction_code"][:9])
        desk.select_option("#search-colour", row["colour"])
        desk.click("#search-submit")
        desk.wait_for_selector(f"#search-results li[data-id='{planted}']", timeout=15_000)
        self._scan("county_desk search", desk)

    def hotline_fields(self) -> None:
        desk = self.sc.pages["county_desk"]
        desk.click(f"#search-results li[data-id='{self.needles['incident_id']}']")
        desk.wait_for_selector("#case-fields", timeout=15_000)
        for selector, expected in (("#case-address", self.needles["address"]), ("#case-reporter", self.needles["caller"]),
                                   ("#case-phone", self.needles["phone"])):
            self.check(desk.inner_text(selector) == expected, f"{selector} shows {desk.inner_text(selector)!r}")
        self.check(self.needles["address"] in desk.inner_text("#case-description"), "诉求内容 missing")
        self.check(desk.inner_text("#case-reported-at").startswith("20"), "来电时间 missing")

    def handover(self) -> None:
        desk = self.sc.pages["county_desk"]
        # the next shift's operator: an account of the county centre, set up like the demo's own accounts
        from command import create_user, get_user, open_database
        from web import hash_password
        from xueliang.settings import Settings

        database = open_database(Settings(data_dir=self.sc.demo.data_dir).resolved_database_url())
        try:
            with database.session() as session:
                if get_user(session, SECOND_COUNTY) is None:
                    create_user(session, SECOND_COUNTY, hash_password(self.sc.demo.password), "county_operator", "330381",
                                display_name="县级接班员")
        finally:
            database.dispose()
        desk.click("#handover-give")
        desk.wait_for_selector("#handover-panel", timeout=15_000)
        items = desk.locator("#handover-items li")
        self.check(items.count() > 0, "the handover lists no case")
        self.check(desk.locator("#handover-items li .deadline.overdue").count() > 0, "the handover lists no overdue case")
        first = items.first.get_attribute("data-id")
        desk.fill(f"#handover-items li[data-id='{first}'] .handover-item-note", "已联系属地派出所，跟进到场情况")
        desk.fill("#handover-note", "交班：红色警情优先，超期件明早督办")
        desk.click("#handover-submit")
        desk.wait_for_selector("#handover-panel", state="detached", timeout=15_000)
        nxt = self.sc.login(self.browser, "county_next", SECOND_COUNTY, self.desktop, "/desk")
        nxt.wait_for_selector("#handover-pending", timeout=20_000)
        nxt.click("#handover-pending")
        nxt.wait_for_selector("#handover-pending-panel")
        self.check("已联系属地派出所" in nxt.inner_text(f"#handover-pending-items li[data-id='{first}']"), "the case note did not arrive")
        self.check(nxt.locator("#handover-pending-items li .deadline.overdue").count() > 0, "no overdue case on the received handover")
        nxt.fill("#handover-ack-note", "已接班")
        nxt.click("#handover-ack")
        nxt.wait_for_selector("#handover-pending", state="detached", timeout=15_000)
        self._scan("county_next desk", nxt)

    def map_places(self) -> None:
        page = self.sc.login(self.browser, "county_map", "county", self.desktop, "/map")
        with self.api(page) as http:
            # an open video incident with a unit dispatched to it (the shift's own video case is 结案 by now)
            cameras = {c["id"] for c in http.get("/api/cameras").json()["items"]}
            # incidents of the demo's own cameras (the 1,200 stored search cases name no real camera)
            queue = [i for i in http.get("/api/incidents/queue").json()["items"] if i.get("camera_id") in cameras]
            candidates = [i for i in queue if i.get("assigned_responder_ids")]
            if not candidates:
                # none dispatched yet: the county operator dispatches one through the API the desk's 派单 uses
                fresh = [i for i in queue if i.get("camera_id") and i["status"] in ("classified", "rejected", "reopened", "escalated")]
                self.check(bool(fresh), "no open video incident to dispatch")
                r = http.post(f"/api/incidents/{fresh[0]['id']}/dispatch", json={"auto": True})
                self.check(r.status_code == 200, f"派单 answered {r.status_code}: {r.text[:200]}")
                candidates = [fresh[0]]
            incident_id = candidates[0]["id"]
            inc = http.get(f"/api/incidents/{incident_id}").json()
            geo = http.get("/api/jurisdictions/geojson", params={"max_level": "township"}).json()
        township = inc["jurisdiction_code"][:9]
        ring = next(f for f in geo["features"] if f["id"] == township)["geometry"]["coordinates"][0]
        units = [a["responder_id"] for a in inc.get("assignments", []) if a.get("responder_id")]
        self.check(bool(units), "the video incident has no dispatched unit")
        for kind, ident in (("incident", incident_id), ("camera", inc["camera_id"]), ("unit", units[0])):
            page.goto(f"{self.sc.demo.base}/map#{kind}={ident}")
            page.wait_for_selector(f"body[data-focused='{kind}={ident}']", timeout=45_000)
            marker = page.locator(f".xl-marker[data-kind='{kind}'][data-id='{ident}']")
            lat, lon = float(marker.get_attribute("data-lat") or "nan"), float(marker.get_attribute("data-lon") or "nan")
            self.check(_inside(lon, lat, ring), f"{kind} {ident} drawn at {lat:.4f},{lon:.4f}, outside township {township}")
        self._scan("county map", page)

    def weekly_report(self) -> None:
        page = self.sc.login(self.browser, "county_reports", "county", self.desktop, "/reports")
        page.wait_for_selector("body[data-loaded]", timeout=30_000)
        points = page.evaluate("() => echarts.getInstanceByDom(document.getElementById('chart-trend')).getOption().series[0].data.length")
        self.check(points >= 7, f"the trend has {points} points")
        self.check("环比" in page.inner_text("#table-compare") and "同比" in page.inner_text("#table-compare"), "no 环比/同比 table")
        self.check(page.locator("#table-categories tbody tr").count() >= 1, "no category table")
        # matplotlib renders three A4 pages: give a loaded machine time
        response = page.context.request.get(self.sc.demo.base + (page.get_attribute("#pdf", "href") or "/"), timeout=180_000)
        self.check(response.ok, f"PDF: HTTP {response.status}")
        with tempfile.TemporaryDirectory() as tmp:
            pdf = Path(tmp) / "weekly.pdf"
            pdf.write_bytes(response.body())
            self.check(shutil.which("pdftoppm") is not None, "pdftoppm (poppler-utils) is not installed")
            subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(Path(tmp) / "p")], check=True, timeout=60)
            pages = len(list(Path(tmp).glob("p-*.png")))
            text = "".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
        self.check(pages >= 2, f"the PDF has {pages} page(s)")
        self.check("事件类别前十" in text and "热点区域前十" in text, "the PDF has no tables")
        self.sc.shift.figures["report_pdf_pages"] = pages
        self.sc.shift.figures["report_trend_points"] = points
        self._scan("county reports", page)

    def no_english(self) -> None:
        for name, page in self.sc.pages.items():
            try:
                self._scan(name, page)
            except Exception:  # a page that navigated away mid-scan is scanned by its own step
                continue
        seen = {k: v for k, v in self.english.items() if v}
        self.sc.shift.figures["english_strings_seen"] = sum(len(v) for v in seen.values())
        self.check(not seen, f"English on screen: {json.dumps(seen, ensure_ascii=False)[:500]}")

    def search_p95(self) -> None:
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "xueliang.cli", "bench", "search", "--json", "--rows", "100000", "--rounds", "3"],
                             capture_output=True, text=True, timeout=1800)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        self.check(bool(lines), f"xueliang bench search printed nothing: {out.stderr[-500:]}")
        result = json.loads(lines[-1])
        self.sc.shift.figures["search_p95_ms"] = result["search_p95_ms"]
        self.sc.shift.figures["search_rows"] = result["rows"]
        self.check(not result["failures"], f"search failures: {result['failures'][:3]}")
        self.check(result["search_p95_ms"] <= 300, f"search_p95_ms {result['search_p95_ms']} > 300 ({time.monotonic() - t0:.0f} s)")


__all__ = ["DeskToolSteps"]
