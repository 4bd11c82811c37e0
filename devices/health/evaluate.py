"""Precision/recall of the video-quality diagnosis on degraded real footage.

Protocol (one *clip* = one patrol round on one camera): a few clean samples of the
sample video teach the analyzer the scene, then ``degraded`` samples with one
fault applied (or none, for clean clips); the faults reported after the last
sample are the prediction. Samples are 0.5 s apart in the 10 fps footage, and
every sample is JPEG-compressed like a real stream. Clean clips get the nuisances a
healthy camera shows (auto-exposure drift of ±25 %, sensor noise), so the false-alarm
side is tested too. Severities and positions are
drawn from a seeded RNG, so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from devices.health import degrade
from devices.health.vqd import Fault, VideoQualityAnalyzer

CLEAN = "clean"
WARMUP = 6
DEGRADED = 6
STEP = 5  # frames between samples


def read_frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open sample video {path}")
    frames: list[np.ndarray] = []
    try:
        while limit is None or len(frames) < limit:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"no frames decoded from {path}")
    return frames


@dataclass
class ClipResult:
    label: str
    start: int
    predicted: set[str]


def run_clip(frames: list[np.ndarray], label: str, start: int, rng: np.random.Generator) -> ClipResult:
    analyzer = VideoQualityAnalyzer()
    idx = [(start + k * STEP) % len(frames) for k in range(WARMUP + DEGRADED)]
    for i in idx[:WARMUP]:
        analyzer.analyze(degrade.jpeg(degrade.view(frames[i])))
    moved = (int(rng.choice([0, 80])), int(rng.choice([0, 40])))
    if moved == degrade.HOME:
        moved = (0, 0)
    clip_rng = np.random.default_rng(rng.integers(1 << 32))
    frozen: list[np.ndarray] | None = None
    result = None
    for i in idx[WARMUP:]:
        img = degrade.view(frames[i], moved if label == Fault.scene_changed else degrade.HOME)
        if label == CLEAN:
            img = degrade.nuisance(img, clip_rng)  # auto-exposure drift and sensor noise are not faults
        elif label in degrade.PER_FRAME:
            # Same severity for the whole clip: a fault is a state, not per-frame noise.
            img = degrade.PER_FRAME[Fault(label)](img, _fixed(clip_rng))
        if label == Fault.frozen:
            # The camera keeps encoding a stuck picture: real H.264 (I-frames re-quantise it).
            if frozen is None:
                frozen = degrade.h264_still(img, DEGRADED * STEP)
            img = frozen[idx[WARMUP:].index(i) * STEP]
        else:
            img = degrade.jpeg(img)
        result = analyzer.analyze(img)
    assert result is not None
    return ClipResult(label, start, {str(f) for f in result.faults})


def _fixed(rng: np.random.Generator) -> np.random.Generator:
    # A generator re-seeded identically for every frame of the clip (constant severity and position).
    state = rng.bit_generator.state
    out = np.random.default_rng()
    out.bit_generator.state = state
    return out


def run_clips(frames: list[np.ndarray], clips_per_label: int = 20, seed: int = 2026) -> list[ClipResult]:
    """Clean clips and clips of every fault, spread over the footage."""
    rng = np.random.default_rng(seed)
    span = (WARMUP + DEGRADED) * STEP
    out: list[ClipResult] = []
    for label in [CLEAN, *[str(f) for f in Fault]]:
        for k in range(clips_per_label):
            start = int(k * (len(frames) - span) / clips_per_label) + int(rng.integers(0, 10))
            out.append(run_clip(frames, label, start % len(frames), rng))
    return out


def score(results: list[ClipResult]) -> dict[str, dict[str, float]]:
    """Per fault: precision, recall and the counts behind them."""
    report: dict[str, dict[str, float]] = {}
    for fault in (str(f) for f in Fault):
        tp = sum(1 for r in results if r.label == fault and fault in r.predicted)
        fp = sum(1 for r in results if r.label != fault and fault in r.predicted)
        fn = sum(1 for r in results if r.label == fault and fault not in r.predicted)
        report[fault] = {
            "precision": round(tp / (tp + fp), 3) if tp + fp else 0.0,
            "recall": round(tp / (tp + fn), 3) if tp + fn else 0.0,
            "tp": tp, "fp": fp, "fn": fn,
        }
    return report


def evaluate(frames: list[np.ndarray], clips_per_label: int = 20, seed: int = 2026) -> dict[str, dict[str, float]]:
    return score(run_clips(frames, clips_per_label, seed))


def _sweep_clip(frames: list[np.ndarray], start: int, apply: Callable[[np.ndarray], np.ndarray]) -> set[str]:
    analyzer = VideoQualityAnalyzer()
    idx = [(start + k * STEP) % len(frames) for k in range(WARMUP + DEGRADED)]
    for i in idx[:WARMUP]:
        analyzer.analyze(degrade.jpeg(degrade.view(frames[i])))
    result = None
    for i in idx[WARMUP:]:
        result = analyzer.analyze(degrade.jpeg(apply(degrade.view(frames[i]))))
    assert result is not None
    return {str(f) for f in result.faults}


def sweep(frames: list[np.ndarray], clips: int = 4) -> dict[str, dict[str, float | str]]:
    """Detection rate of a fault as its severity grows: where the diagnosis starts to see it."""
    import cv2

    def occlude_share(share: float) -> Callable[[np.ndarray], np.ndarray]:
        def apply(img: np.ndarray) -> np.ndarray:
            out = img.copy()
            out[:, : int(img.shape[1] * share)] = 40
            return out
        return apply

    levels = {
        "blur": ("gaussian sigma (px of 400)", [0.3, 0.5, 0.7, 1.0, 2.0],
                 lambda v: (lambda img: cv2.GaussianBlur(img, (0, 0), v))),
        "too_dark": ("brightness gain", [0.5, 0.4, 0.3, 0.25, 0.2],
                     lambda v: (lambda img: (img.astype(np.float32) * v).astype(np.uint8))),
        "occlusion": ("covered share of width", [0.15, 0.25, 0.35, 0.45],
                      occlude_share),
        "colour_cast": ("red gain (blue 1/gain)", [1.05, 1.1, 1.15, 1.2, 1.3],
                        lambda v: (lambda img: np.clip(img.astype(np.float32) * np.array([1 / v, 1.0, v], np.float32), 0, 255).astype(np.uint8))),
    }
    span = (WARMUP + DEGRADED) * STEP
    out: dict[str, dict[str, float | str]] = {}  # per fault: the parameter's name, then rate per value
    for fault, (unit, values, make) in levels.items():
        rates: dict[str, float | str] = {}
        for v in values:
            hits = sum(fault in _sweep_clip(frames, int(k * (len(frames) - span) / clips), make(v)) for k in range(clips))
            rates[str(v)] = round(hits / clips, 2)
        out[fault] = {"parameter": unit, **rates}
    return out
