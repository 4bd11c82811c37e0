"""Live view of camera-like streams in real headless Chromium (see camera_scenario.py).

What plays where: H.264 without reordering goes through untouched; B-frames, decode-order
stamps and H.265 get one shared transcode per camera (sub-stream first, at most 640 px);
Chromium must decode each at the source rate (25 fps) for 10 s. A passthrough forced
onto a B-frame camera is switched to transcode by the server within 5 s; a transcode past
the limit is refused in zh-CN. About 70 s: behind ``-m slow``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.web.live.test_live_browser import netns_ok  # noqa: F401 (fixture)
from web.live.netns import netns_argv
from xueliang.settings import REPO_ROOT

pytestmark = [pytest.mark.netns, pytest.mark.slow]
SOURCE_FPS = 25


@pytest.fixture(scope="module")
def result(netns_ok, tmp_path_factory) -> dict:  # noqa: F811
    out = tmp_path_factory.mktemp("live-cams") / "result.json"
    argv = netns_argv([sys.executable, "-m", "tests.web.live.camera_scenario", str(out)])
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
    assert out.exists(), f"scenario wrote no result (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    data = json.loads(out.read_text())
    assert data["ok"], data.get("error")
    return data


@pytest.mark.parametrize("camera", ["main_d1_aac", "garbage_sprop_d1"])
def test_h264_without_reordering_plays_untouched_at_the_source_rate(result, camera: str) -> None:
    tile = result["tiles"][camera]
    assert tile["mode"] == "passthrough" and tile["codec"] == "video/H264"
    assert tile["server_mode"] == "passthrough", tile  # the RTCP watchdog left a decoding viewer alone
    assert tile["size"] == [704, 576]
    assert tile["fps"] >= 0.9 * SOURCE_FPS, tile


@pytest.mark.parametrize("camera", ["bf3_d1", "live555_bf3_d1", "h265_1080p", "bf3_1080p", "bf3_d1_second"])
def test_bframe_and_h265_cameras_play_transcoded_at_the_source_rate(result, camera: str) -> None:
    tile = result["tiles"][camera]
    assert tile["mode"] == "transcode"
    assert tile["size"][0] <= 640, tile
    assert tile["fps"] >= 0.9 * SOURCE_FPS, tile
    if camera == "bf3_1080p":
        assert tile["size"] == [640, 522], "transcoded from the D1 sub-stream (704x576 scaled), not the 1080p main"


def test_stalled_passthrough_switches_to_transcode_within_5_s(result) -> None:
    assert result["switch_after_s"] is not None and result["switch_after_s"] <= 5.0, result["switch_after_s"]
    tile = result["tiles"]["forced"]
    assert tile["mode_now"] == "transcode" and tile["fps"] >= 0.9 * SOURCE_FPS, tile
    states = result["forced_states"]
    assert "switching" in states and states[-1] == "playing"
    assert "playing" not in states[: states.index("switching")], "claimed playing while only keyframes decoded"


def test_the_server_switches_a_stalled_passthrough_from_rtcp_feedback_alone_within_5_s(result) -> None:
    """The page sends no reports: keyframe requests (PLI) with the packets arriving are enough."""
    assert result["rtcp_switch_after_s"] is not None and result["rtcp_switch_after_s"] <= 5.0, result["rtcp_switch_session"]
    session = result["rtcp_switch_session"]
    assert session["keyframe_requests"] >= 4 and "服务器已切换为转码" in session["reason"], session
    tile = result["tiles"]["forced_rtcp"]
    assert tile["codec"] == "video/H264" and tile["fps"] >= 0.9 * SOURCE_FPS, tile  # same connection, now decoding
    assert tile["size"][0] <= 640, tile


def test_transcodes_past_the_limit_are_refused_in_zh_cn(result) -> None:
    assert result["over_limit_status"] == 503
    assert "转码路数已达上限" in result["over_limit_detail"]


def test_closing_transcoded_viewers_leaves_no_pending_task(result) -> None:
    assert result["task_destroyed_in_log"] is False
