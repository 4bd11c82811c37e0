"""Per-channel device status (online / offline / auth_failed / no_signal / degraded).

:class:`ChannelHealth` is a small state machine fed by what ingest already knows —
reader state changes (connecting, online, offline, auth_failed) and sampled decoded
frames — plus the video-quality diagnosis of those frames. It returns a
:class:`HealthReport` whenever the status changes, which :mod:`devices.health.events`
publishes as a ``device.status`` event so command/ can open a device-fault work
order and web/ can colour the camera on the map.

devices/ must not import ingest/, so the inputs are plain values (state strings,
``numpy`` frames, epoch seconds), exactly what ``ingest.StatusEvent`` and
``ingest.Frame`` carry.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, Field

from devices.health.vqd import FAULT_LABELS_ZH, Fault, VideoQualityAnalyzer, VqdThresholds
from devices.registry import Camera, Registry

log = logging.getLogger(__name__)


class DeviceStatus(StrEnum):
    online = "online"
    offline = "offline"            # unreachable, timed out, or no frame for too long
    auth_failed = "auth_failed"    # the camera refused our credentials
    no_signal = "no_signal"        # connected, but the picture is a black/blue/colour-bar screen
    degraded = "degraded"          # connected, picture faulty (frozen, blurred, covered, ...)
    unknown = "unknown"            # nobody watches this channel (analysis off, not patrolled, worker stopped)


class HealthReport(BaseModel):
    """The status of one channel, as published in ``device.status`` events."""

    camera_id: str
    camera_name: str
    jurisdiction_code: str
    status: DeviceStatus
    reason: str
    since: datetime = Field(description="when the channel entered this status (UTC)")
    last_frame_at: datetime | None = None
    faults: dict[str, str] = Field(default_factory=dict, description="video-quality fault -> explanation")
    metrics: dict[str, float] = Field(default_factory=dict)
    checked_at: datetime


_NOT_RECEIVING = (DeviceStatus.offline, DeviceStatus.auth_failed, DeviceStatus.unknown)


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class ReaderEvent(Protocol):
    """What health reads of an ``ingest.StatusEvent`` (devices/ sits below ingest/ and cannot import it)."""

    @property
    def channel_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def ts(self) -> float: ...


class SampledFrame(Protocol):
    """What health reads of an ``ingest.Frame``."""

    @property
    def channel_id(self) -> str: ...
    @property
    def image(self) -> np.ndarray: ...
    @property
    def ts_wall(self) -> float: ...


class ChannelHealth:
    """Status of one channel; every ``observe_*`` returns a report when the status changed."""

    def __init__(self, camera: Camera, *, offline_after_s: float = 30.0, vqd_every_s: float = 0.0,
                 thresholds: VqdThresholds | None = None, reference_dir: Path | None = None, now: float | None = None) -> None:
        self.camera = camera
        settings = camera.health
        # The camera's own `health.offline_after_s` wins over the default its owner sets (and may change).
        self._own_offline_after_s = settings.offline_after_s if settings else None
        self.default_offline_after_s = offline_after_s
        self.vqd_every_s = vqd_every_s  # 0 = diagnose every frame given (the caller samples)
        # The camera's own `health:` block of cameras.yaml tunes the limits and silences faults.
        self.ignored: frozenset[Fault] = frozenset(Fault(f) for f in settings.ignore) if settings else frozenset()
        if settings is not None:
            thresholds = replace(thresholds or VqdThresholds(), **settings.vqd.model_dump(exclude_none=True))
        # With reference_dir the learnt healthy scene survives restarts (one .npz per channel).
        ref_path = Path(reference_dir) / f"{camera.id}.npz" if reference_dir is not None else None
        self.analyzer = VideoQualityAnalyzer(thresholds, reference_path=ref_path)
        start = time.time() if now is None else now
        self._status = DeviceStatus.offline
        self._reason = "not connected yet"
        self._since = start
        self._checked = start
        self._last_frame: float | None = None
        self._last_vqd: float | None = None
        self._faults: dict[Fault, str] = {}
        self._metrics: dict[str, float] = {}

    @property
    def offline_after_s(self) -> float:
        """Silence before the channel is offline: the camera's `health.offline_after_s`, else the default."""
        return self._own_offline_after_s or self.default_offline_after_s

    @property
    def status(self) -> DeviceStatus:
        return self._status

    def report(self) -> HealthReport:
        return HealthReport(
            camera_id=self.camera.id, camera_name=self.camera.name, jurisdiction_code=self.camera.jurisdiction,
            status=self._status, reason=self._reason, since=datetime.fromtimestamp(self._since, UTC), last_frame_at=_dt(self._last_frame),
            faults={str(f): why for f, why in self._faults.items()},
            metrics={k: round(v, 4) for k, v in self._metrics.items()}, checked_at=datetime.fromtimestamp(self._checked, UTC),
        )

    def _set(self, status: DeviceStatus, reason: str, ts: float) -> HealthReport | None:
        self._checked = ts
        if status == self._status and reason == self._reason:
            return None
        changed = status != self._status
        self._status, self._reason = status, reason
        if changed:
            self._since = ts
            return self.report()
        return self.report() if status == DeviceStatus.degraded else None  # a different fault set matters

    # -- inputs ----------------------------------------------------------------------------
    def observe_reader_state(self, state: str, reason: str | None = None, ts: float | None = None) -> HealthReport | None:
        """A reader state change (``ingest.StatusEvent.state``: connecting/online/offline/auth_failed/stopped)."""
        ts = time.time() if ts is None else ts
        if state == "auth_failed":
            return self._set(DeviceStatus.auth_failed, reason or "the camera rejected the credentials", ts)
        if state in ("offline", "stopped"):
            return self._set(DeviceStatus.offline, reason or f"reader {state}", ts)
        return None  # connecting/online: the first frame decides

    def observe_frame(self, image: np.ndarray | None, ts: float | None = None) -> HealthReport | None:
        """A decoded frame arrived (``image`` may be None when only its arrival is known)."""
        ts = time.time() if ts is None else ts
        self._last_frame = ts
        if image is None:
            if self._status in _NOT_RECEIVING:
                return self._set(DeviceStatus.online, "frames arriving", ts)
            return None
        if self._last_vqd is not None and ts - self._last_vqd < self.vqd_every_s:
            if self._status in _NOT_RECEIVING:
                return self._set(DeviceStatus.online, "frames arriving", ts)
            return None
        self._last_vqd = ts
        result = self.analyzer.analyze(image)
        faults = {f: why for f, why in result.faults.items() if f not in self.ignored}
        self._faults, self._metrics = faults, result.metrics
        if Fault.signal_loss in faults:
            return self._set(DeviceStatus.no_signal, f"{FAULT_LABELS_ZH[Fault.signal_loss]}: {faults[Fault.signal_loss]}", ts)
        if faults:
            reason = "; ".join(f"{FAULT_LABELS_ZH[f]}: {why}" for f, why in sorted(faults.items()))
            return self._set(DeviceStatus.degraded, reason, ts)
        return self._set(DeviceStatus.online, "picture OK" if result.reference_ready else "frames arriving", ts)

    def set_unmonitored(self, reason: str, ts: float | None = None) -> HealthReport | None:
        """Nothing reads this channel (e.g. its analysis is off): its status is ``unknown``, not offline."""
        ts = time.time() if ts is None else ts
        self._faults, self._metrics = {}, {}
        return self._set(DeviceStatus.unknown, reason, ts)

    def tick(self, now: float | None = None) -> HealthReport | None:
        """Call periodically: a channel without frames for ``offline_after_s`` is offline."""
        now = time.time() if now is None else now
        if self._status in (DeviceStatus.offline, DeviceStatus.auth_failed, DeviceStatus.unknown):
            return None
        if self._last_frame is None or now - self._last_frame > self.offline_after_s:
            return self._set(DeviceStatus.offline, f"no frame for {self.offline_after_s:.0f} s", now)
        return None


class HealthMonitor:
    """The :class:`ChannelHealth` of every channel of a registry; follows registry reloads.

    Wiring to ingest is one line each (duck-typed, devices/ does not import ingest/)::

        monitor = HealthMonitor(registry, publish=lambda r: publish_status(redis_client, r))
        monitor.reader_event(status_event)   # ingest.StatusEvent: channel_id, state, reason, ts
        monitor.frame(frame)                 # ingest.Frame: channel_id, image, ts_wall (sampled)
        monitor.tick()                       # every few seconds: silent channels go offline
        monitor.unmonitored("cam09", "analysis mode off")   # a channel nobody reads: unknown

    Besides every status change, a channel's *first* known state is published even when it
    equals the initial "offline, not connected yet" (a camera dead from the start must show up
    as offline with its reason, not stay unknown forever).
    """

    def __init__(self, registry: Registry, *, publish: Callable[[HealthReport], object] | None = None, **options: Any) -> None:
        self._options = options
        self._publish = publish
        self.channels: dict[str, ChannelHealth] = {c.id: ChannelHealth(c, **options) for c in registry}
        self._published: set[str] = set()

    def apply_registry(self, registry: Registry, changed: Iterable[str] = ()) -> None:
        """After a reload: new channels start offline, removed ones are dropped, changed ones start over."""
        fresh = set(changed)
        self.channels = {
            c.id: (self.channels[c.id] if c.id in self.channels and c.id not in fresh else ChannelHealth(c, **self._options))
            for c in registry
        }
        self._published = {cid for cid in self._published if cid in self.channels and cid not in fresh}

    def __getitem__(self, camera_id: str) -> ChannelHealth:
        return self.channels[camera_id]

    def _emit(self, report: HealthReport | None) -> HealthReport | None:
        if report is not None:
            self._published.add(report.camera_id)
            if self._publish is not None:
                try:
                    self._publish(report)
                except Exception:  # a Redis hiccup must not stop the readers feeding us
                    log.exception("publishing device status of %s failed", report.camera_id)
        return report

    def _first(self, channel: ChannelHealth, report: HealthReport | None) -> HealthReport | None:
        """``report``, or the channel's current state if it has never been published."""
        if report is None and channel.camera.id not in self._published:
            report = channel.report()
        return self._emit(report)

    def reader_event(self, event: ReaderEvent) -> HealthReport | None:
        """An ``ingest.StatusEvent`` (``channel_id``, ``state``, ``reason``, ``ts``)."""
        channel = self.channels.get(event.channel_id)
        if channel is None:
            return None
        report = channel.observe_reader_state(event.state, getattr(event, "reason", None), getattr(event, "ts", None))
        if event.state in ("offline", "auth_failed"):
            return self._first(channel, report)
        return self._emit(report)

    def frame(self, frame: SampledFrame) -> HealthReport | None:
        """A sampled ``ingest.Frame`` (``channel_id``, ``image``, ``ts_wall``)."""
        channel = self.channels.get(frame.channel_id)
        if channel is None:
            return None
        return self._first(channel, channel.observe_frame(frame.image, getattr(frame, "ts_wall", None)))

    def unmonitored(self, camera_id: str, reason: str, ts: float | None = None) -> HealthReport | None:
        """Nobody reads ``camera_id`` (analysis off, patrol not run, ...): status ``unknown`` with ``reason``."""
        channel = self.channels.get(camera_id)
        if channel is None:
            return None
        return self._first(channel, channel.set_unmonitored(reason, ts))

    def tick(self, now: float | None = None) -> list[HealthReport]:
        return [r for ch in self.channels.values() if (r := self._emit(ch.tick(now))) is not None]

    def reports(self) -> list[HealthReport]:
        return [ch.report() for ch in self.channels.values()]

    def summary(self) -> dict[str, int]:
        counts = Counter(ch.status.value for ch in self.channels.values())
        return {s.value: counts.get(s.value, 0) for s in DeviceStatus}
