"""``xueliang bench webrtc [--json] [--quick]``: live-view cost, passthrough against transcoding.

One run, same machine, same camera, same gateway process:

1. first frame — real headless Chromium opens a tile on a camera nobody watches (cold: the
   upstream RTSP connection is opened too) and then a second tile (warm);
2. passthrough — N aiortc viewers offering H.264; the gateway relays the camera's packets;
3. transcode — N aiortc viewers offering only VP8; the gateway decodes and encodes once per camera.
4. a B-frame camera (H.264 High, 3 B-frames, 25 fps, D1) watched by 1 then 8 viewers: its one shared
   transcode (``cpu_per_viewer_transcode_shared`` = cost of the 2nd..8th viewer, ``bframe_camera_client_fps``).

Frame rates are what the gateway sent per viewer (its own counters, ``/api/live/stats``);
the aiortc viewers' decoded rates are reported too but depend on this process keeping up.

CPU is the gateway process's own CPU time (user + system, all threads) over a fixed window,
read from the OS; "per viewer" is the slope between 1 viewer and N viewers (viewers run in
this separate process). Everything runs inside a network namespace the benchmark
creates (WebRTC ICE never touches the real interface).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psutil

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCPeerConnection  # the bench's own child process loads aiortc, not the CLI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def register(bench_sub: argparse._SubParsersAction) -> None:
    parser = bench_sub.add_parser("webrtc", help="WebRTC live view: CPU per viewer, passthrough vs transcoding")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer viewers, shorter windows (< 1 min)")
    parser.add_argument("--viewers", type=int, default=None, help="viewers per mode (default 8, quick 4)")
    parser.add_argument("--window", type=float, default=None, help="seconds of CPU measurement per level")
    parser.add_argument("--fps", type=int, default=25, help="camera frame rate of the sample stream")
    parser.add_argument("--upstream", choices=("relay", "player"), default="relay")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from web.live.netns import netns_argv, netns_unavailable_reason

    reason = netns_unavailable_reason()
    if reason:
        print(f"bench webrtc needs a network namespace: {reason}", file=sys.stderr)
        return 2
    viewers = args.viewers or (4 if args.quick else 8)
    window = args.window or (3.0 if args.quick else 10.0)
    with tempfile.TemporaryDirectory(prefix="xl-bench-webrtc-") as tmp:
        out = Path(tmp) / "result.json"
        inner = [sys.executable, "-m", "web.bench", "--out", str(out), "--viewers", str(viewers),
                 "--window", str(window), "--fps", str(args.fps), "--upstream", args.upstream]
        if args.quick:
            inner.append("--quick")
        proc = subprocess.run(netns_argv(inner), capture_output=True, text=True, timeout=900)
        if not out.exists():
            print(f"bench webrtc failed (exit {proc.returncode}) before writing a result:\n{proc.stderr[-3000:]}",
                  file=sys.stderr)
            return 1
        result = json.loads(out.read_text())
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(result)
    return 0 if "error" not in result else 1


def _print_table(r: dict) -> None:
    if "error" in r:
        print(r["error"])
        return
    print(f"stream: {r['stream']}, {r['viewers']} viewers per mode, upstream {r['upstream']}, {r['cores']} cores")
    print(f"first frame (Chromium): cold {r['first_frame_s']:.2f} s, warm {r['first_frame_warm_s']:.2f} s")
    for mode in ("passthrough", "transcode"):
        levels = r[f"cpu_{mode}_by_viewers"]
        cells = ", ".join(f"{n} viewers {v:.1f} %" for n, v in levels.items())
        fps = ", ".join(f"{n}: {v:.1f}" for n, v in r[f"fps_{mode}_by_viewers"].items())
        note = " (saturated at the top level: box busy)" if r["saturated"][mode] else ""
        print(f"{mode:12s} CPU per extra viewer {r[f'cpu_per_viewer_{mode}']:.2f} % of a core ({cells}); "
              f"fps per viewer by viewers {fps}{note}")
    print(f"transcode / passthrough cost per viewer: {r['transcode_vs_passthrough']:.1f}x; "
          f"upstream RTSP connections at {r['viewers']} viewers: {r['upstream_connections']}")
    print(f"B-frame camera (shared transcode): CPU per extra viewer {r['cpu_per_viewer_transcode_shared']:.2f} % of a core "
          f"({r['cpu_bframe_camera_by_viewers']}); client fps {r['bframe_camera_client_fps']} of {r['bframe_camera_source_fps']}")


# --------------------------------------------------------------------------------------------
# Inside the namespace


class Viewer:
    """An aiortc receiver counting decoded frames."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self.frames = 0
        self.pc: RTCPeerConnection | None = None
        self.session_id: str | None = None
        self._task: asyncio.Task | None = None

    async def open(self, http: httpx.AsyncClient, camera_id: str, token: str) -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
        from aiortc.rtcrtpreceiver import RTCRtpReceiver

        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = pc.addTransceiver("video", direction="recvonly")
        capabilities = RTCRtpReceiver.getCapabilities("video")
        caps = capabilities.codecs if capabilities is not None else []
        transceiver.setCodecPreferences([c for c in caps if c.mimeType.lower() == self.codec])

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._task = asyncio.create_task(self._consume(track))

        await pc.setLocalDescription(await pc.createOffer())
        resp = await http.post(f"/api/live/{camera_id}/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"},
                               headers={"Authorization": f"Bearer {token}"})
        resp.raise_for_status()
        answer = resp.json()
        self.session_id = answer["session_id"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        return answer["mode"]

    async def _consume(self, track: MediaStreamTrack) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            self.frames += 1

    async def close(self, http: httpx.AsyncClient, camera_id: str, token: str) -> None:
        if self.session_id:
            await http.delete(f"/api/live/{camera_id}/sessions/{self.session_id}",
                              headers={"Authorization": f"Bearer {token}"})
        if self._task is not None:
            self._task.cancel()
        if self.pc is not None:
            await self.pc.close()


async def _first_frame(base: str, token: str) -> tuple[float, float]:
    from playwright.async_api import async_playwright

    js = """async ([token, key]) => {
      const v = document.createElement("video"); v.muted = true; v.autoplay = true; document.body.appendChild(v);
      const t0 = performance.now();
      const first = new Promise((r) => v.requestVideoFrameCallback(() => r(performance.now() - t0)));
      window[key] = XLLive.play(v, "cam01", token);
      await window[key].ready;
      return await Promise.race([first, new Promise((r) => setTimeout(() => r(null), 10000))]);
    }"""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.goto(base + "/")
        cold = await page.evaluate(js, [token, "a"])
        warm = await page.evaluate(js, [token, "b"])
        await page.evaluate("() => { window.a.close(); window.b.close(); }")
        await browser.close()
    if cold is None or warm is None:
        raise RuntimeError("Chromium showed no frame within 10 s")
    return cold / 1000, warm / 1000


def _cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


async def _measure_mode(http: httpx.AsyncClient, token: str, codec: str, levels: list[int], window: float,
                        gateway: psutil.Process,
                        rtsp_port: int, settle: float, camera_fps: int, camera_id: str = "cam01") -> dict:
    viewers: list[Viewer] = []
    cpu_by_level: dict[int, float] = {}
    fps_by_level: dict[int, float] = {}
    decoded_by_level: dict[int, float] = {}
    modes: set[str] = set()
    upstreams = 0
    try:
        for level in levels:
            while len(viewers) < level:
                v = Viewer(codec)
                modes.add(await v.open(http, camera_id, token))
                viewers.append(v)
            await asyncio.sleep(settle)  # ICE/DTLS done, encoders warmed up
            frames0 = [v.frames for v in viewers]
            sent0 = await _frames_sent(http, token)
            cpu0, t0 = _cpu_seconds(gateway), time.monotonic()
            await asyncio.sleep(window)
            cpu1, t1 = _cpu_seconds(gateway), time.monotonic()
            sent1 = await _frames_sent(http, token)
            cpu_by_level[level] = 100 * (cpu1 - cpu0) / (t1 - t0)
            # Sent by the gateway (its sender pulled and packetised them): what it sustains.
            fps_by_level[level] = (sent1 - sent0) / len(viewers) / (t1 - t0)
            decoded_by_level[level] = sum(v.frames - f for v, f in zip(viewers, frames0)) / len(viewers) / (t1 - t0)
            upstreams = _upstream_connections(gateway, rtsp_port)
    finally:
        for v in viewers:
            await v.close(http, camera_id, token)
    # A level where viewers got < 90 % of the camera's frames is saturated (the box is shared):
    # its CPU says "all there was", not "what a viewer costs". Use the slope up to the last
    # level that kept up; if even 2+ viewers did not, scale the slope by the frames delivered.
    lo = levels[0]
    full = [n for n in levels[1:] if fps_by_level[n] >= 0.9 * camera_fps]
    hi = full[-1] if full else levels[-1]
    slope = (cpu_by_level[hi] - cpu_by_level[lo]) / (hi - lo)
    if not full and fps_by_level[hi] > 0:
        slope *= camera_fps / fps_by_level[hi]
    return {
        "modes": sorted(modes),
        "cpu_by_viewers": {str(k): round(v, 2) for k, v in cpu_by_level.items()},
        "fps_by_viewers": {str(k): round(v, 1) for k, v in fps_by_level.items()},
        "client_decoded_fps_by_viewers": {str(k): round(v, 1) for k, v in decoded_by_level.items()},
        "cpu_per_viewer": slope,
        "slope_viewers": [lo, hi],
        "saturated": len(full) < len(levels) - 1,
        "upstream_connections": upstreams,
    }


async def _frames_sent(http: httpx.AsyncClient, token: str) -> int:
    resp = await http.get("/api/live/stats", headers={"Authorization": f"Bearer {token}"})
    resp.raise_for_status()
    return sum(s["frames_sent"] for cam in resp.json()["cameras"].values() for s in cam.get("sessions", []))


def _upstream_connections(gateway: psutil.Process, rtsp_port: int) -> int:
    return sum(1 for c in gateway.net_connections(kind="tcp")
               if c.raddr and c.raddr.port == rtsp_port and c.status == psutil.CONN_ESTABLISHED)


async def _inner(viewers: int, window: float, fps: int, upstream: str, quick: bool) -> dict:
    from web.live.standalone import TOKEN_ENV
    from xueliang.runtime import RtspSampleServer, SampleMount, free_port, spawn, stop, wait_for_port
    from xueliang.settings import REPO_ROOT

    sample = REPO_ROOT / "samples" / "vtest_640x360_g10.h264"
    token = secrets.token_urlsafe(24)
    workdir = Path(tempfile.mkdtemp(prefix="xl-bench-live-"))
    from ingest import H264_BF3_D1, camera_footage

    # a camera as many really are: H.264 High with 3 B-frames, 25 fps, GOP 50, D1 — browsers cannot
    # play it untouched, so every viewer watches the camera's one shared transcode
    bframes = SampleMount("cambf", camera_footage(H264_BF3_D1), fps=H264_BF3_D1.fps, stamps="display")
    rtsp = RtspSampleServer(mounts=[SampleMount("cam01", sample, fps=fps), bframes], log_path=workdir / "rtsp.log")
    rtsp.start()
    port = free_port()
    gateway_proc = spawn([sys.executable, "-m", "web.live.standalone", "--port", str(port), "--grace", "30",
                          "--upstream", upstream, "--camera", f"cam01={rtsp.url('cam01')}",
                          "--camera", f"cambf={rtsp.url('cambf')}"],
                         env={TOKEN_ENV: token}, log_path=workdir / "gateway.log", cwd=REPO_ROOT)
    try:
        wait_for_port("127.0.0.1", port, 20, gateway_proc)
        gateway = psutil.Process(gateway_proc.pid)
        base = f"http://127.0.0.1:{port}"
        cold, warm = await _first_frame(base, token)
        levels = [1, max(2, viewers // 2), viewers] if viewers > 2 and not quick else [1, viewers]
        settle = 2.0 if quick else 3.0
        async with httpx.AsyncClient(base_url=base, timeout=20) as http:
            passthrough = await _measure_mode(http, token, "video/h264", levels, window, gateway, rtsp.port, settle, fps)
            await asyncio.sleep(1.0)
            transcode = await _measure_mode(http, token, "video/vp8", levels, window, gateway, rtsp.port, settle, fps)
            await asyncio.sleep(1.0)
            # the 2nd..8th viewer of one B-frame camera (browser offer order: H.264 first, as live.js sends it)
            shared = await _measure_mode(http, token, "video/h264", [1, 8], window, gateway, rtsp.port, settle,
                                         H264_BF3_D1.fps, camera_id="cambf")
        per_pt, per_tc = passthrough["cpu_per_viewer"], transcode["cpu_per_viewer"]
        return {
            "first_frame_s": round(cold, 3),
            "first_frame_warm_s": round(warm, 3),
            "viewers": viewers,
            "cpu_per_viewer_passthrough": round(per_pt, 2),
            "cpu_per_viewer_transcode": round(per_tc, 2),
            "transcode_vs_passthrough": round(per_tc / per_pt, 1) if per_pt > 0 else None,
            "cpu_per_viewer_transcode_shared": round(shared["cpu_per_viewer"], 2),
            # one client's decoded rate (a browser is one viewer); with 8 aiortc decoders in one
            # Python process the clients, not the gateway, are the limit on a 2-core box
            "bframe_camera_client_fps": shared["client_decoded_fps_by_viewers"]["1"],
            "bframe_camera_client_fps_8_viewers": shared["client_decoded_fps_by_viewers"]["8"],
            "bframe_camera_sent_fps_8_viewers": shared["fps_by_viewers"]["8"],
            "bframe_camera_source_fps": H264_BF3_D1.fps,
            "bframe_camera_modes": shared["modes"],
            "cpu_bframe_camera_by_viewers": shared["cpu_by_viewers"],
            "cpu_passthrough_by_viewers": passthrough["cpu_by_viewers"],
            "cpu_transcode_by_viewers": transcode["cpu_by_viewers"],
            "fps_per_viewer_passthrough": passthrough["fps_by_viewers"][str(viewers)],
            "fps_per_viewer_transcode": transcode["fps_by_viewers"][str(viewers)],
            "fps_passthrough_by_viewers": passthrough["fps_by_viewers"],
            "fps_transcode_by_viewers": transcode["fps_by_viewers"],
            "client_decoded_fps": {"passthrough": passthrough["client_decoded_fps_by_viewers"],
                                   "transcode": transcode["client_decoded_fps_by_viewers"]},
            "slope_viewers": {"passthrough": passthrough["slope_viewers"], "transcode": transcode["slope_viewers"]},
            "saturated": {"passthrough": passthrough["saturated"], "transcode": transcode["saturated"]},
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "modes_negotiated": {"passthrough": passthrough["modes"], "transcode": transcode["modes"]},
            "upstream_connections": max(passthrough["upstream_connections"], transcode["upstream_connections"]),
            "cpu_unit": "percent of one core, gateway process (user+system), per additional viewer",
            "stream": f"640x360 H.264 GOP 10 @ {fps} fps (samples/vtest_640x360_g10.h264)",
            "upstream": upstream,
            "window_s": window,
            "cores": os.cpu_count(),
        }
    finally:
        stop(gateway_proc)
        rtsp.stop()


def _inner_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--viewers", type=int, default=8)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--upstream", default="relay")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(_inner(args.viewers, args.window, args.fps, args.upstream, args.quick))
    except Exception as exc:  # the outer process reports it
        result = {"error": f"{type(exc).__name__}: {exc}"}
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(_inner_main())
