"""Video-quality diagnosis (视频质量诊断) on sampled frames.

Each channel gets a :class:`VideoQualityAnalyzer` fed with the frames ingest
samples anyway (BGR ``numpy`` arrays, any size). It learns a *reference* from the
first healthy frames (the scene's own sharpness, colour, texture and structure),
then judges each new frame against fixed limits and against that reference:

======================  ==========================================================
fault                   signal
======================  ==========================================================
``signal_loss``         uniform screen (black/blue/grey, std < 3) or colour bars
``frozen``              hardly a pixel changes over consecutive samples (picture stuck)
``occlusion``           a large share of once-textured blocks went flat
``too_dark``            mean luma < 45 with most of the frame near black
``overexposed``         mean luma > 215 or > 40 % of pixels clipped
``blur``                contrast-normalised Laplacian energy < 35 % of reference
``colour_cast``         Lab chroma shift far from the reference / neutral (equivalent circle)
``scene_changed``       structure (gradient map) no longer correlates with reference
======================  ==========================================================

Comparing with the scene's own reference is what makes a forest-fire camera's
green or a tunnel's darkness normal; only changes are faults. Faults are reported
once they persist over ``persist`` consecutive samples, so one passing bus or a
flash does not open a work order.
"""

from __future__ import annotations

from collections import deque
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

WORK_WIDTH = 320  # analysis resolution: enough for every metric, ~1 ms per frame
GRID = 8          # occlusion blocks: GRID x GRID


class Fault(StrEnum):
    signal_loss = "signal_loss"
    frozen = "frozen"
    occlusion = "occlusion"
    too_dark = "too_dark"
    overexposed = "overexposed"
    blur = "blur"
    colour_cast = "colour_cast"
    scene_changed = "scene_changed"


FAULT_LABELS_ZH = {
    Fault.signal_loss: "信号丢失", Fault.frozen: "画面冻结", Fault.occlusion: "遮挡", Fault.too_dark: "画面过暗",
    Fault.overexposed: "画面过亮", Fault.blur: "图像模糊", Fault.colour_cast: "偏色", Fault.scene_changed: "场景变更",
}


@dataclass(frozen=True)
class VqdThresholds:
    uniform_std: float = 3.0
    dominant_share: float = 0.9       # share of pixels within ±2 levels of the median: a 'no video' screen with text
    bars_vertical_std: float = 4.0
    bars_horizontal_std: float = 30.0
    frozen_mad: float = 1.5           # mean |Δ| of a "still" pair, 0..255 (an I-frame re-quantising a stuck picture: ~0.5-1.1)
    frozen_moving: float = 0.005      # ...and share of its pixels changing by >= 6 levels
    frozen_identical_mad: float = 0.1 # a pair this close is a repeated picture (never a live sensor: its noise is higher)
    frozen_pairs: int = 3             # consecutive still pairs, at least one identical, make a frozen sample
    dark_mean: float = 45.0
    dark_fraction: float = 0.6        # share of pixels below 40
    bright_mean: float = 215.0
    clipped_fraction: float = 0.4     # share of pixels above 250
    blur_ratio: float = 0.35          # sharpness / reference sharpness
    cast_shift: float = 12.0          # Lab (a, b) distance from the reference mean
    cast_k: float = 0.6               # shift / chroma spread (equivalent circle, relative to the reference)
    cast_absolute_k: float = 2.5      # without a reference: strong cast from neutral
    occluded_blocks: float = 0.3      # share of blocks that lost their texture
    flat_block_ratio: float = 0.25    # block std / reference std, brightness-normalised
    scene_ncc: float = 0.45           # gradient-map correlation with the reference
    reference_frames: int = 5
    persist: int = 2                  # consecutive samples before a fault is reported


@dataclass
class FrameMetrics:
    mean: float
    std: float
    dark_fraction: float
    clipped_fraction: float
    sharpness: float
    lab_a: float
    lab_b: float
    chroma_spread: float
    bars: bool
    dominant_share: float
    block_std: np.ndarray = field(repr=False)
    gradient: np.ndarray = field(repr=False)
    gray: np.ndarray = field(repr=False)


def _work_image(frame: np.ndarray) -> np.ndarray:
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected a BGR frame (H, W, 3), got shape {frame.shape}")
    h, w = frame.shape[:2]
    if w != WORK_WIDTH:
        frame = cv2.resize(frame, (WORK_WIDTH, max(GRID, round(h * WORK_WIDTH / w))), interpolation=cv2.INTER_AREA)
    return frame


def frame_metrics(frame: np.ndarray) -> FrameMetrics:
    """Scene-independent measurements of one BGR frame."""
    img = _work_image(frame)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    g = gray.astype(np.float32)
    mean, std = float(g.mean()), float(g.std())
    lap = cv2.Laplacian(g, cv2.CV_32F, ksize=3)
    # Contrast-normalised: darkening or a flat-lit scene does not read as blur.
    sharpness = float(lap.var() / (std * std + 1.0))
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB).astype(np.float32)
    a, b = lab[:, :, 1] - 128.0, lab[:, :, 2] - 128.0
    col_std = g.std(axis=0)  # per column, down the rows
    bars = bool(col_std.mean() < VqdThresholds.bars_vertical_std and g.mean(axis=0).std() > VqdThresholds.bars_horizontal_std)
    h, w = gray.shape
    bh, bw = h // GRID, w // GRID
    blocks = g[: bh * GRID, : bw * GRID].reshape(GRID, bh, GRID, bw).transpose(0, 2, 1, 3).reshape(GRID * GRID, -1)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    grad = cv2.GaussianBlur(cv2.magnitude(gx, gy), (0, 0), 3)
    return FrameMetrics(
        mean=mean, std=std,
        dark_fraction=float((gray < 40).mean()), clipped_fraction=float((gray > 250).mean()),
        sharpness=sharpness, lab_a=float(a.mean()), lab_b=float(b.mean()),
        chroma_spread=float(np.sqrt(a.var() + b.var())), bars=bars,
        dominant_share=float((np.abs(g - float(np.median(g))) <= 2.0).mean()),
        block_std=blocks.std(axis=1), gradient=grad, gray=gray,
    )


@dataclass(frozen=True)
class Reference:
    sharpness: float
    lab_a: float
    lab_b: float
    mean: float
    block_std: np.ndarray
    gradient: np.ndarray

    def save(self, path: Path) -> None:
        """Persist (``.npz``) so a restart compares with the healthy scene, not with whatever it sees first."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, scalars=np.array([self.sharpness, self.lab_a, self.lab_b, self.mean]),
                            block_std=self.block_std, gradient=self.gradient)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Reference | None:
        """The saved reference, or None if absent or unreadable (it is then re-learnt)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                sharpness, lab_a, lab_b, mean = (float(v) for v in data["scalars"])
                return cls(sharpness, lab_a, lab_b, mean, data["block_std"].copy(), data["gradient"].copy())
        except (OSError, KeyError, ValueError):
            return None


@dataclass
class QualityResult:
    """Faults seen in one sample (``raw``) and those that persisted (``faults``), with the numbers behind them."""

    faults: dict[Fault, str]
    raw: dict[Fault, str]
    metrics: dict[str, float]
    reference_ready: bool


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-6 else 0.0


class VideoQualityAnalyzer:
    """Stateful per-channel diagnosis: feed sampled frames in order with :meth:`analyze`."""

    def __init__(self, thresholds: VqdThresholds | None = None, *, reference_path: Path | None = None) -> None:
        self.t = thresholds or VqdThresholds()
        self.reference_path = reference_path
        self.reference: Reference | None = Reference.load(reference_path) if reference_path else None
        self._candidates: list[FrameMetrics] = []
        self._previous: np.ndarray | None = None
        self._streak: dict[Fault, int] = {}
        self._still: deque[tuple[bool, bool]] = deque(maxlen=self.t.frozen_pairs)  # (still, identical)

    def set_reference(self, frames: list[np.ndarray]) -> None:
        """Use these known-good frames as the scene reference (e.g. after maintenance)."""
        self._build_reference([frame_metrics(f) for f in frames])

    def reset_reference(self) -> None:
        """Forget the reference (after a deliberate camera move); it is re-learnt from the next healthy frames."""
        self.reference = None
        self._candidates.clear()
        if self.reference_path is not None:
            self.reference_path.unlink(missing_ok=True)

    def _build_reference(self, ms: list[FrameMetrics]) -> None:
        self.reference = Reference(
            sharpness=float(np.median([m.sharpness for m in ms])),
            lab_a=float(np.median([m.lab_a for m in ms])), lab_b=float(np.median([m.lab_b for m in ms])),
            mean=float(np.median([m.mean for m in ms])),
            block_std=np.median(np.stack([m.block_std for m in ms]), axis=0),
            gradient=np.median(np.stack([m.gradient for m in ms]), axis=0),
        )
        if self.reference_path is not None:
            self.reference.save(self.reference_path)

    def analyze(self, frame: np.ndarray) -> QualityResult:
        m = frame_metrics(frame)
        t = self.t
        raw: dict[Fault, str] = {}
        metrics: dict[str, float] = {"mean": m.mean, "std": m.std, "sharpness": m.sharpness,
                                     "lab_a": m.lab_a, "lab_b": m.lab_b, "dark_fraction": m.dark_fraction,
                                     "clipped_fraction": m.clipped_fraction}

        # A stuck picture re-encoded by the camera is not bit-identical: I-frames re-quantise it
        # (mean |Δ| ~0.5-1). So: several consecutive "still" pairs (hardly a pixel moved visibly),
        # at least one of them practically identical, which a live sensor's noise never is.
        gray16 = m.gray.astype(np.int16)
        if self._previous is not None and self._previous.shape == gray16.shape:
            diff = np.abs(gray16 - self._previous)
            mad, moving = float(diff.mean()), float((diff >= 6).mean())
            metrics["frame_diff"], metrics["moving_share"] = mad, moving
            self._still.append((mad < t.frozen_mad and moving < t.frozen_moving, mad < t.frozen_identical_mad))
        else:
            self._still.clear()
        self._previous = gray16

        if m.std < t.uniform_std or m.bars or m.dominant_share > t.dominant_share:
            raw[Fault.signal_loss] = "colour bars" if m.bars else (
                f"uniform screen ({m.dominant_share:.0%} of pixels one level, mean {m.mean:.0f})")
        else:
            if len(self._still) == self._still.maxlen and all(st for st, _ in self._still) and any(same for _, same in self._still):
                raw[Fault.frozen] = f"picture unchanged over {len(self._still) + 1} samples (mean diff {metrics['frame_diff']:.2f})"
            if m.mean < t.dark_mean and m.dark_fraction > t.dark_fraction:
                raw[Fault.too_dark] = f"mean luma {m.mean:.0f}, {m.dark_fraction:.0%} of pixels near black"
            elif m.mean > t.bright_mean or m.clipped_fraction > t.clipped_fraction:
                raw[Fault.overexposed] = f"mean luma {m.mean:.0f}, {m.clipped_fraction:.0%} of pixels clipped"
            self._compare(m, raw, metrics)

        ready = self.reference is not None
        if not ready and not raw:
            self._candidates.append(m)
            if len(self._candidates) >= t.reference_frames:
                self._build_reference(self._candidates)
                self._candidates.clear()

        for fault in Fault:
            self._streak[fault] = self._streak.get(fault, 0) + 1 if fault in raw else 0
        faults = {f: why for f, why in raw.items() if self._streak[f] >= t.persist}
        return QualityResult(faults=faults, raw=raw, metrics=metrics, reference_ready=ready)

    def _compare(self, m: FrameMetrics, raw: dict[Fault, str], metrics: dict[str, float]) -> None:
        t, ref = self.t, self.reference
        exposure = Fault.too_dark in raw or Fault.overexposed in raw
        d_cast = float(np.hypot(m.lab_a, m.lab_b))
        k = d_cast / (m.chroma_spread + 1e-6)
        metrics["cast_k"] = k
        if ref is None:
            # Equivalent-circle method against neutral grey: only a strong cast, the scene may be colourful.
            if not exposure and k > t.cast_absolute_k and d_cast > t.cast_shift:
                raw[Fault.colour_cast] = f"chroma offset {d_cast:.1f} (K {k:.2f}) from neutral"
            return
        if ref.gradient.shape != m.gradient.shape:
            # The stream's aspect ratio changed (new profile, new camera): learn the scene again.
            self.reset_reference()
            return
        brightness = max(m.mean, 1.0) / max(ref.mean, 1.0)
        flat = (m.block_std / np.maximum(ref.block_std, 1.0)) / max(brightness, 0.05) < t.flat_block_ratio
        textured = ref.block_std > 6.0
        occluded = float((flat & textured).sum()) / max(int(textured.sum()), 1) if Fault.overexposed not in raw else 0.0
        ncc = _ncc(m.gradient, ref.gradient) if m.gradient.shape == ref.gradient.shape else 0.0
        blur_ratio = m.sharpness / max(ref.sharpness, 1e-6)
        shift = float(np.hypot(m.lab_a - ref.lab_a, m.lab_b - ref.lab_b))
        metrics.update(occluded_share=occluded, scene_ncc=ncc, blur_ratio=blur_ratio, cast_shift=shift)
        if occluded >= t.occluded_blocks:
            raw[Fault.occlusion] = f"{occluded:.0%} of the textured picture went flat (covered lens or obstruction)"
            raw.pop(Fault.too_dark, None)  # the cover explains the darkness...
            raw.pop(Fault.frozen, None)    # ...and the stillness
            return
        if not exposure and blur_ratio < t.blur_ratio:
            raw[Fault.blur] = f"sharpness {blur_ratio:.0%} of the reference (defocus or dirty lens)"
        # Equivalent-circle method against the scene's own colour: shift relative to the chroma spread.
        k_rel = shift / (m.chroma_spread + 1e-6)
        metrics["cast_k_rel"] = k_rel
        if not exposure and shift > t.cast_shift and k_rel > t.cast_k:
            raw[Fault.colour_cast] = f"chroma moved {shift:.1f} from the reference (K {k_rel:.2f})"
        if not exposure and Fault.blur not in raw and ncc < t.scene_ncc:
            raw[Fault.scene_changed] = f"structure correlation {ncc:.2f} with the reference (camera moved or turned)"
