"""Turning a rule event into an alert on ``xl:alerts``: snapshot, clip path, ``command.AlertIn``, XADD.

Publishing never blocks analysis and never loses an alert silently: a publisher thread
does the XADD; when Redis is unreachable alerts wait in a bounded in-memory queue and
are retried with back-off; the oldest are dropped (counted, logged) only when it is full.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from analytics.rules import RuleEvent
from analytics.snapshot import render_snapshot

log = logging.getLogger(__name__)


def build_alert(camera: Any, event: RuleEvent, width: int, height: int, clip_path: str | None = None, alert_id: str | None = None) -> Any:
    """The ``command.AlertIn`` for ``event`` on ``camera`` (a ``devices.Camera``)."""
    from command import AlertIn

    position = getattr(camera, "position", None)
    return AlertIn(
        alert_id=alert_id or uuid.uuid4().hex,
        camera_id=camera.id,
        camera_name=camera.name,
        jurisdiction_code=str(camera.jurisdiction),
        lat=getattr(position, "lat", None),
        lon=getattr(position, "lon", None),
        rule_id=event.rule_id,
        rule_kind=event.rule_kind,
        object_class=event.object_class,
        confidence=float(min(1.0, max(0.0, event.confidence))),
        track_id=event.track_id,
        ts=datetime.fromtimestamp(event.ts, UTC),
        boxes=[[float(v) for v in b] for b in event.boxes],
        frame_width=width,
        frame_height=height,
        dedup_key=event.dedup_key,
        clip_path=clip_path,
    )


class AlertPublisher:
    """Publishes alerts with ``command.publish_alert`` from its own thread.

    Analysis never waits for Redis: ``submit`` only queues. While Redis is unreachable the
    thread retries with back-off (0.5 s → 30 s) and the queue holds up to ``max_pending``
    alerts; beyond that the oldest are dropped, counted and logged.
    """

    def __init__(self, redis_client: Any, max_pending: int = 1000, publish: Callable[..., Any] | None = None) -> None:
        if publish is None:
            from command import publish_alert as publish
        self._publish = publish
        self._redis = redis_client
        self._pending: deque[tuple[Any, bytes]] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.max_pending = max_pending
        self.published = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="alert-publisher", daemon=True)
        self._thread.start()

    def set_client(self, redis_client: Any) -> None:
        with self._cond:
            self._redis = redis_client
            self._cond.notify_all()

    def submit(self, alert: Any, snapshot_jpeg: bytes) -> None:
        with self._cond:
            if len(self._pending) >= self.max_pending:
                self._pending.popleft()
                self.dropped += 1
                log.error("alert queue full (%d): dropped the oldest alert; is Redis reachable?", self.max_pending)
            self._pending.append((alert, snapshot_jpeg))
            self._cond.notify_all()

    def _run(self) -> None:
        delay = 0.5
        failing = False
        while not self._stop.is_set():
            with self._cond:
                while not self._pending and not self._stop.is_set():
                    self._cond.wait(0.5)
                if not self._pending:
                    continue
                alert, jpeg = self._pending[0]
                client = self._redis
            try:
                self._publish(client, alert, jpeg)
            except Exception as exc:  # redis.ConnectionError, TimeoutError, ...
                if not failing:
                    log.warning("cannot publish alerts (%s); %d queued, retrying", exc, self.pending)
                failing = True
                with self._cond:  # woken early by set_client / close
                    self._cond.wait(delay)
                delay = min(30.0, delay * 2)
                continue
            with self._cond:
                if self._pending and self._pending[0][0] is alert:
                    self._pending.popleft()
                self.published += 1
            if failing:
                log.info("alert publishing recovered")
            failing, delay = False, 0.5

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the queue is empty (or ``timeout``); True if everything was published."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.pending

    def close(self, timeout: float = 5.0) -> None:
        """Publish what is queued (up to ``timeout``), then stop the thread."""
        self.flush(timeout)
        if self.pending:
            log.error("%d alerts not published at shutdown (Redis unreachable)", self.pending)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(2.0)

    @property
    def pending(self) -> int:
        return len(self._pending)


def snapshot_for(frame: np.ndarray, event: RuleEvent, polygon_px: np.ndarray | None = None) -> bytes:
    label = f"{event.rule_kind} {event.object_class} {event.confidence:.2f}"
    return render_snapshot(frame, event.boxes, label, polygon_px)


def clip_path_for(media_dir: Path, camera_id: str, alert_id: str, ts: float) -> Path:
    day = datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d")
    return media_dir / "clips" / camera_id / day / f"{alert_id}.mp4"
