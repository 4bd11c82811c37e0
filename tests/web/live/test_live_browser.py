"""Live view in real headless Chromium, inside a network namespace the test creates.

The whole scenario (GStreamer RTSP server, live gateway, Chromium) runs in
``browser_scenario.py`` under ``unshare -n`` — WebRTC ICE never touches the real
interface. This test checks the JSON the scenario writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from web.live.netns import netns_argv, netns_unavailable_reason
from xueliang.settings import REPO_ROOT

SCENARIO = Path(__file__).with_name("browser_scenario.py")
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def netns_ok() -> None:
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(reason)
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium); run scripts/setup.sh")


def run_scenario(tmp_path: Path, artifacts_dir: Path, upstream: str) -> dict:
    out = tmp_path / "result.json"
    argv = netns_argv([sys.executable, str(SCENARIO), str(out), upstream, str(artifacts_dir)])
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert out.exists(), f"scenario wrote no result (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(out.read_text())
    assert result["ok"], result.get("error")
    return result


@pytest.mark.parametrize("upstream", ["relay", "player"])
def test_tile_plays_camera_h264_passthrough_with_one_upstream(
        netns_ok, tmp_path: Path, artifacts_dir: Path, upstream: str) -> None:
    r = run_scenario(tmp_path, artifacts_dir, upstream)

    # Security: no token → 401; a camera that is not yours/unknown → 404; no credentials in the log.
    assert r["offer_without_token_status"] == 401
    assert r["unknown_camera_status"] == 404
    assert r["credentials_in_gateway_log"] is False

    # First frame on screen within 2 s of the tile opening (cold: includes opening the RTSP upstream).
    assert r["first_frame_s"] is not None and r["first_frame_s"] <= 2.0, r
    assert all(t is not None and t <= 2.0 for t in r["first_frame_s_warm"]), r["first_frame_s_warm"]

    # Decoded frames keep increasing, the video element's clock advances, and it is the camera's H.264.
    frames = r["frames_decoded_series"]
    assert all(b > a for a, b in zip(frames, frames[1:])), frames
    assert r["current_time_series"][-1] > r["current_time_series"][0] + 1.0
    assert r["mode"] == "passthrough"
    assert r["codec"] == "video/H264"
    assert r["frame_size"] == [640, 360]  # the main stream

    # Three viewers: all playing H.264, and exactly one TCP connection from the gateway to the RTSP server.
    assert r["upstream_before"] == 0
    assert all(after > before for before, after in r["three_viewers_frames"]), r["three_viewers_frames"]
    assert r["three_viewers_codecs"] == ["video/H264"] * 3
    assert r["server_viewers_with_3"] == 3
    assert r["upstream_with_3_viewers"] == 1

    # A browser offering no H.264 automatically gets the transcoding fallback: VP8, decoded from the
    # camera's sub-stream (cheaper) — one more upstream connection.
    assert r["transcode_mode"] == "transcode"
    assert r["transcode_codec"] == "video/VP8"
    assert r["transcode_frames"][1] > r["transcode_frames"][0]
    assert r["upstream_with_4_viewers"] == 2

    # A sub-stream tile (9/16-tile layouts): the camera's smaller stream, on the sub upstream already open.
    assert r["sub_stream"] == "sub" and r["sub_mode"] == "passthrough"
    assert r["sub_frame_size"] == [480, 360] and r["sub_frames"] > 0
    assert r["upstream_with_sub"] == 2

    # RTSP server killed and restarted: the tile plays again without the user doing anything.
    assert r["recovered_after_restart_s"] is not None and r["recovered_after_restart_s"] < 15, r
    # ... and the page was told: playing → stalled (show "signal lost") → playing.
    states = r["tile_states"]
    assert "stalled" in states and states[-1] == "playing" and states.index("playing") < states.index("stalled"), states

    # Closing the tiles ends the sessions; the upstream closes after the grace period.
    assert r["sessions_after_close"] == 0
    assert r["upstream_after_grace"] == 0
