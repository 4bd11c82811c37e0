"""Drone telemetry end to end, all real: a simulated drone publishes to Mosquitto → `xueliang mobile run`
(a real process) → the database and ``device.position`` on Valkey → the web process's tracks, served per
jurisdiction and pushed over the WebSocket; 4G terminals post over HTTP. The drone is the only fake (none flies here)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import websockets

from tests.web.conftest import PASSWORD, SECRET, ServerThread, seeded_database
from xueliang.runtime import free_port
from xueliang.settings import Settings

CAMERAS = """
version: 1
cameras:
  - id: uavA
    name: 城关镇 无人机
    jurisdiction: "330381101"
    position: {lat: 27.7789, lon: 120.6556}
    kind: drone
    streams: {main: "rtsp://127.0.0.1:8554/cam04"}
    analysis: {mode: "off"}
  - id: t4gB
    name: 塘下镇 4G 执法记录仪
    jurisdiction: "330381102"
    position: {lat: 27.84, lon: 120.61}
    kind: 4g_terminal
    streams: {main: "rtsp://127.0.0.1:8554/cam02"}
    analysis: {mode: "off"}
  - id: camA1
    name: 城关镇 人民广场
    jurisdiction: "330381101201"
    position: {lat: 27.7794, lon: 120.6553}
    kind: fixed
    streams: {main: "rtsp://127.0.0.1:8554/cam01"}
"""


@pytest.fixture()
def web(tmp_path: Path, redis_url: str):
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(CAMERAS, encoding="utf-8")
    settings = Settings(data_dir=tmp_path, cameras_file=cameras, database_url=f"sqlite:///{tmp_path / 'web.db'}",
                        redis_url=redis_url, secret_key=SECRET, web_port=free_port())
    database = seeded_database(settings.resolved_database_url())
    from web import create_app

    server = ServerThread(create_app(settings), settings.web_port)
    server.start()
    try:
        yield f"http://127.0.0.1:{settings.web_port}", cameras
    finally:
        server.stop()
        database.dispose()


def _client(base: str, username: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=15)
    login = http.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return http


async def _first_position(ws_url: str, token: str, timeout_s: float) -> dict:
    async with websockets.connect(f"{ws_url}/api/ws?token={token}") as ws:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            event = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic())))
            if event.get("type") == "device.position":
                return event
    raise AssertionError("no device.position push")


def test_drone_over_mqtt_and_terminal_over_http_reach_the_map_api_in_scope(web, mqtt_broker, redis_url, tmp_path):
    base, cameras = web
    host, port = mqtt_broker
    prefix = f"xl-test-{os.getpid()}-{time.monotonic_ns()}"
    log = tmp_path / "mobile.log"
    env = {**os.environ, "REDIS_URL": redis_url, "XUELIANG_MQTT_URL": f"mqtt://{host}:{port}",
           "XUELIANG_CAMERAS_FILE": str(cameras), "XUELIANG_DATA_DIR": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}"}  # the bridge stores positions where web reads them
    with log.open("wb") as out:
        bridge = subprocess.Popen([sys.executable, "-m", "xueliang.cli", "mobile", "run", "--topic-prefix", prefix],
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    county, op_a, op_b = _client(base, "county_t"), _client(base, "op_a"), _client(base, "op_b")
    drone = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    try:
        deadline = time.monotonic() + 20
        while b"device.position" not in log.read_bytes():  # the bridge logs once it is subscribed
            assert bridge.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        drone.connect(host, port)
        drone.loop_start()
        start = datetime.now(UTC)
        for k in range(3):
            drone.publish(f"{prefix}/uavA", json.dumps({"ts": (start + timedelta(seconds=k)).isoformat(),
                                                        "lat": 27.7790 + k * 0.001, "lon": 120.6556, "alt_m": 80})).wait_for_publish(5)
        drone.publish(f"{prefix}/uavA", b"\xff not json").wait_for_publish(5)

        deadline = time.monotonic() + 15
        while True:
            track = op_a.get("/api/mobile/units/uavA/track")
            if track.status_code == 200 and len(track.json()) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [round(p["lat"], 4) for p in track.json()] == [27.779, 27.780, 27.781], track.text
        # Township B sees neither the drone nor that it exists.
        assert op_b.get("/api/mobile/units/uavA/track").status_code == 404
        assert {u["id"] for u in op_b.get("/api/mobile/units").json()} == {"t4gB"}
        units = {u["id"]: u for u in county.get("/api/mobile/units").json()}
        assert units["uavA"]["latest"]["lat"] == pytest.approx(27.781) and not units["uavA"]["stale"]
        near = op_a.get("/api/mobile/nearby", params={"lat": 27.781, "lon": 120.6556, "radius_m": 300}).json()
        assert [h["id"] for h in near][:1] == ["uavA"], near

        # A 4G terminal of township B posts over HTTP: A's account may not report for it, the county may,
        # and B's operator gets the position pushed on the WebSocket.
        report = {"unit_id": "t4gB", "ts": datetime.now(UTC).isoformat(), "lat": 27.8405, "lon": 120.6101}
        refused = op_a.post("/api/mobile/telemetry", json=report)
        assert refused.status_code == 422 and "不在您的管辖范围内" in refused.text
        push = asyncio.run(_push_after(base, op_b, county, report))
        assert push["payload"]["unit_id"] == "t4gB" and push["jurisdiction_code"] == "330381102"
    finally:
        drone.loop_stop()
        bridge.terminate()
        assert bridge.wait(20) == 0, log.read_text()
    assert "payload is not JSON" in log.read_text()


async def _push_after(base: str, listener: httpx.Client, sender: httpx.Client, report: dict) -> dict:
    token = listener.headers["Authorization"].split()[1]
    waiting = asyncio.create_task(_first_position(base.replace("http://", "ws://"), token, 15))
    await asyncio.sleep(1.0)  # the socket is open before the report is sent
    posted = await asyncio.to_thread(sender.post, "/api/mobile/telemetry", json=report)
    assert posted.status_code == 200 and posted.json()["accepted"] == 1, posted.text
    return await waiting
