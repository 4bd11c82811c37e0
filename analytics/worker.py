"""The analytics worker process: live cameras → ingest readers → pipeline → alerts on ``xl:alerts``.

Threads: one ingest ``StreamReader`` per continuous camera delivers frames at the
camera's analysed fps into an :class:`Inbox`; the main thread gates each frame as it
arrives and gathers the moving ones into a batch that is run when it reaches
``max_batch`` frames or its oldest frame has waited ``max_wait_ms`` (dynamic batching
across channels). When analysis falls behind, the inbox keeps only the newest frames
of each channel (live video: late is worthless), counting what it dropped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol


from analytics.alerts import AlertPublisher, build_alert, snapshot_for
from analytics.evidence import EvidencePolicy, EvidenceWindows
from analytics.detector import Detector, FrameDetector
from analytics.gate import GateConfig
from analytics.pipeline import Analysed, ChannelAnalysis, FrameIn, Pipeline
from analytics.rules import RuleEvent

if TYPE_CHECKING:  # annotations only: ingest (PyAV) loads when the first reader starts
    from analytics.health import HealthFeed
    from devices import Camera, Registry, RegistryDiff
    from ingest import ChannelScheduler, Frame, PacketRing, StatusEvent, StreamReader
from analytics.tracking import preload as preload_tracker
from command import mark_clip_failed

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


PATROL_REVISIT_S = 10.0  # visit a patrol camera at most this often


class CameraSource(Protocol):
    """Where the worker's cameras come from between reloads: ``devices.RegistryWatcher`` (cameras.yaml),
    or a cluster shard's assignment (``analytics.cluster.shard.AssignedCameras``)."""

    @property
    def current(self) -> Registry: ...

    def check(self) -> RegistryDiff | None: ...


def _is_patrol(camera: Camera | None) -> bool:
    analysis = getattr(camera, "analysis", None)
    return getattr(analysis, "mode", None) == "patrol"


class _PatrolHandle:
    """Stands in for a reader in ``AnalyticsWorker.readers`` for a patrolled camera."""

    def __init__(self, scheduler: ChannelScheduler, channel_id: str) -> None:
        self._scheduler, self._id = scheduler, channel_id
        self.on_frame: Callable[[Frame], None] | None = None  # frames come through the scheduler's callback

    def stop(self, timeout: float | None = None) -> bool:
        self._scheduler.remove(self._id)
        return True

    def request_stop(self) -> None:
        pass  # the scheduler stops all its visits at once

    def join(self, timeout: float | None = None) -> bool:
        return True


class Inbox:
    """Frames from reader threads, oldest first, at most ``backlog`` per channel."""

    def __init__(self, backlog: int) -> None:
        self.backlog = backlog
        self._items: deque[FrameIn] = deque()
        self._per_channel: dict[str, int] = {}
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: FrameIn) -> None:
        with self._cond:
            cid = item.channel.camera_id
            if self._per_channel.get(cid, 0) >= self.backlog:
                for i, old in enumerate(self._items):
                    if old.channel.camera_id == cid:
                        del self._items[i]
                        self._per_channel[cid] -= 1
                        self.dropped += 1
                        break
            self._items.append(item)
            self._per_channel[cid] = self._per_channel.get(cid, 0) + 1
            self._cond.notify()

    def take_all(self, timeout: float) -> list[FrameIn]:
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            items = list(self._items)
            self._items.clear()
            self._per_channel.clear()
            return items

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class AnalyticsWorker:
    """Watches ``cameras`` (``devices.Camera``; ``continuous`` ones with a reader each, ``patrol`` ones
    by keyframe visits) until ``stop_event``."""

    def __init__(self, cameras: Iterable[Camera], config: WorkerConfig, publisher: AlertPublisher,
                 detector: FrameDetector | None = None, watcher: CameraSource | None = None,
                 health: HealthFeed | None = None) -> None:
        self.config = config
        self.health = health  # analytics.health.HealthFeed: device.status from these readers, or None
        self.detector = detector or Detector(config.model_path, imgsz=config.imgsz, backend=config.backend)
        self.pipeline = Pipeline(self.detector, config.max_batch)
        self.publisher = publisher
        self.inbox = Inbox(config.per_channel_backlog)
        self.channels: dict[str, ChannelAnalysis] = {}
        self.readers: dict[str, StreamReader | _PatrolHandle] = {}
        self.rings: dict[str, PacketRing] = {}
        self.evidence = EvidenceWindows(config.media_dir, EvidencePolicy(
            pre_s=config.clip_pre_s, post_s=config.clip_post_s, max_clip_s=config.clip_max_s))
        self.batches = 0
        self.batch_frames = 0
        self.failed_batches = 0
        self.inference_seconds = 0.0  # wall time of completed batches (gate + detector + tracker + rules)
        self.patrol: ChannelScheduler | None = None  # for patrol cameras, started on the first one
        self.watcher = watcher  # hot reload of cameras.yaml (or of a shard's assignment)
        self.wanted: Callable[[Camera], bool] | None = None  # which registry cameras this worker analyses
        # Requests counted, not an Event: Event.set() in a signal handler could deadlock on the
        # Event's own lock if the signal landed while the loop held it.
        self._reload_requests = 0
        self._reload_seen = 0
        preload_tracker()  # even with no cameras yet: one may be added by a cameras.yaml edit
        for cam in cameras:
            self.channels[cam.id] = self._analysis_for(cam)

    def _analysis_for(self, cam: Camera) -> ChannelAnalysis:
        if _is_patrol(cam):
            # A patrol visit is one keyframe every ≥10 s: nothing for a background model to compare
            # with, so always infer; the tracker sees ~0.1 fps (tracks rarely survive between visits).
            return ChannelAnalysis.for_camera(cam, self.detector.names, gate=False, fps=1.0 / PATROL_REVISIT_S)
        return ChannelAnalysis.for_camera(cam, self.detector.names, gate=self.config.gate, gate_config=self.config.gate_config)

    # -- readers ------------------------------------------------------------------------------------------------
    def start_readers(self) -> None:
        for cid, ch in self.channels.items():
            self._start_reader(cid, ch)
        log.info("analysing %d cameras: %s", len(self.readers), ", ".join(self.readers))

    def _start_reader(self, cid: str, ch: ChannelAnalysis) -> None:
        from ingest import PacketRing, StreamReader, spec_from_camera

        if _is_patrol(ch.camera):
            self._start_patrol(cid, ch)
            return
        try:
            spec = spec_from_camera(ch.camera)
        except Exception as exc:  # e.g. an unset ${ENV} secret: this camera only
            log.error("camera %s: cannot build its stream spec (%s); skipping it", cid, exc)
            self._spec_failed(cid, exc)
            return
        ring = PacketRing(seconds=self.evidence.policy.ring_s) if self.config.clips else None
        reader = StreamReader(spec, on_frame=self._on_frame_for(ch), on_status=self._on_status, packet_ring=ring)
        self.readers[cid] = reader.start()
        if ring is not None:
            self.rings[cid] = ring

    def _start_patrol(self, cid: str, ch: ChannelAnalysis) -> None:
        """Keyframe patrol (轮巡) through ingest's scheduler: connect, first keyframe, disconnect."""
        from ingest import ChannelScheduler, SchedulerConfig, spec_from_camera

        try:
            spec = spec_from_camera(ch.camera)
        except Exception as exc:
            log.error("camera %s: cannot build its stream spec (%s); skipping it", cid, exc)
            self._spec_failed(cid, exc)
            return
        if self.patrol is None:
            self.patrol = ChannelScheduler(
                on_frame=self._on_patrol_frame, on_status=self._on_status,
                config=SchedulerConfig(patrol_workers=self.config.patrol_workers,
                                       patrol_min_revisit_s=PATROL_REVISIT_S),
            ).start()
        self.patrol.add(spec)
        self.readers[cid] = _PatrolHandle(self.patrol, cid)

    def _on_patrol_frame(self, frame: Frame) -> None:
        ch = self.channels.get(frame.channel_id)
        if ch is not None:  # no packet ring on patrol: no clip, just the snapshot
            self.inbox.put(FrameIn(ch, frame.image, frame.ts_wall, None))
            if self.health is not None:
                self.health.frame(frame, always=True)  # each visit's keyframe is its health sample

    def _spec_failed(self, cid: str, exc: Exception) -> None:
        if self.health is not None:
            from devices import SecretError
            from ingest import State, StatusEvent

            state: State = "auth_failed" if isinstance(exc, SecretError) else "offline"  # an unset credential variable
            self.health.status(StatusEvent(cid, state, f"cannot connect: {exc}"))

    def _health_watch(self, registry: Registry, changed: Iterable[str] = ()) -> None:
        """Tell device health what this worker now reads (the other registry channels get 'unknown')."""
        if self.health is not None:
            watched = {cid: "patrol" if _is_patrol(ch.camera) else "continuous" for cid, ch in self.channels.items()}
            self.health.watch(registry, watched, changed)

    # -- hot reload -----------------------------------------------------------------------------------------------
    def apply_registry(self, registry: Registry, diff: RegistryDiff, wanted: Callable[[Camera], bool]) -> None:
        """Apply a reloaded registry: rule/zone edits swap the rules in place (tracks and the
        background model are kept); stream/mode/fps changes restart that camera's reader."""
        for cid in sorted(diff.removed | diff.changed | diff.added):
            cam = registry.cameras.get(cid)
            keep = cam is not None and wanted(cam)
            old = self.channels.get(cid)
            if old is not None and cam is not None and keep and cid in diff.config_only:
                new = self._analysis_for(cam)
                new.tracker, new.gate, new.counters = old.tracker, old.gate, old.counters
                self.channels[cid] = new
                reader = self.readers.get(cid)
                if reader is not None:
                    reader.on_frame = self._on_frame_for(new)
                log.info("camera %s: rules reloaded (%d rules)", cid, len(new.rules))
                continue
            if old is not None:
                reader = self.readers.pop(cid, None)
                if reader is not None:
                    reader.stop(timeout=3.0)
                self.rings.pop(cid, None)
                del self.channels[cid]
                log.info("camera %s: stopped (%s)", cid, "removed" if cam is None or not keep else "stream changed")
            if cam is not None and keep:
                ch = self._analysis_for(cam)
                self.channels[cid] = ch
                self._start_reader(cid, ch)
                log.info("camera %s: started", cid)

    def _on_frame_for(self, ch: ChannelAnalysis) -> Callable[[Frame], None]:
        health = self.health

        def on_frame(frame: Frame) -> None:
            self.inbox.put(FrameIn(ch, frame.image, frame.ts_wall, frame.ts_monotonic))
            if health is not None:
                health.frame(frame)  # a time check; one frame per channel every few seconds is kept

        return on_frame

    def _on_status(self, event: StatusEvent) -> None:
        if event.state in ("offline", "auth_failed"):
            log.warning("camera %s %s: %s (retry in %.0fs)", event.channel_id, event.state, event.reason, event.retry_in_s or 0)
        if self.health is not None:
            self.health.status(event)

    def stop_readers(self, timeout: float = 5.0) -> None:
        if self.patrol is not None:
            self.patrol.stop(timeout)
        for reader in self.readers.values():
            reader.request_stop()
        deadline = time.monotonic() + timeout
        for cid, reader in self.readers.items():
            if not reader.join(max(0.1, deadline - time.monotonic())):
                log.warning("camera %s: reader did not stop within %.0fs", cid, timeout)
        self.inbox.wake()

    def request_reload(self) -> None:
        """Check ``cameras.yaml`` now (not at the next 2 s poll) and log the counters (SIGHUP).
        Safe to call from a signal handler: it only bumps a counter the loop polls."""
        self._reload_requests += 1

    # -- main loop ----------------------------------------------------------------------------------------------
    def run(self, stop_event: threading.Event) -> None:
        if self.health is not None:
            self.health.start()
        self.start_readers()
        if self.health is not None:
            self._health_watch(self.health.registry)
        try:
            self.loop(stop_event)
        finally:
            self.stop_readers()
            self._write_due_clips(force=True)
            self.publisher.close()
            if self.health is not None:
                self.health.close()
            log.info("analytics worker stopped: %s", self.summary())

    def loop(self, stop_event: threading.Event) -> None:
        cfg = self.config
        max_wait = cfg.max_wait_ms / 1000
        pending: list[FrameIn] = []
        moving: list[bool] = []
        n_moving = 0
        first_moving_at: float | None = None
        last_stats = last_reload = time.monotonic()
        while not stop_event.is_set():
            timeout = 0.2 if first_moving_at is None else max(0.0, first_moving_at + max_wait - time.monotonic())
            for item in self.inbox.take_all(timeout):
                g = self.pipeline.gate(item)
                m = g is None or g.motion
                pending.append(item)
                moving.append(m)
                if m:
                    n_moving += 1
                    if first_moving_at is None:
                        first_moving_at = time.monotonic()
            now = time.monotonic()
            if pending and (n_moving == 0 or n_moving >= cfg.max_batch or now - (first_moving_at or now) >= max_wait):
                self._complete(pending, moving, n_moving)
                pending, moving, n_moving, first_moving_at = [], [], 0, None
            self._write_due_clips()
            requested = self._reload_requests != self._reload_seen and not pending
            if requested:
                self._reload_seen = self._reload_requests
            if self.watcher is not None and self.wanted is not None and not pending and (
                    requested or now - last_reload >= 2.0):
                last_reload = now
                diff = self.watcher.check()
                if diff is not None and not diff.empty:
                    self.apply_registry(self.watcher.current, diff, self.wanted)
                    self._health_watch(self.watcher.current, diff.changed)
            if requested:
                log.info("analytics (on request): %s", self.summary())
            if now - last_stats >= cfg.stats_every_s:
                last_stats = now
                log.info("analytics: %s", self.summary())

    def _complete(self, items: list[FrameIn], moving: list[bool], n_moving: int) -> None:
        if n_moving:
            self.batches += 1
            self.batch_frames += n_moving
        started = time.perf_counter()
        try:
            results = self.pipeline.complete(items, moving)
        except Exception:  # one bad batch must not take every camera down with the worker
            self.failed_batches += 1
            log.exception("analysis of a batch of %d frames failed; dropped", len(items))
            return
        finally:
            self.inference_seconds += time.perf_counter() - started
        for result in results:
            for event in result.events:
                try:
                    self._emit(result, event)
                except Exception:
                    log.exception("camera %s: alert for rule %s not published", result.frame.channel.camera_id, event.rule_id)

    # -- alerts and clips ---------------------------------------------------------------------------------------
    def _emit(self, result: Analysed, event: RuleEvent) -> None:
        ch = result.frame.channel
        h, w = result.frame.image.shape[:2]
        alert_id = uuid.uuid4().hex
        # One clip and a few snapshots per alarm window of (camera, rule), not per alert (analytics.evidence).
        can_clip = self.rings.get(ch.camera_id) is not None and result.frame.ts_monotonic is not None
        plan = self.evidence.on_alert(
            ch.camera_id, event.rule_id, alert_id, confidence=event.confidence, clip=can_clip, ts_wall=event.ts,
            t=result.frame.ts_monotonic if result.frame.ts_monotonic is not None else event.ts)
        clip_path: Path | None = plan.clip_path
        alert = build_alert(ch.camera, event, w, h, str(clip_path) if clip_path else None, alert_id)
        # the zone (or the wire) of the rule, drawn on the snapshot for context
        polygon = next((r.outline(w, h) for r in ch.rules if r.rule_id == event.rule_id), None)
        self.publisher.submit(alert, snapshot_for(result.frame.image, event, polygon) if plan.snapshot else b"")
        log.info("alert %s: camera %s rule %s %s track %s conf %.2f", alert_id[:8], ch.camera_id, event.rule_id,
                 event.object_class, event.track_id, event.confidence)

    def _write_due_clips(self, force: bool = False) -> None:
        if not self.evidence.pending:
            return
        from ingest import write_mp4

        for clip in self.evidence.due(time.monotonic(), force):
            ring = self.rings.get(clip.camera_id)
            try:
                packets = ring.snapshot(clip.since, clip.until) if ring is not None else []
                if not packets or ring is None or ring.params is None:
                    raise ValueError("no packets buffered for this camera")
                # written beside and renamed, so a clip that exists is a complete one
                partial = clip.path.with_name(clip.path.stem + ".part" + clip.path.suffix)
                write_mp4(packets, ring.params, partial)
                os.replace(partial, clip.path)
            except Exception as exc:
                log.warning("camera %s: evidence clip %s not written: %s", clip.camera_id, clip.path.name, exc)
                mark_clip_failed(clip.path, f"录像未能写入：{type(exc).__name__}: {exc}")

    def summary(self) -> dict[str, object]:
        frames = sum(c.counters.frames for c in self.channels.values())
        skipped = sum(c.counters.skipped for c in self.channels.values())
        return {
            "frames": frames,
            "skipped_by_gate": skipped,
            "batches": self.batches,
            "mean_batch": round(self.batch_frames / self.batches, 2) if self.batches else 0,
            "dropped_late": self.inbox.dropped,
            "failed_batches": self.failed_batches,
            "alerts": sum(c.counters.alerts for c in self.channels.values()),
            "published": self.publisher.published,
            "alerts_pending": self.publisher.pending,
            **({"health": self.health.summary()} if self.health is not None else {}),
        }
