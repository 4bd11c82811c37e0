"""Live view of camera-like streams in real headless Chromium; run INSIDE a network namespace.

Started by ``test_live_cameras.py`` as ``unshare -n ... python -m tests.web.live.camera_scenario OUT.json``.
Serves the camera fixtures of ``tests/ingest/cameras.py`` (B-frames, H.265, live555
stamps, garbage parameter sets, audio) with the GStreamer server, starts the live
gateway, and records per tile what Chromium decodes: mode, codec, reason, frame size
and ``framesDecoded`` over 10 s. Also: a passthrough forced onto a B-frame camera must
be switched to transcode by the server (client stats reports or, with the page's reports
turned off, the browser's own RTCP feedback: keyframe requests while packets arrive), and a
transcode past the configured limit is refused with a zh-CN sentence.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.ingest.cameras import CAMERAS, camera_server
from tests.web.live.browser_scenario import CHROMIUM, CHROMIUM_ARGS, CLOSE_JS, OPEN_TILE_JS, STATS_JS
from web.live.standalone import TOKEN_ENV
from xueliang.runtime import free_port, spawn, stop, wait_for_port
from xueliang.settings import REPO_ROOT

MEASURE_S = 10.0
MAX_TRANSCODES = 2
# A tile whose page sends no decode reports: only the browser's RTCP tells the server anything.
_TILE_OPTIONS = '{mode, offerCodecs, stream: stream || "main", onState}'
assert _TILE_OPTIONS in OPEN_TILE_JS
OPEN_SILENT_TILE_JS = OPEN_TILE_JS.replace(_TILE_OPTIONS, _TILE_OPTIONS[:-1] + ", report: false}")


async def measure(page, keys: list[str]) -> dict[str, dict]:
    """framesDecoded of each tile over MEASURE_S, after a short warm-up."""
    await asyncio.sleep(2.0)
    before = {k: await page.evaluate(STATS_JS, k) for k in keys}
    t0 = time.monotonic()
    await asyncio.sleep(MEASURE_S)
    after = {k: await page.evaluate(STATS_JS, k) for k in keys}
    span = time.monotonic() - t0
    return {k: {"fps": round((after[k]["framesDecoded"] - before[k]["framesDecoded"]) / span, 2),
                "codec": after[k]["codec"], "size": [after[k]["frameWidth"], after[k]["frameHeight"]]} for k in keys}


async def scenario(out: dict) -> None:
    from playwright.async_api import async_playwright

    token = secrets.token_urlsafe(24)
    workdir = Path(tempfile.mkdtemp(prefix="xl-live-cams-"))
    rtsp = camera_server(workdir)
    port = free_port()
    argv = [sys.executable, "-m", "web.live.standalone", "--port", str(port), "--grace", "1",
            "--max-transcodes", str(MAX_TRANSCODES)]
    for name in CAMERAS:
        argv += ["--camera", f"{name}={rtsp.url(name)}"]
    argv += ["--sub", f"bf3_1080p={rtsp.url('bf3_d1')}"]  # a 1080p main stream with a D1 sub-stream, like real cameras
    gateway = spawn(argv, env={TOKEN_ENV: token}, log_path=workdir / "gateway.log", cwd=REPO_ROOT)
    try:
        wait_for_port("127.0.0.1", port, 20, gateway)
        base = f"http://127.0.0.1:{port}"
        async with async_playwright() as pw, httpx.AsyncClient(base_url=base, timeout=10) as http:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.goto(base + "/")

            async def open_tile(camera: str, key: str, mode: str = "auto") -> dict:
                return await page.evaluate(OPEN_TILE_JS, [camera, token, mode, key, None])

            # Passthrough where the browser decodes the camera's H.264 as is.
            tiles: dict[str, dict] = {}
            for cam in ("main_d1_aac", "garbage_sprop_d1"):
                tiles[cam] = await open_tile(cam, cam)
            for cam, m in (await measure(page, list(tiles))).items():
                tiles[cam].update(m)
            auth = {"Authorization": f"Bearer {token}"}
            stats = (await http.get("/api/live/stats", headers=auth)).json()
            for cam in list(tiles):  # still passthrough: a browser that decodes sends no stream of keyframe requests
                session = stats["cameras"][cam]["sessions"][0]
                tiles[cam]["server_mode"] = session["mode"]
                tiles[cam]["keyframe_requests"] = session["keyframe_requests"]
            for cam in list(tiles):
                await page.evaluate(CLOSE_JS, cam)

            # Fallbacks: B-frames, decode-order stamps, H.265, a 1080p B-frame main stream (via its
            # sub-stream) — two transcoded cameras at a time (the limit), each measured for 10 s.
            for batch in (("bf3_d1", "live555_bf3_d1"), ("h265_1080p", "bf3_1080p")):
                for cam in batch:
                    tiles[cam] = await open_tile(cam, cam)
                stats = (await http.get("/api/live/stats", headers=auth)).json()
                for cam in batch:
                    sessions = stats["cameras"][cam]["sessions"]
                    tiles[cam]["server_reason"] = sessions[0]["reason"] if sessions else None
                keys = list(batch)
                if "bf3_d1" in batch:
                    # a third transcoded camera is past the limit: refused with a sentence an operator reads
                    refused = await http.post("/api/live/main_d1_pcma/offer?mode=transcode", headers=auth,
                                              json={"sdp": FAKE_OFFER})
                    out["over_limit_status"] = refused.status_code
                    out["over_limit_detail"] = refused.json().get("detail")
                    # a second viewer of a transcoded camera shares its encode (not a new transcode, not refused)
                    tiles["bf3_d1_second"] = await open_tile("bf3_d1", "bf3_d1_second")
                    keys.append("bf3_d1_second")
                for cam, m in (await measure(page, keys)).items():
                    tiles[cam].update(m)
                for cam in keys:
                    await page.evaluate(CLOSE_JS, cam)
                await asyncio.sleep(1.5)  # the transcodes stop with their last viewer

            # Passthrough forced onto a B-frame camera: the browser decodes keyframes only; the
            # server sees it in the tile's stats reports and the tile switches to transcode.
            t0 = time.monotonic()
            tiles["forced"] = await open_tile("bf3_1080p", "forced", "passthrough")
            switched = None
            while time.monotonic() - t0 < 15:
                mode = await page.evaluate("() => window.tiles.forced.mode")
                if mode == "transcode":
                    switched = time.monotonic() - t0
                    break
                await asyncio.sleep(0.1)
            out["switch_after_s"] = None if switched is None else round(switched, 2)
            tiles["forced"].update((await measure(page, ["forced"]))["forced"])
            tiles["forced"]["mode_now"] = await page.evaluate("() => window.tiles.forced.mode")
            out["forced_states"] = await page.evaluate("() => window.tileStates.forced")
            await page.evaluate(CLOSE_JS, "forced")
            await asyncio.sleep(1.5)  # its transcode stops with it

            # The same without the page's reports: the server sees the browser's RTCP (a keyframe
            # request after another while the receiver reports show the packets arriving) and moves
            # the viewer to the transcode in place, on the same connection.
            t0 = time.monotonic()
            tiles["forced_rtcp"] = await page.evaluate(OPEN_SILENT_TILE_JS, ["bf3_d1", token, "passthrough", "forced_rtcp", None])
            switched, session = None, {}
            while time.monotonic() - t0 < 15:
                sessions = (await http.get("/api/live/stats", headers=auth)).json()["cameras"]["bf3_d1"]["sessions"]
                session = sessions[0] if sessions else {}
                if session.get("mode") == "transcode":
                    switched = time.monotonic() - t0
                    break
                await asyncio.sleep(0.1)
            out["rtcp_switch_after_s"] = None if switched is None else round(switched, 2)
            out["rtcp_switch_session"] = session
            tiles["forced_rtcp"].update((await measure(page, ["forced_rtcp"]))["forced_rtcp"])
            out["rtcp_switch_states"] = await page.evaluate("() => window.tileStates.forced_rtcp")
            await page.evaluate(CLOSE_JS, "forced_rtcp")
            out["tiles"] = tiles
            await browser.close()
        log = (workdir / "gateway.log").read_text(errors="replace")
        out["task_destroyed_in_log"] = "Task was destroyed" in log
        out["gateway_log_tail"] = log[-3000:]
    finally:
        stop(gateway)
        rtsp.stop()


# A syntactically complete offer with VP8 only: enough for the limit check, never connected.
FAKE_OFFER = ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
              "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\n"
              "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
              "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\na=rtcp-mux\r\n"
              "a=rtpmap:96 VP8/90000\r\n")


def main() -> int:
    out_path = Path(sys.argv[1])
    out: dict = {}
    try:
        asyncio.run(scenario(out))
        out["ok"] = True
    except Exception:  # the test prints it
        import traceback

        out["ok"] = False
        out["error"] = traceback.format_exc()[-3000:]
    out_path.write_text(json.dumps(out, ensure_ascii=False, indent=2))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
