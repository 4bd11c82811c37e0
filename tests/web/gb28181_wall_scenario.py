"""The video wall playing a GB/T 28181 channel over WebRTC in real Chromium; run INSIDE a network namespace.

Started by ``test_gb28181_wall.py`` like ``wall_live_scenario``: SIPp plays the device (register,
catalog, answers the INVITE), GStreamer's mpegpsmux PS goes over RTP to the port the platform
offered, the web app's live relay opens the channel's PS URL (the same reader as RTSP), and
Chromium logged in as a township operator opens ``/wall``. Writes what the tile showed as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from tests.web.wall_live_scenario import CHROMIUM, CHROMIUM_ARGS, TILE_FRAMES_JS
from xueliang.runtime import EmbeddedRedis, free_port
from xueliang.settings import Settings

CH = "34020000001320000001"


class GbSide(threading.Thread):
    """Platform, PS endpoint, SIPp device and the PS/RTP sender, on their own event loop."""

    def __init__(self, work: Path, codec: str = "h264") -> None:
        super().__init__(daemon=True)
        self.work = work
        self.codec = codec
        self.ready = threading.Event()
        self.stop_flag = threading.Event()
        self.url = ""
        self.error: str | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.main())
        except Exception:
            self.error = traceback.format_exc()
            self.ready.set()

    async def main(self) -> None:
        from devices.gb28181 import GbConfig, GbPlatform
        from ingest.ps import GbMediaHub, PsHttpServer
        from tests.devices.gb28181.sipp import MEDIA_TOKEN, start_sipp
        from tests.devices.gb28181.test_sipp_device import DEVICE, PLATFORM, keys
        from tests.ingest.ps.footage import access_units, gstreamer_ps, hevc_annexb, ps_units
        from tests.ingest.ps.sender import PsRtpSender

        if self.codec == "h265":  # GStreamer's mpegpsmux has no H.265: the product's own PS muxer
            from ingest.ps.mux import PsMuxer

            mux = PsMuxer("hevc")
            units = [mux.mux(au, 9000 * (i + 1), key) for i, (au, key) in enumerate(access_units(hevc_annexb(self.work), "hevc"))]
        else:
            units = ps_units(gstreamer_ps(self.work).read_bytes())
        platform = await GbPlatform(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw")).start()
        hub = GbMediaHub(platform, media_host="127.0.0.1", bind_host="127.0.0.1", mode="udp")
        platform.on_remote_bye = hub.on_remote_bye
        http = await PsHttpServer(hub, "127.0.0.1", 0, token=MEDIA_TOKEN).start()
        run = await start_sipp("device.xml", ooc="device_ooc.xml", server_port=platform.port, logdir=self.work / "sipp",
                               keys=keys(), auth=(DEVICE, "pw"), timeout_s=200, hold_ms=180_000)
        sending: dict[str, asyncio.Task] = {}
        try:
            while CH not in platform.store.channels:
                await asyncio.sleep(0.05)
            from devices.gb28181.cameras import stream_url

            os.environ["XUELIANG_GB28181_MEDIA_TOKEN"] = MEDIA_TOKEN  # the web's relay resolves the URL's ${…} with it
            self.url = stream_url(f"http://127.0.0.1:{http.port}", CH)
            self.ready.set()
            while not self.stop_flag.is_set():  # send to whatever session the relay opened (re-INVITEs too)
                session = hub.sessions.get(CH)
                if session is not None and session.invite is not None and session.invite.ssrc not in sending:
                    for t in sending.values():
                        t.cancel()
                    sender = PsRtpSender(units, ssrc=int(session.invite.ssrc))
                    sending = {session.invite.ssrc: asyncio.create_task(sender.udp("127.0.0.1", session.receiver.port))}
                await asyncio.sleep(0.05)
        finally:
            for t in sending.values():
                t.cancel()
            await hub.close()
            await http.stop()
            await run.stop()
            await platform.stop()


def run(out: dict, shots: Path | None, codec: str = "h264") -> None:
    from playwright.sync_api import sync_playwright

    from tests.web.conftest import PASSWORD, ServerThread, seeded_database
    from web import create_app

    work = Path(tempfile.mkdtemp(prefix="xl-gbwall-"))
    gb = GbSide(work, codec)
    gb.start()
    if not gb.ready.wait(60) or gb.error:
        raise RuntimeError(f"GB side did not come up: {gb.error}")
    try:
        with EmbeddedRedis(work / "redis", persist=False) as redis_server:
            cameras = work / "cameras.yaml"
            cameras.write_text(f"""version: 1
cameras:
  - id: "{CH}"
    name: 城关镇 国标摄像机
    jurisdiction: "330381101201"
    position: {{lat: 27.7794, lon: 120.6553}}
    kind: fixed
    streams: {{main: "{gb.url}"}}
    analysis: {{mode: "off"}}
""", encoding="utf-8")
            settings = Settings(data_dir=work, cameras_file=cameras, database_url=f"sqlite:///{work / 'web.db'}",
                                redis_url=redis_server.url, secret_key="gb-wall-secret-0123456789abcdef0123456",
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
                    page.wait_for_selector(f'.tile[data-camera="{CH}"]')
                    first, samples = None, []
                    deadline = time.monotonic() + 40
                    while time.monotonic() < deadline:
                        s = page.evaluate(TILE_FRAMES_JS, CH)
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
                    out["live_sessions"] = page.evaluate("""async (ch) => {
                        const r = await fetch('/api/live/stats', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('xl.token')}});
                        const body = await r.json();
                        return ((body.cameras || {})[ch] || {}).sessions || [];
                    }""", CH)
                    out["samples"] = samples
                    if shots is not None:
                        shots.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(shots / ("wall-gb28181.png" if codec == "h264" else f"wall-gb28181-{codec}.png")))
                    out["page_errors"] = errors
                    browser.close()
            finally:
                server.stop()
                database.dispose()
    finally:
        gb.stop_flag.set()
        gb.join(20)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    out_path = Path(sys.argv[1])
    shots = Path(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else None
    codec = sys.argv[3] if len(sys.argv) > 3 else "h264"
    out: dict = {"ok": False}
    try:
        run(out, shots, codec)
        out["ok"] = True
    except Exception:  # the wrapper test shows the traceback
        out["error"] = traceback.format_exc()
    out_path.write_text(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
