"""Telemetry over a real MQTT broker (Mosquitto: the local one, or the session's own) from a simulated drone."""

from __future__ import annotations

import json
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from devices import load_registry
from devices.mobile import MobileTracker
from devices.mobile.mqtt import MqttTelemetryBridge
from xueliang.settings import REPO_ROOT

HOST = "127.0.0.1"


def wait_for(predicate, timeout: float = 10.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_simulated_drone_over_mqtt(mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    tracker = MobileTracker(load_registry(REPO_ROOT / "configs" / "cameras.yaml"))
    prefix = f"xl-test-{uuid.uuid4().hex[:8]}/telemetry"  # shared broker: a topic of our own
    now = datetime.now(UTC)
    with MqttTelemetryBridge(tracker, host=host, port=port, topic_prefix=prefix, client_id=f"xl-{uuid.uuid4().hex[:8]}") as bridge:
        drone = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"uav-{uuid.uuid4().hex[:8]}")
        drone.connect(host, port)
        drone.loop_start()
        try:
            for k in range(3):  # unit_id omitted: taken from the topic
                info = drone.publish(f"{prefix}/uav01", json.dumps({"ts": (now + timedelta(seconds=k)).isoformat(),
                                                                   "lat": 27.779 + k * 1e-4, "lon": 120.6556, "alt_m": 120, "battery_pct": 70}))
                info.wait_for_publish(5)
            drone.publish(f"{prefix}/uav01", json.dumps({"unit_id": "t4g01", "ts": now.isoformat(), "lat": 1, "lon": 1})).wait_for_publish(5)
            drone.publish(f"{prefix}/uav01", b"\xff not json").wait_for_publish(5)
            drone.publish(f"{prefix}/cam01", json.dumps({"ts": now.isoformat(), "lat": 1, "lon": 1})).wait_for_publish(5)
            assert wait_for(lambda: bridge.stats.messages >= 6), bridge.stats
        finally:
            drone.loop_stop()
            drone.disconnect()
    track = tracker.history("uav01")
    assert [round(p.lat, 4) for p in track] == [27.779, 27.7791, 27.7792]
    assert tracker.latest("t4g01") is None, "a payload naming another unit than its topic is rejected"
    assert bridge.stats.accepted == 3 and bridge.stats.rejected == 3
    errors = "\n".join(bridge.stats.last_errors)
    assert "does not match the topic" in errors and "not JSON" in errors and "fixed camera" in errors


def test_unreachable_broker_is_a_clear_error() -> None:
    tracker = MobileTracker(load_registry(REPO_ROOT / "configs" / "cameras.yaml"))
    with socket.socket() as s:
        s.bind((HOST, 0))
        free = s.getsockname()[1]
    with pytest.raises(ConnectionError, match=f"cannot reach MQTT broker {HOST}:{free}"):
        MqttTelemetryBridge(tracker, host=HOST, port=free).start()
