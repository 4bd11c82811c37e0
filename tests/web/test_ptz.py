"""PTZ from the web API against a real ONVIF device simulator (SOAP over HTTP on loopback).

The web app keeps one ONVIF session per camera: a joystick's stream of commands must
not repeat the clock sync and service discovery before every move.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.devices.onvif.simulator import OnvifSimulator, SimConfig
from tests.web.conftest import ServerThread, WebServer
from xueliang.runtime import free_port


@pytest.fixture()
def ptz_web(web_server: WebServer, tmp_path, monkeypatch) -> Iterator[tuple[WebServer, OnvifSimulator]]:
    from web import create_app

    sim = OnvifSimulator(SimConfig()).start()
    text = web_server.settings.cameras_file.read_text(encoding="utf-8")
    assert "http://127.0.0.1:9/onvif/device_service" in text
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(text.replace("http://127.0.0.1:9/onvif/device_service", sim.device_url), encoding="utf-8")
    monkeypatch.setenv("XL_TEST_PTZ_USER", sim.config.username)
    monkeypatch.setenv("XL_TEST_PTZ_PASSWORD", sim.config.password)
    settings = web_server.settings.model_copy(update={"cameras_file": cameras, "web_port": free_port()})
    thread = ServerThread(create_app(settings), settings.web_port)
    thread.start()
    try:
        yield WebServer(f"http://127.0.0.1:{settings.web_port}", settings, web_server.database, web_server.redis_url), sim
    finally:
        thread.stop()
        sim.stop()


def test_ptz_moves_presets_and_reuses_one_onvif_session(ptz_web) -> None:
    server, sim = ptz_web
    with server.client("op_a") as http:
        def ptz(**body):
            r = http.post("/api/cameras/ptzA2/ptz", json=body)
            assert r.status_code == 200, r.text
            return r.json()

        start = sim.position()
        ptz(action="move", pan=1.0, tilt=0.0, zoom=0.0, timeout_s=5)
        time.sleep(0.4)
        ptz(action="stop")
        moved = sim.position()
        assert moved[0] > start[0] + 0.1, (start, moved)  # the dome really panned, then stopped
        time.sleep(0.2)
        assert sim.position() == moved

        token = ptz(action="set_preset", preset="大桥北侧")["preset"]
        ptz(action="move", tilt=-1.0, timeout_s=0.3)
        time.sleep(0.5)
        assert sim.position() != moved
        ptz(action="goto_preset", preset=token)
        assert sim.position() == moved

        presets = http.get("/api/cameras/ptzA2/ptz/presets")
        assert presets.status_code == 200, presets.text
        assert {"token": token, "name": "大桥北侧"} in presets.json()["items"]

        missing = http.post("/api/cameras/ptzA2/ptz", json={"action": "goto_preset", "preset": "nope"})
        assert missing.status_code == 502 and "ptzA2" in missing.json()["message"], missing.text
        assert "no preset" not in missing.text and "nope" not in missing.text  # the SOAP fault text stays in the log
        ptz(action="stop")  # the failed call dropped the session; the next one reconnects

    # Seven successful commands and a preset list: one clock sync and one discovery per session
    # (two sessions: the refused preset dropped the first), not one per command.
    assert sim.requests.count("GetCapabilities") == 2, sim.requests
    assert sim.requests.count("ContinuousMove") == 2 and sim.requests.count("GotoPreset") == 2


def test_ptz_with_wrong_credentials_says_so_without_leaking_them(ptz_web, monkeypatch) -> None:
    server, _sim = ptz_web
    monkeypatch.setenv("XL_TEST_PTZ_PASSWORD", "not-the-Password-7")
    with server.client("op_a") as http:
        r = http.post("/api/cameras/ptzA2/ptz", json={"action": "stop"})
    assert r.status_code == 502 and "拒绝了 ONVIF 账号" in r.json()["message"], r.text
    assert "not-the-Password-7" not in r.text
