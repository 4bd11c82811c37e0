"""Per-channel multi-object tracking with ultralytics' ByteTrack.

The tracker is fed only the frames that were analysed. When the motion gate skips
frames the scene did not change, so the last tracks are carried forward unchanged
(see :meth:`Tracker.carry`) rather than being fed empty detections, which would make
ByteTrack drop still objects (a parked car, a left bag) as "lost".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.detector import Detections


@dataclass(frozen=True)
class Track:
    """One tracked object in one analysed frame (pixel coordinates of that frame)."""

    track_id: int
    cls: int
    conf: float
    xyxy: tuple[float, float, float, float]

    @property
    def foot(self) -> tuple[float, float]:
        """Bottom-centre of the box: where a person stands / a vehicle touches the ground."""
        x1, _, x2, y2 = self.xyxy
        return ((x1 + x2) / 2, y2)

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.xyxy
        return ((x1 + x2) / 2, (y1 + y2) / 2)

    @property
    def width(self) -> float:
        return self.xyxy[2] - self.xyxy[0]

    @property
    def height(self) -> float:
        return self.xyxy[3] - self.xyxy[1]


class _BoxesView:
    """The Results-like view ByteTrack expects: ``conf``, ``cls``, ``xywh`` with boolean indexing."""

    def __init__(self, xywh: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xywh, self.conf, self.cls = xywh, conf, cls

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, mask: np.ndarray) -> "_BoxesView":
        return _BoxesView(self.xywh[mask], self.conf[mask], self.cls[mask])


@dataclass(frozen=True)
class TrackerConfig:
    track_high_thresh: float = 0.25
    track_low_thresh: float = 0.1
    new_track_thresh: float = 0.25
    match_thresh: float = 0.8
    fuse_score: bool = True
    lost_seconds: float = 6.0  # how long an unseen track may come back with the same id


def preload() -> None:
    """Import ByteTrack (and with it torch, ~2 s) now rather than when the first channel is created:
    a camera added by a live ``cameras.yaml`` edit then does not stall the other cameras' analysis."""
    import ultralytics.trackers.byte_tracker  # noqa: F401


class Tracker:
    """ByteTrack for one channel. ``update`` per analysed frame; ``carry`` for frames the gate skipped."""

    def __init__(self, fps: float, config: TrackerConfig | None = None) -> None:
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import IterableSimpleNamespace

        cfg = config or TrackerConfig()
        args = IterableSimpleNamespace(
            tracker_type="bytetrack",
            track_high_thresh=cfg.track_high_thresh,
            track_low_thresh=cfg.track_low_thresh,
            new_track_thresh=cfg.new_track_thresh,
            # ByteTrack counts lost time in analysed frames; convert from seconds at this channel's rate.
            track_buffer=max(1, int(round(cfg.lost_seconds * fps))),
            match_thresh=cfg.match_thresh,
            fuse_score=cfg.fuse_score,
        )
        self._bt = BYTETracker(args)
        self._last: list[Track] = []

    def update(self, dets: Detections) -> list[Track]:
        xyxy = dets.xyxy.astype(np.float32)
        xywh = np.empty_like(xyxy)
        xywh[:, :2] = (xyxy[:, :2] + xyxy[:, 2:]) / 2
        xywh[:, 2:] = xyxy[:, 2:] - xyxy[:, :2]
        out = self._bt.update(_BoxesView(xywh, dets.conf.astype(np.float32), dets.cls.astype(np.float32)))
        tracks = [
            Track(int(r[4]), int(r[6]), float(r[5]), (float(r[0]), float(r[1]), float(r[2]), float(r[3])))
            for r in out.reshape(-1, out.shape[-1] if out.size else 8)
        ]
        self._last = tracks
        return tracks

    def carry(self) -> list[Track]:
        """The last tracks, for a frame without motion (the scene is as it was)."""
        return self._last
