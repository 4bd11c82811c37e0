"""The analytics benchmark: its parts on a tiny plan, and `xueliang bench analytics --json --quick` end to end."""

from __future__ import annotations

import numpy as np

from analytics.bench import QUICK, Plan, alert_recall, build_mix, measure_raw_and_pipeline, run_mix

TINY = Plan(pipeline_channels=2, pipeline_frames=1, mix_busy=1, mix_quiet=1, mix_seconds=6.0, burst_period_s=6.0,
            burst_s=1.0, raw_reps=1, rounds=1, baseline_seconds=1.0, baseline_max_procs=1, rss_channels=2, rss_seconds=1.0)


def test_raw_and_pipeline_measure_the_same_work(detector, sample_frames_5fps):
    out = measure_raw_and_pipeline(detector, sample_frames_5fps, TINY, batch=2)
    assert out["raw_per_cpu_s"] > 0 and out["pipeline_per_cpu_s"] > 0 and out["raw_fps_wall"] > 0
    assert 0 < out["pipeline_vs_raw"] < 1.5
    assert 0 < out["decode_s"] < 1.0


def test_quick_mix_is_mostly_quiet_with_people_arriving(sample_frames_5fps):
    """The --quick mix whose floors the CLI test below holds: 1 busy + 3 quiet channels, 16 s at 5 fps."""
    mix = build_mix(sample_frames_5fps, QUICK)
    assert len(mix) == 4 and all(len(ch) == 80 for ch in mix)
    assert all(burst for _, burst in mix[0]), "the busy channel is the footage itself"
    assert [sum(burst for _, burst in ch) for ch in mix[1:]] == [10, 10, 10], "2 s of people in each quiet channel's 16 s"


def test_reference_run_reusing_detections_equals_a_fresh_one(native_detector, sample_frames_5fps):
    """The ungated reference run reuses the gated run's detections (frames the gate passed) and infers
    only the rest: its alerts must be exactly those of an ungated run that infers everything itself."""
    mix = build_mix(sample_frames_5fps, TINY)
    memo: dict = {}
    _, gated, frames, skipped = run_mix(native_detector, mix, batch=8, gate=True, memo=memo)
    assert len(memo) == frames - skipped > 0, "the gated run infers (and records) exactly the frames it passed"
    _, reused, _, _ = run_mix(native_detector, mix, batch=8, gate=False, memo=memo, reuse=True)
    assert len(memo) > frames - skipped, "the skipped frames were inferred for the reference"
    _, fresh, _, _ = run_mix(native_detector, mix, batch=8, gate=False)
    assert fresh and reused == fresh


def test_alert_recall_matching():
    ref = [(0, 10.0, [0, 0, 10, 10]), (1, 5.0, [50, 50, 60, 80])]
    assert alert_recall(ref, [(0, 10.4, [1, 1, 11, 11]), (1, 5.0, [50, 50, 60, 80])]) == 1.0
    assert alert_recall(ref, [(0, 12.0, [0, 0, 10, 10])]) == 0.0, "too late"
    assert alert_recall(ref, [(1, 10.0, [0, 0, 10, 10])]) == 0.0, "other channel"
    assert alert_recall([], []) == 1.0
    assert np.isclose(alert_recall(ref, [(0, 10.0, [0, 0, 10, 10])]), 0.5)


def test_cli_quick_bench_prints_every_figure_and_holds_the_floors():
    """`xueliang bench analytics --json --quick` end to end (≈ 30 s on the shared box, under a minute
    at load 8): every figure of the full run is printed and measured; the two that do not depend on
    the box's load are held to the issue's floors (skip ≥ 60 %, person-alert recall ≥ 98 %)."""
    import json
    import subprocess
    import sys

    from xueliang.settings import REPO_ROOT

    done = subprocess.run([sys.executable, "-m", "xueliang.cli", "--log-level", "WARNING", "bench", "analytics", "--json", "--quick"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("raw_fps", "pipeline_fps", "pipeline_vs_raw", "raw_fps_wall", "pipeline_fps_wall", "pipeline_vs_raw_wall",
                "gating_skip_ratio", "gated_recall", "channels", "mix_fps", "baseline_channels", "baseline_live_channels",
                "baseline_fps_by_procs", "ratio_vs_naive", "rss_mb_per_channel", "worker_rss_mb",
                "worker_live_fps_per_channel", "decode_ms_per_frame"):
        assert result[key] is not None, key
    assert result["quick"] is True and result["mix"] == {"busy_channels": 1, "quiet_channels": 3, "seconds": 16.0,
                                                         "burst_s": 2.0, "burst_period_s": 16.0}
    assert result["gating_skip_ratio"] >= 0.6 and result["gated_recall"] >= 0.98
    assert result["person_alerts_ungated"] >= 20, "the mix must give the recall something to recall"
    assert result["raw_fps"] > 0 and result["pipeline_fps"] > 0 and result["channels"] >= 1
    assert result["baseline_channels"] > 0 and result["baseline_fps_by_procs"]["1"][0] > 0
    # Measured side by side in the same run (4.1–5.6× on a quiet box): well above the naive loop even when loaded.
    assert result["ratio_vs_naive"] >= 2.0, result
    assert set(result["worker_rss_mb"]) == {"1", "3"} and min(result["worker_rss_mb"].values()) > 100
    assert result["worker_live_fps_per_channel"] > 0, "the live worker analysed frames of its 3 cameras"
