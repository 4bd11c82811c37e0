"""Device health fed by the analytics worker's own readers: ``device.status`` for every channel.

The worker already receives every ingest reader status event and every decoded frame,
so it is where ``devices.HealthMonitor`` gets its inputs — no second connection to any
camera. The reader threads only hand things over (a status event is queued; a frame is
kept when its channel's sample is due, at most one per ``sample_every_s``, by reference,
no copy); one ``device-health`` thread owns the monitor, runs the video-quality diagnosis
(~5 ms per sample), ticks it and publishes with ``devices.publish_status``, so neither
VQD nor a slow Redis can delay analysis.

Which status a channel gets:

- watched by this worker (``continuous``; ``patrol`` with ``--patrol``): online / offline /
  auth_failed / no_signal / degraded from its reader (patrol: from each visit's result and
  keyframe; a failed visit is offline with the reason, silence alone is not, since visits
  are minutes apart on a big estate);
- analysed but its stream cannot even be built (an unset ``${ENV}`` credential): auth_failed
  or offline with the error;
- not watched (analysis ``off``, disabled, ``patrol`` without ``--patrol``): ``unknown`` with
  the reason — published only when this worker owns the whole registry (no ``--only``),
  so two workers sharing a registry never contradict each other;
- when the worker stops: ``unknown`` ("analytics worker stopped"), since nobody watches.

Failed publishes (Redis down) keep the newest report per channel and retry on each tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

from devices import Camera, HealthMonitor, HealthReport, Registry
from ingest import Frame, StatusEvent

_Watch = tuple[Literal["watch"], Registry, dict[str, str], set[str]]
_Stopped = tuple[Literal["stopped"]]
_Item = Union[StatusEvent, _Watch, _Stopped]

log = logging.getLogger(__name__)

STOPPED_REASON = "not monitored: analytics worker stopped"


@dataclass(frozen=True)
class HealthConfig:
    sample_every_s: float = 5.0  # one frame per channel diagnosed this often (~5 ms of CPU each)
    tick_every_s: float = 2.0
    offline_after_s: float = 30.0  # continuous channel: no frame this long -> offline
    patrol_offline_after_s: float = 3600.0  # patrol: visits are far apart; failed visits report offline
    claim_unwatched: bool = True  # publish ``unknown`` for registry channels this worker does not read
    reference_dir: Path | None = None  # keep each channel's learnt VQD reference across restarts


def unwatched_reason(camera: Camera, patrol_enabled: bool) -> str:
    """Why the analytics worker does not read ``camera`` (shown on the device-health page)."""
    if not camera.enabled:
        return "not monitored: disabled in cameras.yaml"
    mode = camera.analysis.mode
    if mode == "off":
        return "not monitored: analysis mode off (live view only)"
    if mode == "patrol" and not patrol_enabled:
        return "not monitored: patrol camera, analytics runs without --patrol"
    return "not monitored by this analytics worker"


class HealthFeed:
    """Owns a ``devices.HealthMonitor`` over the registry and feeds it from the worker's readers."""

    def __init__(self, registry: Registry, publish: Callable[[HealthReport], object], config: HealthConfig | None = None,
                 patrol_enabled: bool = False, heartbeat: Callable[[dict[str, float]], object] | None = None) -> None:
        self.config = config or HealthConfig()
        self.patrol_enabled = patrol_enabled
        self._publish_raw = publish
        # {camera_id: wall time of its newest sampled frame}, sent after each batch of samples: status
        # events go out on changes only, so this is how the device page knows a frame is recent
        # (web: 在线 only with a frame in the last few seconds).
        self._heartbeat = heartbeat
        self.registry = registry
        self.monitor = HealthMonitor(registry, publish=self._publish, offline_after_s=self.config.offline_after_s,
                                     reference_dir=self.config.reference_dir)
        self._cond = threading.Condition()
        self._events: deque[_Item] = deque()  # status events and commands, in order; never dropped
        self._frames: dict[str, Frame] = {}  # newest due frame per channel
        self._next_sample: dict[str, float] = {}  # channel -> monotonic time its next sample is due
        self._watched: dict[str, str] = {}  # channel -> "continuous" | "patrol" (health thread's view)
        self._retry: dict[str, HealthReport] = {}  # newest unpublished report per channel
        self._sent: dict[str, tuple[str, str]] = {}  # channel -> (status, reason) last published
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0
        self.published = 0
        self.cpu_s = 0.0  # CPU time of the health thread (VQD + publishing)

    # -- called from reader threads / the worker's loop: cheap, never block on VQD or Redis ------------------
    def status(self, event: StatusEvent) -> None:
        """An ``ingest.StatusEvent``."""
        if event.state in ("connecting", "stopped"):
            return  # connecting decides nothing; stopped is our own doing, not the camera's
        with self._cond:
            self._events.append(event)
            self._cond.notify()

    def frame(self, frame: Frame, always: bool = False) -> None:
        """A decoded ``ingest.Frame``; kept only when its channel's sample is due (or ``always``: patrol)."""
        cid = frame.channel_id
        now = time.monotonic()
        if not always and now < self._next_sample.get(cid, 0.0):
            return
        self._next_sample[cid] = now + self.config.sample_every_s
        with self._cond:
            self._frames[cid] = frame
            self._cond.notify()

    def watch(self, registry: Registry, watched: dict[str, str], changed: Iterable[str] = ()) -> None:
        """The registry (after a reload, with the ids whose config changed) and what the worker now reads."""
        command: _Watch = ("watch", registry, dict(watched), set(changed))
        with self._cond:
            self._events.append(command)
            self._cond.notify()

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> "HealthFeed":
        self._thread = threading.Thread(target=self._run, name="device-health", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Drain, mark every watched channel ``unknown`` (nobody watches it any more), stop."""
        with self._cond:
            self._events.append(("stopped",))
            self._cond.notify()
        deadline = time.monotonic() + timeout
        while self._events and time.monotonic() < deadline and self._thread is not None and self._thread.is_alive():
            time.sleep(0.02)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.1, deadline - time.monotonic()))

    def summary(self) -> dict[str, object]:
        # cpu_s next to the whole process's CPU time: what device health costs the worker
        return {"samples": self.samples, "published": self.published, "cpu_s": round(self.cpu_s, 3),
                "process_cpu_s": round(time.process_time(), 1),
                "unpublished": len(self._retry), **{k: v for k, v in self.monitor.summary().items() if v}}

    # -- the health thread ---------------------------------------------------------------------------------------
    def _publish(self, report: HealthReport) -> None:
        self._sent[report.camera_id] = (report.status, report.reason)
        self._retry[report.camera_id] = report  # the newest wins; sent now or on a later tick
        self._flush()

    def _reason_changed(self, cid: str) -> None:
        """The monitor publishes status changes; a new reason within one status matters too on the
        device page (e.g. "frames arriving" -> "picture OK" once the VQD reference is learnt)."""
        channel = self.monitor.channels.get(cid)
        sent = self._sent.get(cid)
        if channel is None or sent is None:
            return
        report = channel.report()
        if (report.status, report.reason) != sent:
            self._publish(report)

    def _flush(self) -> None:
        for cid in list(self._retry):
            report = self._retry[cid]
            try:
                self._publish_raw(report)
            except Exception as exc:  # Redis unreachable: keep it, retry on the next tick
                if not self._failing:
                    log.warning("device status not published (%s); %d channels pending, retrying", exc, len(self._retry))
                self._failing = True
                return
            if self._retry.get(cid) is report:
                del self._retry[cid]
            self.published += 1
            if self._failing:
                log.info("device status publishing recovered")
                self._failing = False

    def _run(self) -> None:
        last_tick = time.monotonic()
        while not self._stop.is_set():
            with self._cond:
                if not self._events and not self._frames:
                    self._cond.wait(self.config.tick_every_s)
                events = list(self._events)
                self._events.clear()
                frames = list(self._frames.values())
                self._frames.clear()
            cpu0 = time.thread_time()
            try:
                for item in events:
                    self._handle(item)
                    if not isinstance(item, tuple):
                        self._reason_changed(item.channel_id)
                for frame in frames:
                    self.samples += 1
                    self.monitor.frame(frame)
                    self._reason_changed(frame.channel_id)
                if frames and self._heartbeat is not None:
                    try:
                        self._heartbeat({f.channel_id: float(f.ts_wall) for f in frames})
                    except Exception as exc:  # Redis unreachable: the next sample tries again
                        log.debug("device heartbeat not sent: %s", exc)
                now = time.monotonic()
                if now - last_tick >= self.config.tick_every_s:
                    last_tick = now
                    self.monitor.tick()
                    if self._retry:
                        self._flush()
            except Exception:  # a bug here must not end device health for the process
                log.exception("device health: unexpected error")
            self.cpu_s += time.thread_time() - cpu0

    def _handle(self, item: _Item) -> None:
        if not isinstance(item, tuple):
            self.monitor.reader_event(item)
            return
        if item[0] == "watch":
            _, registry, watched, changed = item
            self.registry = registry
            self.monitor.apply_registry(registry, changed=changed)
            for cid in changed:
                self._sent.pop(cid, None)
            self._watched = watched
            self._configure()
        elif item[0] == "stopped":
            for cid in self._watched:
                self.monitor.unmonitored(cid, STOPPED_REASON)
            self._watched = {}

    def _configure(self) -> None:
        for cid, channel in self.monitor.channels.items():
            mode = self._watched.get(cid)
            if mode is not None:
                channel.default_offline_after_s = (self.config.patrol_offline_after_s if mode == "patrol"
                                                   else self.config.offline_after_s)
            elif self.config.claim_unwatched:
                self.monitor.unmonitored(cid, unwatched_reason(channel.camera, self.patrol_enabled))
