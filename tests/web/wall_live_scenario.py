"""The video wall playing a camera over WebRTC in real Chromium; run INSIDE a network namespace.

Started by ``test_wall_live.py`` as ``unshare -n ... python -m tests.web.wall_live_scenario OUT.json``.
Everything is real and local to the namespace: the GStreamer RTSP server, Valkey, a migrated
and seeded database, the full web app (``create_app``, with web/live mounted), and Chromium
logged in as a township operator opening ``/wall``. Writes what the tile showed as JSON.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from xueliang.runtime import EmbeddedRedis, RtspSampleServer, SampleMount, free_port
from xueliang.settings import REPO_ROOT, Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CAMERAS_YAML = """version: 1
cameras:
  - id: camA1
    name: 城关镇 人民广场
    jurisdiction: "330381101201"
    position: {{lat: 27.7794, lon: 120.6553}}
    kind: fixed
    streams: {{main: "{main}", sub: "{sub}"}}
    analysis: {{mode: "off"}}
"""
TILE_FRAMES_JS = """(cameraId) => {
  const tile = document.querySelector(`.tile[data-camera="${cameraId}"]`);
  const video = tile && tile.querySelector("video");
  if (!video) return null;
  const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : {};
  return {state: tile.dataset.live || null, frames: q.totalVideoFrames || 0, time: video.currentTime,
          width: video.videoWidth, height: video.videoHeight};
}"""


def run(out: dict, shots: Path | None) -> None:
    from playwright.sync_api import sync_playwright

    from tests.web.conftest import PASSWORD, ServerThread, seeded_database
    from web import create_app

    work = Path(tempfile.mkdtemp(prefix="xl-wall-"))
    rtsp = RtspSampleServer(mounts=[SampleMount("cam01", REPO_ROOT / "samples" / "vtest_640x360_g10.h264", fps=10),
                                    SampleMount("cam01sub", REPO_ROOT / "samples" / "vtest_480x360_g10.h264", fps=10)],
                            log_path=work / "rtsp.log")
    with rtsp, EmbeddedRedis(work / "redis", persist=False) as redis_server:
        cameras = work / "cameras.yaml"
        cameras.write_text(CAMERAS_YAML.format(main=rtsp.url("cam01"), sub=rtsp.url("cam01sub")), encoding="utf-8")
        settings = Settings(data_dir=work, cameras_file=cameras, database_url=f"sqlite:///{work / 'web.db'}",
                            redis_url=redis_server.url, secret_key="wall-live-secret-0123456789abcdef0123",
                            web_port=free_port())
        database = seeded_database(settings.resolved_database_url())
        server = ServerThread(create_app(settings), settings.web_port)
        server.start()
        try:
            base = f"http://127.0.0.1:{settings.web_port}"
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(base + "/")
                page.fill("#username", "op_a")
                page.fill("#password", PASSWORD)
                page.click("#login-submit")
                page.wait_for_selector("#overview:not(.hidden)")
                opened = time.monotonic()
                page.goto(base + "/wall")
                page.wait_for_selector('.tile[data-camera="camA1"]')
                first = None
                samples = []
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    s = page.evaluate(TILE_FRAMES_JS, "camA1")
                    if s and s["frames"] > 0 and first is None:
                        first = time.monotonic() - opened
                    if first is not None:
                        samples.append(s)
                        if len(samples) >= 5:
                            break
                        time.sleep(0.6)
                    else:
                        time.sleep(0.05)
                out["first_frame_after_opening_wall_s"] = first
                out["samples"] = samples
                if shots is not None:
                    shots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shots / "wall-live.png"))
                out["page_errors"] = errors
                browser.close()
        finally:
            server.stop()
            database.dispose()
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    out_path = Path(sys.argv[1])
    shots = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    out: dict = {"ok": False}
    try:
        run(out, shots)
        out["ok"] = True
    except Exception:  # the wrapper test shows the traceback
        out["error"] = traceback.format_exc()
    out_path.write_text(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
