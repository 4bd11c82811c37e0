"""The live-view scenario in real headless Chromium; run INSIDE a network namespace.

Started by ``test_browser_live.py`` as ``unshare -n ... python browser_scenario.py OUT.json``.
Starts the GStreamer RTSP server, the live gateway (``web.live.standalone``) as a child
process, and Chromium, then records what a user would see and what the server did:
first-frame time, decoded frames over time, negotiated codec, mode, and the number of
TCP connections the gateway holds to the RTSP server. Prints nothing secret.
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
import psutil

from web.live.standalone import TOKEN_ENV
from xueliang.runtime import RtspSampleServer, SampleMount, free_port, spawn, stop, wait_for_port
from xueliang.settings import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MAIN = REPO_ROOT / "samples" / "vtest_640x360_g10.h264"
SUB = REPO_ROOT / "samples" / "vtest_480x360_g10.h264"

# Opens one tile and resolves with the time from "tile opens" to the first frame presented.
OPEN_TILE_JS = """
async ([cameraId, token, mode, key, offerCodecs, stream]) => {
  const video = document.createElement("video");
  video.autoplay = true; video.muted = true; video.id = key;
  document.body.appendChild(video);
  const t0 = performance.now();
  const first = new Promise((resolve) => video.requestVideoFrameCallback(() => resolve(performance.now() - t0)));
  window.tiles = window.tiles || {};
  window.tileStates = window.tileStates || {};
  window.tileStates[key] = [];
  const onState = (s) => window.tileStates[key].push(s);
  const handle = XLLive.play(video, cameraId, token, {mode, offerCodecs, stream: stream || "main", onState});
  window.tiles[key] = handle;
  await handle.ready;
  const ms = await Promise.race([first, new Promise((r) => setTimeout(() => r(null), 10000))]);
  return {first_frame_ms: ms, mode: handle.mode, timing: handle.timing, stream: handle.stream};
}
"""
STATS_JS = "async (key) => { const s = await window.tiles[key].stats(); s.currentTime = document.getElementById(key).currentTime; return s; }"
CLOSE_JS = "(key) => { window.tiles[key].close(); document.getElementById(key).remove(); }"


def upstream_connections(gateway_pid: int, rtsp_port: int) -> int:
    """TCP connections the gateway holds to the RTSP server (counted by the OS, not by our code)."""
    conns = psutil.Process(gateway_pid).net_connections(kind="tcp")
    return sum(1 for c in conns if c.raddr and c.raddr.port == rtsp_port and c.status == psutil.CONN_ESTABLISHED)


async def wait_until(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    return predicate()


async def scenario(out: dict, artifacts: Path | None, upstream: str) -> None:
    from playwright.async_api import async_playwright

    token = secrets.token_urlsafe(24)
    workdir = Path(tempfile.mkdtemp(prefix="xl-live-"))
    rtsp = RtspSampleServer(mounts=[SampleMount("cam01", MAIN, fps=10), SampleMount("cam01sub", SUB, fps=10)],
                            log_path=workdir / "rtsp.log")
    rtsp.start()
    port = free_port()
    gateway = spawn(
        [sys.executable, "-m", "web.live.standalone", "--port", str(port), "--grace", "1", "--upstream", upstream,
         "--camera", f"cam01={rtsp.url('cam01')}", "--sub", f"cam01={rtsp.url('cam01sub')}"],
        env={TOKEN_ENV: token}, log_path=workdir / "gateway.log", cwd=REPO_ROOT)
    try:
        wait_for_port("127.0.0.1", port, 20, gateway)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            out["offer_without_token_status"] = (await http.post("/api/live/cam01/offer", json={"sdp": "v=0 x" * 3})).status_code
            out["unknown_camera_status"] = (await http.post(
                "/api/live/nope/offer", json={"sdp": "v=0 x" * 3}, headers={"Authorization": f"Bearer {token}"})).status_code

            async def stats() -> dict:
                r = await http.get("/api/live/stats", headers={"Authorization": f"Bearer {token}"})
                return r.json()

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport={"width": 1000, "height": 800})
                console: list[str] = []
                page.on("console", lambda m: console.append(m.text))
                await page.goto(base + "/")
                out["upstream_before"] = upstream_connections(gateway.pid, rtsp.port)

                first = await page.evaluate(OPEN_TILE_JS, ["cam01", token, "auto", "t1", None])
                out["first_frame_s"] = None if first["first_frame_ms"] is None else first["first_frame_ms"] / 1000
                out["mode"] = first["mode"]
                out["timing_ms"] = first["timing"]
                samples = []
                for _ in range(4):
                    samples.append(await page.evaluate(STATS_JS, "t1"))
                    await asyncio.sleep(0.75)
                out["frames_decoded_series"] = [s["framesDecoded"] for s in samples]
                out["current_time_series"] = [s["currentTime"] for s in samples]
                out["codec"] = samples[-1]["codec"]
                out["frame_size"] = [samples[-1]["frameWidth"], samples[-1]["frameHeight"]]
                out["jitter_buffer_ms"] = samples[-1]["jitterBufferMs"]

                # Two more viewers of the same camera: still one upstream connection.
                later = [await page.evaluate(OPEN_TILE_JS, ["cam01", token, "auto", k, None]) for k in ("t2", "t3")]
                out["timing_ms_warm"] = [x["timing"] for x in later]
                out["first_frame_s_warm"] = [None if x["first_frame_ms"] is None else x["first_frame_ms"] / 1000
                                             for x in later]
                await asyncio.sleep(1.5)
                tiles = [await page.evaluate(STATS_JS, k) for k in ("t1", "t2", "t3")]
                await asyncio.sleep(1.0)
                tiles_after = [await page.evaluate(STATS_JS, k) for k in ("t1", "t2", "t3")]
                out["three_viewers_frames"] = [[a["framesDecoded"], b["framesDecoded"]] for a, b in zip(tiles, tiles_after)]
                out["three_viewers_codecs"] = [t["codec"] for t in tiles_after]
                out["upstream_with_3_viewers"] = upstream_connections(gateway.pid, rtsp.port)
                cam = (await stats())["cameras"]["cam01"]
                out["server_viewers_with_3"] = cam["viewers"]
                out["server_upstream_connects"] = cam.get("connects")

                # A browser that offers no H.264 gets the VP8 fallback, from the same single upstream.
                tc = await page.evaluate(OPEN_TILE_JS, ["cam01", token, "auto", "t4", ["video/VP8"]])
                out["transcode_mode"] = tc["mode"]
                out["transcode_first_frame_s"] = None if tc["first_frame_ms"] is None else tc["first_frame_ms"] / 1000
                await asyncio.sleep(1.0)
                a = await page.evaluate(STATS_JS, "t4")
                await asyncio.sleep(1.0)
                b = await page.evaluate(STATS_JS, "t4")
                out["transcode_codec"] = b["codec"]
                out["transcode_frames"] = [a["framesDecoded"], b["framesDecoded"]]
                out["upstream_with_4_viewers"] = upstream_connections(gateway.pid, rtsp.port)
                # A 16-tile wall asks for the sub-stream: a second upstream (per stream), smaller picture.
                sub = await page.evaluate(OPEN_TILE_JS, ["cam01", token, "auto", "t5", None, "sub"])
                out["sub_stream"] = sub["stream"]
                out["sub_mode"] = sub["mode"]
                await asyncio.sleep(1.0)
                sub_stats = await page.evaluate(STATS_JS, "t5")
                out["sub_frame_size"] = [sub_stats["frameWidth"], sub_stats["frameHeight"]]
                out["sub_frames"] = sub_stats["framesDecoded"]
                out["upstream_with_sub"] = upstream_connections(gateway.pid, rtsp.port)
                if artifacts is not None:
                    artifacts.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=str(artifacts / f"live_view_tiles_{upstream}.png"))

                # The camera goes away and comes back: the open tiles heal by themselves.
                mounts = rtsp.mounts
                rtsp.stop()
                await asyncio.sleep(5.5)  # longer than the helper's stall threshold (4 s)
                stalled = (await page.evaluate(STATS_JS, "t1"))["framesDecoded"]
                restarted = time.monotonic()
                rtsp = RtspSampleServer(mounts=mounts, port=rtsp.port, log_path=workdir / "rtsp2.log")
                rtsp.start()
                recovered = None
                while time.monotonic() - restarted < 20:
                    now = await page.evaluate(STATS_JS, "t1")
                    if now["framesDecoded"] > stalled + 10:
                        recovered = time.monotonic() - restarted
                        break
                    await asyncio.sleep(0.2)
                out["recovered_after_restart_s"] = recovered
                await asyncio.sleep(1.5)  # the watchdog polls once a second
                out["tile_states"] = await page.evaluate("() => window.tileStates.t1")

                # Closing tiles: DELETE reaches the server; the upstream closes after the grace period.
                for key in ("t1", "t2", "t3", "t4", "t5"):
                    await page.evaluate(CLOSE_JS, key)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and (await stats())["sessions"] > 0:
                    await asyncio.sleep(0.1)
                out["sessions_after_close"] = (await stats())["sessions"]
                await wait_until(lambda: upstream_connections(gateway.pid, rtsp.port) == 0, 6)
                out["upstream_after_grace"] = upstream_connections(gateway.pid, rtsp.port)
                out["browser_console"] = console[-20:]
                await browser.close()
        out["credentials_in_gateway_log"] = "@" in (workdir / "gateway.log").read_text(errors="replace").replace(
            "***@", "")
    finally:
        stop(gateway)
        rtsp.stop()


def main() -> int:
    out_path = Path(sys.argv[1])
    upstream = sys.argv[2]
    artifacts = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    out: dict = {"upstream": upstream}
    try:
        asyncio.run(scenario(out, artifacts, upstream))
        out["ok"] = True
    except Exception as exc:  # report, so the test shows what failed inside the namespace
        import traceback

        out["ok"] = False
        out["error"] = "".join(traceback.format_exception(exc))
    out_path.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
