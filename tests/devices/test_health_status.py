"""Channel status from reader states and real frames; events on a real Redis (Valkey)."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from devices import load_registry
from devices.health import ChannelHealth, DeviceStatus, HealthMonitor, publish_status
from devices.health.evaluate import read_frames
from xueliang.settings import REPO_ROOT

REGISTRY = load_registry(REPO_ROOT / "configs" / "cameras.yaml")


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return read_frames(REPO_ROOT / "samples" / "vtest.avi", 200)


def test_status_lifecycle(frames: list[np.ndarray]) -> None:
    t0 = 1_800_000_000.0
    health = ChannelHealth(REGISTRY["cam01"], offline_after_s=10, now=t0)
    assert health.status is DeviceStatus.offline and health.report().reason == "not connected yet"

    assert health.observe_reader_state("auth_failed", "401 Unauthorized", ts=t0 + 1).status is DeviceStatus.auth_failed
    changes = [health.observe_frame(frames[i], ts=t0 + 2 + i / 10) for i in range(0, 40, 5)]
    online = [c for c in changes if c is not None]
    assert len(online) == 1 and online[0].status is DeviceStatus.online
    assert health.report().reason == "picture OK" and health.report().last_frame_at is not None

    darkened = [health.observe_frame((frames[i] * 0.12).astype(np.uint8), ts=t0 + 10 + i / 10) for i in range(40, 55, 5)]
    degraded = [c for c in darkened if c is not None]
    assert degraded and degraded[-1].status is DeviceStatus.degraded and "too_dark" in degraded[-1].faults
    assert "画面过暗" in degraded[-1].reason and degraded[-1].jurisdiction_code == "330381101201"

    black = [health.observe_frame(np.zeros_like(frames[0]), ts=t0 + 20 + k) for k in range(3)]
    assert [c.status for c in black if c is not None][-1] is DeviceStatus.no_signal

    assert health.tick(now=t0 + 25) is None, "a frame 3 s ago: still connected"
    offline = health.tick(now=t0 + 40)
    assert offline is not None and offline.status is DeviceStatus.offline and "no frame for 10 s" in offline.reason
    assert offline.since.timestamp() == t0 + 40
    assert health.tick(now=t0 + 50) is None, "reported once"


def test_monitor_follows_registry_reload() -> None:
    monitor = HealthMonitor(REGISTRY, offline_after_s=5)
    assert monitor.summary()["offline"] == len(REGISTRY)
    monitor["cam02"].observe_frame(None, ts=1_800_000_000.0)
    assert monitor.summary()["online"] == 1
    keep = monitor["cam02"]
    monitor.apply_registry(REGISTRY, changed={"cam03"})
    assert monitor["cam02"] is keep and monitor["cam03"].status is DeviceStatus.offline


def test_monitor_wires_ingest_events_and_publishes_changes(frames: list[np.ndarray]) -> None:
    from types import SimpleNamespace

    published = []
    monitor = HealthMonitor(REGISTRY, publish=published.append, offline_after_s=5)
    t0 = 1_800_000_000.0
    monitor.reader_event(SimpleNamespace(channel_id="cam02", state="auth_failed", reason="401", ts=t0))
    monitor.reader_event(SimpleNamespace(channel_id="not-in-registry", state="offline", reason="x", ts=t0))
    for k in range(3):
        monitor.frame(SimpleNamespace(channel_id="cam02", image=frames[k * 5], ts_wall=t0 + 1 + k))
    assert [(r.camera_id, r.status.value) for r in published] == [("cam02", "auth_failed"), ("cam02", "online")]
    ticked = monitor.tick(now=t0 + 60)
    assert [(r.camera_id, r.status.value) for r in ticked] == [("cam02", "offline")], "the others never came online"
    assert published[-1] is ticked[0]


def test_status_event_on_real_redis(redis_url: str, frames: list[np.ndarray]) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        health = ChannelHealth(REGISTRY["cam04"])
        report = health.observe_reader_state("offline", "connection refused")
        assert report is None, "already offline at start: no duplicate event"
        report = health.observe_frame(frames[0])
        assert report is not None and report.status is DeviceStatus.online
        entry = publish_status(client, report)
        [(stream, [(entry_id, fields)])] = client.xread({"xl:events": 0}, count=1)
        assert entry_id.decode() == entry
        event = json.loads(fields[b"event"])
        assert event["type"] == "device.status" and event["jurisdiction_code"] == "330381104207"
        assert event["payload"]["camera_id"] == "cam04" and event["payload"]["status"] == "online"
    finally:
        client.close()


def test_online_from_the_real_rtsp_stream(rtsp_server) -> None:  # noqa: ANN001 - shared fixture
    health = ChannelHealth(REGISTRY["cam01"])
    url = rtsp_server.url("cam01")
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 5)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            health.observe_frame(frame.to_ndarray(format="bgr24"))
            if n >= 60:
                break
    report = health.report()
    assert report.status is DeviceStatus.online, report
    assert report.reason == "picture OK" and health.analyzer.reference is not None


def test_monitor_publishes_first_state_and_unmonitored_channels() -> None:
    from types import SimpleNamespace

    published = []
    monitor = HealthMonitor(REGISTRY, publish=published.append, offline_after_s=5)
    t0 = 1_800_000_000.0
    # Offline from the start: no status *change*, but the first known state must be published.
    monitor.reader_event(SimpleNamespace(channel_id="cam01", state="offline", reason="connection refused", ts=t0))
    monitor.reader_event(SimpleNamespace(channel_id="cam01", state="offline", reason="connection refused", ts=t0 + 1))
    assert [(r.camera_id, r.status.value, r.reason) for r in published] == [("cam01", "offline", "connection refused")]
    # connecting says nothing yet
    assert monitor.reader_event(SimpleNamespace(channel_id="cam02", state="connecting", reason=None, ts=t0)) is None
    # A channel nobody reads is unknown, with the reason, once; silence never turns it offline.
    report = monitor.unmonitored("uav01", "analysis mode off", ts=t0)
    assert report is not None and report.status is DeviceStatus.unknown and report.reason == "analysis mode off"
    assert monitor.unmonitored("uav01", "analysis mode off", ts=t0 + 1) is None
    assert monitor.tick(now=t0 + 600) == []
    assert monitor.summary()["unknown"] == 1
    # Reloaded as changed: starts over and its first state is published again.
    monitor.apply_registry(REGISTRY, changed={"cam01"})
    again = monitor.reader_event(SimpleNamespace(channel_id="cam01", state="offline", reason="connection refused", ts=t0 + 2))
    assert again is not None and published[-1] is again


def test_camera_health_settings_silence_faults_and_tune_limits(frames: list[np.ndarray]) -> None:
    """cameras.yaml `health:` — a lane that is dark every night is not a fault; limits and timeout per camera."""
    from dataclasses import fields

    from devices import Health
    from devices.health import Fault, VqdThresholds
    from devices.registry.schema import VqdOverrides

    assert set(Health.model_fields["ignore"].annotation.__args__[0].__args__) == {f.value for f in Fault}
    assert set(VqdOverrides.model_fields) <= {f.name for f in fields(VqdThresholds)}

    t0 = 1_800_000_000.0
    plain = REGISTRY["cam01"]
    tuned = plain.model_copy(update={"health": Health(ignore=["too_dark"], vqd={"persist": 1}, offline_after_s=120)})
    results = {}
    for name, camera in (("plain", plain), ("tuned", tuned)):
        health = ChannelHealth(camera, offline_after_s=10, now=t0)
        for i in range(0, 40, 5):
            health.observe_frame(frames[i], ts=t0 + 2 + i / 10)
        assert health.status is DeviceStatus.online
        dark = [health.observe_frame((frames[i] * 0.12).astype(np.uint8), ts=t0 + 10 + k) for k, i in enumerate(range(40, 55, 5))]
        results[name] = (health, [c for c in dark if c is not None])
    plain_health, plain_changes = results["plain"]
    tuned_health, tuned_changes = results["tuned"]
    assert plain_health.status is DeviceStatus.degraded and "too_dark" in plain_changes[-1].faults
    assert tuned_health.status is DeviceStatus.online and tuned_changes == [] and tuned_health.report().faults == {}
    assert tuned_health.analyzer.t.persist == 1 and plain_health.analyzer.t.persist == VqdThresholds().persist
    assert tuned_health.offline_after_s == 120 and plain_health.offline_after_s == 10
