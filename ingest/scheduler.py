"""Many channels in one process: continuous readers within an fps budget, keyframe patrol (轮巡), promotions.

- **continuous** channels get a persistent :class:`StreamReader` at their fps,
  admitted while the sum of their fps fits ``fps_budget`` (decode is the
  expensive part; past the budget a channel is patrolled instead and the
  report says so, rather than every channel silently running late).
- **patrol** channels are visited round-robin by ``patrol_workers`` threads:
  connect, decode the first keyframe, disconnect. The scheduler measures each
  channel's revisit period (time between two successful visits) and reports it.
- :meth:`ChannelScheduler.promote` turns a channel continuous for N minutes
  (an incident nearby); it falls back to its configured mode afterwards.
- :meth:`ChannelScheduler.sync` reconciles with the registry: removed channels
  have their connection closed at the next packet (well under 2 s on a live stream).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from ingest.channel import ChannelSpec
from ingest.events import Frame, State, StatusEvent
from ingest.reader import ReaderOptions, StreamReader, classify_open_error, grab_keyframe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerConfig:
    fps_budget: float = 200.0  # sum of continuous fps this process may decode
    patrol_workers: int = 8  # concurrent patrol visits
    patrol_min_revisit_s: float = 10.0  # never visit one camera more often than this
    patrol_visit_timeout_s: float = 6.0  # connect + first keyframe
    patrol_auth_cooldown_s: float = 300.0  # wrong credentials: skip the channel this long
    promotion_fps: float = 5.0
    reader_options: ReaderOptions = field(default_factory=ReaderOptions)


@dataclass
class _Channel:
    spec: ChannelSpec  # as configured
    reader: StreamReader | None = None
    promoted_until: float | None = None
    promoted_fps: float | None = None
    over_budget: bool = False
    # patrol bookkeeping
    visits: int = 0
    failures: int = 0
    last_visit: float | None = None
    revisit_s: float | None = None
    revisit_ewma_s: float | None = None
    visit_s_total: float = 0.0
    not_before: float = 0.0
    state: State = "connecting"
    reason: str | None = None
    in_visit: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def effective_mode(self) -> str:
        if self.spec.mode == "off":
            return "off"
        if self.promoted_until is not None or (self.spec.mode == "continuous" and not self.over_budget):
            return "continuous"
        return "patrol"


@dataclass(frozen=True)
class ChannelReport:
    id: str
    configured_mode: str
    mode: str  # effective: continuous | patrol | off
    state: str
    reason: str | None
    fps: float | None
    promoted_until_s: float | None  # seconds from now
    over_budget: bool
    frames_delivered: int
    visits: int
    failures: int
    revisit_s: float | None  # last measured patrol revisit period
    revisit_ewma_s: float | None
    mean_visit_s: float | None


@dataclass(frozen=True)
class SchedulerReport:
    continuous: int
    patrol: int
    off: int
    over_budget: int
    fps_budget: float
    fps_used: float
    patrol_revisit_mean_s: float | None
    patrol_revisit_max_s: float | None
    patrol_visits: int
    channels: list[ChannelReport]


FrameCallback = Callable[[Frame], None]
StatusCallback = Callable[[StatusEvent], None]


class ChannelScheduler:
    """Runs all channels of one ingest process. Thread-safe; call :meth:`stop` to release everything."""

    def __init__(self, on_frame: FrameCallback, on_status: StatusCallback | None = None,
                 config: SchedulerConfig | None = None) -> None:
        self.on_frame = on_frame
        self.on_status = on_status
        self.config = config or SchedulerConfig()
        self._channels: dict[str, _Channel] = {}
        self._patrol_queue: deque[str] = deque()
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._retiring: list[StreamReader] = []

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> "ChannelScheduler":
        if self._threads:
            return self
        self._stopping.clear()
        for i in range(self.config.patrol_workers):
            t = threading.Thread(target=self._patrol_worker, name=f"ingest-patrol-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._housekeeping, name="ingest-scheduler", daemon=True)
        t.start()
        self._threads.append(t)
        with self._lock:
            for ch in self._channels.values():
                self._apply(ch)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            readers = [ch.reader for ch in self._channels.values() if ch.reader] + self._retiring
            for ch in self._channels.values():
                ch.cancel.set()
                ch.reader = None
            self._retiring = []
            self._wake.notify_all()
        for r in readers:
            r.request_stop()
        deadline = time.monotonic() + timeout
        for r in readers:
            r.join(max(0.0, deadline - time.monotonic()))
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def __enter__(self) -> "ChannelScheduler":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- channel set -------------------------------------------------------------------------
    def sync(self, specs: Iterable[ChannelSpec]) -> tuple[list[str], list[str], list[str]]:
        """Make the running set equal ``specs``. Returns (added, removed, changed) ids."""
        wanted = {s.id: s for s in specs}
        with self._lock:
            removed = [cid for cid in self._channels if cid not in wanted]
            for cid in removed:
                self.remove(cid)
            added, changed = [], []
            for cid, spec in wanted.items():
                ch = self._channels.get(cid)
                if ch is None:
                    self.add(spec)
                    added.append(cid)
                elif ch.spec != spec:
                    self.update(spec)
                    changed.append(cid)
        return added, removed, changed

    def add(self, spec: ChannelSpec) -> None:
        with self._lock:
            if spec.id in self._channels:
                raise ValueError(f"channel {spec.id!r} is already scheduled; use update()")
            ch = _Channel(spec)
            self._channels[spec.id] = ch
            self._admit(ch)
            if self._threads:
                self._apply(ch)

    def update(self, spec: ChannelSpec) -> None:
        with self._lock:
            ch = self._channels[spec.id]
            ch.spec = spec
            ch.over_budget = False
            self._admit(ch)
            self._apply(ch)

    def remove(self, channel_id: str) -> None:
        """Forget a channel and close its connection (the reader exits at its next packet)."""
        with self._lock:
            ch = self._channels.pop(channel_id, None)
            if ch is None:
                return
            ch.cancel.set()
            if ch.reader is not None:
                ch.reader.request_stop()
                self._retiring.append(ch.reader)
                ch.reader = None
            try:
                self._patrol_queue.remove(channel_id)
            except ValueError:
                pass

    def promote(self, channel_id: str, minutes: float = 10.0, fps: float | None = None) -> None:
        """Analyse ``channel_id`` continuously for ``minutes`` (extends an active promotion)."""
        with self._lock:
            ch = self._channels.get(channel_id)
            if ch is None:
                raise KeyError(f"channel {channel_id!r} is not scheduled in this process")
            if ch.spec.mode == "off":
                raise ValueError(f"channel {channel_id!r} has analysis mode off; it cannot be promoted")
            until = time.monotonic() + minutes * 60.0
            ch.promoted_until = max(until, ch.promoted_until or 0.0)
            ch.promoted_fps = max(fps or self.config.promotion_fps, ch.spec.fps if ch.spec.mode == "continuous" else 0.0)
            used = self._fps_used()
            if used > self.config.fps_budget:
                log.warning("channel %s promoted past the fps budget (%.0f of %.0f fps)", channel_id, used, self.config.fps_budget)
            self._apply(ch)

    def demote(self, channel_id: str) -> None:
        with self._lock:
            ch = self._channels.get(channel_id)
            if ch is None or ch.promoted_until is None:
                return
            ch.promoted_until = ch.promoted_fps = None
            self._apply(ch)

    def channel_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._channels)

    def reader(self, channel_id: str) -> StreamReader | None:
        with self._lock:
            ch = self._channels.get(channel_id)
            return ch.reader if ch else None

    # ---- placement ---------------------------------------------------------------------------
    def _fps_used(self) -> float:
        total = 0.0
        for ch in self._channels.values():
            if ch.effective_mode == "continuous":
                total += ch.promoted_fps if ch.promoted_until is not None and ch.promoted_fps else ch.spec.fps
        return total

    def _admit(self, ch: _Channel) -> None:
        if ch.spec.mode != "continuous":
            return
        others = self._fps_used() - (ch.spec.fps if ch.effective_mode == "continuous" else 0.0)
        if others + ch.spec.fps > self.config.fps_budget:
            ch.over_budget = True
            log.warning("channel %s: fps budget %.0f exhausted; patrolling it instead of %.1f fps continuous",
                        ch.spec.id, self.config.fps_budget, ch.spec.fps)

    def _effective_spec(self, ch: _Channel) -> ChannelSpec:
        if ch.promoted_until is not None and ch.promoted_fps:
            return replace(ch.spec, mode="continuous", fps=ch.promoted_fps)
        return ch.spec

    def _apply(self, ch: _Channel) -> None:
        """Start/stop/retune the reader or patrol membership to match the effective mode (lock held)."""
        if self._stopping.is_set():
            return
        mode = ch.effective_mode
        if mode == "continuous":
            try:
                self._patrol_queue.remove(ch.spec.id)
            except ValueError:
                pass
            spec = self._effective_spec(ch)
            if ch.reader is None:
                ch.reader = StreamReader(spec, on_frame=self.on_frame, on_status=self._forward_status(ch),
                                         options=self.config.reader_options)
                ch.reader.start()
            elif ch.reader.spec != spec:
                ch.reader.set_spec(spec)
            return
        if ch.reader is not None:
            ch.reader.request_stop()
            self._retiring.append(ch.reader)
            ch.reader = None
        if mode == "patrol" and ch.spec.id not in self._patrol_queue and not ch.in_visit:
            ch.cancel = threading.Event()
            self._patrol_queue.append(ch.spec.id)
            self._wake.notify()

    def _forward_status(self, ch: _Channel) -> Callable[[StatusEvent], None]:
        def forward(event: StatusEvent) -> None:
            ch.state, ch.reason = event.state, event.reason
            if self.on_status is not None and event.state != "stopped":
                self.on_status(event)
        return forward

    def _set_patrol_state(self, ch: _Channel, state: State, reason: str | None, retry: float | None = None) -> None:
        if (ch.state, ch.reason) == (state, reason):
            return
        ch.state, ch.reason = state, reason
        if self.on_status is not None:
            try:
                self.on_status(StatusEvent(ch.spec.id, state, reason, retry_in_s=retry))
            except Exception:
                log.exception("on_status callback failed")

    # ---- threads -------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        while not self._stopping.wait(0.25):
            now = time.monotonic()
            with self._lock:
                for ch in list(self._channels.values()):
                    if ch.promoted_until is not None and now >= ch.promoted_until:
                        log.info("channel %s: promotion over, back to %s", ch.spec.id, ch.spec.mode)
                        ch.promoted_until = ch.promoted_fps = None
                        self._apply(ch)
                for ch in self._channels.values():  # budget freed by removals/demotions: re-admit
                    if ch.over_budget and self._fps_used() + ch.spec.fps <= self.config.fps_budget:
                        ch.over_budget = False
                        self._apply(ch)
                self._retiring = [r for r in self._retiring if r.is_alive()]

    def _next_patrol(self) -> _Channel | None:
        """Pop the next channel due for a visit (lock held); waits while none is due."""
        while not self._stopping.is_set():
            now = time.monotonic()
            for _ in range(len(self._patrol_queue)):
                cid = self._patrol_queue.popleft()
                ch = self._channels.get(cid)
                if ch is None or ch.effective_mode != "patrol":
                    continue
                if ch.not_before > now:
                    self._patrol_queue.append(cid)
                    continue
                ch.in_visit = True
                return ch
            soonest = min((self._channels[c].not_before for c in self._patrol_queue if c in self._channels), default=now + 1.0)
            self._wake.wait(max(0.01, min(1.0, soonest - now)))
        return None

    def _patrol_worker(self) -> None:
        cfg = self.config
        while not self._stopping.is_set():
            with self._lock:
                ch = self._next_patrol()
                if ch is None:
                    return
                spec, cancel, seq = ch.spec, ch.cancel, ch.visits + 1
            started = time.monotonic()
            frame = None
            state: State = "online"
            reason: str | None = None
            try:
                frame, _params = grab_keyframe(spec, cfg.reader_options, cancel, cfg.patrol_visit_timeout_s, seq)
            except InterruptedError:
                state = "stopped"
            except Exception as exc:
                state, reason = classify_open_error(exc, spec)
            ended = time.monotonic()
            with self._lock:
                ch.in_visit = False
                if self._channels.get(spec.id) is not ch or state == "stopped":
                    continue
                ch.visit_s_total += ended - started
                if frame is not None:
                    ch.visits += 1
                    if ch.last_visit is not None:
                        ch.revisit_s = ended - ch.last_visit
                        ch.revisit_ewma_s = ch.revisit_s if ch.revisit_ewma_s is None else 0.8 * ch.revisit_ewma_s + 0.2 * ch.revisit_s
                    ch.last_visit = ended
                    ch.not_before = ended + cfg.patrol_min_revisit_s
                    self._set_patrol_state(ch, "online", None)
                else:
                    ch.failures += 1
                    cooldown = cfg.patrol_auth_cooldown_s if state == "auth_failed" else max(cfg.patrol_min_revisit_s, 2.0)
                    ch.not_before = ended + cooldown
                    self._set_patrol_state(ch, state, reason, cooldown)
                if ch.effective_mode == "patrol":
                    self._patrol_queue.append(spec.id)
                    self._wake.notify()
            if frame is not None:
                try:
                    self.on_frame(frame)
                except Exception:
                    log.exception("channel %s: on_frame callback failed", spec.id)

    # ---- reporting -------------------------------------------------------------------------------
    def report(self) -> SchedulerReport:
        now = time.monotonic()
        with self._lock:
            rows = []
            for ch in self._channels.values():
                mode = ch.effective_mode
                r = ch.reader
                state, reason = (r.state, r.reason) if r is not None else (ch.state, ch.reason)
                if mode == "off":
                    state, reason = "stopped", "analysis off (live view only)"
                spec = self._effective_spec(ch)
                rows.append(ChannelReport(
                    id=ch.spec.id, configured_mode=ch.spec.mode, mode=mode, state=state, reason=reason,
                    fps=spec.fps if mode == "continuous" else None,
                    promoted_until_s=(ch.promoted_until - now) if ch.promoted_until else None,
                    over_budget=ch.over_budget,
                    frames_delivered=(r.stats.frames_delivered if r else 0) + ch.visits,
                    visits=ch.visits, failures=ch.failures, revisit_s=ch.revisit_s, revisit_ewma_s=ch.revisit_ewma_s,
                    mean_visit_s=(ch.visit_s_total / (ch.visits + ch.failures)) if (ch.visits + ch.failures) else None,
                ))
            fps_used = self._fps_used()
        revisits = [c.revisit_s for c in rows if c.mode == "patrol" and c.revisit_s is not None]
        return SchedulerReport(
            continuous=sum(c.mode == "continuous" for c in rows),
            patrol=sum(c.mode == "patrol" for c in rows),
            off=sum(c.mode == "off" for c in rows),
            over_budget=sum(c.over_budget for c in rows),
            fps_budget=self.config.fps_budget, fps_used=fps_used,
            patrol_revisit_mean_s=sum(revisits) / len(revisits) if revisits else None,
            patrol_revisit_max_s=max(revisits) if revisits else None,
            patrol_visits=sum(c.visits for c in rows),
            channels=sorted(rows, key=lambda c: c.id),
        )
