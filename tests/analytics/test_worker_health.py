"""Device health from the running analytics worker, read back through the web API. All real.

`xueliang analytics run` against real GStreamer RTSP cameras (one on a server this test
stops and restarts, one on a dead port), real Valkey, and the real FastAPI app
(`web.create_app`, uvicorn, a real login token) reading `device.status` from `xl:events`.
"""

from __future__ import annotations

import ast
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.web.conftest import PASSWORD, ServerThread, seeded_database
from xueliang.runtime import RtspSampleServer, SampleMount, free_port, spawn, stop
from xueliang.settings import REPO_ROOT, Settings

SAMPLE = REPO_ROOT / "samples" / "vtest_480x360_g10.h264"
SECRET = "worker-health-secret-0123456789abcdef"

CAMERA = """
  - id: {id}
    name: 健康 {id}
    jurisdiction: "330381101201"
    position: {{lat: 27.78, lon: 120.65}}
    streams: {{main: "{url}"}}
    analysis: {{mode: {mode}{fps}}}
"""


def write_cameras(path: Path, cams: dict[str, tuple[str, str]]) -> Path:
    body = "version: 1\ncameras:\n" + "".join(
        CAMERA.format(id=cid, url=url, mode=mode if mode != "off" else '"off"',
                      fps=", fps: 2, detector_classes: [person]" if mode != "off" else "")
        for cid, (url, mode) in cams.items()
    )
    path.write_text(body, encoding="utf-8")
    return path


def wait_for(http: httpx.Client, what: str, ok: Callable[[dict[str, dict]], bool], timeout: float, log_path: Path) -> dict:
    """Poll GET /api/devices/health until ``ok(items by camera id)``."""
    deadline = time.monotonic() + timeout
    items: dict[str, dict] = {}
    while time.monotonic() < deadline:
        r = http.get("/api/devices/health")
        assert r.status_code == 200, r.text
        items = {i["camera_id"]: i for i in r.json()["items"]}
        if ok(items):
            return items
        time.sleep(0.3)
    raise AssertionError(f"{what}: not seen within {timeout:.0f} s; API says "
                         f"{ {k: (v['status'], v['reason']) for k, v in items.items()} }\n"
                         f"worker log:\n{log_path.read_text(errors='replace')[-3000:]}")


def test_worker_publishes_device_health_that_the_web_api_reports(rtsp_server, redis_url, tmp_path):
    from web import create_app

    flaky = RtspSampleServer([SampleMount("flaky", SAMPLE, fps=10)], log_path=tmp_path / "flaky-rtsp.log").start()
    dead_port = free_port()
    cams = {
        "cam01": (rtsp_server.url("cam01"), "continuous"),
        "flaky": (flaky.url("flaky"), "continuous"),
        "deadcam": (f"rtsp://127.0.0.1:{dead_port}/nothing", "continuous"),
        "patrolcam": (rtsp_server.url("cam02"), "patrol"),  # the worker runs without --patrol
        "offcam": (rtsp_server.url("cam03"), "off"),
    }
    cameras = write_cameras(tmp_path / "cameras.yaml", cams)
    settings = Settings(data_dir=tmp_path / "web", cameras_file=cameras, database_url=f"sqlite:///{tmp_path / 'web.db'}",
                        redis_url=redis_url, secret_key=SECRET, web_port=free_port())
    database = seeded_database(settings.resolved_database_url())
    web = ServerThread(create_app(settings), settings.web_port)
    web.start()
    log_path = tmp_path / "worker.log"
    proc = spawn(
        [sys.executable, "-m", "xueliang.cli", "analytics", "run", "--cameras", str(cameras), "--no-clips",
         "--health-sample-s", "1"],
        env={"REDIS_URL": redis_url, "XUELIANG_DATA_DIR": str(tmp_path / "data"), "YOLO_OFFLINE": "1"},
        cwd=REPO_ROOT, log_path=log_path,
    )
    http = httpx.Client(base_url=f"http://127.0.0.1:{settings.web_port}", timeout=15)
    try:
        login = http.post("/api/auth/login", json={"username": "admin_t", "password": PASSWORD})
        assert login.status_code == 200, login.text
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

        # 1. Live cameras online with the VQD figures of their sampled frames; the dead one offline
        #    with the reader's reason; the channels nobody reads are unknown, saying why.
        items = wait_for(http, "first statuses", lambda i: (
            i["cam01"]["status"] == "online" and i["flaky"]["status"] == "online"
            and i["deadcam"]["status"] == "offline" and i["offcam"]["status"] == "unknown" and i["offcam"]["reason"]
            and i["patrolcam"]["reason"]), 40, log_path)
        cam01 = items["cam01"]
        assert cam01["last_frame_at"] and cam01["since"] and cam01["quality"] in ({}, None)
        metrics = cam01["metrics"]
        assert {"mean", "std", "sharpness", "dark_fraction"} <= set(metrics), metrics
        # the sample footage: a daylight street, neither black nor clipped
        assert 40 < metrics["mean"] < 220 and metrics["std"] > 10 and metrics["sharpness"] > 0, metrics
        assert items["deadcam"]["reason"] and "not connected yet" not in items["deadcam"]["reason"]
        assert "refused" in items["deadcam"]["reason"].lower() or "connect" in items["deadcam"]["reason"].lower()
        assert "analysis mode off" in items["offcam"]["reason"]
        assert items["patrolcam"]["status"] == "unknown" and "--patrol" in items["patrolcam"]["reason"]
        assert proc.poll() is None
        # After a few samples the diagnosis has learnt cam01's scene: the page says so.
        items = wait_for(http, "cam01 reference learnt", lambda i: i["cam01"]["reason"] == "picture OK", 20, log_path)
        assert items["cam01"]["status"] == "online" and items["cam01"]["since"] == cam01["since"]

        # 2. The camera's server goes away: offline with a reason; back: online again.
        flaky_online_since = items["flaky"]["since"]
        flaky.stop()
        items = wait_for(http, "flaky offline", lambda i: i["flaky"]["status"] == "offline", 25, log_path)
        assert items["flaky"]["reason"] and items["cam01"]["status"] == "online"
        flaky.start()
        items = wait_for(http, "flaky back online", lambda i: i["flaky"]["status"] == "online", 25, log_path)
        assert items["flaky"]["since"] > flaky_online_since

        # 3. A cameras.yaml edit: cam01's analysis turned off -> nobody reads it -> unknown, saying why.
        cams["cam01"] = (rtsp_server.url("cam01"), "off")
        write_cameras(cameras, cams)
        items = wait_for(http, "cam01 unmonitored after the edit", lambda i: i["cam01"]["status"] == "unknown", 20, log_path)
        assert "analysis mode off" in items["cam01"]["reason"]
        assert proc.poll() is None

        # 4. The worker stops: what it watched is no longer known (not left 'online').
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log_path.read_text()[-3000:]
        items = wait_for(http, "unknown after the worker stopped", lambda i: i["flaky"]["status"] == "unknown", 10, log_path)
        assert "worker stopped" in items["flaky"]["reason"] and items["deadcam"]["status"] == "unknown"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            finally:
                stop(proc)
        http.close()
        web.stop()
        database.dispose()
        flaky.stop()
    # Every status change above went out, nothing is left queued; the cost is printed (the
    # measured figures for a long run are in docs/analytics.md, "Device health").
    line = next(ln for ln in reversed(log_path.read_text().splitlines()) if "analytics worker stopped:" in ln)
    health = ast.literal_eval(line.split("analytics worker stopped:", 1)[1].strip())["health"]
    print(f"device health: {health}")
    assert health["samples"] >= 2 and health["published"] >= 10 and health["unpublished"] == 0, health
