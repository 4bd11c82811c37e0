"""Test footage for GB/T 28181 media: H.264 PS from GStreamer's mpegpsmux, H.265 from the sample via ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import pytest

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
H264_SAMPLE = SAMPLES / "vtest_640x360_g10.h264"
needs_gst = pytest.mark.skipif(shutil.which("gst-launch-1.0") is None, reason="gst-launch-1.0 missing: scripts/setup.sh installs GStreamer")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing: scripts/setup.sh installs it")


def gstreamer_ps(out_dir: Path, seconds: float | None = None) -> Path:
    """The sample as H.264 in a program stream written by GStreamer's mpegpsmux (timestamps from an MP4)."""
    mp4, ps = out_dir / "vtest.mp4", out_dir / "vtest_gst.ps"
    if not ps.exists():
        cmd = ["ffmpeg", "-loglevel", "error", "-y", "-r", "10", "-i", str(H264_SAMPLE)]
        if seconds:
            cmd += ["-t", str(seconds)]
        subprocess.run(cmd + ["-c", "copy", str(mp4)], check=True, timeout=60)
        subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={mp4}", "!", "qtdemux", "!", "h264parse", "!",
                        "mpegpsmux", "!", "filesink", f"location={ps}"], check=True, timeout=60)
    return ps


def hevc_annexb(out_dir: Path, seconds: float = 4.0) -> Path:
    """The sample re-encoded to H.265 Annex-B by ffmpeg (libx265), GOP 10, no B-frames."""
    out = out_dir / "vtest.hevc"
    if not out.exists():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-r", "10", "-i", str(H264_SAMPLE), "-t", str(seconds), "-c:v", "libx265",
                        "-preset", "ultrafast", "-x265-params", "keyint=10:bframes=0:log-level=error", "-f", "hevc", str(out)],
                       check=True, timeout=120)
    return out


def access_units(path: Path, fmt: str) -> list[tuple[bytes, bool]]:
    """(Annex-B access unit, keyframe) of a raw elementary stream, in order."""
    with av.open(str(path), format=fmt) as c:
        return [(bytes(p), bool(p.is_keyframe)) for p in c.demux(c.streams.video[0]) if p.size]


def ps_units(ps: bytes) -> list[bytes]:
    """Split a program stream into per-frame chunks (pack/map headers stay with the PES that follows)."""
    starts, i = [], ps.find(b"\x00\x00\x01\xe0")
    while i >= 0:
        starts.append(i)
        i = ps.find(b"\x00\x00\x01\xe0", i + 4)
    cuts = [0]
    for a, b in zip(starts, starts[1:]):
        pack = ps.rfind(b"\x00\x00\x01\xba", a, b)
        cuts.append(pack if pack > a else b)
    cuts.append(len(ps))
    return [ps[x:y] for x, y in zip(cuts, cuts[1:]) if y > x]
