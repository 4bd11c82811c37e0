"""Transactional outbox for ``xl:events``: no commit without its push, no push twice.

A change and the events announcing it are written in one database transaction
(:func:`stage`: rows of ``event_outbox`` holding the entries built by
``streams.event_entry``). After the commit the writer pushes its rows
(:meth:`Outbox.relay`) and, once ``WAITAOF`` confirms Redis has them on disk, marks
them sent (:meth:`Outbox.confirm`, about once a second); the :meth:`Outbox.sweep` of
the command worker holding the timer lease pushes every row still unsent after a few
seconds again, waits for ``WAITAOF`` and marks it sent — so a writer that died before
pushing, and a Redis killed before its fsync, both cost a delay, not an event. Relaying is one Lua script per batch that XADDs only the
entries whose ``event_id`` is not yet in the sorted set ``xl:events:relayed``
(kept for a day), so the sweep and a late writer never push the same event twice.

The sorted set is trimmed after a day: a row unsent for longer (no worker ran for a
day) may be pushed a second time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from redis.client import Pipeline
from redis.commands.core import Script
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from command.db import Database
from command.models import OutboxEvent, utcnow
from command.streams import EVENTS_MAXLEN, EVENTS_STREAM, durable_fence, event_entry

log = logging.getLogger("command.outbox")

RELAYED_KEY = "xl:events:relayed"
RELAYED_KEEP_MS = 24 * 3600 * 1000

# KEYS: stream, relayed set. ARGV: maxlen, now (ms), then event_id/event pairs. Returns the new stream ids.
_RELAY_LUA = """
local added = {}
for i = 3, #ARGV, 2 do
  if not redis.call('ZSCORE', KEYS[2], ARGV[i]) then
    added[#added + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[i + 1])
    redis.call('ZADD', KEYS[2], ARGV[2], ARGV[i])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[2]) - %d)
return added
""" % RELAYED_KEEP_MS


def stage(session: Session, entries: Sequence[dict[str, str]]) -> list[OutboxEvent]:
    """Add ``entries`` (from ``streams.event_entry``) to the outbox in ``session``'s transaction."""
    rows = []
    now = utcnow()
    for entry in entries:
        event_id = json.loads(entry["event"])["id"]
        rows.append(OutboxEvent(event_id=event_id, event=entry["event"], created_at=now))
    session.add_all(rows)
    return rows


@dataclass
class Outbox:
    """Relays staged rows to ``xl:events`` and marks them sent; :meth:`sweep` catches what a crash left."""

    database: Database
    redis_client: redis.Redis
    sweep_after: timedelta = timedelta(seconds=5)
    keep_sent: timedelta = timedelta(hours=1)
    batch_size: int = 500
    _script: Script | None = field(default=None, init=False, repr=False)
    _pushed: list[int] = field(default_factory=list, init=False, repr=False)
    _pushed_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _last_prune: float = field(default=0.0, init=False)

    def _relay_script(self) -> Script:
        if self._script is None:
            self._script = self.redis_client.register_script(_RELAY_LUA)
        return self._script

    def push(self, client: redis.Redis | Pipeline, rows: Sequence[OutboxEvent]) -> Any:  # the script's reply (added ids)
        """XADD ``rows`` not yet relayed; ``client`` may be a pipeline (then the caller executes it)."""
        args: list[Any] = [EVENTS_MAXLEN, int(time.time() * 1000)]
        for row in rows:
            args += [row.event_id, row.event]
        return self._relay_script()(keys=[EVENTS_STREAM, RELAYED_KEY], args=args, client=client)

    def pushed(self, rows: Sequence[OutboxEvent]) -> None:
        """Note rows this process pushed; :meth:`confirm` marks them sent once Redis has them on disk."""
        with self._pushed_lock:
            self._pushed.extend(row.id for row in rows)

    def confirm(self) -> int:
        """Mark what this process pushed as sent, after one ``WAITAOF`` covering all of it. Returns rows marked."""
        with self._pushed_lock:
            ids, self._pushed = self._pushed, []
        if not ids:
            return 0
        durable = False
        try:
            durable = durable_fence(self.redis_client)
        finally:
            if not durable:  # unconfirmed: kept for the next call (or, if this process dies, the sweep)
                with self._pushed_lock:
                    self._pushed[:0] = ids
        if not durable:
            return 0
        self.mark_sent(ids)
        return len(ids)

    def mark_sent(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self.database.session() as session:
            session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(list(ids))).values(sent_at=utcnow()))

    def relay(self, rows: Sequence[OutboxEvent]) -> int:
        """After the commit that staged ``rows``: push them now. Returns entries added.

        They are marked sent by the next :meth:`sweep`, once Redis has them on disk: a Redis
        killed before its fsync loses the entry and its dedup mark together, and the sweep
        pushes it again.
        """
        if not rows:
            return 0
        added = len(self.push(self.redis_client, rows))
        self.pushed(rows)
        return added

    def sweep(self, before: datetime | None = None) -> int:
        """Confirm rows staged before ``before`` (default: ``sweep_after`` ago): push them (Redis drops what
        it has), wait until Redis has them on disk, mark them sent; prune old sent rows.

        Returns how many were missing from the stream (a writer died between commit and push, Redis
        was unreachable, or Redis lost them in a restart)."""
        relayed = 0
        cutoff = before or utcnow() - self.sweep_after
        while True:
            with self.database.session() as session:
                rows = list(session.scalars(
                    select(OutboxEvent).where(OutboxEvent.sent_at.is_(None), OutboxEvent.created_at < cutoff)
                    .order_by(OutboxEvent.id).limit(self.batch_size)))
            if not rows:
                break
            added = self.relay(rows)
            if not durable_fence(self.redis_client):
                log.warning("Redis did not confirm %d events on disk in time; they are pushed again on the next sweep", len(rows))
                break
            self.mark_sent([row.id for row in rows])
            relayed += added
            if added:
                log.warning("pushed %d events missing from %s (their writer crashed, Redis was unreachable, "
                            "or lost them in a restart)", added, EVENTS_STREAM)
            if len(rows) < self.batch_size:
                break
        now = time.monotonic()
        if now - self._last_prune >= 60:
            self._last_prune = now
            with self.database.session() as session:
                session.execute(delete(OutboxEvent).where(OutboxEvent.sent_at < utcnow() - self.keep_sent))
        return relayed


def stage_events(session: Session, events: Sequence[tuple[str, dict[str, Any]]]) -> list[OutboxEvent]:
    """Stage ``(type, payload)`` events (payloads carry ``jurisdiction_code``) in ``session``'s transaction."""
    return stage(session, [event_entry(kind, payload["jurisdiction_code"], payload) for kind, payload in events])


def relay_after_commit(database: Database, redis_client: redis.Redis, rows: Sequence[OutboxEvent]) -> None:
    """Push rows just committed; if Redis is unreachable they stay in the outbox for a worker's sweep."""
    try:
        Outbox(database, redis_client).relay(rows)
    except Exception as exc:  # noqa: BLE001 - stored and staged: the sweep pushes them once Redis is back
        log.error("%d events stored but not pushed yet (%s: %s); a command worker relays them within seconds",
                  len(rows), exc.__class__.__name__, exc)
