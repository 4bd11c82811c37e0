"""A camera-side alarm travels to the real alerts stream: simulator → watch_alarms → command.AlertIn → Valkey."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest

from devices.onvif import OnvifCamera, camera_alert, watch_alarms

LINE = "tns1:RuleEngine/LineDetector/Crossed"


def test_line_crossing_alarm_is_published_with_a_snapshot(sim, redis_url, monkeypatch):
    command = pytest.importorskip("command", reason="command package not importable")
    import redis

    from devices import parse_registry

    camera = parse_registry(f"""
version: 1
cameras:
  - id: gate-ptz
    name: 东门球机
    jurisdiction: "330381101201"
    position: {{lat: 27.78, lon: 120.65}}
    kind: ptz
    streams: {{main: "rtsp://127.0.0.1:8554/cam01"}}
    frame: {{width: 480, height: 360}}
    onvif: {{url: "{sim.device_url}", username: admin, password: "${{GATE_ONVIF_PASSWORD}}"}}
""").cameras["gate-ptz"]
    monkeypatch.setenv("GATE_ONVIF_PASSWORD", sim.config.password)
    client = redis.Redis.from_url(redis_url)
    cam = OnvifCamera.from_registry(camera, timeout=2.0)

    def on_alarm(event) -> None:
        alert = command.AlertIn(**camera_alert(event, camera))
        command.publish_alert(client, alert, cam.try_snapshot())

    stop = threading.Event()
    thread = threading.Thread(target=watch_alarms, args=(cam, on_alarm, stop), kwargs={"pull_timeout": dt.timedelta(seconds=1)}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while sim.subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        sim.emit_event(LINE, {"ObjectId": "12"}, source={"VideoSourceConfigurationToken": "vsc_main", "Rule": "GateLine"})
        deadline = time.monotonic() + 10
        while client.xlen(command.ALERTS_STREAM) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
        cam.close()
    ((_, fields),) = client.xrange(command.ALERTS_STREAM)
    alert = json.loads(fields[b"alert"])
    assert (alert["camera_id"], alert["rule_kind"], alert["object_class"], alert["jurisdiction_code"]) == (
        "gate-ptz", "onvif_event", "line_crossing", "330381101201",
    )
    assert fields[b"snapshot"].startswith(b"\xff\xd8") and len(fields[b"snapshot"]) > 10_000
    assert not thread.is_alive()
