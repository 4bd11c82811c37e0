"""The whole slice, all real: `xueliang demo` → RTSP → YOLO → Redis → incident → WebSocket.

Starts the real demo deployment on free ports in a temporary data directory,
logs in over HTTP, waits on the WebSocket for an incident raised from the
sample footage, checks the snapshot really shows a person and that the
incident is stored with the right camera and jurisdiction, then sends SIGINT
and checks that no process or port is left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil
import pytest
import websockets
import yaml

from xueliang.runtime import free_port, wait_for_port
from xueliang.settings import REPO_ROOT

PASSWORD = "demo-e2e-Passw0rd"
INCIDENT_DEADLINE_S = 90


@pytest.fixture()
def demo(tmp_path: Path):
    rtsp_port, web_port = free_port(), free_port()
    analytics_metrics, command_metrics = free_port(), free_port()
    cameras_text = (REPO_ROOT / "configs" / "cameras.yaml").read_text(encoding="utf-8")
    cameras_file = tmp_path / "cameras.yaml"
    cameras_file.write_text(cameras_text.replace("127.0.0.1:8554", f"127.0.0.1:{rtsp_port}"), encoding="utf-8")
    env = {
        **os.environ,
        "XUELIANG_DATA_DIR": str(tmp_path / "data"),
        "XUELIANG_CAMERAS_FILE": str(cameras_file),
        "XUELIANG_WEB_PORT": str(web_port),
        "XUELIANG_RTSP_PORT": str(rtsp_port),
        "XUELIANG_DEMO_PASSWORD": PASSWORD,
        "XUELIANG_ANALYTICS_METRICS_PORT": str(analytics_metrics),
        "XUELIANG_COMMAND_METRICS_PORT": str(command_metrics),
    }
    for key in ("REDIS_URL", "DATABASE_URL", "XUELIANG_REDIS_URL", "XUELIANG_DATABASE_URL", "XUELIANG_SECRET_KEY"):
        env.pop(key, None)
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "xueliang.cli", "demo"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port("127.0.0.1", web_port, 120, proc)
        yield {
            "proc": proc,
            "web": f"http://127.0.0.1:{web_port}",
            "ws": f"ws://127.0.0.1:{web_port}",
            "web_port": web_port,
            "rtsp_port": rtsp_port,
            "cameras": yaml.safe_load(cameras_text)["cameras"],
            "log": tmp_path / "demo.log",
            "metrics": {"analytics": f"http://127.0.0.1:{analytics_metrics}/metrics",
                        "command": f"http://127.0.0.1:{command_metrics}/metrics"},
        }
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def _person_in_jpeg(jpeg: bytes) -> bool:
    """Re-detect on the snapshot with the shipped model: the alert image must show a person."""
    from analytics import Detector

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "snapshot is not a decodable JPEG"
    detector = Detector(REPO_ROOT / "models" / "yolov8n.onnx")
    detections = detector.detect([image])[0]
    return any(d.class_name == "person" for d in detections)


async def _wait_for_incident(ws_url: str, token: str) -> dict:
    async with websockets.connect(f"{ws_url}/api/ws?token={token}") as ws:
        deadline = time.monotonic() + INCIDENT_DEADLINE_S
        while time.monotonic() < deadline:
            raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
            event = json.loads(raw)
            if event.get("type") == "incident.created":
                return event
    raise AssertionError(f"no incident.created on the WebSocket within {INCIDENT_DEADLINE_S}s")


def _samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return {",".join(f"{k}={v}" for k, v in sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples if s.name == name}


def _check_metrics_move_with_the_load(http: httpx.Client, urls: dict[str, str], headers: dict[str, str]) -> None:
    """Each process's /metrics answers during the run and its figures grow with the work done."""
    first = {name: httpx.get(url, timeout=5).text for name, url in urls.items()}
    time.sleep(3)
    second = {name: httpx.get(url, timeout=5).text for name, url in urls.items()}
    frames_before = _samples(first["analytics"], "xueliang_analytics_frames_total")
    frames_after = _samples(second["analytics"], "xueliang_analytics_frames_total")
    assert frames_after and sum(frames_after.values()) > sum(frames_before.values()), (frames_before, frames_after)
    assert any(k.startswith("camera=") for k in frames_after)
    assert sum(_samples(second["analytics"], "xueliang_analytics_batches_total").values()) > 0
    assert sum(_samples(second["analytics"], "xueliang_analytics_inference_seconds_total").values()) > 0
    assert sum(_samples(second["command"], "xueliang_command_processed_total").values()) > 0
    assert _samples(second["command"], "xueliang_command_source_up") == {"source=database": 1.0, "source=redis": 1.0}
    assert httpx.get(http.base_url.join("/metrics"), timeout=5).status_code == 401, "web metrics need a token"
    web_metrics = http.get("/metrics", headers=headers)
    assert web_metrics.status_code == 200, web_metrics.text
    answered = _samples(web_metrics.text, "xueliang_web_requests_total")
    assert answered.get("method=GET,status_class=2xx", 0) >= 3, answered


def test_demo_raises_incident_from_rtsp_camera_and_stops_cleanly(demo) -> None:
    base = demo["web"]
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/api/health").status_code == 200
        assert http.get("/api/incidents").status_code == 401, "incident list must need a token"
        login = http.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]

        try:
            event = asyncio.run(_wait_for_incident(demo["ws"], token))
        except AssertionError:
            print(demo["log"].read_text(errors="replace")[-4000:])
            raise
        incident = event["payload"]
        headers = {"Authorization": f"Bearer {token}"}

        stored = http.get(f"/api/incidents/{incident['id']}", headers=headers)
        assert stored.status_code == 200, stored.text
        stored = stored.json()
        cameras = {c["id"]: c for c in demo["cameras"]}
        assert stored["camera_id"] in cameras
        assert stored["jurisdiction_code"] == cameras[stored["camera_id"]]["jurisdiction"]
        assert event["jurisdiction_code"] == stored["jurisdiction_code"]

        snapshot = http.get(f"/api/incidents/{incident['id']}/snapshot", headers=headers)
        assert snapshot.status_code == 200
        assert snapshot.headers["content-type"] == "image/jpeg"
        assert len(snapshot.content) > 1000
        assert _person_in_jpeg(snapshot.content), "snapshot shows no person"

        page = http.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()

        # Device health (设备状态) is live: the analytics worker's readers feed devices' monitor.
        # The continuous cameras are online with the VQD figures of their frames, the patrol (轮巡)
        # cameras online from their keyframe visits; analysis-off channels, which no worker
        # opens, say so instead of 'online'.
        deadline = time.monotonic() + 45
        while True:
            health = http.get("/api/devices/health", headers=headers)
            assert health.status_code == 200, health.text
            items = {i["camera_id"]: i for i in health.json()["items"]}
            modes = {c["id"]: c["analysis"]["mode"] for c in demo["cameras"]}
            watched = [cid for cid, mode in modes.items() if mode in ("continuous", "patrol")]
            if all(items[cid]["status"] == "online" for cid in watched) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "patrol" in modes.values() and all(items[cid]["status"] == "online" for cid in watched), items
        assert all(items[cid]["metrics"].get("sharpness", 0) > 0 for cid in watched if modes[cid] == "continuous"), items
        for cid, mode in modes.items():
            if mode == "off":
                assert items[cid]["status"] == "unknown" and "not monitored" in items[cid]["reason"], items[cid]

        _check_metrics_move_with_the_load(http, demo["metrics"], headers)

    proc: subprocess.Popen = demo["proc"]
    family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    assert len(family) >= 5, f"expected RTSP, Redis and three workers, got {family}"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(45) == 0
    time.sleep(0.5)
    survivors = [pid for pid in family if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], f"processes left behind: {survivors}"
    listening = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    assert demo["web_port"] not in listening and demo["rtsp_port"] not in listening
