"""Quiet scenes made from the sample footage, for the gating benchmark and tests.

Real deployments are mostly quiet: a village road at night, a school gate during
lessons. The PETS sample always has people in it, so quiet footage is synthesised
from it: the per-pixel median over the clip removes the walkers and leaves the empty
scene; each frame then gets fresh sensor noise and a slow brightness drift (clouds,
auto-exposure). "Bursts" splice real footage back in, so a quiet channel still has
people arriving now and then — which the gate must not miss.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def empty_background(frames: Sequence[np.ndarray], samples: int = 60) -> np.ndarray:
    """The scene without its moving people: per-pixel median of ``samples`` frames spread over the clip."""
    idx = np.linspace(0, len(frames) - 1, min(samples, len(frames))).astype(int)
    return np.median(np.stack([frames[i] for i in idx]), axis=0).astype(np.uint8)


def quiet_frame(background: np.ndarray, index: int, fps: float, rng: np.random.Generator,
                noise_sigma: float = 2.5, drift: float = 0.06, drift_period_s: float = 120.0) -> np.ndarray:
    """Frame ``index`` of a quiet scene: background × slow gain drift + Gaussian sensor noise."""
    gain = 1.0 + drift * np.sin(2 * np.pi * index / (fps * drift_period_s))
    noise = rng.normal(0.0, noise_sigma, background.shape).astype(np.float32)
    return np.clip(background.astype(np.float32) * gain + noise, 0, 255).astype(np.uint8)


def quiet_with_bursts(background: np.ndarray, footage: Sequence[np.ndarray], n_frames: int, fps: float,
                      period_s: float, burst_s: float, offset_s: float = 0.0, seed: int = 0
                      ) -> Iterator[tuple[np.ndarray, bool]]:
    """``(frame, is_burst)``: a quiet scene where every ``period_s`` seconds ``burst_s`` seconds of
    real footage (people walking) play, starting at ``offset_s``."""
    rng = np.random.default_rng(seed)
    period, burst, offset = int(period_s * fps), int(burst_s * fps), int(offset_s * fps)
    cursor = (seed * 97) % len(footage)
    for i in range(n_frames):
        phase = (i - offset) % period
        if phase < burst:
            cursor = (cursor + 1) % len(footage)
            yield footage[cursor], True
        else:
            yield quiet_frame(background, i, fps, rng), False
