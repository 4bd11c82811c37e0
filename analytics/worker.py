"""The analytics worker process: live cameras → ingest readers → pipeline → alerts on ``xl:alerts``.

Three parts, one thread each way of working:

- :class:`~analytics.channels.ChannelSupervisor` — the readers (one ingest ``StreamReader`` per
  continuous camera, gating on the decoder's luma plane), keyframe patrol, device health and registry
  reloads; frames land in the :class:`~analytics.channels.Inbox` (newest ``per_channel_backlog`` per
  channel: live video, late is worthless);
- :class:`~analytics.batch_loop.BatchLoop` — dynamic batches across channels through the pipeline
  (gate → ONNX → ByteTrack → rules), on the main thread;
- :class:`~analytics.evidence_writer.EvidenceWriter` — alerts with their snapshot, and one clip per
  alarm window once it has ended (or a marker saying why it is missing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from analytics.batch_loop import BatchConfig, BatchLoop
from analytics.channels import (
    PATROL_REVISIT_S,
    CameraSource,
    ChannelHandle,
    ChannelSupervisor,
    Inbox,
    SupervisorConfig,
    is_patrol,
)
from analytics.detector import Detector, FrameDetector
from analytics.evidence import EvidencePolicy, EvidenceWindows
from analytics.evidence_writer import AlertSink, EvidenceWriter
from analytics.gate import GateConfig
from analytics.health import HealthFeed
from analytics.pipeline import ChannelAnalysis, Pipeline
from analytics.tracking import preload as preload_tracker
from devices import Camera

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    model_path: Path
    media_dir: Path
    imgsz: int = 0  # 0: native frame size, capped at 640 (see Detector)
    backend: str = "onnxruntime"  # or "openvino" (optional extra)
    max_batch: int = 8
    max_wait_ms: float = 60.0
    gate: bool = True
    gate_config: GateConfig = field(default_factory=GateConfig)
    per_channel_backlog: int = 2  # frames a channel may have waiting; older ones are dropped
    clip_pre_s: float = 5.0
    clip_post_s: float = 5.0
    clip_max_s: float = 30.0  # one clip per alarm window, extended up to this (analytics.evidence)
    clips: bool = True
    stats_every_s: float = 30.0
    patrol_workers: int = 4  # concurrent patrol visits (connect + first keyframe + disconnect)


class AnalyticsWorker:
    """Watches ``cameras`` (``continuous`` ones with a reader each, ``patrol`` ones by keyframe visits)
    until ``stop_event``: a channel supervisor, the batch loop and the evidence writer."""

    def __init__(self, cameras: Iterable[Camera], config: WorkerConfig, publisher: AlertSink,
                 detector: FrameDetector | None = None, watcher: CameraSource | None = None,
                 health: HealthFeed | None = None) -> None:
        self.config = config
        self.detector = detector or Detector(config.model_path, imgsz=config.imgsz, backend=config.backend)
        self.publisher = publisher
        self.inbox = Inbox(config.per_channel_backlog)
        windows = EvidenceWindows(config.media_dir, EvidencePolicy(
            pre_s=config.clip_pre_s, post_s=config.clip_post_s, max_clip_s=config.clip_max_s))
        self.supervisor = ChannelSupervisor(
            SupervisorConfig(gate=config.gate, imgsz=config.imgsz, clips=config.clips, ring_s=windows.policy.ring_s,
                             patrol_workers=config.patrol_workers),
            self.inbox, self._analysis_for, health=health, watcher=watcher)
        self.evidence = EvidenceWriter(publisher, windows, self.supervisor.rings)
        self.batch_loop = BatchLoop(Pipeline(self.detector, config.max_batch),
                                 BatchConfig(config.max_batch, config.max_wait_ms), self.evidence.emit)
        # Requests counted, not an Event: Event.set() in a signal handler could deadlock on the
        # Event's own lock if the signal landed while the loop held it.
        self._reload_requests = 0
        self._reload_seen = 0
        preload_tracker()  # even with no cameras yet: one may be added by a cameras.yaml edit
        for cam in cameras:
            self.supervisor.add(cam)

    def _analysis_for(self, cam: Camera) -> ChannelAnalysis:
        if is_patrol(cam):
            # A patrol visit is one keyframe every ≥10 s: nothing for a background model to compare
            # with, so always infer; the tracker sees ~0.1 fps (tracks rarely survive between visits).
            return ChannelAnalysis.for_camera(cam, self.detector.names, gate=False, fps=1.0 / PATROL_REVISIT_S)
        return ChannelAnalysis.for_camera(cam, self.detector.names, gate=self.config.gate, gate_config=self.config.gate_config)

    # -- what the CLI, the cluster shard and the tests use --------------------------------------------------------
    @property
    def channels(self) -> dict[str, ChannelAnalysis]:
        return self.supervisor.channels

    @property
    def readers(self) -> dict[str, ChannelHandle]:
        return self.supervisor.readers

    @property
    def health(self) -> HealthFeed | None:
        return self.supervisor.health

    # counters of the batch loop (Prometheus: analytics.metrics)
    @property
    def batches(self) -> int:
        return self.batch_loop.batches

    @property
    def batch_frames(self) -> int:
        return self.batch_loop.batch_frames

    @property
    def failed_batches(self) -> int:
        return self.batch_loop.failed_batches

    @property
    def inference_seconds(self) -> float:
        return self.batch_loop.inference_seconds

    @property
    def wanted(self) -> Callable[[Camera], bool] | None:
        return self.supervisor.wanted

    @wanted.setter
    def wanted(self, value: Callable[[Camera], bool] | None) -> None:
        self.supervisor.wanted = value

    def request_reload(self) -> None:
        """Check ``cameras.yaml`` now (not at the next 2 s poll) and log the counters (SIGHUP).
        Safe to call from a signal handler: it only bumps a counter the loop polls."""
        self._reload_requests += 1

    # -- main loop ----------------------------------------------------------------------------------------------
    def run(self, stop_event: threading.Event) -> None:
        self.supervisor.start()
        try:
            self.loop(stop_event)
        finally:
            self.supervisor.stop()
            self.evidence.close()
            self.supervisor.close_health()
            log.info("analytics worker stopped: %s", self.summary())

    def loop(self, stop_event: threading.Event) -> None:
        last_stats = time.monotonic()
        while not stop_event.is_set():
            self.batch_loop.step(self.inbox.take_all(self.batch_loop.timeout()))
            now = time.monotonic()
            self.evidence.write_due()
            if not self.batch_loop.idle:
                continue  # a batch is being gathered: reloads wait for it
            requested = self._reload_requests != self._reload_seen
            if requested:
                self._reload_seen = self._reload_requests
            self.supervisor.poll(now, requested)
            if requested:
                log.info("analytics (on request): %s", self.summary())
            if now - last_stats >= self.config.stats_every_s:
                last_stats = now
                log.info("analytics: %s", self.summary())

    def summary(self) -> dict[str, object]:
        channels = self.channels.values()
        health = self.health
        return {
            "frames": sum(c.counters.frames for c in channels),
            "skipped_by_gate": sum(c.counters.skipped for c in channels),
            **self.batch_loop.summary(),
            "dropped_late": self.inbox.dropped,
            "alerts": sum(c.counters.alerts for c in channels),
            "published": self.publisher.published,
            "alerts_pending": self.publisher.pending,
            **({"health": health.summary()} if health is not None else {}),
        }


__all__ = ["AnalyticsWorker", "CameraSource", "Inbox", "WorkerConfig"]
