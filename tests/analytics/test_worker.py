"""The analytics worker process end to end: real GStreamer RTSP cameras → worker → real Valkey ``xl:alerts``."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import redis

from xueliang.runtime import free_port, spawn, stop
from xueliang.settings import REPO_ROOT

CAMERA_TEMPLATE = """
  - id: {id}
    name: 测试 {id}
    jurisdiction: "330381101201"
    position: {{lat: 27.78, lon: 120.65}}
    streams: {{main: "{url}"}}
    analysis: {{mode: {mode}, fps: 5, detector_classes: [person]}}
    zones:
      - id: walkway
        polygon: {polygon}
    rules:
      - {{id: walkway-intrusion, kind: zone_intrusion, zone: walkway, classes: [person], cooldown_s: 30}}
"""


WALKWAY = "[[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0.0, 1.0]]"
FACADE = "[[0.42, 0.02], [0.75, 0.02], [0.75, 0.15], [0.42, 0.15]]"  # nobody walks there


def write_cameras(path: Path, cams: dict[str, str], polygons: dict[str, str] | None = None,
                  patrol: set[str] = frozenset()) -> Path:
    polygons = polygons or {}
    body = "version: 1\ncameras:\n" + "".join(
        CAMERA_TEMPLATE.format(id=k, url=v, polygon=polygons.get(k, WALKWAY), mode="patrol" if k in patrol else "continuous")
        for k, v in cams.items()
    )
    path.write_text(body, encoding="utf-8")
    return path


def read_alerts(client: redis.Redis, deadline: float, want: int, cameras: set[str] | None = None) -> list[tuple[dict, bytes]]:
    out: list[tuple[dict, bytes]] = []
    last = "0"
    while time.monotonic() < deadline and len(out) < want:
        resp = client.xread({"xl:alerts": last}, block=500, count=50)
        for _stream, entries in resp or []:
            for entry_id, fields in entries:
                last = entry_id
                alert = json.loads(fields[b"alert"])
                if cameras is None or alert["camera_id"] in cameras:
                    out.append((alert, fields[b"snapshot"]))
    return out


def device_statuses(client: redis.Redis) -> dict[str, dict]:
    """The latest ``device.status`` payload per camera on ``xl:events``."""
    latest: dict[str, dict] = {}
    for _id, fields in client.xrange("xl:events"):
        event = json.loads(fields[b"event"])
        if event["type"] == "device.status":
            latest[event["payload"]["camera_id"]] = event["payload"]
    return latest


def test_worker_alerts_snapshots_clips_patrol_hot_reload_and_a_dead_camera(rtsp_server, redis_url, tmp_path):
    dead_port = free_port()  # nothing listens here: this camera stays unreachable
    cameras = write_cameras(
        tmp_path / "cameras.yaml",
        {
            "cam01": rtsp_server.url("cam01"),
            "cam02": rtsp_server.url("cam02"),
            "deadcam": f"rtsp://127.0.0.1:{dead_port}/nothing",
            "cam03": rtsp_server.url("cam03"),  # patrol: one keyframe per visit, no clip
        },
        patrol={"cam03"},
    )
    log_path = tmp_path / "worker.log"
    proc = spawn(
        [sys.executable, "-m", "xueliang.cli", "analytics", "run", "--cameras", str(cameras), "--patrol"],
        env={"REDIS_URL": redis_url, "XUELIANG_DATA_DIR": str(tmp_path / "data"), "YOLO_OFFLINE": "1"},
        cwd=REPO_ROOT,
        log_path=log_path,
    )
    client = redis.Redis.from_url(redis_url)
    try:
        alerts = read_alerts(client, time.monotonic() + 60, want=2, cameras={"cam01", "cam02"})
        assert alerts, f"no alert on xl:alerts within 60 s; worker log:\n{log_path.read_text()[-3000:]}"
        patrol_alerts = read_alerts(client, time.monotonic() + 60, want=1, cameras={"cam03"})
        assert patrol_alerts, f"no alert from the patrol camera; log:\n{log_path.read_text()[-3000:]}"
        assert patrol_alerts[0][0]["clip_path"] is None and patrol_alerts[0][0]["object_class"] == "person"
        assert proc.poll() is None, "worker exited while a camera was unreachable"
        # Device health from the same readers: continuous and patrol (a visit's keyframe) online,
        # the dead camera offline with the reader's reason.
        statuses = device_statuses(client)
        assert {c: statuses[c]["status"] for c in ("cam01", "cam02", "cam03", "deadcam")} == {
            "cam01": "online", "cam02": "online", "cam03": "online", "deadcam": "offline"}, statuses
        assert "refused" in statuses["deadcam"]["reason"].lower() and statuses["cam03"]["metrics"]["std"] > 10
        # The heartbeat behind 在线 (web: a frame within 15 s): recent frames of the cameras being read.
        from devices import LAST_FRAME_KEY

        beats = {k.decode(): float(v) for k, v in client.hgetall(LAST_FRAME_KEY).items()}
        assert {"cam01", "cam02"} <= beats.keys() and "deadcam" not in beats, beats
        assert all(time.time() - beats[c] < 30 for c in ("cam01", "cam02")), beats
        opened: set[str] = set()
        for alert, jpeg in alerts:
            assert alert["camera_id"] in {"cam01", "cam02"}
            # One clip and snapshot per alarm window (analytics.evidence): the first alert of a
            # camera's rule opens it; a later one carries a snapshot only when clearly better.
            first = alert["camera_id"] not in opened
            opened.add(alert["camera_id"])
            assert (alert["clip_path"] is not None) == first, alert
            if not jpeg:
                assert not first, "the alert that opens a window must carry its snapshot"
                continue
            assert alert["rule_kind"] == "zone_intrusion" and alert["rule_id"] == "walkway-intrusion"
            assert alert["object_class"] == "person" and alert["confidence"] >= 0.35
            assert alert["jurisdiction_code"] == "330381101201"
            assert alert["frame_width"] == 480 and alert["frame_height"] == 360
            x1, y1, x2, y2 = alert["boxes"][0]
            assert 0 <= x1 < x2 <= 480 and 0 <= y1 < y2 <= 360
            assert alert["dedup_key"].startswith(f"{alert['camera_id']}:walkway-intrusion:")
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None and image.shape == (360, 480, 3), "snapshot is not a decodable 480x360 JPEG"
            # The box is drawn in pure red on the snapshot.
            edge = image[int(y1) : int(y2) + 1, max(0, int(x1) - 1) : int(x1) + 2]
            assert ((edge[..., 2] > 180) & (edge[..., 1] < 90) & (edge[..., 0] < 90)).mean() > 0.3
        # One event → one alert: no (camera, track) pair alerted twice within the cooldown.
        keys = [a["dedup_key"] for a, _ in alerts]
        assert len(keys) == len(set(keys))
        # Hot reload: drop the dead camera and move cam02's zone; applied without a restart.
        write_cameras(cameras, {"cam01": rtsp_server.url("cam01"), "cam02": rtsp_server.url("cam02"),
                                "cam03": rtsp_server.url("cam03")}, {"cam02": FACADE}, patrol={"cam03"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = log_path.read_text()
            if "camera deadcam: stopped (removed)" in text and "camera cam02: rules reloaded" in text:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"cameras.yaml edit not applied; log:\n{log_path.read_text()[-2000:]}")
        assert proc.poll() is None
        reloaded_at = time.time()
        # Evidence clip: the packets around the alert remuxed (no re-encode) to MP4, written after the post-roll.
        clip = Path(alerts[0][0]["clip_path"])
        assert clip.is_relative_to(tmp_path / "data" / "media")
        deadline = time.monotonic() + 75  # the window's clip grows while alerts come (30 s cap) and is cut 15 s after
        while not clip.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert clip.exists(), f"clip {clip} not written; log:\n{log_path.read_text()[-2000:]}"
        with av.open(str(clip)) as container:
            assert container.format.name.startswith("mov,mp4")
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (480, 360)
            decoded = sum(1 for _ in container.decode(video=0))
        # ≥ the 5 s post-roll at 10 fps (the pre-roll is short for an alert right after connecting)
        assert decoded >= 45, f"clip has {decoded} frames"
        # cam02's zone now covers the facade, where nobody walks: no cam02 alert on a frame taken
        # after the reload (frames already in flight may still finish under the old rules).
        from datetime import datetime

        late = [
            a for a in (json.loads(f[b"alert"]) for _, f in client.xrange("xl:alerts"))
            if a["camera_id"] == "cam02" and datetime.fromisoformat(a["ts"]).timestamp() > reloaded_at + 1.0
        ]
        assert not late, late
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(20)
        finally:
            stop(proc)
        client.close()
    log = log_path.read_text()
    assert code == 0, f"worker exit code {code} on SIGTERM; log:\n{log[-3000:]}"
    assert "deadcam" in log and "offline" in log, "the unreachable camera was not reported in the log"
    assert "analytics worker stopped" in log
