"""ChannelSpec from a real devices registry entry; back-off bounds."""

from __future__ import annotations

from devices import parse_registry

from ingest import spec_from_camera
from ingest.backoff import Backoff

REGISTRY = """
version: 1
cameras:
  - id: gate01
    name: 测试 门口
    jurisdiction: "330381101201"
    position: {lat: 27.77, lon: 120.65}
    kind: fixed
    streams:
      main: rtsp://admin:${XL_TEST_CAM_PASS}@127.0.0.1:8554/main
      sub: rtsp://admin:${XL_TEST_CAM_PASS}@127.0.0.1:8554/sub
    analysis: {mode: patrol, fps: 1}
"""


def test_spec_from_registry_camera_resolves_secret_and_mode(monkeypatch):
    monkeypatch.setenv("XL_TEST_CAM_PASS", "pa55")
    cam = parse_registry(REGISTRY).cameras["gate01"]
    spec = spec_from_camera(cam)
    assert spec.url == "rtsp://admin:pa55@127.0.0.1:8554/sub"
    assert spec.mode == "patrol" and type(spec.mode) is str and spec.fps == 1.0
    assert "pa55" not in repr(spec)
    assert spec_from_camera(cam, "main").url.endswith("/main")


def test_backoff_grows_caps_and_jitters():
    b = Backoff(initial_s=0.5, max_s=4.0, jitter=0.5)
    delays = [b.next_delay() for _ in range(8)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(2.0 <= d <= 4.0 for d in delays[4:])
    assert len({round(d, 6) for d in delays}) == len(delays), "jitter spreads reconnects"
    b.reset()
    assert b.next_delay() <= 0.5
