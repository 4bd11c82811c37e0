"""A video-wall tile plays a GB/T 28181 channel over WebRTC (decoded frames increase), in real Chromium,
inside a network namespace the test creates: SIPp device, GStreamer PS over RTP, the web's live relay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.devices.gb28181.sipp import needs_sipp
from web.live.netns import netns_argv, netns_unavailable_reason
from xueliang.settings import REPO_ROOT

pytestmark = [pytest.mark.netns, needs_sipp]


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_wall_tile_plays_a_gb28181_channel(tmp_path: Path, artifacts_dir: Path, codec: str) -> None:
    """H.264 is passed through; H.265 (from the product's PS muxer: mpegpsmux has none) goes through the
    live path's transcode, since Chromium here decodes no H.265 over WebRTC — frames must decode either way."""
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(reason)
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium); run scripts/setup.sh")
    out = tmp_path / "wall.json"
    argv = netns_argv([sys.executable, "-m", "tests.web.gb28181_wall_scenario", str(out), str(artifacts_dir / "screenshots"), codec])
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert out.exists(), f"scenario wrote nothing (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(out.read_text())
    assert result["ok"], result.get("error")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}))
    samples = result["samples"]
    assert result["first_frame_after_opening_wall_s"] is not None, "the tile never showed a frame"
    assert len(samples) >= 5
    frames = [s["frames"] for s in samples]
    assert all(b > a for a, b in zip(frames, frames[1:])), frames
    assert samples[-1]["state"] == "playing"
    assert (samples[-1]["width"], samples[-1]["height"]) == (640, 360)
    assert result["page_errors"] == []
    [session] = result["live_sessions"]  # the tile's own live session, as the web reports it
    assert session["mode"] == ("passthrough" if codec == "h264" else "transcode"), session
    assert session["frames_sent"] > 0
