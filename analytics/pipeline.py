"""The analysis core, independent of where frames come from: gate → batched detection → track → rules.

The worker feeds it frames from live RTSP readers; the benchmark and tests feed it
decoded sample footage directly. One :class:`ChannelAnalysis` holds a camera's state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import numpy as np

from analytics.detector import Detections, FrameDetector
from analytics.gate import GateConfig, GateResult, MotionGate
from analytics.rules import Rule, RuleEvent, Scene, build_rules
from analytics.tracking import Track, Tracker
from devices import Camera


@dataclass
class ChannelCounters:
    frames: int = 0
    inferred: int = 0
    skipped: int = 0  # frames the gate judged static
    alerts: int = 0


@dataclass
class ChannelAnalysis:
    """Per-camera analysis state; ``camera`` is its registry entry."""

    camera_id: str
    fps: float
    rules: list[Rule]
    tracker: Tracker
    gate: MotionGate | None
    camera: Camera
    detector_classes: set[int] | None = None
    counters: ChannelCounters = field(default_factory=ChannelCounters)

    @classmethod
    def for_camera(
        cls,
        camera: Camera,
        names: Mapping[int, str],
        *,
        gate: bool = True,
        gate_config: GateConfig | None = None,
        fps: float | None = None,
    ) -> "ChannelAnalysis":
        fps = fps or camera.analysis.fps
        wanted = camera.analysis.detector_classes
        rules = build_rules(camera, names)
        ids = {k for k, v in names.items() if v in wanted} if wanted else None
        if ids is not None:  # rules' classes must be detected even if the camera list forgot them
            rule_classes = {c for spec in camera.rules if spec.enabled for c in spec.effective_classes}
            ids |= {k for k, v in names.items() if v in rule_classes}
        masks = [z.polygon for z in camera.zones if z.id.startswith("mask")]
        return cls(
            camera_id=camera.id,
            fps=fps,
            rules=rules,
            tracker=Tracker(fps),
            gate=MotionGate(gate_config, masks) if gate else None,
            detector_classes=ids,
            camera=camera,
        )


@dataclass(frozen=True)
class FrameIn:
    channel: ChannelAnalysis
    image: np.ndarray
    ts: float  # wall-clock seconds
    ts_monotonic: float | None = None
    motion: bool | None = None  # decided upstream (the reader's gate on luma); None: the pipeline gates it


@dataclass(frozen=True)
class Analysed:
    """One frame after analysis: its tracks and the alerts it raised."""

    frame: FrameIn
    tracks: Sequence[Track]
    events: list[RuleEvent]
    inferred: bool


class Pipeline:
    """Runs the stages on batches of frames from many channels."""

    def __init__(self, detector: FrameDetector, max_batch: int = 8) -> None:
        self.detector = detector
        self.max_batch = max_batch

    def gate(self, item: FrameIn) -> GateResult | None:
        """Motion check for one frame (``None``: this channel has no gate, always infer)."""
        gate = item.channel.gate
        return None if gate is None else gate.check(item.image, item.ts)

    def moving(self, item: FrameIn) -> bool:
        """Whether ``item`` goes to the detector: the upstream decision if there was one, else the gate's."""
        if item.motion is not None:
            return item.motion
        g = self.gate(item)
        return g is None or g.motion

    def finish(self, item: FrameIn, tracks: Sequence[Track], inferred: bool) -> Analysed:
        ch = item.channel
        h, w = item.image.shape[:2]
        scene = Scene(ch.camera_id, item.ts, w, h, tracks, self.detector.names)
        events: list[RuleEvent] = []
        for rule in ch.rules:
            events.extend(rule.evaluate(scene))
        ch.counters.frames += 1
        ch.counters.alerts += len(events)
        if inferred:
            ch.counters.inferred += 1
        else:
            ch.counters.skipped += 1
        return Analysed(item, tracks, events, inferred)

    def detect(self, items: Sequence[FrameIn]) -> list[Detections]:
        """Detections for ``items``, in inference calls of at most ``max_batch`` frames."""
        out: list[Detections] = []
        for start in range(0, len(items), self.max_batch):
            chunk = items[start : start + self.max_batch]
            for item, d in zip(chunk, self.detector.detect([i.image for i in chunk])):
                classes = item.channel.detector_classes
                if classes is not None and len(d):
                    d = d.select(np.isin(d.cls, list(classes)))
                out.append(d)
        return out

    def complete(self, items: Sequence[FrameIn], moving: Sequence[bool]) -> list[Analysed]:
        """Frames already gated (``moving[i]``): detect the moving ones in batches, then track
        and run rules frame by frame in input order. A static frame carries its channel's last
        tracks (the scene did not change) so time-based rules (dwell, parking) still advance."""
        dets = iter(self.detect([it for it, m in zip(items, moving) if m]))
        out: list[Analysed] = []
        for item, m in zip(items, moving):
            if m:
                out.append(self.finish(item, item.channel.tracker.update(next(dets)), inferred=True))
            else:
                out.append(self.finish(item, item.channel.tracker.carry(), inferred=False))
        return out

    def process(self, items: Sequence[FrameIn]) -> list[Analysed]:
        """Gate, detect, track and apply rules to ``items`` (frames of many channels, in time order)."""
        return self.complete(items, [self.moving(item) for item in items])


__all__ = ["Analysed", "ChannelAnalysis", "ChannelCounters", "Detections", "FrameIn", "Pipeline"]
