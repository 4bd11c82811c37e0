"""Fan-out of the ``xl:events`` Redis Stream to WebSocket clients.

One tail loop per web process reads the stream (XREAD BLOCK) and hands each entry
to every subscriber whose scope covers the event's ``jurisdiction_code``. A
reconnecting client passes the last stream id it saw; it first gets the backlog
after that id from the stream itself (XRANGE), then the live entries, with
duplicates at the seam dropped by id — so nothing is missed and nothing repeated.
A subscriber that cannot keep up is disconnected (it reconnects and resumes)
rather than slowing everyone else or buffering without bound.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis as AsyncRedis

from command import EVENTS_STREAM, decode_event

log = logging.getLogger("web.events")

STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
BACKLOG_CHUNK = 500


def parse_stream_id(value: str) -> tuple[int, int]:
    if not STREAM_ID.match(value):
        raise ValueError(f"last_event_id must look like '1700000000000-0', got {value!r}")
    ms, seq = value.split("-")
    return int(ms), int(seq)


def _s(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SubscriberLagged(Exception):
    """The client fell too far behind; it should reconnect with its last id."""


@dataclass(eq=False)
class Subscription:
    accepts: Callable[[dict], bool]
    maxsize: int = 1000
    queue: asyncio.Queue = field(init=False)
    lagged: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.maxsize)

    def offer(self, message: dict) -> None:
        if self.lagged or not self.accepts(message):
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.lagged = True  # nothing more is queued; the reader drains, then disconnects


Entry = tuple[bytes | str | None, dict[bytes | str, bytes | str] | None]  # one XRANGE / XREAD entry


def _xread_entries(result: object) -> list[Entry]:
    """The entries of an XREAD answer (RESP2 ``[[stream, entries]]`` or RESP3 ``{stream: entries}``)."""
    if not result:
        return []
    pairs = result.items() if isinstance(result, dict) else result
    return [entry for _stream, entries in cast("Iterable[tuple[object, list[Entry]]]", pairs) for entry in entries]


def to_message(entry_id: bytes | str | None, fields: dict[Any, Any] | None) -> dict[str, Any] | None:
    """The JSON pushed to clients: the event plus ``stream_id`` (the resume cursor)."""
    try:
        event = decode_event(fields or {})
    except (ValueError, TypeError) as exc:
        log.warning("skipping malformed %s entry %s: %s", EVENTS_STREAM, _s(entry_id), exc)
        return None
    event["stream_id"] = _s(entry_id)
    return event


class EventHub:
    """Tails ``xl:events`` once and fans entries out to subscribers."""

    def __init__(self, redis_client: AsyncRedis, *, stream: str = EVENTS_STREAM, block_ms: int = 1000) -> None:
        self._redis = redis_client
        self.stream = stream
        self._block_ms = block_ms
        self._subscribers: set[Subscription] = set()
        self._task: asyncio.Task | None = None
        self._last_id = "$"
        self._listeners: list[Callable[[dict], None]] = []

    def add_listener(self, listener: Callable[[dict], None]) -> None:
        """Called with every event the tail reads (e.g. to keep the device-status board current)."""
        self._listeners.append(listener)

    async def replay(self, listener: Callable[[dict], None], *, types: tuple[str, ...], until: str = "+") -> int:
        """Feed the retained history of ``types`` up to ``until`` to ``listener`` (startup backfill)."""
        cursor, seen = "-", 0
        while True:
            entries = await self._redis.xrange(self.stream, min=cursor, max=until, count=BACKLOG_CHUNK) or []
            for entry_id, fields in entries:
                seen += 1
                cursor = f"({_s(entry_id)}"
                message = to_message(entry_id, fields)
                if message is not None and message.get("type") in types:
                    listener(message)
            if len(entries) < BACKLOG_CHUNK:
                return seen

    async def start(self, from_id: str | None = None) -> None:
        # Start from the current end (or ``from_id``): history is served per client from XRANGE.
        self._last_id = from_id or await self.head_id()
        self._task = asyncio.create_task(self._tail(), name="xl-events-tail")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def head_id(self) -> str:
        info = await self._redis.xrevrange(self.stream, count=1)
        return _s(info[0][0]) if info else "0-0"

    async def _tail(self) -> None:
        backoff = 0.5
        while True:
            try:
                result = await self._redis.xread({self.stream: self._last_id}, block=self._block_ms, count=500)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarts must not kill pushes for good
                log.warning("reading %s failed (%s); retrying in %.1fs", self.stream, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            for entry_id, fields in _xread_entries(result):
                self._last_id = _s(entry_id)
                message = to_message(entry_id, fields)
                if message is None:
                    continue
                for listener in self._listeners:
                    listener(message)
                for sub in list(self._subscribers):
                    sub.offer(message)

    async def subscribe(self, accepts: Callable[[dict], bool], last_event_id: str | None) -> AsyncIterator[dict]:
        """Yield messages accepted by ``accepts``: first the backlog after ``last_event_id``, then live ones."""
        sub = Subscription(accepts)
        self._subscribers.add(sub)  # before reading the backlog, so nothing falls in the gap
        try:
            sent = (0, 0)
            if last_event_id:
                cursor = last_event_id
                sent = parse_stream_id(last_event_id)
                while True:
                    entries = await self._redis.xrange(self.stream, min=f"({cursor}", max="+", count=BACKLOG_CHUNK) or []
                    for entry_id, fields in entries:
                        cursor = _s(entry_id)
                        sent = parse_stream_id(cursor)
                        message = to_message(entry_id, fields)
                        if message is not None and accepts(message):
                            yield message
                    if len(entries) < BACKLOG_CHUNK:
                        break
            while True:
                if sub.lagged and sub.queue.empty():
                    raise SubscriberLagged("client fell behind the event stream; reconnect with last_event_id")
                message = await sub.queue.get()
                if parse_stream_id(message["stream_id"]) <= sent:
                    continue
                sent = parse_stream_id(message["stream_id"])
                yield message
        finally:
            self._subscribers.discard(sub)
