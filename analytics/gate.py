"""Motion gate: cheap change detection that decides whether a frame is worth a detector pass.

Works on a small grey copy (default 160 px wide) with OpenCV's MOG2 background model,
whose per-pixel Gaussians absorb gradual lighting changes; masks exclude areas that
always change (on-screen clocks, trees, sky). Output is the list of motion regions in
frame pixels; an empty list means "nothing moved — skip inference, the last
detections still describe the scene". A periodic forced pass (``refresh_s``) bounds
how long a slow change (dusk, a car creeping in) can go unseen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class GateConfig:
    width: int = 160  # analysis width of the grey copy
    var_threshold: float = 25.0  # MOG2 Mahalanobis² threshold: higher = less sensitive to noise
    history: int = 200  # frames of background memory (at 5 fps: 40 s)
    min_area: float = 0.0008  # a region must cover this share of the frame (≈20 px² at 160×120)
    refresh_s: float = 10.0  # force a detector pass at least this often
    warmup_frames: int = 5  # the model needs a few frames before its output means anything


@dataclass(frozen=True)
class GateResult:
    motion: bool
    regions: list[tuple[int, int, int, int]]  # xyxy in frame pixels
    forced: bool = False


class MotionGate:
    """One camera's gate. ``masks`` are normalised polygons of areas to ignore."""

    def __init__(self, config: GateConfig | None = None, masks: Sequence[Sequence[Sequence[float]]] = ()) -> None:
        self.config = config or GateConfig()
        self._mask_polys = [np.asarray(m, np.float32) for m in masks]
        self._bg = cv2.createBackgroundSubtractorMOG2(
            history=self.config.history, varThreshold=self.config.var_threshold, detectShadows=False
        )
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._size: tuple[int, int] | None = None
        self._keep: np.ndarray | None = None  # 255 where motion counts
        self._frames = 0
        self._last_pass: float | None = None
        self._ref_mean: float | None = None

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        sw = min(self.config.width, w)
        sh = max(1, round(h * sw / w))
        if self._size != (sw, sh):
            self._size = (sw, sh)
            keep = np.full((sh, sw), 255, np.uint8)
            for poly in self._mask_polys:
                cv2.fillPoly(keep, [(poly * [sw, sh]).astype(np.int32).reshape(-1, 1, 2)], 0)
            self._keep = keep
        small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
        # a single-channel frame is the decoder's luma (Y) plane: already grey, no BGR conversion needed
        grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        # Gain compensation: scale every frame to the first frame's mean brightness, so a cloud or
        # the camera's auto-exposure (a global gain change) is not "motion" in bright areas.
        mean = float(grey.mean()) or 1.0
        if self._ref_mean is None:
            self._ref_mean = mean
        alpha = min(2.0, max(0.5, self._ref_mean / mean))
        if abs(alpha - 1.0) > 0.005:
            grey = cv2.convertScaleAbs(grey, alpha=alpha)
        return cv2.GaussianBlur(grey, (3, 3), 0)

    def check(self, frame: np.ndarray, ts: float) -> GateResult:
        """Update the background with ``frame`` (BGR, or the decoder's HxW luma plane) and report where it moved."""
        small = self._prepare(frame)
        fg = self._bg.apply(small)
        self._frames += 1
        if self._keep is not None:
            cv2.bitwise_and(fg, self._keep, dst=fg)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._kernel)
        sw, sh = self._size  # type: ignore[misc]
        h, w = frame.shape[:2]
        min_px = self.config.min_area * sw * sh
        n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        sx, sy = w / sw, h / sh
        regions = [
            (int(x * sx), int(y * sy), int((x + bw) * sx), int((y + bh) * sy))
            for x, y, bw, bh, area in stats[1:n]
            if area >= min_px
        ]
        if regions or self._frames <= self.config.warmup_frames:
            self._last_pass = ts
            return GateResult(True, regions)
        if self._last_pass is None or ts - self._last_pass >= self.config.refresh_s:
            self._last_pass = ts
            return GateResult(True, [], forced=True)
        return GateResult(False, [])
