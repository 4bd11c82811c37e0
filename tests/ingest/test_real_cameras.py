"""Reader, probe and clip writer against camera-like streams (see tests/ingest/cameras.py).

Each camera is read once with frames *and* a packet ring; the clip cut from the
ring is checked with ffprobe (duration, display order) and, for the B-frame D1
cameras, frame by frame against the source file (each clip frame must be the
source frame right after the previous one).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest

from ingest import ChannelSpec, Frame, PacketRing, StreamReader, write_mp4
from ingest.footage import camera_footage
from tests.ingest.cameras import CAMERAS
from tests.ingest.helpers import wait_until
from xueliang.cli import main

SOURCE_FPS = 25


def ffprobe_frames(path: Path) -> tuple[float, list[float]]:
    """(container duration, frame pts in presentation order) of an MP4."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "format=duration:frame=pts_time", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    return float(data["format"]["duration"]), [float(f["pts_time"]) for f in data["frames"]]


def thumbnails(frames) -> np.ndarray:
    return np.stack([f.reformat(width=44, height=36, format="gray").to_ndarray().astype(np.float32) for f in frames])


def source_thumbnails(path: Path, codec: str) -> np.ndarray:
    with av.open(str(path), format="h264" if codec == "h264" else "hevc") as c:
        return thumbnails(c.decode(video=0))


@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_reader_and_clip_on_camera(cameras, name: str, tmp_path: Path) -> None:
    cam = CAMERAS[name]
    frames: list[Frame] = []
    ring = PacketRing(seconds=30)
    reader = StreamReader(ChannelSpec(name, cameras.url(name), fps=5), on_frame=frames.append, packet_ring=ring)
    with reader:
        assert wait_until(lambda: len(frames) >= 1, 15), f"no frame from {name}: {reader.state} {reader.reason}"
        time.sleep(4.5)
        got = list(frames)
    params = reader.params
    assert params is not None and params.verified
    assert (params.width, params.height, params.fps) == (cam.footage.width, cam.footage.height, SOURCE_FPS)
    assert params.reorder == cam.bframes
    assert reader.stats.gop_frames == cam.footage.gop
    assert reader.stats.decode_order_stamps == (cam.stamps == "decode" and cam.bframes)
    assert got[0].image.shape == (cam.footage.height, cam.footage.width, 3) and got[0].image.std() > 10

    # even sampling on the frames' own pts: every step 5 source frames, ±1
    steps = np.round(np.diff([f.pts_s for f in got]) * SOURCE_FPS).astype(int)
    assert len(steps) >= 18 and all(4 <= s <= 6 for s in steps), steps.tolist()

    packets = ring.snapshot()
    clip = write_mp4(packets, ring.params, tmp_path / f"{name}.mp4")
    kept = len(packets) - next(i for i, p in enumerate(packets) if p.keyframe)
    duration, pts = ffprobe_frames(clip)
    # a clip may end before the B-frames of its last P-frame arrived: those few packets are dropped
    assert kept - 6 <= len(pts) <= kept
    assert all(b > a for a, b in zip(pts, pts[1:])), "frames out of display order"
    assert np.allclose(np.diff(pts), 1 / SOURCE_FPS, atol=0.002), "a hole in the display timeline"
    assert duration == pytest.approx(len(pts) / SOURCE_FPS, abs=0.05)

    if cam.bframes and cam.footage.width <= 704:
        # display order by content: each clip frame is the source frame after the previous one
        src = source_thumbnails(camera_footage(cam.footage), cam.footage.codec)
        with av.open(str(clip)) as c:
            mine = thumbnails(c.decode(video=0))
        idx = [int(np.argmin(np.abs(src - t).mean(axis=(1, 2)))) for t in mine]
        gaps = [(b - a) % len(src) for a, b in zip(idx, idx[1:])]
        assert all(g == 1 for g in gaps), str(gaps)


def test_probe_reports_the_sps_rate_and_gop_for_a_live555_like_camera(cameras, capsys) -> None:
    url = cameras.url("live555_bf3_d1")
    assert main(["ingest", "probe", url, "--seconds", "4.5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stream_fps"] == SOURCE_FPS, "no a=framerate: the SPS timing, not FFmpeg's 2x field-rate guess"
    assert report["keyframe_interval_s"] == 2.0 and report["gop_frames"] == 50
    assert report["b_frames"] is True and report["decode_order_stamps"] is True


def test_clip_cli_survives_garbage_sdp_parameter_sets(cameras, tmp_path, capsys) -> None:
    out = tmp_path / "g.mp4"
    assert main(["ingest", "clip", cameras.url("garbage_sprop_d1"), str(out), "--seconds", "3"]) == 0, capsys.readouterr().err
    duration, pts = ffprobe_frames(out)
    assert len(pts) >= 40 and duration == pytest.approx(len(pts) / SOURCE_FPS, abs=0.09)


def test_clip_cli_errors_are_sentences(tmp_path, capsys) -> None:
    from xueliang.runtime import free_port

    assert main(["ingest", "clip", f"rtsp://admin:pw@127.0.0.1:{free_port()}/x", str(tmp_path / "x.mp4"), "--seconds", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("No video arrived from") and err.endswith("(Connection refused).") and "pw" not in err and "Traceback" not in err
