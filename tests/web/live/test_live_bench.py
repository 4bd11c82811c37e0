"""``xueliang bench webrtc --quick --json`` end to end (slow: ~1 min, runs in its own network namespace)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from web.live.netns import netns_unavailable_reason
from xueliang.settings import REPO_ROOT


@pytest.mark.slow
@pytest.mark.netns
def test_bench_webrtc_quick_reports_shared_transcode_cost() -> None:
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run([sys.executable, "-m", "xueliang.cli", "bench", "webrtc", "--quick", "--json"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("first_frame_s", "cpu_per_viewer_passthrough", "cpu_per_viewer_transcode", "viewers"):
        assert key in result
    assert result["viewers"] == 4
    assert 0 < result["first_frame_s"] <= 2.0
    assert result["modes_negotiated"] == {"passthrough": ["passthrough"], "transcode": ["transcode"]}
    assert result["upstream_connections"] == 1
    # A transcoded camera is decoded and encoded once: its 2nd..8th viewer costs packetisation only.
    assert result["bframe_camera_modes"] == ["transcode"]
    assert result["cpu_per_viewer_transcode_shared"] <= 2.0, result["cpu_bframe_camera_by_viewers"]
    assert result["bframe_camera_client_fps"] >= 0.9 * result["bframe_camera_source_fps"]
