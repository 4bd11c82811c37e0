"""The analytics benchmark's parts on a tiny plan (the full run is `xueliang bench analytics`)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.bench import QUICK, Plan, alert_recall, build_mix, measure_raw_and_pipeline, run_mix

TINY = Plan(pipeline_channels=2, pipeline_frames=1, mix_busy=1, mix_quiet=1, mix_seconds=6.0, burst_period_s=6.0,
            burst_s=1.0, raw_reps=1, rounds=1, baseline_seconds=1.0, baseline_max_procs=1, rss_channels=2, rss_seconds=1.0)


def test_raw_and_pipeline_measure_the_same_work(detector, sample_frames_5fps):
    out = measure_raw_and_pipeline(detector, sample_frames_5fps, TINY, batch=2)
    assert out["raw_per_cpu_s"] > 0 and out["pipeline_per_cpu_s"] > 0 and out["raw_fps_wall"] > 0
    assert 0 < out["pipeline_vs_raw"] < 1.5
    assert 0 < out["decode_s"] < 1.0


def test_quick_mix_meets_the_gating_floors(native_detector, sample_frames_5fps):
    """The --quick benchmark's mix, gated vs ungated: skip ≥ 60 %, person-alert recall ≥ 98 % (issue 6).
    These two figures do not depend on the box's load, so CI can hold them to the floors."""
    mix = build_mix(sample_frames_5fps, QUICK)
    assert len(mix) == 4 and all(len(ch) == 80 for ch in mix)
    assert sum(burst for _, burst in mix[1]) == 10, "2 s of people in each quiet channel's 16 s"
    _, gated, frames, skipped = run_mix(native_detector, mix, batch=8, gate=True)
    _, ungated, _, _ = run_mix(native_detector, mix, batch=8, gate=False)
    assert frames == 320
    assert skipped / frames >= 0.60
    assert len(ungated) >= 20 and alert_recall(ungated, gated) >= 0.98


def test_alert_recall_matching():
    ref = [(0, 10.0, [0, 0, 10, 10]), (1, 5.0, [50, 50, 60, 80])]
    assert alert_recall(ref, [(0, 10.4, [1, 1, 11, 11]), (1, 5.0, [50, 50, 60, 80])]) == 1.0
    assert alert_recall(ref, [(0, 12.0, [0, 0, 10, 10])]) == 0.0, "too late"
    assert alert_recall(ref, [(1, 10.0, [0, 0, 10, 10])]) == 0.0, "other channel"
    assert alert_recall([], []) == 1.0
    assert np.isclose(alert_recall(ref, [(0, 10.0, [0, 0, 10, 10])]), 0.5)


@pytest.mark.slow
def test_cli_quick_bench_prints_every_figure():
    """`xueliang bench analytics --json --quick` end to end (≈ 2 min on the shared box: behind -m slow)."""
    import json
    import subprocess
    import sys

    from xueliang.settings import REPO_ROOT

    done = subprocess.run([sys.executable, "-m", "xueliang.cli", "--log-level", "WARNING", "bench", "analytics", "--json", "--quick"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("raw_fps", "pipeline_fps", "pipeline_vs_raw", "gating_skip_ratio", "gated_recall", "channels",
                "baseline_channels", "ratio_vs_naive", "rss_mb_per_channel"):
        assert result[key] is not None, key
    assert result["gating_skip_ratio"] >= 0.6 and result["gated_recall"] >= 0.98
    assert result["raw_fps"] > 0 and result["pipeline_fps"] > 0 and result["channels"] >= 1
