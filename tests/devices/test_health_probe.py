"""Patrol check against a real RTSP server (GStreamer, with authentication) serving real and broken video."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from devices import Camera, DeviceStatus
from devices.health import probe_cameras
from devices.health.evaluate import read_frames
from xueliang.runtime import RtspSampleServer, SampleMount
from xueliang.runtime.processes import free_port
from xueliang.settings import REPO_ROOT


def encode_h264(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"g": "10", "bf": "0"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspSampleServer]:
    tmp = tmp_path_factory.mktemp("probe")
    still = read_frames(REPO_ROOT / "samples" / "vtest.avi", 1)[0]
    black = encode_h264(tmp / "black.h264", [np.zeros((240, 320, 3), np.uint8)] * 30)  # encoder with no input
    frozen = encode_h264(tmp / "frozen.h264", [still] * 30)                           # picture stuck
    mounts = [SampleMount("good", REPO_ROOT / "samples" / "vtest_480x360_g10.h264", 10),
              SampleMount("black", black, 10), SampleMount("frozen", frozen, 10)]
    with RtspSampleServer(mounts=mounts, auth="admin:s3cret", log_path=tmp / "rtsp.log") as srv:
        yield srv


def cam(cid: str, url: str) -> Camera:
    return Camera.model_validate({"id": cid, "name": cid, "jurisdiction": "330381101", "kind": "fixed",
                                  "position": {"lat": 27.78, "lon": 120.65}, "streams": {"main": url}})


def test_patrol_check_tells_each_failure_apart(server: RtspSampleServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XL_TEST_RTSP_PASSWORD", "s3cret")
    monkeypatch.setenv("XL_TEST_WRONG_PASSWORD", "guess")
    monkeypatch.delenv("XL_TEST_UNSET_PASSWORD", raising=False)
    base = f"127.0.0.1:{server.port}"
    cams = [
        cam("good", f"rtsp://admin:${{XL_TEST_RTSP_PASSWORD}}@{base}/good"),
        cam("wrongpw", f"rtsp://admin:${{XL_TEST_WRONG_PASSWORD}}@{base}/good"),
        cam("unset", f"rtsp://admin:${{XL_TEST_UNSET_PASSWORD}}@{base}/good"),
        cam("black", f"rtsp://admin:${{XL_TEST_RTSP_PASSWORD}}@{base}/black"),
        cam("frozen", f"rtsp://admin:${{XL_TEST_RTSP_PASSWORD}}@{base}/frozen"),
        cam("closed", f"rtsp://127.0.0.1:{free_port('127.0.0.1')}/x"),
    ]
    reports = {r.camera_id: r for r in probe_cameras(cams, workers=3, samples=6, interval_s=0.4, timeout_s=10)}
    status = {cid: r.status for cid, r in reports.items()}
    assert status == {
        "good": DeviceStatus.online, "wrongpw": DeviceStatus.auth_failed, "unset": DeviceStatus.auth_failed,
        "black": DeviceStatus.no_signal, "frozen": DeviceStatus.degraded, "closed": DeviceStatus.offline,
    }, {cid: r.reason for cid, r in reports.items()}
    assert "XL_TEST_UNSET_PASSWORD" in reports["unset"].reason
    assert set(reports["frozen"].faults) == {"frozen"}
    assert reports["good"].last_frame_at is not None
    text = " ".join(r.model_dump_json() for r in reports.values())
    assert "s3cret" not in text and "guess" not in text, "passwords never appear in reports"
