"""Turning a rule event into an alert on ``xl:alerts``: snapshot, clip path, ``command.AlertIn``, XADD.

Publishing never blocks analysis and does not lose alerts to a Redis outage: a publisher
thread does the XADD; while Redis is unreachable alerts go to a spool on local disk
(``analytics.spool``) and are replayed in order when it is back.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from analytics.rules import RuleEvent
from analytics.spool import AlertSpool
from analytics.snapshot import alert_label, render_snapshot

from command import AlertIn, durable_fence, publish_alert
from devices import Camera

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

# XADD of one alert and its snapshot on a client (or a pipeline: redis-py's Pipeline is a Redis).
Publish = Callable[["redis.Redis", "AlertIn", bytes], object]
# True once Redis has what was published on disk (command.durable_fence).
Fence = Callable[["redis.Redis"], bool]


def build_alert(camera: Camera, event: RuleEvent, width: int, height: int, clip_path: str | None = None,
                alert_id: str | None = None) -> AlertIn:
    """The ``command.AlertIn`` for ``event`` on ``camera`` (a ``devices.Camera``)."""
    return AlertIn(
        alert_id=alert_id or uuid.uuid4().hex,
        camera_id=camera.id,
        camera_name=camera.name,
        jurisdiction_code=str(camera.jurisdiction),
        lat=camera.position.lat,
        lon=camera.position.lon,
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
    """Publishes alerts with ``command.publish_alert`` from its own thread, in submission order.

    Analysis never waits for Redis: ``submit`` only queues. Alerts wait in memory (up to
    ``max_pending``) while Redis keeps up. With a ``spool`` (the analytics worker always has
    one), an alert that cannot be published — Redis unreachable, or the memory queue full —
    moves to the spool on local disk together with everything queued behind it, and new
    alerts queue behind them there; the thread replays the spool in order with back-off
    (0.5 s → 5 s) and returns to memory once it is empty. Without a spool the oldest alerts
    are dropped (counted, logged) beyond ``max_pending``.
    """

    def __init__(self, redis_client: redis.Redis, max_pending: int = 1000, publish: Publish | None = None,
                 spool: AlertSpool | None = None, encode: Callable[[AlertIn], bytes] | None = None,
                 decode: Callable[[bytes], AlertIn] | None = None, replay_batch: int = 5000,
                 fence: Fence | None = None) -> None:
        if publish is None:  # the real thing: XADD, and durable only once Redis fsynced it
            publish = publish_alert
            if fence is None:
                fence = durable_fence
        self._publish: Publish = publish
        self._fence: Fence | None = fence
        self._redis = redis_client
        self._pending: deque[tuple[AlertIn, bytes]] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.max_pending = max_pending
        self.spool = spool
        self._encode = encode or (lambda alert: alert.model_dump_json().encode())
        self._decode = decode or _decode_alert
        self._replay_batch = replay_batch
        # Retrying costs one refused connect: a short cap replays the spool soon after Redis is back.
        self.max_retry_s = 5.0
        self.published = 0
        self.dropped = 0
        self.spooled = 0
        self._thread = threading.Thread(target=self._run, name="alert-publisher", daemon=True)
        self._thread.start()

    def set_client(self, redis_client: redis.Redis) -> None:
        with self._cond:
            self._redis = redis_client
            self._cond.notify_all()

    def submit(self, alert: AlertIn, snapshot_jpeg: bytes) -> None:
        with self._cond:
            if self.spool is not None and (len(self.spool) or len(self._pending) >= self.max_pending):
                self._spill()  # keeps the order: whatever is queued goes to disk before this one
                self._to_spool(alert, snapshot_jpeg)
            else:
                if len(self._pending) >= self.max_pending:
                    self._pending.popleft()
                    self.dropped += 1
                    log.error("alert queue full (%d): dropped the oldest alert; is Redis reachable?", self.max_pending)
                self._pending.append((alert, snapshot_jpeg))
            self._cond.notify_all()

    def _to_spool(self, alert: AlertIn, jpeg: bytes) -> None:
        assert self.spool is not None
        try:
            self.spool.append(self._encode(alert), bytes(jpeg))
            self.spooled += 1
        except OSError as exc:  # disk full or gone: the one case left that loses an alert
            self.dropped += 1
            log.error("alert %s lost: Redis unreachable and the spool %s cannot be written (%s)",
                      alert.alert_id, self.spool.path, exc)

    def _spill(self) -> None:
        """Move the memory queue to the spool (caller holds the lock)."""
        while self._pending:
            self._to_spool(*self._pending.popleft())

    def _run(self) -> None:
        delay = 0.5
        failing = False
        while not self._stop.is_set():
            with self._cond:
                while not self._pending and not (self.spool is not None and len(self.spool)) and not self._stop.is_set():
                    self._cond.wait(0.5)
                client = self._redis
                replaying = self.spool is not None and len(self.spool) > 0
                batch = [] if replaying else list(itertools.islice(self._pending, self.max_pending))
            if not replaying and not batch:
                continue
            try:
                if replaying:
                    self._replay(client)
                else:
                    self._publish_batch(client, batch)
                    self._confirm(client)  # kept (and spooled on failure) until Redis has them on disk
            except Exception as exc:  # redis.ConnectionError, TimeoutError, ...
                with self._cond:
                    if self.spool is not None:
                        self._spill()
                    if not failing:
                        log.warning("cannot publish alerts (%s); %d waiting%s, retrying", exc, self.pending,
                                    f" in {self.spool.path}" if self.spool is not None else "")
                    failing = True
                    self._cond.wait(delay)  # woken early by set_client / close
                delay = min(self.max_retry_s, delay * 2)
                continue
            if batch:
                with self._cond:
                    # Spilled to the spool meanwhile (queue full)? Then they are published again from
                    # there, which the intake absorbs by alert_id.
                    if self._pending and self._pending[0] is batch[0]:
                        for _ in batch:
                            self._pending.popleft()
                    self.published += len(batch)
            if failing:
                log.info("alert publishing recovered; %d still to replay", self.pending)
            failing, delay = False, 0.5

    def _publish_batch(self, client: redis.Redis, batch: list[tuple[AlertIn, bytes]]) -> None:
        """One round trip for the batch (a pipeline): replaying a long outage's spool keeps up with new alerts."""
        pipe = client.pipeline(transaction=False)
        for alert, jpeg in batch:
            self._publish(pipe, alert, jpeg)
        pipe.execute()

    def _confirm(self, client: redis.Redis) -> None:
        """Return once Redis has fsynced what was just published (``WAITAOF``); raise if it does not in time.

        An acknowledged XADD is not yet on disk: a Redis killed within its fsync interval loses it.
        Alerts leave this publisher's hands only once they are durable, so such a loss is re-sent
        (a duplicate the intake drops by ``alert_id``) instead of being lost.
        """
        if self._fence is not None and not self._fence(client):
            raise TimeoutError("Redis did not confirm the alerts on disk in time")

    def _replay(self, client: redis.Redis) -> None:
        """Publish one batch from the spool, oldest first; recorded as replayed once Redis has it on disk."""
        assert self.spool is not None
        records = self.spool.read(self._replay_batch)
        self._publish_batch(client, [(self._decode(r.alert), r.jpeg) for r in records])
        self._confirm(client)
        self.spool.commit(records)
        with self._cond:
            self.published += len(records)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until nothing waits in memory or in the spool (or ``timeout``); True if everything was published."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.pending

    def close(self, timeout: float = 5.0) -> None:
        """Publish what waits (up to ``timeout``), keep the rest in the spool, then stop the thread."""
        self.flush(timeout)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(max(2.0, timeout))
        with self._cond:
            if self.spool is not None:
                self._spill()
                if len(self.spool):
                    log.warning("%d alerts kept in %s; they are published when the worker next runs",
                                len(self.spool), self.spool.path)
                self.spool.close()
            elif self._pending:
                log.error("%d alerts not published at shutdown (Redis unreachable)", len(self._pending))

    @property
    def pending(self) -> int:
        """Alerts not yet on Redis: in memory plus in the spool."""
        return len(self._pending) + (len(self.spool) if self.spool is not None else 0)


def _decode_alert(raw: bytes) -> AlertIn:
    return AlertIn.model_validate_json(raw)


def snapshot_for(frame: np.ndarray, event: RuleEvent, polygon_px: np.ndarray | None = None) -> bytes:
    label = alert_label(event.rule_kind, event.object_class, event.confidence)
    return render_snapshot(frame, event.boxes, label, polygon_px)


def clip_path_for(media_dir: Path, camera_id: str, alert_id: str, ts: float) -> Path:
    day = datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d")
    return media_dir / "clips" / camera_id / day / f"{alert_id}.mp4"
