"""Worker parts in-process: the inbox's backlog policy, alert buffering while Redis is unreachable."""

from __future__ import annotations

import json
import time

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from analytics.alerts import AlertPublisher, build_alert
from analytics.pipeline import FrameIn
from analytics.rules import RuleEvent
from analytics.worker import Inbox
from xueliang.runtime import free_port

from .conftest import MODEL_ONNX


class _Ch:
    def __init__(self, cid: str) -> None:
        self.camera_id = cid


def test_inbox_keeps_the_newest_frames_per_channel_and_counts_drops():
    inbox = Inbox(backlog=2)
    a, b = _Ch("a"), _Ch("b")
    img = np.zeros((4, 4, 3), np.uint8)
    for i in range(5):
        inbox.put(FrameIn(a, img, float(i)))  # type: ignore[arg-type]
    inbox.put(FrameIn(b, img, 10.0))  # type: ignore[arg-type]
    items = inbox.take_all(0.1)
    assert [(i.channel.camera_id, i.ts) for i in items] == [("a", 3.0), ("a", 4.0), ("b", 10.0)]
    assert inbox.dropped == 3
    t = time.monotonic()
    assert inbox.take_all(0.2) == [] and time.monotonic() - t >= 0.15


def test_alerts_wait_while_redis_is_down_and_are_published_when_it_is_back(redis_url):
    from devices import parse_registry

    cam = parse_registry("""
version: 1
cameras:
  - id: c1
    name: 测试
    jurisdiction: "330381101"
    position: {lat: 27.7, lon: 120.6}
    streams: {main: "rtsp://127.0.0.1:1/x"}
""").cameras["c1"]
    event = RuleEvent("r1", "zone_intrusion", "person", 0.9, 7, [[1, 2, 30, 40]], "c1:r1:7", time.time())
    down = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5,
                       retry=Retry(NoBackoff(), 0))
    publisher = AlertPublisher(down)
    try:
        t = time.monotonic()
        for _ in range(3):
            publisher.submit(build_alert(cam, event, 480, 360), b"\xff\xd8jpeg")
        assert time.monotonic() - t < 0.5, "submit must not wait for Redis"
        assert not publisher.flush(timeout=1.5)
        assert publisher.pending == 3 and publisher.published == 0
        up = redis.Redis.from_url(redis_url)
        publisher.set_client(up)  # Redis is reachable again
        assert publisher.flush(timeout=10)
        assert publisher.published == 3
    finally:
        publisher.close()
    entries = up.xrange("xl:alerts")
    alert = json.loads(entries[0][1][b"alert"])
    assert len(entries) == 3 and alert["jurisdiction_code"] == "330381101" and alert["track_id"] == 7
    assert alert["lat"] == 27.7 and alert["boxes"] == [[1.0, 2.0, 30.0, 40.0]]


def test_alert_queue_is_bounded():
    down = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    publisher = AlertPublisher(down, max_pending=2, publish=lambda client, alert, jpeg: client.ping())
    try:
        for i in range(4):
            publisher.submit(i, b"")
        assert publisher.pending == 2 and publisher.dropped == 2
    finally:
        publisher.close(timeout=0.5)


def test_emit_draws_tripwire_and_zoneless_rules_on_the_snapshot(redis_url, tmp_path, native_detector, sample_frames_5fps):
    import cv2

    from analytics.pipeline import Analysed
    from analytics.worker import AnalyticsWorker, WorkerConfig
    from devices import parse_registry

    cam = parse_registry("""
version: 1
cameras:
  - id: c1
    name: 测试
    jurisdiction: "330381101"
    position: {lat: 27.7, lon: 120.6}
    streams: {main: "rtsp://127.0.0.1:1/x"}
    analysis: {mode: continuous, fps: 5}
    rules:
      - {id: wire, kind: tripwire, line: [[0.25, 0.3], [0.25, 0.62]]}
      - {id: fallen, kind: fall}
""").cameras["c1"]
    publisher = AlertPublisher(redis.Redis.from_url(redis_url))
    worker = AnalyticsWorker([cam], WorkerConfig(model_path=MODEL_ONNX, media_dir=tmp_path), publisher,
                             detector=native_detector)
    frame = FrameIn(worker.channels["c1"], sample_frames_5fps[0], time.time())
    for rule_id, kind in (("wire", "tripwire"), ("fallen", "fall")):
        event = RuleEvent(rule_id, kind, "person", 0.8, 3, [[100, 100, 130, 160]], f"c1:{rule_id}:3", frame.ts)
        worker.evidence.emit(Analysed(frame, [], [event], True), event)
    assert publisher.flush(10)
    publisher.close()
    entries = redis.Redis.from_url(redis_url).xrange("xl:alerts")
    assert [json.loads(f[b"alert"])["rule_kind"] for _, f in entries] == ["tripwire", "fall"]
    wire_jpeg = cv2.imdecode(np.frombuffer(entries[0][1][b"snapshot"], np.uint8), cv2.IMREAD_COLOR)
    x = int(0.25 * 480)
    line_px = wire_jpeg[int(0.35 * 360) : int(0.6 * 360), x - 1 : x + 2]
    assert ((line_px[..., 1] > 180) & (line_px[..., 2] > 180) & (line_px[..., 0] < 100)).mean() > 0.3, "tripwire not drawn"


def test_reload_request_adds_a_camera_and_logs_the_counters(redis_url, tmp_path, native_detector, caplog):
    """SIGHUP's path (``request_reload``): a worker started with no cameras re-reads cameras.yaml at
    once, starts the added camera, and logs its counters as ``analytics (on request): {...}``."""
    import ast
    import logging
    import threading

    from analytics.worker import AnalyticsWorker, WorkerConfig
    from devices import RegistryWatcher

    cameras = tmp_path / "cameras.yaml"
    cameras.write_text("version: 1\ncameras: []\n", encoding="utf-8")
    worker = AnalyticsWorker([], WorkerConfig(model_path=MODEL_ONNX, media_dir=tmp_path, clips=False),
                             AlertPublisher(redis.Redis.from_url(redis_url)), detector=native_detector,
                             watcher=RegistryWatcher(cameras))
    worker.wanted = lambda cam: cam.analysis.mode == "continuous"
    stop = threading.Event()
    caplog.set_level(logging.INFO, logger="analytics.worker")
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        new = tmp_path / "cameras.new"
        new.write_text(f"""version: 1
cameras:
  - id: late
    name: added while running
    jurisdiction: "330381101"
    position: {{lat: 27.7, lon: 120.6}}
    streams: {{main: "rtsp://127.0.0.1:{free_port()}/x"}}
    analysis: {{mode: continuous, fps: 5}}
""", encoding="utf-8")
        new.replace(cameras)
        worker.request_reload()
        deadline = time.monotonic() + 10
        while not any("on request" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        line = next(r.getMessage() for r in caplog.records if "on request" in r.getMessage())
        assert "late" in worker.channels and "late" in worker.readers, "the added camera was started"
        counters = ast.literal_eval(line.split("analytics (on request):", 1)[1].strip())
        assert counters["frames"] == 0 and counters["failed_batches"] == 0
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
