"""``xueliang bench operator [--json] [--quick] [--minutes N]``: an operator's shift on the real demo.

Starts the real ``xueliang demo`` (GStreamer sample cameras, embedded Valkey, SQLite, the command,
analytics and web workers as processes, YOLO on live footage) in a temporary working directory and
drives it in headless Chromium **only through the pages**, as a person would:

- a county operator watching the wall (tiles decoding over WebRTC while alarms arrive) and a county
  desk (escalations and 督办 arrive with a banner; a false alarm is muted there and stays quiet);
- a township operator handling a video incident and a 12345 case around the whole loop
  受理→分类→分流→签收→到场→办结→评价→回访→结案, with a second desk submitting the same action at the
  same time (one effect, the other sees 已被他人处理);
- a police responder on a 390×844 phone (接单, 到达, 办结 with a note and a photo that must survive
  the pushes arriving meanwhile) and a grid worker filing a report from the phone.

Alerts keep merging into the incidents being handled the whole time (the live cameras never stop).
Each step saves a screenshot. WebRTC needs a private network namespace (ICE must not touch the real
interface), so the command re-runs itself inside one (``web.live.netns``).

Printed figures: steps_total, steps_passed, pushes_per_s_on_selected, forms_survived,
wall_tiles_playing, wall_tiles_alarmed, wall_alarmed_tiles_decoding, duplicate_effects,
media_mb_per_hour, plus the failed steps with their reason.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import redis

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Geolocation, Page

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]
DESKTOP = {"viewport": {"width": 1440, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
IN_NETNS_ENV = "XUELIANG_OPERATOR_SHIFT_IN_NETNS"

# The demo's accounts (command.seed.demo_users) and the camera in the township operator's area.
COUNTY, TOWNSHIP, RESPONDER, GRID_WORKER = "county", "t101", "r1", "r2"
TOWNSHIP_CAMERA = "cam01"

TILE_JS = """(index) => {
  const tile = document.querySelector(`.tile[data-index="${index}"]`);
  const video = tile && tile.querySelector("video");
  if (!video) return null;
  const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : {};
  return {camera: tile.dataset.camera, state: tile.dataset.live || null, frames: q.totalVideoFrames || 0,
          time: video.currentTime, alarmed: tile.classList.contains("alarm"), badge: (tile.querySelector(".tile-badge") || {}).textContent || ""};
}"""


@dataclass
class Step:
    name: str
    ok: bool = False
    seconds: float = 0.0
    error: str = ""
    screenshot: str = ""


@dataclass
class Shift:
    """What the shift measured; printed as JSON."""

    steps: list[Step] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "steps_total": len(self.steps),
            "steps_passed": sum(s.ok for s in self.steps),
            **self.figures,
            "failed": [{"step": s.name, "error": s.error} for s in self.steps if not s.ok],
            "steps": [{"step": s.name, "ok": s.ok, "seconds": round(s.seconds, 1), "screenshot": s.screenshot} for s in self.steps],
        }


class StepFailed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    """A person-visible expectation; the message says what the person saw instead."""
    if not condition:
        raise StepFailed(message)


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """The probe's first truthy answer within ``timeout`` seconds (an exception counts as not yet)."""
    deadline = time.monotonic() + timeout
    last: T | Exception | None = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # the page may be navigating
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise StepFailed(f"{what} (not within {timeout:.0f}s; last: {str(last)[:200]})")


# --- the demo -------------------------------------------------------------------------------------

@dataclass
class Demo:
    """``xueliang demo`` as a child process in a temporary working directory, on free ports."""

    work: Path
    password: str
    web_port: int = 0
    rtsp_port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def data_dir(self) -> Path:
        return self.work / "data"

    def start(self, timeout: float = 300) -> None:
        from xueliang.runtime import free_port, wait_for_port
        from xueliang.settings import REPO_ROOT

        self.web_port, self.rtsp_port = free_port(), free_port()
        cameras = self.work / "cameras.yaml"
        # the demo registry, pointed at this run's sample-server port
        cameras.write_text((REPO_ROOT / "configs" / "cameras.yaml").read_text(encoding="utf-8")
                           .replace("127.0.0.1:8554", f"127.0.0.1:{self.rtsp_port}"), encoding="utf-8")
        env = {**os.environ, "XUELIANG_DATA_DIR": str(self.data_dir), "XUELIANG_CAMERAS_FILE": str(cameras),
               "XUELIANG_DEMO_PASSWORD": self.password, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0",
               "XUELIANG_ANALYTICS_METRICS_PORT": str(free_port()), "XUELIANG_COMMAND_METRICS_PORT": str(free_port())}
        for key in ("REDIS_URL", "DATABASE_URL", "XUELIANG_REDIS_URL", "XUELIANG_DATABASE_URL", "XUELIANG_SECRET_KEY", "XUELIANG_WEB_PORT", "XUELIANG_RTSP_PORT"):
            env.pop(key, None)
        log = open(self.work / "demo.log", "wb")  # noqa: SIM115 - handed to the child for its lifetime
        self.proc = subprocess.Popen([sys.executable, "-m", "xueliang.cli", "demo", "--web-port", str(self.web_port),
                                      "--rtsp-port", str(self.rtsp_port)], cwd=self.work, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port("127.0.0.1", self.web_port, timeout, self.proc)

    def stop(self) -> None:
        from xueliang.runtime import stop

        if self.proc is not None:
            stop(self.proc, timeout=30)

    def media_bytes(self) -> int:
        media = self.data_dir / "media"
        return sum(p.stat().st_size for p in media.rglob("*") if p.is_file()) if media.exists() else 0

    def log_tail(self, n: int = 3000) -> str:
        logs = [self.work / "demo.log", *sorted((self.data_dir / "logs").glob("*.log"))]
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-n:]}" for p in logs if p.exists())


class AlertEcho:
    """Re-publishes the newest real alert of one camera ``rate`` times a second, each with a fresh id and time.

    The demo's footage raises about one alert a second per incident on a 2-core box; an operator of a
    busy camera sees four or more. The echo keeps that push rate on the incident being handled (the
    alerts are the camera's own, so they merge into it), without snapshots (as the analytics worker
    sends them once an alarm window has its evidence).
    """

    def __init__(self, demo: "Demo", camera_id: str, rate: float = 5.0) -> None:
        import threading

        self.demo, self.camera_id, self.period = demo, camera_id, 1.0 / rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-echo", daemon=True)

    def redis_url(self) -> str:
        match = re.search(r"embedded Valkey on (redis://\S+)", (self.demo.work / "demo.log").read_text(errors="replace"))
        if match is None:
            raise StepFailed("the demo log names no embedded Valkey URL")
        return match.group(1)

    def start(self) -> "AlertEcho":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _template(self, client: redis.Redis) -> dict[str, Any] | None:
        for _entry_id, fields in client.xrevrange("xl:alerts", count=2000) or []:
            if not fields or b"alert" not in fields:
                continue
            alert = json.loads(fields[b"alert"])
            if alert.get("camera_id") == self.camera_id:
                return alert
        return None

    def _run(self) -> None:
        import uuid
        from datetime import UTC, datetime

        client = redis.Redis.from_url(self.redis_url())
        try:
            template = None
            while template is None and not self._stop.wait(0.5):
                template = self._template(client)
            while template is not None and not self._stop.wait(self.period):
                alert = {**template, "alert_id": uuid.uuid4().hex, "ts": datetime.now(UTC).isoformat(), "clip_path": None}
                client.xadd("xl:alerts", {"alert": json.dumps(alert), "snapshot": b""})
                self.sent += 1
        finally:
            client.close()


def sample_photo(path: Path) -> Path:
    """A frame of the sample footage as a JPEG, the photo the responder 'takes'."""
    import cv2

    from xueliang.settings import REPO_ROOT

    cap = cv2.VideoCapture(str(REPO_ROOT / "samples" / "vtest.avi"))
    try:
        ok, frame = False, None
        for _ in range(30):
            ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        raise RuntimeError("cannot read samples/vtest.avi for the scene photo")
    cv2.imwrite(str(path), cv2.resize(frame, (640, 480)))
    return path


# --- the scenario ---------------------------------------------------------------------------------

class Scenario:
    def __init__(self, demo: Demo, shots: Path, minutes: float, quick: bool) -> None:
        self.demo, self.shots, self.minutes, self.quick = demo, shots, minutes, quick
        self.shift = Shift()
        self.pages: dict[str, Any] = {}
        self.errors: list[str] = []
        self.photo = sample_photo(demo.work / "scene.jpg")
        self.started = time.monotonic()
        self.video_incident: int | None = None
        self.echo: AlertEcho | None = None
        self.hotline_incident: int | None = None
        self.forms: list[bool] = []
        self.muted: tuple[int, str, float, int] | None = None

    # -- plumbing --
    def step(self, name: str, fn: Callable[[], None], shot_page: str | None = None) -> bool:
        s = Step(name)
        t0 = time.monotonic()
        try:
            fn()
            s.ok = True
        except Exception as exc:  # one failed step does not end the shift; it is reported
            s.error = f"{type(exc).__name__}: {exc}"[:600]
            if not isinstance(exc, StepFailed | AssertionError):
                s.error += "\n" + traceback.format_exc(limit=3)[-600:]
        s.seconds = time.monotonic() - t0
        page = self.pages.get(shot_page) if shot_page else None
        if page is not None:
            path = self.shots / f"{len(self.shift.steps) + 1:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.png"
            try:
                page.screenshot(path=str(path))
                s.screenshot = str(path)
            except Exception:
                pass
        if not s.ok:  # every page as it looked when the step failed
            for pname, p in self.pages.items():
                try:
                    p.screenshot(path=str(self.shots / f"{len(self.shift.steps) + 1:02d}-failed-{pname}.png"))
                except Exception:
                    pass
        self.shift.steps.append(s)
        print(f"[{time.monotonic() - self.started:6.1f}s] {'ok ' if s.ok else 'FAIL'} {name} {s.error[:300]}", file=sys.stderr, flush=True)
        return s.ok

    def login(self, browser: Browser, name: str, username: str, context_args: dict[str, Any], path: str,
              geolocation: Geolocation | None = None) -> Page:
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **context_args)
        if geolocation:
            context.grant_permissions(["geolocation"], origin=self.demo.base)
            context.set_geolocation(geolocation)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{name}: {exc}"))
        page.goto(self.demo.base + "/")
        page.fill("#username", username)
        page.fill("#password", self.demo.password)
        page.click("#login-submit")
        page.wait_for_selector("#overview", timeout=15_000)
        page.goto(self.demo.base + path)
        page.wait_for_selector("body[data-ready]", timeout=20_000)
        self.pages[name] = page
        return page

    def video(self) -> int:
        """The township camera's incident the shift follows (found by the first desk step)."""
        if self.video_incident is None:
            raise StepFailed("no incident from the township's camera was found earlier in the shift")
        return self.video_incident

    def desk_select(self, page: Page, incident_id: int) -> None:
        page.click(f'.queue-item[data-id="{incident_id}"]')
        page.wait_for_selector(f'#detail[data-id="{incident_id}"] #detail-status', timeout=10_000)

    def act(self, page: Page, action: str, fill: dict[str, str] | None = None, submit: bool = True) -> None:
        """Click an action button on the desk; fill its form; submit it."""
        page.click(f'#actions button[data-action="{action}"]')
        form = f'#actions .action-form[data-action="{action}"]'
        if fill is None:
            return
        page.wait_for_selector(form, timeout=5_000)
        # selects filled from the server (categories) must have their options before anything is chosen
        wait_until(lambda: page.evaluate(f"() => [...document.querySelectorAll('{form} select')].every(s => s.options.length > 0 && s.value !== '')"),
                   10, f"the {action} form's choices loaded")
        for selector, value in fill.items():
            el = page.locator(f"{form} {selector}")
            if el.evaluate("e => e.tagName") == "SELECT":
                el.select_option(value)
            else:
                el.fill(value)
        if submit:
            page.click(f"{form} button[type=submit]")

    def status_is(self, page: Page, label: str, timeout: float = 15) -> None:
        wait_until(lambda: label in page.inner_text("#detail-status"), timeout, f"status {label} on the desk (shows {page.inner_text('#detail-status')!r})")

    # -- the shift --
    def run(self, browser: Browser) -> Shift:
        pw_timeout = 20_000
        county_wall = self.login(browser, "county_wall", COUNTY, DESKTOP, "/wall")
        county_wall.set_default_timeout(pw_timeout)
        desk = self.login(browser, "township_desk", TOWNSHIP, DESKTOP, "/desk")
        county_desk = self.login(browser, "county_desk", COUNTY, DESKTOP, "/desk")
        phone = self.login(browser, "responder_phone", RESPONDER, PHONE, "/responder")
        for p in (desk, county_desk, phone):
            p.set_default_timeout(pw_timeout)

        self.step("wall: every tile plays live video", self.wall_plays, "county_wall")
        self.step("desk: a video incident from the township's camera arrives", self.video_incident_arrives, "township_desk")
        self.step("wall: the alarm shows on its playing tile, one pop per incident, re-alerts raise the badge", self.wall_alarm, "county_wall")
        self.step("wall: 确认 in the alarm list", self.wall_confirm, "county_wall")
        self.step("county: 标记误报 with 屏蔽 30 分钟", self.false_alarm_mark, "county_desk")
        self.step("desk: pushes patch the selected incident (alert count, one merge row)", self.desk_pushes, "township_desk")
        self.step("wall: the operator's camera stays in 1-up while others alarm; tours rotate", self.wall_pinned_and_tour, "county_wall")
        self.step("desk: 派单 form keeps ticked units and typed note while alerts merge; local police first", self.dispatch_video, "township_desk")
        self.step("phone: task arrives with address, navigation and deadline; 接单, 到达", self.phone_accept, "responder_phone")
        self.step("phone: 办结 note and photo survive pushes, then 办结", self.phone_resolve, "responder_phone")
        self.step("desk: the evidence clip plays on while pushes arrive", self.evidence_clip, "township_desk")
        self.step("desks: double 评价 gives one effect and 已被他人处理", self.double_evaluate, "county_desk")
        if self.echo is not None:
            self.echo.stop()
            self.shift.figures["echoed_alerts"] = self.echo.sent
        self.step("desk: 回访, 结案; closed case shows no countdown", self.revisit_close_video, "township_desk")
        self.step("desk: 12345 case 受理登记 and 分类", self.hotline_intake, "township_desk")
        self.step("12345 case: 派单, 接单, 到场, 办结 on the phone", self.hotline_field, "responder_phone")
        self.step("12345 case: 评价, 回访, 结案", self.hotline_close, "township_desk")
        self.step("escalation: township 上报上级 reaches the county desk with a banner", self.escalate, "county_desk")
        grid = self.login(browser, "grid_phone", GRID_WORKER, PHONE, "/responder", geolocation=self.grid_position())
        grid.set_default_timeout(pw_timeout)
        self.step("grid worker: report from the phone reaches the township desk", self.grid_report, "grid_phone")
        self.step("county: the muted camera stayed quiet while the others kept alarming", self.false_alarm_quiet, "county_desk")
        if self.minutes > 0:
            self.step(f"long shift: {self.minutes:g} min of alerts while forms stay open and tiles play", self.long_shift, "county_wall")
        # search/filters, 诉求信息, 交接班, map, weekly report + PDF, English scan, search_p95_ms (web/desk_tools_shift.py)
        from web.desk_tools_shift import DeskToolSteps

        DeskToolSteps(self, browser).run()
        self.step("no page error on any page", lambda: check(not self.errors, f"page errors: {self.errors[:5]}"), None)
        self.shift.figures.setdefault("forms_survived", bool(self.forms) and all(self.forms))
        elapsed_h = (time.monotonic() - self.started) / 3600
        self.shift.figures["media_mb_per_hour"] = round(self.demo.media_bytes() / 1e6 / max(elapsed_h, 1e-6), 1)
        self.shift.figures["shift_seconds"] = round(time.monotonic() - self.started, 1)
        return self.shift

    # -- wall --
    def tiles(self) -> list[dict]:
        page = self.pages["county_wall"]
        n = page.locator(".tile").count()
        return [page.evaluate(TILE_JS, i) for i in range(n)]

    def playing_tiles(self, window: float = 2.0) -> tuple[list[dict], list[dict]]:
        """Tiles whose decoded frames and currentTime both advanced over the window."""
        before = self.tiles()
        time.sleep(window)
        after = self.tiles()
        playing = [a for b, a in zip(before, after, strict=False)
                   if a and b and a["camera"] == b["camera"] and a["frames"] > b["frames"] and a["time"] > b["time"]]
        return playing, after

    def wall_plays(self) -> None:
        page = self.pages["county_wall"]
        wait_until(lambda: page.locator(".tile[data-camera]:not([data-camera=''])").count() >= 4, 10, "four cameras on the wall")
        wait_until(lambda: len(self.playing_tiles(1.0)[0]) >= 4, 60, "all four tiles decoding frames")
        playing, _ = self.playing_tiles()
        self.shift.figures["wall_tiles_playing"] = len(playing)
        check(len(playing) >= 4, f"only {len(playing)} of 4 tiles advance")

    def wall_alarm(self) -> None:
        page = self.pages["county_wall"]
        wait_until(lambda: page.locator(".tile.alarm").count() >= 1, 60, "an alarmed tile on the wall")
        pops0 = int(page.get_attribute("body", "data-pops") or 0)
        realerts0 = int(page.get_attribute("body", "data-realerts") or 0)
        sessions0 = page.evaluate("() => [...document.querySelectorAll('.tile video')].map(v => v.srcObject && v.srcObject.id)")
        playing, after = self.playing_tiles(3.0)
        alarmed = [t for t in after if t and t["alarmed"]]
        alarmed_playing = [t for t in playing if t["alarmed"]]
        self.shift.figures["wall_tiles_alarmed"] = len(alarmed)
        self.shift.figures["wall_alarmed_tiles_decoding"] = len(alarmed_playing)
        self.shift.figures["wall_tiles_playing"] = len(playing)
        check(len(alarmed_playing) == len(alarmed), f"alarmed tiles {[(t['camera'], t['state']) for t in alarmed]} but decoding only {[t['camera'] for t in alarmed_playing]}")
        # re-alerts of the incidents already popped update badges; they never re-pop nor restart a tile
        wait_until(lambda: int(page.get_attribute("body", "data-realerts") or 0) > realerts0, 60, "a re-alert (merged alert) reaching the wall")
        sessions1 = page.evaluate("() => [...document.querySelectorAll('.tile video')].map(v => v.srcObject && v.srcObject.id)")
        check(sessions0 == sessions1, f"a tile's WebRTC stream changed on a re-alert: {sessions0} -> {sessions1}")
        rows = page.locator("#alarm-list .alarm-row").count()
        pops = int(page.get_attribute("body", "data-pops") or 0)
        check(rows == pops, f"{rows} rows in the alarm list for {pops} pops: one row per incident")
        ids = page.evaluate("() => [...document.querySelectorAll('#alarm-list .alarm-row')].map(r => r.dataset.incident)")
        check(len(ids) == len(set(ids)), f"an incident popped twice: {ids}")
        self.shift.figures["wall_pops_during_check"] = pops - pops0

    def wall_confirm(self) -> None:
        page = self.pages["county_wall"]
        row = page.locator("#alarm-list .alarm-row:not(.confirmed)").first
        incident = row.get_attribute("data-incident")
        row.locator("button.confirm-alarm").click()
        wait_until(lambda: "confirmed" in (page.get_attribute(f'#alarm-list .alarm-row[data-incident="{incident}"]', "class") or ""), 5, "the row shows 已确认")
        check(int(page.get_attribute("body", "data-beeps") or 0) >= 1, "no alarm tone was played")

    def wall_pinned_and_tour(self) -> None:
        page = self.pages["county_wall"]
        page.click('#layouts button[data-n="1"]')
        page.click('.tile[data-index="0"]')
        chosen = "cam04"
        page.click(f'#camera-list li[data-camera="{chosen}"]')
        pops0 = int(page.get_attribute("body", "data-pops") or 0) + int(page.get_attribute("body", "data-realerts") or 0)
        wait_until(lambda: int(page.get_attribute("body", "data-pops") or 0) + int(page.get_attribute("body", "data-realerts") or 0) >= pops0 + 2,
                   30, "alarms of other cameras arriving while the operator watches one")
        playing, after = self.playing_tiles(2.0)
        check(after[0]["camera"] == chosen, f"the operator's camera {chosen} was replaced by {after[0]['camera']}")
        check(len(playing) == 1, f"the chosen camera is not decoding ({after[0]['state']})")
        # un-pin it and tour every camera, 5 s a page: the 1-up tile rotates, alarms or not
        page.click('.tile[data-index="0"] .tile-bar button')
        page.fill("#tour-interval", "5")
        page.click("#tour-toggle")
        seen: set[str] = set()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and len(seen) < 2:
            seen.add(page.get_attribute('.tile[data-index="0"]', "data-camera") or "")
            time.sleep(0.5)
        page.click("#tour-toggle")
        check(len(seen - {""}) >= 2, f"the tour showed only {sorted(seen)} in 8 s at 5 s a page")
        page.click('#layouts button[data-n="4"]')
        for i, cam in enumerate(("cam01", "cam02", "cam03", "cam04")):  # the operator puts the four back
            page.click(f'.tile[data-index="{i}"]')
            page.click(f'#camera-list li[data-camera="{cam}"]')

    # -- township desk: the video incident --
    def video_incident_arrives(self) -> None:
        desk = self.pages["township_desk"]

        def newest_video() -> int | None:
            ids = desk.evaluate("""() => [...document.querySelectorAll('.queue-item')].map(li => Number(li.dataset.id))""")
            return max(ids) if ids else None
        self.video_incident = wait_until(newest_video, 90, "an incident from the township's camera in the queue")
        self.desk_select(desk, self.video_incident)
        camera = desk.evaluate("(id) => fetch('/api/incidents/' + id).then(r => r.json()).then(i => i.camera_id)", self.video_incident)
        self.echo = AlertEcho(self.demo, str(camera)).start()
        text = desk.inner_text("#detail")
        check("报警次数" in text, "the detail shows no alert count")

    def desk_pushes(self) -> None:
        desk = self.pages["township_desk"]
        n0 = int(desk.get_attribute("body", "data-selected-pushes") or 0)
        window = 5.0 if self.quick else 10.0
        t0 = time.monotonic()
        time.sleep(window)
        n1 = int(desk.get_attribute("body", "data-selected-pushes") or 0)
        rate = (n1 - n0) / (time.monotonic() - t0)
        self.shift.figures["pushes_per_s_on_selected"] = round(rate, 2)
        check(n1 > n0, "no push reached the selected incident while its camera kept alerting")
        count = desk.inner_text("#detail-alerts")
        check(re.search(r"\d+ 次", count) is not None, f"alert count not shown: {count!r}")
        merge_rows = desk.locator('ol.timeline li[data-action="merge"]').count()
        check(merge_rows <= 1, f"{merge_rows} 合并来源 rows in the timeline (expected one aggregated row)")

    def evidence_clip(self) -> None:
        """The incident's evidence clip plays on the desk and is not restarted by the pushes arriving."""
        desk = self.pages["township_desk"]
        inc = self.video()
        if desk.locator(f'#detail[data-id="{inc}"]').count() == 0:
            self.desk_select(desk, inc)
        # the window's clip is written once the alarm window closes or reaches 30 s; the desk retries until then
        wait_until(lambda: desk.evaluate("() => { const v = document.querySelector('#detail .clip'); return v && v.readyState >= 1 && v.duration > 0; }"),
                   60, "the evidence clip loaded on the desk")
        desk.evaluate("() => { const v = document.querySelector('#detail .clip'); v.muted = true; return v.play(); }")
        n0 = int(desk.get_attribute("body", "data-selected-pushes") or 0)
        t0 = desk.evaluate("() => document.querySelector('#detail .clip').currentTime")
        time.sleep(3.0)
        t1, ended, duration = desk.evaluate("() => { const v = document.querySelector('#detail .clip'); return [v.currentTime, v.ended, v.duration]; }")
        n1 = int(desk.get_attribute("body", "data-selected-pushes") or 0)
        self.shift.figures["evidence_clip_seconds"] = round(duration, 1)
        check(t1 > t0 + 1.5 or ended, f"the evidence clip did not play on (currentTime {t0:.2f} → {t1:.2f}, {n1 - n0} pushes meanwhile)")

    def dispatch_video(self) -> None:
        desk = self.pages["township_desk"]
        self.act(desk, "dispatch")
        desk.wait_for_selector(".dispatch-form .unit-row input", timeout=10_000)
        first = desk.locator(".dispatch-form .unit-list.recommended .unit-row").first.inner_text()
        check("派出所" in first, f"first recommendation is not a police station of the incident's township: {first!r}")
        r1 = self.responder_row(desk, "r1")
        desk.check(f'.dispatch-form .unit-row[data-responder="{r1}"] input')
        note = "请就近处置，注意安全"
        desk.fill(".dispatch-form input[name=note]", note)
        n0 = int(desk.get_attribute("body", "data-selected-pushes") or 0)
        wait_until(lambda: int(desk.get_attribute("body", "data-selected-pushes") or 0) >= n0 + 2, 45, "two pushes on the selected incident while the form is open")
        kept = desk.input_value(".dispatch-form input[name=note]") == note and desk.is_checked(f'.dispatch-form .unit-row[data-responder="{r1}"] input')
        self.forms.append(kept)
        check(kept, "the 派单 form lost the note or the ticked unit during pushes")
        desk.click(".dispatch-form button[type=submit]")
        self.status_is(desk, "已派单")

    def responder_row(self, desk: Page, username: str) -> int:
        """The id of the responder account's unit, read from the dispatch list the operator sees."""
        name = {"r1": "派出所值班警组"}[username]
        for attempt in range(2):
            rows = desk.locator(".dispatch-form .unit-row")
            for i in range(rows.count()):
                if name in rows.nth(i).inner_text():
                    return int(rows.nth(i).get_attribute("data-responder") or "0")
            if attempt == 0 and desk.locator(".dispatch-form button.show-all").count():
                desk.click(".dispatch-form button.show-all")  # not recommended: the operator opens the full list
        raise StepFailed(f"no unit named *{name} in the dispatch form: {desk.inner_text('.dispatch-form')[:300]}")

    # -- phone --
    def phone_accept(self, incident: int | None = None) -> None:
        phone = self.pages["responder_phone"]
        incident = incident or self.video_incident
        card = f'.task[data-id="{incident}"]'
        phone.wait_for_selector(f'{card} button[data-action="acknowledge"]', timeout=20_000)
        text = phone.inner_text(card)
        check("签收" in text and ("剩余" in text or "超时" in text), f"no 签收 deadline on the task: {text[:200]!r}")
        check(phone.locator(f"{card} .task-address").inner_text().strip() != "", "no address on the task")
        check(phone.locator(f"{card} a.nav-link").count() == 1, "no navigation link on the task")
        phone.click(f'{card} button[data-action="acknowledge"]')
        phone.wait_for_selector(f'{card}[data-status="acknowledged"] button[data-action="arrive"]')
        phone.click(f'{card} button[data-action="arrive"]')
        phone.wait_for_selector(f'{card}[data-status="on_scene"]')

    def phone_resolve(self, incident: int | None = None, wait_pushes: bool = True) -> None:
        phone = self.pages["responder_phone"]
        incident = incident or self.video_incident
        card = f'.task[data-id="{incident}"]'
        note = "现场人员已劝离，秩序恢复"
        phone.fill(f"{card} textarea[name=note]", note)
        phone.set_input_files(f"{card} input[type=file]", str(self.photo))
        if wait_pushes:
            # the camera keeps alerting: pushes for this incident reach the phone while the note is open
            desk = self.pages["township_desk"]
            n0 = int(desk.get_attribute("body", "data-selected-pushes") or 0)
            wait_until(lambda: int(desk.get_attribute("body", "data-selected-pushes") or 0) >= n0 + 2, 45, "pushes while the 办结 form is filled")
        kept = phone.input_value(f"{card} textarea[name=note]") == note and phone.evaluate(
            f"() => document.querySelector('{card} input[type=file]').files.length") == 1
        self.forms.append(kept)
        check(kept, "the 办结 note or the chosen photo was lost")
        phone.click(f'{card} button[data-action="resolve"]')
        wait_until(lambda: phone.locator(card).count() == 0, 15, "the task leaves the list once 办结")

    # -- double submit --
    def double_evaluate(self) -> None:
        desk, county = self.pages["township_desk"], self.pages["county_desk"]
        inc = self.video_incident
        self.status_is(desk, "已办结")
        county.goto(f"{self.demo.base}/desk#{inc}")
        county.wait_for_selector(f'#detail[data-id="{inc}"] #actions button[data-action="evaluate"]', timeout=20_000)
        for page in (desk, county):
            self.act(page, "evaluate", {"select[name=satisfaction]": "5", "input[name=comment]": "处置及时"}, submit=False)
        # both operators press 评价 at the same moment
        desk.evaluate("() => document.querySelector('.action-form[data-action=evaluate] button[type=submit]').click()")
        county.evaluate("() => document.querySelector('.action-form[data-action=evaluate] button[type=submit]').click()")
        # the message stands in the detail pane (the 4 s toast alone is easy to miss)
        loser = wait_until(lambda: next((p for p in (desk, county) if p.locator("#action-error").count()
                                         and "已被他人处理" in p.inner_text("#action-error")), None), 10, "已被他人处理 on the second desk")
        loser.locator("#action-error").scroll_into_view_if_needed()
        loser.screenshot(path=str(self.shots / "double-submit-second-desk.png"))
        self.status_is(desk, "已评价")
        time.sleep(1.0)
        rows = wait_until(lambda: desk.locator('ol.timeline li[data-action="evaluate"]').count(), 10, "the 评价 row in the timeline")
        self.shift.figures["duplicate_effects"] = rows - 1
        check(rows == 1, f"{rows} 评价 rows in the timeline")

    def revisit_close_video(self, incident: int | None = None) -> None:
        desk = self.pages["township_desk"]
        inc = incident or self.video()
        if desk.locator(f'#detail[data-id="{inc}"]').count() == 0:
            self.desk_select(desk, inc)
        self.act(desk, "revisit", {"textarea[name=outcome]": "群众表示满意"})
        self.status_is(desk, "已回访")
        self.act(desk, "close", None)
        self.status_is(desk, "已结案")
        check(desk.locator("#detail-sla .deadline").count() == 0, "a closed case still shows a countdown")

    # -- the 12345 case --
    def hotline_intake(self) -> None:
        desk = self.pages["township_desk"]
        desk.click("#new-report")
        desk.wait_for_selector("#report-jurisdiction option", state="attached")
        desk.fill('#report-form input[name="title"]', "小区夜间施工噪声扰民")
        desk.fill('#report-form textarea[name="description"]', "12345 来电：23点后仍在施工")
        desk.select_option("#report-jurisdiction", "330381101201")
        desk.fill('#report-form input[name="address"]', "东山村 3 组")
        desk.fill('#report-form input[name="reporter_phone"]', "13800000000")
        self.hotline_incident = self.submit_intake(desk)
        desk.wait_for_selector(f'#detail[data-id="{self.hotline_incident}"]')
        check("12345" in desk.inner_text("#detail"), "the case does not show its source 12345")
        if desk.locator('#actions button[data-action="classify"]').count():
            self.act(desk, "classify", {})
            wait_until(lambda: "已分类" in desk.inner_text("#detail-status") or "已派单" in desk.inner_text("#detail-status"), 15, "status 已分类")

    def submit_intake(self, desk: Page) -> int:
        """Submit the 受理登记 form; the new case is selected (a case that was selected before is not it)."""
        before = set(desk.evaluate("() => [...document.querySelectorAll('.queue-item')].map(li => Number(li.dataset.id))"))
        desk.click('#report-form button[type="submit"]')

        def new_selected() -> int | None:
            sel = desk.get_attribute(".queue-item.selected", "data-id", timeout=1000) if desk.locator(".queue-item.selected").count() else None
            return int(sel) if sel and int(sel) not in before else None
        inc = wait_until(new_selected, 15, "the new case selected in the queue")
        desk.wait_for_selector(f'#detail[data-id="{inc}"]')
        return inc

    def hotline_field(self) -> None:
        desk = self.pages["township_desk"]
        inc = self.hotline_incident
        self.act(desk, "dispatch")
        desk.wait_for_selector(".dispatch-form .unit-row input", timeout=10_000)
        r1 = self.responder_row(desk, "r1")
        desk.check(f'.dispatch-form .unit-row[data-responder="{r1}"] input')
        desk.click(".dispatch-form button[type=submit]")
        self.status_is(desk, "已派单")
        phone = self.pages["responder_phone"]
        phone.wait_for_selector(f'.task[data-id="{inc}"]', timeout=20_000)
        wait_until(lambda: phone.locator(f'.task[data-id="{inc}"] a.call-link[href="tel:13800000000"]').count() == 1, 10, "tap-to-call for the 12345 caller")
        self.phone_accept(inc)
        self.phone_resolve(inc, wait_pushes=False)

    def hotline_close(self) -> None:
        desk = self.pages["township_desk"]
        inc = self.hotline_incident
        self.status_is(desk, "已办结", 20)
        self.act(desk, "evaluate", {"select[name=satisfaction]": "4", "input[name=comment]": "基本满意"})
        self.status_is(desk, "已评价")
        self.revisit_close_video(inc)

    # -- escalation and 督办 --
    def escalate(self) -> None:
        desk, county = self.pages["township_desk"], self.pages["county_desk"]
        desk.click("#new-report")
        desk.wait_for_selector("#report-jurisdiction option", state="attached")
        desk.fill('#report-form input[name="title"]', "村民聚集 需县级协调")
        desk.select_option("#report-jurisdiction", "330381101201")
        inc = self.submit_intake(desk)
        desk.wait_for_selector(f'#detail[data-id="{inc}"] #actions button[data-action="escalate"]')
        self.act(desk, "escalate", {"textarea[name=reason]": "涉及多个乡镇，请县级协调"})
        self.status_is(desk, "已上报")
        county.goto(f"{self.demo.base}/desk")
        county.wait_for_selector("body[data-ready]")
        wait_until(lambda: county.locator(f'#supervise-banner a[href="#{inc}"]').count() == 1, 20, "the escalated case in the county desk's banner")
        county.click(f'#supervise-banner a[href="#{inc}"]')
        county.wait_for_selector(f'#detail[data-id="{inc}"] #actions')
        check(county.locator('#actions button[data-action="escalate"]').count() == 0, "the county desk still offers 上报上级")

    def false_alarm_mark(self) -> None:
        county = self.pages["county_desk"]

        def pick() -> list[Any] | None:  # an open video incident of another township's camera, not yet handled
            return county.evaluate(f"""() => {{ const li = [...document.querySelectorAll('.queue-item[data-camera]')].find(li =>
                 ['received', 'classified'].includes(li.dataset.status) && li.dataset.camera && li.dataset.camera !== '{TOWNSHIP_CAMERA}');
                 return li ? [Number(li.dataset.id), li.dataset.camera] : null; }}""")
        inc, camera = wait_until(pick, 60, "an open video incident of another township on the county desk")
        self.desk_select(county, inc)
        self.act(county, "false_alarm", {"textarea[name=reason]": "画面中为正常候车人员"}, submit=False)
        county.select_option('.action-form[data-action="false_alarm"] select[name=mute_minutes]', "30")
        county.click('.action-form[data-action="false_alarm"] button[type=submit]')
        self.status_is(county, "误报")
        self.muted = (inc, camera, time.monotonic(), self.other_alerts(county, camera))

    @staticmethod
    def other_alerts(page: Page, camera: str) -> int:
        """Alerts counted (×N badges) on the queue's incidents of the cameras nobody handles in the shift."""
        return page.evaluate(f"""() => [...document.querySelectorAll('.queue-item[data-camera]')]
             .filter(li => li.dataset.camera !== '{camera}' && li.dataset.camera !== '{TOWNSHIP_CAMERA}')
             .map(li => {{ const b = li.querySelector('.count-badge'); return b ? Number(b.textContent.replace('×', '')) : 1; }})
             .reduce((a, b) => a + b, 0)""")

    def false_alarm_quiet(self) -> None:
        county = self.pages["county_desk"]
        if self.muted is None:
            raise StepFailed("no false alarm was marked")
        inc, camera, at, others_before = self.muted
        quiet = 20 if self.quick else 90  # the rule's cooldown is 20 s: an unmuted camera alarms again within it
        time.sleep(max(0.0, quiet - (time.monotonic() - at)))
        county.goto(f"{self.demo.base}/desk")
        county.wait_for_selector("body[data-ready]")
        time.sleep(1.0)
        reopened = county.evaluate(f"""() => [...document.querySelectorAll('.queue-item[data-camera="{camera}"]')]
             .map(li => Number(li.dataset.id)).filter(id => id > {inc})""")
        others = self.other_alerts(county, camera)
        self.shift.figures["muted_camera_new_incidents"] = len(reopened)
        self.shift.figures["muted_quiet_seconds"] = round(time.monotonic() - at)
        check(not reopened, f"the muted camera {camera} opened new incidents {reopened} within {time.monotonic() - at:.0f}s")
        check(others > others_before, f"the other cameras raised no alert meanwhile ({others_before} → {others}): the check proves nothing")

    # -- grid worker --
    def grid_position(self) -> Geolocation:
        import httpx

        r = httpx.post(f"{self.demo.base}/api/auth/login", json={"username": GRID_WORKER, "password": self.demo.password}, timeout=10)
        r.raise_for_status()
        token = r.json()["access_token"]
        me = httpx.get(f"{self.demo.base}/api/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        place = httpx.get(f"{self.demo.base}/api/jurisdictions/{me['jurisdiction_code']}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if place.status_code == 200 and place.json().get("center_lat"):
            return {"latitude": float(place.json()["center_lat"]), "longitude": float(place.json()["center_lon"])}
        return {"latitude": 27.78, "longitude": 120.63}

    def grid_report(self) -> None:
        grid, desk = self.pages["grid_phone"], self.pages["township_desk"]
        grid.click('button[data-tab="report"]')
        wait_until(lambda: re.search(r"\d+\.\d+, \d+\.\d+", grid.inner_text("#report-position")), 10, "the phone's position in the report form")
        grid.fill("#grid-report input[name=title]", "路灯损坏 夜间照明不足")
        grid.fill("#grid-report textarea[name=description]", "村口三盏路灯不亮")
        grid.set_input_files("#grid-report input[type=file]", str(self.photo))
        grid.click("#grid-report button[type=submit]")
        report = wait_until(lambda: grid.get_attribute("body", "data-last-report"), 15, "the report accepted (toast and id)")
        desk.wait_for_selector(f'.queue-item[data-id="{report}"]', timeout=20_000)
        check("路灯损坏" in desk.inner_text(f'.queue-item[data-id="{report}"]'), "the grid report's title on the township desk")

    # -- the long shift: alerts keep flowing while an operator keeps a form open --
    def long_shift(self) -> None:
        desk, wall = self.pages["township_desk"], self.pages["county_wall"]
        end = time.monotonic() + self.minutes * 60
        open_ids = desk.evaluate("() => [...document.querySelectorAll('.queue-item')].map(li => Number(li.dataset.id))")
        check(bool(open_ids), "no open incident to keep a form open on")
        self.desk_select(desk, max(open_ids))
        if desk.locator('#actions button[data-action="false_alarm"]').count():
            self.act(desk, "false_alarm", {"textarea[name=reason]": "长时间值守：输入保持"}, submit=False)
            field_sel = '.action-form[data-action="false_alarm"] textarea[name=reason]'
        else:
            field_sel = None
        low_tiles = []
        while time.monotonic() < end:
            playing, after = self.playing_tiles(5.0)
            alarmed = [t for t in after if t and t["alarmed"]]
            if any(t not in playing for t in alarmed) or len(playing) < 4:
                low_tiles.append((len(playing), len(alarmed)))
            time.sleep(10)
        del wall
        if field_sel:
            kept = desk.input_value(field_sel) == "长时间值守：输入保持"
            self.forms.append(kept)
            check(kept, "the open form lost its text during the long shift")
        check(len(low_tiles) <= 1, f"tiles stopped decoding during the shift: {low_tiles[:5]}")


def run_shift(minutes: float, quick: bool, shots: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="xl-shift-"))
    demo = Demo(work, password="shift-" + secrets.token_urlsafe(9))
    result: dict[str, Any]
    try:
        demo.start()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                scenario = Scenario(demo, shots, minutes, quick)
                shift = scenario.run(browser)
                result = shift.summary()
            finally:
                browser.close()
        if result["failed"]:
            result["demo_logs"] = demo.log_tail(1500)
    except Exception as exc:
        result = {"steps_total": 0, "steps_passed": 0, "error": f"{type(exc).__name__}: {exc}", "demo_logs": demo.log_tail()}
    finally:
        demo.stop()
        shutil.rmtree(work, ignore_errors=True)
    return result


def register(bench_sub: argparse._SubParsersAction) -> None:
    parser = bench_sub.add_parser("operator", help="an operator's shift on the real demo, through the pages (Chromium)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="the loop once, short waits (about 3 minutes)")
    parser.add_argument("--minutes", type=float, default=None, help="keep the shift running this long after the loop (default 0 quick, 10 otherwise)")
    parser.add_argument("--shots", type=Path, default=None, help="screenshot directory (default test-artifacts/operator-shift)")
    parser.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from xueliang.settings import REPO_ROOT

    minutes = args.minutes if args.minutes is not None else (0.0 if args.quick else 10.0)
    shots = (args.shots or REPO_ROOT / "test-artifacts" / "operator-shift").resolve()
    if not Path(CHROMIUM).exists():
        print(json.dumps({"error": f"{CHROMIUM} not found: install Debian chromium (scripts/setup.sh)"}))
        return 2
    if os.environ.get(IN_NETNS_ENV) != "1":
        from web.live.netns import netns_argv, netns_unavailable_reason

        reason = netns_unavailable_reason()
        if reason:
            print(json.dumps({"error": f"the wall's WebRTC needs a network namespace: {reason}"}))
            return 2
        argv = [sys.executable, "-m", "xueliang.cli", "bench", "operator", "--minutes", str(minutes), "--shots", str(shots)]
        argv += ["--json"] if args.json else []
        argv += ["--quick"] if args.quick else []
        return subprocess.run(netns_argv(["env", f"{IN_NETNS_ENV}=1", *argv]), cwd=REPO_ROOT, check=False).returncode
    result = run_shift(minutes, args.quick, shots)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for s in result.get("steps", []):
            print(f"{'ok  ' if s['ok'] else 'FAIL'} {s['step']} ({s['seconds']} s)")
        for k, v in result.items():
            if k not in ("steps", "failed", "demo_logs"):
                print(f"{k}: {v}")
        for f in result.get("failed", []):
            print(f"FAILED {f['step']}: {f['error']}")
    return 0 if result.get("steps_total") and result["steps_passed"] == result["steps_total"] else 1
