"""The channel supervisor: which cameras the worker reads and how — ingest readers (continuous), keyframe
patrol visits (轮巡), device health, and registry reloads — and the inbox their frames land in.

Reader threads only hand over: a frame the motion gate (run on the reader thread, on the decoder's luma
plane, before any colour conversion) finds moving is delivered — at the detector's input size when the
registry says the camera is larger — and put in the :class:`Inbox`; a static one becomes a tick that
carries the channel's last picture, so time-based rules (dwell, parking) keep counting without a
detector pass or a BGR conversion.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from analytics.detector import analysis_size
from analytics.health import HealthFeed
from analytics.pipeline import ChannelAnalysis, FrameIn
from devices import AnalysisMode, Camera, Registry, RegistryDiff, SecretError
from ingest import (
    ChannelScheduler,
    Frame,
    PacketRing,
    ReaderOptions,
    SchedulerConfig,
    State,
    StatusEvent,
    StreamReader,
    spec_from_camera,
)

log = logging.getLogger(__name__)

PATROL_REVISIT_S = 10.0  # visit a patrol camera at most this often
RELOAD_EVERY_S = 2.0  # poll cameras.yaml (or the shard's assignment) this often


class CameraSource(Protocol):
    """Where the worker's cameras come from between reloads: ``devices.RegistryWatcher`` (cameras.yaml),
    or a cluster shard's assignment (``analytics.cluster.shard.AssignedCameras``)."""

    @property
    def current(self) -> Registry: ...

    def check(self) -> RegistryDiff | None: ...


class ChannelHandle(Protocol):
    """A running source of one channel's frames: an ingest reader, or a patrol camera's place in the scheduler."""

    def stop(self, timeout: float | None = None) -> bool: ...

    def request_stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> bool: ...


def is_patrol(camera: Camera) -> bool:
    return camera.analysis.mode == AnalysisMode.patrol


class _PatrolHandle:
    """Stands in for a reader for a patrolled camera (its frames come through the scheduler's callback)."""

    def __init__(self, scheduler: ChannelScheduler, channel_id: str) -> None:
        self._scheduler, self._id = scheduler, channel_id

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


@dataclass(frozen=True)
class SupervisorConfig:
    gate: bool = True  # motion gate on the reader thread (else every frame is delivered and inferred)
    imgsz: int = 0  # the detector's input size (0: native, at most 640): frames are delivered no larger
    clips: bool = True  # keep a packet ring per continuous camera for evidence clips
    ring_s: float = 45.0  # seconds of packets the ring keeps
    patrol_workers: int = 4  # concurrent patrol visits (connect + first keyframe + disconnect)


class _ChannelFeed:
    """The reader-thread side of one continuous channel: gate on luma, deliver or tick."""

    def __init__(self, channel: ChannelAnalysis, inbox: Inbox, health: HealthFeed | None) -> None:
        self.channel, self.inbox, self.health = channel, inbox, health
        self.last_image: np.ndarray | None = None
        self._passed = False  # the gate let the frame now being delivered through (same reader thread)

    def gate(self, luma: np.ndarray, pts_s: float | None) -> bool:
        """The reader's gate hook: True = deliver this frame (it moved, or a forced pass is due)."""
        self._passed = self._moved(luma)
        return self._passed

    def _moved(self, picture: np.ndarray) -> bool:
        gate = self.channel.gate
        if gate is None or gate.check(picture, time.time()).motion:
            return True
        if self.last_image is not None:  # nothing moved: the last picture still describes the scene
            self.inbox.put(FrameIn(self.channel, self.last_image, time.time(), time.monotonic(), motion=False))
        return False

    def on_frame(self, frame: Frame) -> None:
        # Gated on the reader thread: on luma before conversion, or here when the decoder gave no luma plane.
        passed, self._passed = self._passed, False
        if not passed and not self._moved(frame.image):
            return
        self.last_image = frame.image
        self.inbox.put(FrameIn(self.channel, frame.image, frame.ts_wall, frame.ts_monotonic, motion=True))
        if self.health is not None:
            self.health.frame(frame)  # a time check; one frame per channel every few seconds is kept


class ChannelSupervisor:
    """Starts, restarts and stops the sources of the worker's channels and tells device health about them."""

    def __init__(self, config: SupervisorConfig, inbox: Inbox, analysis_for: Callable[[Camera], ChannelAnalysis],
                 health: HealthFeed | None = None, watcher: CameraSource | None = None) -> None:
        self.config = config
        self.inbox = inbox
        self.analysis_for = analysis_for
        self.health = health  # device.status from these readers, or None
        self.watcher = watcher  # hot reload of cameras.yaml (or of a shard's assignment)
        self.wanted: Callable[[Camera], bool] | None = None  # which registry cameras this worker analyses
        self.channels: dict[str, ChannelAnalysis] = {}
        self.readers: dict[str, ChannelHandle] = {}
        self.rings: dict[str, PacketRing] = {}
        self._feeds: dict[str, _ChannelFeed] = {}
        self.patrol: ChannelScheduler | None = None  # for patrol cameras, started on the first one
        self._last_reload = time.monotonic()

    def add(self, camera: Camera) -> None:
        self.channels[camera.id] = self.analysis_for(camera)

    # -- sources --------------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.health is not None:
            self.health.start()
        for cid, ch in self.channels.items():
            self._start_reader(cid, ch)
        log.info("analysing %d cameras: %s", len(self.readers), ", ".join(self.readers))
        if self.health is not None:
            self._health_watch(self.health.registry)

    def _start_reader(self, cid: str, ch: ChannelAnalysis) -> None:
        if is_patrol(ch.camera):
            self._start_patrol(cid, ch)
            return
        try:
            spec = spec_from_camera(ch.camera)
        except Exception as exc:  # e.g. an unset ${ENV} secret: this camera only
            log.error("camera %s: cannot build its stream spec (%s); skipping it", cid, exc)
            self._spec_failed(cid, exc)
            return
        ring = PacketRing(seconds=self.config.ring_s) if self.config.clips else None
        feed = _ChannelFeed(ch, self.inbox, self.health)
        frame = ch.camera.frame  # the registry's size of the stream, when given
        size = analysis_size(frame.width, frame.height, self.config.imgsz) if frame is not None else None
        options = ReaderOptions(output_size=size if frame is not None and size != (frame.width, frame.height) else None)
        reader: StreamReader = StreamReader(spec, on_frame=feed.on_frame, on_status=self._on_status, packet_ring=ring,
                                            options=options, gate=feed.gate if ch.gate is not None else None)
        self.readers[cid] = reader.start()
        self._feeds[cid] = feed
        if ring is not None:
            self.rings[cid] = ring

    def _start_patrol(self, cid: str, ch: ChannelAnalysis) -> None:
        """Keyframe patrol (轮巡) through ingest's scheduler: connect, first keyframe, disconnect."""
        try:
            spec = spec_from_camera(ch.camera)
        except Exception as exc:
            log.error("camera %s: cannot build its stream spec (%s); skipping it", cid, exc)
            self._spec_failed(cid, exc)
            return
        if self.patrol is None:
            self.patrol = ChannelScheduler(
                on_frame=self._on_patrol_frame, on_status=self._on_status,
                config=SchedulerConfig(patrol_workers=self.config.patrol_workers, patrol_min_revisit_s=PATROL_REVISIT_S),
            ).start()
        self.patrol.add(spec)
        self.readers[cid] = _PatrolHandle(self.patrol, cid)

    def _on_patrol_frame(self, frame: Frame) -> None:
        ch = self.channels.get(frame.channel_id)
        if ch is not None:  # no packet ring on patrol: no clip, just the snapshot
            self.inbox.put(FrameIn(ch, frame.image, frame.ts_wall, None, motion=True))
            if self.health is not None:
                self.health.frame(frame, always=True)  # each visit's keyframe is its health sample

    def _spec_failed(self, cid: str, exc: Exception) -> None:
        if self.health is not None:
            state: State = "auth_failed" if isinstance(exc, SecretError) else "offline"  # an unset credential variable
            self.health.status(StatusEvent(cid, state, f"cannot connect: {exc}"))

    def _on_status(self, event: StatusEvent) -> None:
        if event.state in ("offline", "auth_failed"):
            log.warning("camera %s %s: %s (retry in %.0fs)", event.channel_id, event.state, event.reason, event.retry_in_s or 0)
        if self.health is not None:
            self.health.status(event)

    def _health_watch(self, registry: Registry, changed: Iterable[str] = ()) -> None:
        """Tell device health what this worker now reads (the other registry channels get 'unknown')."""
        if self.health is not None:
            watched = {cid: "patrol" if is_patrol(ch.camera) else "continuous" for cid, ch in self.channels.items()}
            self.health.watch(registry, watched, changed)

    def stop(self, timeout: float = 5.0) -> None:
        if self.patrol is not None:
            self.patrol.stop(timeout)
        for reader in self.readers.values():
            reader.request_stop()
        deadline = time.monotonic() + timeout
        for cid, reader in self.readers.items():
            if not reader.join(max(0.1, deadline - time.monotonic())):
                log.warning("camera %s: reader did not stop within %.0fs", cid, timeout)
        self.inbox.wake()

    def close_health(self) -> None:
        if self.health is not None:
            self.health.close()

    # -- hot reload -----------------------------------------------------------------------------------------------
    def poll(self, now: float, requested: bool) -> None:
        """Re-read the camera source when asked or every :data:`RELOAD_EVERY_S`, and apply what changed."""
        if self.watcher is None or self.wanted is None or not (requested or now - self._last_reload >= RELOAD_EVERY_S):
            return
        self._last_reload = now
        diff = self.watcher.check()
        if diff is not None and not diff.empty:
            self.apply_registry(self.watcher.current, diff, self.wanted)
            self._health_watch(self.watcher.current, diff.changed)

    def apply_registry(self, registry: Registry, diff: RegistryDiff, wanted: Callable[[Camera], bool]) -> None:
        """Apply a reloaded registry: rule/zone edits swap the rules in place (tracks and the
        background model are kept); stream/mode/fps changes restart that camera's reader."""
        for cid in sorted(diff.removed | diff.changed | diff.added):
            cam = registry.cameras.get(cid)
            keep = cam is not None and wanted(cam)
            old = self.channels.get(cid)
            if old is not None and cam is not None and keep and cid in diff.config_only:
                new = self.analysis_for(cam)
                new.tracker, new.gate, new.counters = old.tracker, old.gate, old.counters
                self.channels[cid] = new
                feed = self._feeds.get(cid)
                if feed is not None:
                    feed.channel = new  # the reader thread picks up the new rules with its next frame
                log.info("camera %s: rules reloaded (%d rules)", cid, len(new.rules))
                continue
            if old is not None:
                reader = self.readers.pop(cid, None)
                if reader is not None:
                    reader.stop(timeout=3.0)
                self.rings.pop(cid, None)
                self._feeds.pop(cid, None)
                del self.channels[cid]
                log.info("camera %s: stopped (%s)", cid, "removed" if cam is None or not keep else "stream changed")
            if cam is not None and keep:
                ch = self.analysis_for(cam)
                self.channels[cid] = ch
                self._start_reader(cid, ch)
                log.info("camera %s: started", cid)
