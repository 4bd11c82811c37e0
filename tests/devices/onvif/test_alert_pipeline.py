"""A camera-side alarm travels to the real alerts stream through the product's own worker process:
simulator → `xueliang alarms run` (PullPoint link per ONVIF camera of the registry) → Valkey ``xl:alerts``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import redis

from command import ALERTS_STREAM
from tests.devices.onvif.conftest import gate_ptz_registry

LINE = "tns1:RuleEngine/LineDetector/Crossed"


def _wait(predicate, timeout_s: float, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, f"the alarm worker exited ({proc.returncode}):\n{log.read_text()}"
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout_s} s; worker log:\n{log.read_text()}")


def test_alarm_worker_publishes_camera_alarms_and_follows_the_registry(make_sim, redis_url, tmp_path):
    gate, yard = make_sim(), make_sim()
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(gate_ptz_registry(gate.device_url))
    log = tmp_path / "alarms.log"
    env = {**os.environ, "REDIS_URL": redis_url, "GATE_ONVIF_PASSWORD": gate.config.password,
           "XUELIANG_DATA_DIR": str(tmp_path)}
    client = redis.Redis.from_url(redis_url)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "xueliang.cli", "alarms", "run", "--cameras", str(cameras), "--reload-interval", "0.3"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait(lambda: gate.subscription_count() > 0, 20, "no PullPoint subscription on the camera", proc, log)
        gate.emit_event(LINE, {"ObjectId": "12"}, source={"VideoSourceConfigurationToken": "vsc_main", "Rule": "GateLine"})
        _wait(lambda: client.xlen(ALERTS_STREAM) == 1, 10, "no alert on xl:alerts", proc, log)

        # A camera added to the registry file gets its own link while the first keeps running.
        cameras.write_text(gate_ptz_registry(gate.device_url, second_url=yard.device_url))
        _wait(lambda: yard.subscription_count() > 0, 20, "the added camera was not subscribed", proc, log)
        yard.emit_event("tns1:VideoSource/MotionAlarm", {"State": "true"})
        _wait(lambda: client.xlen(ALERTS_STREAM) == 2, 10, "no alert from the added camera", proc, log)
    finally:
        proc.terminate()
        proc.wait(timeout=20)

    (_, first), (_, second) = client.xrange(ALERTS_STREAM)
    alert = json.loads(first[b"alert"])
    assert (alert["camera_id"], alert["rule_kind"], alert["object_class"], alert["jurisdiction_code"]) == (
        "gate-ptz", "onvif_event", "line_crossing", "330381101201",
    )
    assert first[b"snapshot"].startswith(b"\xff\xd8") and len(first[b"snapshot"]) > 10_000
    assert json.loads(second[b"alert"])["camera_id"] == "yard-ptz"
    assert proc.returncode == 0, log.read_text()
    assert gate.config.password not in log.read_text()
