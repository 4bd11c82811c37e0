"""``xueliang ingest probe|clip`` against the real RTSP server."""

from __future__ import annotations

import json

import av
import pytest

from xueliang.cli import main
from xueliang.runtime import free_port


def test_probe_reports_stream_facts(rtsp_server, capsys):
    assert main(["ingest", "probe", rtsp_server.url("cam01"), "--seconds", "2.5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["codec"] == "h264" and report["size"] == "480x360"
    assert report["keyframe_interval_s"] == 1.0
    assert report["first_frame_s"] < 2.0, "low probesize: first frame fast"
    assert 10 <= report["frames_delivered"] <= 14


def test_probe_unreachable_exits_nonzero_with_reason(capsys):
    assert main(["ingest", "probe", f"rtsp://u:secret@127.0.0.1:{free_port()}/x", "--seconds", "1.5"]) == 1
    out = capsys.readouterr()
    assert "refused" in out.err.lower()
    assert "secret" not in out.out + out.err


def test_clip_writes_playable_mp4(rtsp_server, tmp_path, capsys):
    out = tmp_path / "c.mp4"
    assert main(["ingest", "clip", rtsp_server.url("cam02"), str(out), "--seconds", "2.5"]) == 0
    with av.open(str(out)) as c:
        assert len(list(c.decode(video=0))) >= 20


@pytest.mark.slow
def test_bench_ingest_quick_prints_the_issue_keys(capsys):
    """`xueliang bench ingest --json --quick` (≈1 min): the JSON object the issue asks for."""
    assert main(["bench", "ingest", "--json", "--quick"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("continuous_channels", "baseline_channels", "ratio_vs_baseline", "patrol_channels",
                "patrol_revisit_s", "rss_mb_per_channel", "decode_limit_cpu_pct_per_channel", "ingest_vs_decode_limit",
                "ingest_vs_decode_limit_5_of_25fps_bframes", "keyframe_only_vs_decode_limit",
                "sampling_max_step_error_frames"):
        assert key in result and result[key] is not None, key
    assert result["sampling_max_step_error_frames"] <= 1.0  # 5 of 25 fps with 3 B-frames, by the frames' own pts
    assert result["ingest_vs_decode_limit"] >= 1.0  # nothing decodes for less than decoding
    assert result["continuous_channels"] >= 6 and result["patrol_channels"] == 40
    assert result["patrol_failures"] == 0
