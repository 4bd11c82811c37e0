"""``xueliang command run``: the alert consumer and the SLA/escalation timer loop.

At-least-once delivery from the ``command`` consumer group on ``xl:alerts``:
entries are acknowledged only after the incident is committed, so a crash
redelivers them, and ``alert_id`` idempotency makes the redelivery harmless.
Entries left pending by a dead consumer are taken over with XAUTOCLAIM.
A malformed entry is moved to ``xl:alerts:dead`` with the reason, never dropped.
The events of a batch are committed with its incidents (``command.outbox``) and
pushed to ``xl:events`` before the XACK.

Several workers may run side by side: they share the intake through the consumer
group, and the one holding the ``sla-timers`` lease (``command.lease``) also runs
the SLA/escalation timers and the outbox sweep; when it dies another takes over
within the lease's expiry.
"""

from __future__ import annotations

import gc
import os
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from command.db import Database, open_database
from command.device_faults import DEVICE_FAULT_GROUP, DeviceFaultConsumer
from command.epochs import stale_alerts
from command.incidents import MERGE_WINDOW, IntakeResult, intake_alerts
from command.media import snapshot_relpath, store_snapshots
from command.models import utcnow
from command.schemas import AlertIn
from command.lease import TIMERS_LEASE, Lease
from command.outbox import Outbox, stage
from command.streams import ALERTS_GROUP, ALERTS_STREAM, CONSUMER_GROUP, EVENTS_STREAM, event_entry
from command.views import NameCache, incident_payload
from xueliang.runtime import stop_requested_by_signals

log = logging.getLogger("command.worker")

DEAD_LETTER_STREAM = "xl:alerts:dead"


@dataclass
class WorkerStats:
    processed: int = 0
    created: int = 0
    merged: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    reclaimed: int = 0
    db_errors: int = 0
    timer_runs: int = 0


@dataclass
class AlertConsumer:
    """One consumer in group ``command``. Drive it with :meth:`run` or :meth:`step` (tests)."""

    database: Database
    redis_client: redis.Redis
    media_dir: Path
    consumer_name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    clock: Callable[[], datetime] = utcnow
    batch_size: int = 500
    block_ms: int = 100
    claim_idle_ms: int = 30_000
    timer_interval_s: float = 2.0
    # Several workers share the intake; the lease picks the one that runs the timers and the outbox sweep.
    timer_lease: Lease | None = None
    lease_check_s: float = 1.0
    sweep_interval_s: float = 2.0
    confirm_interval_s: float = 1.0
    merge_window: timedelta = MERGE_WINDOW
    stats: WorkerStats = field(default_factory=WorkerStats)
    names: NameCache = field(default_factory=NameCache)
    # device.status → device-fault work orders; polled between alert batches, never blocking them
    device_faults: DeviceFaultConsumer | None = None
    device_poll_s: float = 0.5
    device_tick_s: float = 5.0
    outbox: Outbox = field(init=False)  # on database and redis_client
    _own_pending: bool = field(default=True, init=False)  # start by re-reading our own PEL
    _last_claim: float = field(default=0.0, init=False)
    _last_timers: float = field(default=0.0, init=False)
    _last_lease: float = field(default=0.0, init=False)
    _last_sweep: float = field(default=0.0, init=False)
    _last_confirm: float = field(default=0.0, init=False)
    _last_device_poll: float = field(default=0.0, init=False)
    _last_device_tick: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.database, self.redis_client)

    def close(self) -> None:
        """Kept for callers that release the consumer explicitly; it holds no threads or files."""

    def ensure_group(self) -> None:
        ALERTS_GROUP.ensure(self.redis_client)

    # ---- reading --------------------------------------------------------------------------

    def _read(self, stream_id: str, block_ms: int | None) -> list[tuple[bytes, dict[bytes, bytes]]]:
        entries = ALERTS_GROUP.read(self.redis_client, self.consumer_name, stream_id, count=self.batch_size, block=block_ms)
        trimmed = [eid for eid, fields in entries if not fields]
        if trimmed:  # trimmed away while pending: nothing left to process
            ALERTS_GROUP.call(self.redis_client, lambda: self.redis_client.xack(ALERTS_STREAM, CONSUMER_GROUP, *trimmed))
        return [(eid, fields) for eid, fields in entries if fields]

    def reclaim(self) -> int:
        """Take over entries idle longer than ``claim_idle_ms`` in other consumers' PELs and process them."""
        total, cursor = 0, "0-0"
        while True:
            def autoclaim(start: bytes | str = cursor) -> list[Any]:
                return list(self.redis_client.xautoclaim(ALERTS_STREAM, CONSUMER_GROUP, self.consumer_name,
                                                         self.claim_idle_ms, start_id=start, count=self.batch_size))

            reply = ALERTS_GROUP.call(self.redis_client, autoclaim)
            cursor, entries = reply[0], reply[1]
            entries = [(eid, f) for eid, f in entries if f is not None]
            if entries:
                total += len(entries)
                self.process(entries)
            if cursor in (b"0-0", "0-0"):
                break
        if total:
            self.stats.reclaimed += total
            log.info("reclaimed %d pending alerts from dead consumers", total)
        return total

    def trim(self, approximate: bool = True) -> None:
        """Drop acknowledged entries from ``xl:alerts`` so Redis holds only the backlog.

        Snapshots ride in the stream, so keeping 100k acknowledged entries would pin
        gigabytes of JPEGs in Redis memory. Everything older than the oldest pending
        entry and the group's last delivered id has been committed and acknowledged.
        """
        try:
            info = self.redis_client.xinfo_groups(ALERTS_STREAM)
        except redis.ResponseError:
            return  # no stream yet (or Redis restarted empty): nothing to trim
        groups = {(g["name"].decode() if isinstance(g["name"], bytes) else g["name"]): g for g in info}
        group = groups.get(CONSUMER_GROUP)
        if group is None or len(groups) > 1:
            return  # another group also reads the stream: leave trimming to MAXLEN
        last = group["last-delivered-id"]
        last = last.decode() if isinstance(last, bytes) else last
        pending = ALERTS_GROUP.call(self.redis_client, lambda: self.redis_client.xpending(ALERTS_STREAM, CONSUMER_GROUP))
        floor = pending["min"] if pending["pending"] else None
        floor = floor.decode() if isinstance(floor, bytes) else floor
        if floor is None:
            ms, seq = (int(x) for x in last.split("-"))
            floor = f"{ms}-{seq + 1}"
        self.redis_client.xtrim(ALERTS_STREAM, minid=floor, approximate=approximate)

    def step(self, block_ms: int | None = None) -> int:
        """Process one batch (own pending entries first, then new ones). Returns entries handled."""
        block = self.block_ms if block_ms is None else block_ms
        if self._own_pending:
            entries = self._read("0", None)
            if entries:
                return self.process(entries)
            self._own_pending = False
        entries = self._read(">", block)
        return self.process(entries) if entries else 0

    # ---- processing -----------------------------------------------------------------------

    def process(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> int:
        """Store snapshots, create/merge incidents in one transaction, publish events, then XACK."""
        parsed: list[tuple[AlertIn, bytes]] = []
        ids: list[bytes] = []
        dead: list[tuple[bytes, str, dict[bytes, bytes]]] = []
        for entry_id, fields in entries:
            try:
                alert = AlertIn.model_validate_json(fields.get(b"alert", b""))
            except ValidationError as exc:
                dead.append((entry_id, f"invalid alert: {exc.errors(include_url=False)}", fields))
                continue
            parsed.append((alert, fields.get(b"snapshot", b"")))
            ids.append(entry_id)
        stale = stale_alerts(self.redis_client, [a for a, _ in parsed])
        if stale:  # from a cluster shard that lost the camera (command.epochs): never an incident
            raw = dict(entries)
            dead += [(eid, f"stale epoch {a.epoch} < {stale[a.alert_id]}: camera {a.camera_id} moved to another shard", raw[eid])
                     for eid, (a, _) in zip(ids, parsed) if a.alert_id in stale]
            keep = [i for i, (a, _) in enumerate(parsed) if a.alert_id not in stale]
            ids, parsed = [ids[i] for i in keep], [parsed[i] for i in keep]
        items: list[tuple[AlertIn, str | None]] = [(a, snapshot_relpath(a.alert_id, a.ts, jpeg)) for a, jpeg in parsed]
        if dead:
            self._dead_letter(dead)
        if not items:
            return len(entries)
        try:
            # Files first, outside the transaction (which then holds SQLite's write lock for
            # less time): a stored incident never points at a missing snapshot, and a file
            # written for a batch that then fails is rewritten, same name, on redelivery.
            store_snapshots(self.media_dir, {path: jpeg for (_, path), (_, jpeg) in zip(items, parsed) if path}.items())
            with self.database.session() as session:
                results = intake_alerts(session, items, now=self.clock(), window=self.merge_window)
                staged = stage(session, self._events(session, results))  # committed with the incidents
        except (OperationalError, DBAPIError, OSError) as exc:
            # Leave the entries pending; they are re-read from our PEL once the database
            # (or the media disk) is back.
            self.stats.db_errors += 1
            self._own_pending = True
            log.warning("database or media storage unavailable (%s: %s); %d alerts stay pending and will be retried",
                        exc.__class__.__name__, exc, len(items))
            raise DatabaseUnavailable(str(exc)) from exc
        pipe = self.redis_client.pipeline(transaction=False)
        if staged:
            self.outbox.push(pipe, staged)
        pipe.xack(ALERTS_STREAM, CONSUMER_GROUP, *ids)
        pipe.execute()
        self.outbox.pushed(staged)  # marked sent by confirm() once Redis has them on disk
        for result in results:
            self.stats.processed += 1
            if result.duplicate:
                self.stats.duplicates += 1
            elif result.created:
                self.stats.created += 1
            else:
                self.stats.merged += 1
        return len(entries)

    def _events(self, session: Session, results: list[IntakeResult]) -> list[dict[str, str]]:
        events, seen = [], set()
        created_now = {r.incident.id for r in results if r.created}
        for result in results:
            if not result.created and not result.duplicate and result.incident.id in created_now:
                continue  # its incident.created payload already shows the merged source
            if result.duplicate:
                continue  # its event was committed with it (outbox)
            kind = "incident.created" if result.created else "incident.updated"
            key = (result.incident.id, kind)
            if key in seen:
                continue
            seen.add(key)
            events.append(event_entry(kind, result.incident.jurisdiction_code,
                                      incident_payload(session, result.incident, self.names)))
        return events

    def _dead_letter(self, dead: list[tuple[bytes, str, dict[bytes, bytes]]]) -> None:
        pipe = self.redis_client.pipeline(transaction=False)
        for entry_id, reason, fields in dead:
            log.error("alert entry %s rejected: %s (kept in %s)", entry_id.decode(), reason, DEAD_LETTER_STREAM)
            pipe.xadd(DEAD_LETTER_STREAM, {"entry_id": entry_id, "reason": reason[:2000], "alert": fields.get(b"alert", b"")})
            pipe.xack(ALERTS_STREAM, CONSUMER_GROUP, entry_id)
        pipe.execute()
        self.stats.dead_lettered += len(dead)

    # ---- timers ---------------------------------------------------------------------------

    def run_timers(self) -> list[int]:
        """One pass of the SLA/escalation timers; publishes incident.updated for what changed."""
        from command.supervision import run_timers

        with self.database.session() as session:
            if self.timer_lease is not None and not self.timer_lease.renew_in(session):
                return []  # another worker holds the timers now
            changed = run_timers(session, now=self.clock())
            staged = stage(session, [event_entry("incident.updated", incident.jurisdiction_code,
                                                 incident_payload(session, incident, self.names)) for incident in changed])
        try:
            self.outbox.relay(staged)
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # committed and staged: the sweep pushes them
            log.warning("timer updates stored; their push waits for Redis (%s)", exc.__class__.__name__)
        self.stats.timer_runs += 1
        return [i.id for i in changed]

    def run_singletons(self, now: float) -> None:
        """The work one worker does for all: the SLA timers and the outbox sweep, on the lease holder."""
        if now - self._last_confirm >= self.confirm_interval_s:
            self._last_confirm = now
            try:
                self.outbox.confirm()  # every worker: the events it pushed itself
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("outbox confirmation waits for Redis (%s)", exc.__class__.__name__)
        lease = self.timer_lease
        if lease is not None and now - self._last_lease >= self.lease_check_s:
            self._last_lease = now
            had = lease.held
            if lease.try_hold() and not had:
                self._last_timers = 0.0  # just took over: run the timers now, not an interval later
                if self.device_faults is not None:
                    self.device_faults.resume()  # the previous holder's state and pending entries
        if lease is not None and not lease.held:
            return
        if now - self._last_timers >= self.timer_interval_s:
            self._last_timers = now
            self.run_timers()
        if now - self._last_sweep >= self.sweep_interval_s:
            self._last_sweep = now
            try:
                self.outbox.sweep()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("outbox sweep waits for Redis (%s)", exc.__class__.__name__)

    def run_device_faults(self, now: float) -> None:
        """Poll ``xl:events`` for device.status (non-blocking) and tick the grace timers, when due.

        A database or Redis failure here only delays the device work: it is logged, retried
        after ``device_poll_s``, and the alert intake keeps going.
        """
        faults = self.device_faults
        if faults is None or now - self._last_device_poll < self.device_poll_s:
            return
        if self.timer_lease is not None and not self.timer_lease.held:
            return  # its per-camera state lives in one process: the lease holder's
        self._last_device_poll = now
        try:
            if faults.step() >= faults.batch_size:
                self._last_device_poll = 0.0  # a backlog: read on the next turn of the loop too
            if now - self._last_device_tick >= self.device_tick_s:
                self._last_device_tick = now
                faults.tick()
        except (OperationalError, DBAPIError, redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("device-fault work orders delayed (%s: %s); retrying", exc.__class__.__name__, exc)
        except Exception:  # noqa: BLE001 - a device-fault bug must not stop alert intake; the entries stay pending
            log.exception("device-fault work orders failed; the status events stay pending and are retried")

    # ---- loop -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: the intake here, and in a second thread the lease holder's work.

        The timers, the outbox sweep and device faults run beside the intake, so a long batch
        (or a Redis outage: they need only the database) never holds up the SLA clock or a
        lease takeover. The intake waits for both stores and backs off at most 2 s on Redis,
        10 s on the database.
        """
        singletons = threading.Thread(target=self._run_singletons_loop, args=(stop,), name="command-timers", daemon=True)
        singletons.start()
        try:
            self._run_intake_loop(stop)
        finally:
            stop.set()
            singletons.join(30)

    def _run_singletons_loop(self, stop: threading.Event, tick_s: float = 0.25) -> None:
        while not stop.is_set():
            now = time.monotonic()
            try:
                self.run_singletons(now)
            except (OperationalError, DBAPIError) as exc:
                log.warning("timers delayed: database unavailable (%s)", exc.__class__.__name__)
            except Exception:  # noqa: BLE001 - a timer bug must not stop the intake; logged, retried next tick
                log.exception("timer pass failed; retrying")
            self.run_device_faults(now)
            stop.wait(tick_s)

    def _run_intake_loop(self, stop: threading.Event) -> None:
        started = False
        backoff = 0.5
        while not stop.is_set():
            now = time.monotonic()
            try:
                if not started:
                    self.ensure_group()
                    if self.device_faults is not None:
                        self.device_faults.ensure_group()
                    # events a crashed predecessor committed but never pushed: relay them now, not a sweep later
                    self.outbox.sweep(before=utcnow())
                    started = True
                if now - self._last_claim >= max(1.0, self.claim_idle_ms / 3000):
                    self._last_claim = now
                    self.reclaim()
                    self.trim()
                self.step()
                backoff = 0.5
            except DatabaseUnavailable:
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except (OperationalError, DBAPIError) as exc:
                log.warning("database error: %s", exc.__class__.__name__)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("redis unavailable (%s); retrying in %.1fs", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)


class DatabaseUnavailable(RuntimeError):
    pass


def run_worker(
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    consumer_name: str | None = None,
    media_dir: str | Path | None = None,
    device_fault_grace_s: float | None = None,
    metrics_port: int | None = None,
    claim_idle_s: float = 30.0,
) -> int:
    """Run until SIGTERM/SIGINT; returns 0 on a clean stop."""
    from xueliang.settings import Settings

    settings = Settings()
    redis_url = redis_url or settings.redis_url
    if not redis_url:
        log.error("no Redis configured: set REDIS_URL (xueliang demo starts one and passes it)")
        return 2
    grace_s = settings.device_fault_grace_s if device_fault_grace_s is None else device_fault_grace_s
    if grace_s < 0:
        log.error("device-fault grace must be >= 0 seconds, got %s (--device-fault-grace / XUELIANG_DEVICE_FAULT_GRACE_S)", grace_s)
        return 2
    stop = stop_requested_by_signals(log, "finishing the current batch")
    database = open_database(database_url or settings.resolved_database_url(), upgrade=True)
    client = redis.Redis.from_url(redis_url, socket_timeout=10, health_check_interval=30)
    consumer = AlertConsumer(
        database=database,
        redis_client=client,
        media_dir=Path(media_dir) if media_dir else settings.media_dir,
        consumer_name=consumer_name or f"{socket.gethostname()}-{os.getpid()}",
        claim_idle_ms=int(claim_idle_s * 1000),
    )
    consumer.timer_lease = Lease(database, TIMERS_LEASE, consumer.consumer_name)
    consumer.device_faults = DeviceFaultConsumer(
        # One name for all workers: only the lease holder consumes, and a new holder re-reads the pending
        # entries its predecessor left.
        database=database, redis_client=client, consumer_name="lease-holder",
        grace=timedelta(seconds=grace_s),
    )
    log.info("command worker %s consuming %s (group %s) and device.status from %s (group %s, grace %.0f s)",
             consumer.consumer_name, ALERTS_STREAM, CONSUMER_GROUP, EVENTS_STREAM, DEVICE_FAULT_GROUP, grace_s)
    # Everything imported and set up so far lives as long as the process: moved out of the
    # collector's reach, a full collection no longer walks it (measured: 140-160 ms pauses
    # every few seconds under load, each one a latency spike for a whole batch).
    from command.metrics import CommandCollector
    from xueliang.runtime.metrics import serve_metrics

    serve_metrics(metrics_port, CommandCollector(consumer, CONSUMER_GROUP, DEAD_LETTER_STREAM))
    gc.freeze()
    try:
        consumer.run(stop)
    finally:
        try:
            consumer.timer_lease.release()  # the next worker takes the timers over at once
        except (OperationalError, DBAPIError) as exc:
            log.warning("could not release the timer lease (%s); it expires on its own", exc.__class__.__name__)
        consumer.close()
        client.close()
        database.dispose()
        log.info("command worker stopped: %s; device faults: %s", consumer.stats, consumer.device_faults.stats)
    return 0
