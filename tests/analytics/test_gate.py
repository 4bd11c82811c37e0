"""Motion gate on real footage and on quiet scenes made from it."""

from __future__ import annotations

import numpy as np

from analytics import GateConfig, MotionGate
from analytics.scenes import empty_background, quiet_frame, quiet_with_bursts


def test_quiet_scene_with_noise_and_lighting_drift_is_skipped(sample_frames_5fps):
    bg = empty_background(sample_frames_5fps)
    gate = MotionGate(GateConfig(refresh_s=10.0))
    rng = np.random.default_rng(1)
    # Fast drift (8 % over 20 s) to stress the adaptive background.
    results = [gate.check(quiet_frame(bg, i, 5, rng, drift=0.08, drift_period_s=20), i / 5) for i in range(300)]
    steady = results[GateConfig().warmup_frames :]
    moving = [r for r in steady if r.motion and not r.forced]
    forced = [r for r in steady if r.forced]
    assert len(moving) <= 0.02 * len(steady), f"{len(moving)} false motions on a static noisy scene"
    assert 5 <= len(forced) <= 7, "one forced detector pass every refresh_s (10 s over 60 s)"


def test_people_walking_are_motion_and_regions_cover_them(sample_frames_5fps, detector):
    gate = MotionGate()
    frames = sample_frames_5fps[:60]
    results = [gate.check(f, i / 5) for i, f in enumerate(frames)]
    assert all(r.motion for r in results)
    # Regions of the last frame overlap most detected (moving) people.
    dets = detector.detect([frames[-1]])[0]
    people = dets.xyxy[dets.cls == 0]
    regions = np.array(results[-1].regions, np.float32)
    assert len(regions) >= 1

    def overlaps(b):
        return bool(((regions[:, 0] < b[2]) & (regions[:, 2] > b[0]) & (regions[:, 1] < b[3]) & (regions[:, 3] > b[1])).any())

    assert np.mean([overlaps(b) for b in people]) >= 0.6


def test_gate_wakes_on_the_first_frames_of_a_burst(sample_frames_5fps):
    bg = empty_background(sample_frames_5fps)
    gate = MotionGate()
    first_burst_motion = []
    prev_burst = False
    for i, (frame, burst) in enumerate(quiet_with_bursts(bg, sample_frames_5fps, 600, 5, period_s=40, burst_s=5, offset_s=20)):
        r = gate.check(frame, i / 5)
        if burst and not prev_burst:
            first_burst_motion.append(r.motion)
        prev_burst = burst
    assert first_burst_motion and all(first_burst_motion), "a person appearing must be seen at once"


def test_mask_hides_motion_in_masked_area(sample_frames_5fps):
    bg = empty_background(sample_frames_5fps)
    masked = MotionGate(masks=[[[0, 0], [1, 0], [1, 0.5], [0, 0.5]]])
    plain = MotionGate()
    rng = np.random.default_rng(2)
    hits_masked = hits_plain = 0
    for i in range(280):  # the first 200 frames let the background model settle
        frame = quiet_frame(bg, i, 5, rng)
        if i >= 200:  # a flickering timestamp overlay in the top band
            frame[10:30, 20:200] = 255 if i % 2 else 0
        hits_masked += masked.check(frame, i / 5).motion and i >= 200
        hits_plain += plain.check(frame, i / 5).motion and i >= 200
    assert hits_plain >= 30, "without the mask the swaying branches are motion"
    assert hits_masked <= 8, "masked overlay still triggers the gate (only forced refreshes allowed)"
