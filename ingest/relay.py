"""Live-view relay: one upstream RTSP connection per camera, encoded packets fanned out to N viewers.

Cameras allow only a handful of RTSP sessions, and transcoding costs a core
per stream, so viewers never connect to the camera and nothing is decoded:
the relay demuxes once and hands the same (immutable) packets to every
subscriber. Each camera also keeps a :class:`PacketRing` of the last N seconds
(the pre-event buffer analytics cuts clips from).

- A new subscriber first receives the ring from its latest keyframe, so
  playback starts at once instead of waiting up to a GOP ("fast start").
- A slow subscriber never slows the others: when its queue is full it drops
  packets up to the next keyframe (a picture freeze, not corruption), counted
  in ``dropped``.
- After a reconnect the camera's timestamps restart (``EncodedPacket.session``
  changes); subscribers resume at the next keyframe.
- The upstream opens on the first subscriber and closes ``linger_s`` after the
  last one leaves, unless the source is ``always_on`` (keeps the ring filling).

asyncio use (e.g. an aiortc track)::

    async with relay.subscribe("cam01") as sub:
        params = await sub.wait_params(5)
        async for packet in sub:
            ...
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ingest.channel import ChannelSpec
from ingest.events import EncodedPacket, StatusEvent, StreamParams
from ingest.packets import PacketRing
from ingest.reader import ReaderOptions, StreamReader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelayStats:
    camera_id: str
    upstream: str  # reader state, or "idle" when no upstream is open
    subscribers: int
    packets: int
    ring_seconds: float
    dropped: int  # packets dropped for slow subscribers (all subscribers, cumulative)


class Subscription:
    """One viewer. Use as ``async with`` + ``async for``; or pass ``callback`` for thread use."""

    def __init__(self, relay: "LiveRelay", camera_id: str, max_queue: int, callback: Callable[[EncodedPacket], None] | None = None) -> None:
        self.relay = relay
        self.camera_id = camera_id
        self.max_queue = max_queue
        self.dropped = 0
        self.closed = False
        self._callback = callback
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[EncodedPacket | None] | None = None
        self._waiting_key = True
        self._session: int | None = None
        self._pending = 0  # packets scheduled onto the loop but not yet queued (thread side)
        self._lock = threading.Lock()

    @property
    def params(self) -> StreamParams | None:
        return self.relay.params(self.camera_id)

    async def wait_params(self, timeout: float = 10.0) -> StreamParams:
        """The stream's codec parameters once the upstream is connected."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (p := self.params) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"camera {self.camera_id}: upstream not connected after {timeout:.0f} s")
            await asyncio.sleep(0.05)
        return p

    # -- async API --
    async def __aenter__(self) -> "Subscription":
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self.relay._attach(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> EncodedPacket:
        if self._queue is None:
            raise RuntimeError("use 'async with relay.subscribe(...)' before iterating")
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def get(self, timeout: float | None = None) -> EncodedPacket | None:
        """Next packet, or None when the subscription is closed."""
        if self._queue is None:
            raise RuntimeError("use 'async with relay.subscribe(...)' first")
        return await asyncio.wait_for(self._queue.get(), timeout)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.relay._detach(self)
        self._deliver_end()

    # -- called by the relay (reader thread) --
    def _offer(self, packet: EncodedPacket) -> None:
        with self._lock:
            if self.closed:
                return
            if packet.session != self._session:
                self._session = packet.session
                self._waiting_key = True  # new connection: timestamps restart, need a keyframe
            if self._waiting_key:
                if not packet.keyframe:
                    self.dropped += 1
                    return
                self._waiting_key = False
            if self._callback is not None:
                self._callback(packet)
                return
            backlog = self._pending + (self._queue.qsize() if self._queue is not None else 0)
            if backlog >= self.max_queue:
                self.dropped += 1
                self._waiting_key = True
                self._pending += 1
                self._loop.call_soon_threadsafe(self._flush)  # type: ignore[union-attr]
                return
            self._pending += 1
        try:
            self._loop.call_soon_threadsafe(self._put, packet)  # type: ignore[union-attr]
        except RuntimeError:  # loop closed under us: the viewer is gone
            self.closed = True

    def _put(self, packet: EncodedPacket) -> None:
        with self._lock:
            self._pending -= 1
        if not self.closed:
            self._queue.put_nowait(packet)  # type: ignore[union-attr]

    def _flush(self) -> None:
        """Slow viewer: throw away its backlog; it resumes at the next keyframe."""
        with self._lock:
            self._pending -= 1
        q = self._queue
        while q is not None and not q.empty():
            if q.get_nowait() is not None:
                self.dropped += 1

    def _deliver_end(self) -> None:
        if self._loop is not None and self._queue is not None:
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
            except RuntimeError:
                pass


@dataclass
class _Source:
    spec: ChannelSpec
    always_on: bool
    ring: PacketRing
    reader: StreamReader | None = None
    subscribers: list[Subscription] = field(default_factory=list)
    linger: threading.Timer | None = None
    dropped_closed: int = 0


class LiveRelay:
    """Owns the upstream readers of a set of cameras (usually their main streams)."""

    def __init__(self, ring_seconds: float = 10.0, linger_s: float = 5.0, max_queue: int = 300,
                 options: ReaderOptions | None = None, on_status: Callable[[StatusEvent], None] | None = None) -> None:
        self.ring_seconds = ring_seconds
        self.linger_s = linger_s
        self.max_queue = max_queue
        self.options = replace_decode_off(options or ReaderOptions())
        self.on_status = on_status
        self._sources: dict[str, _Source] = {}
        self._lock = threading.RLock()
        self._closed = False

    # ---- sources ----------------------------------------------------------------------
    def add_source(self, spec: ChannelSpec, always_on: bool = False) -> None:
        with self._lock:
            if spec.id in self._sources:
                raise ValueError(f"camera {spec.id!r} already has a relay source")
            src = _Source(spec, always_on, PacketRing(self.ring_seconds))
            self._sources[spec.id] = src
            if always_on:
                self._open(src)

    def remove_source(self, camera_id: str) -> None:
        """Close the upstream and end every subscription of a camera."""
        with self._lock:
            src = self._sources.pop(camera_id, None)
        if src is None:
            return
        self._shutdown(src)

    def sync(self, specs: Iterable[ChannelSpec], always_on: bool = False) -> None:
        wanted = {s.id: s for s in specs}
        with self._lock:
            for cid in [c for c in self._sources if c not in wanted or self._sources[c].spec != wanted[c]]:
                self.remove_source(cid)
            for cid, spec in wanted.items():
                if cid not in self._sources:
                    self.add_source(spec, always_on)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sources = list(self._sources.values())
            self._sources.clear()
        for src in sources:
            self._shutdown(src)

    def __enter__(self) -> "LiveRelay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- subscribers --------------------------------------------------------------------
    def subscribe(self, camera_id: str, max_queue: int | None = None,
                  callback: Callable[[EncodedPacket], None] | None = None) -> Subscription:
        """A subscription for ``async with``; with ``callback`` it is attached at once (thread use).

        Raises KeyError for an unknown camera.
        """
        with self._lock:
            if camera_id not in self._sources:
                raise KeyError(f"camera {camera_id!r} has no relay source; add_source() it first")
        sub = Subscription(self, camera_id, max_queue or self.max_queue, callback)
        if callback is not None:
            self._attach(sub)
        return sub

    def _attach(self, sub: Subscription) -> None:
        with self._lock:
            src = self._sources.get(sub.camera_id)
            if src is None or self._closed:
                raise KeyError(f"camera {sub.camera_id!r} has no relay source")
            if src.linger is not None:
                src.linger.cancel()
                src.linger = None
            # fast start: the GOP in progress, from its keyframe
            for packet in src.ring.snapshot(since=float("inf")):
                sub._offer(packet)
            src.subscribers.append(sub)
            if src.reader is None:
                self._open(src)

    def _detach(self, sub: Subscription) -> None:
        with self._lock:
            src = self._sources.get(sub.camera_id)
            if src is None or sub not in src.subscribers:
                return
            src.subscribers.remove(sub)
            src.dropped_closed += sub.dropped
            if not src.subscribers and not src.always_on and src.reader is not None:
                src.linger = threading.Timer(self.linger_s, self._linger_expired, args=(src,))
                src.linger.daemon = True
                src.linger.start()

    def _linger_expired(self, src: _Source) -> None:
        with self._lock:
            if src.subscribers or src.always_on or src.reader is None:
                return
            reader, src.reader, src.linger = src.reader, None, None
        reader.stop(2.0)

    # ---- upstream -------------------------------------------------------------------------
    def _open(self, src: _Source) -> None:
        # Ring push and fan-out happen under the relay lock so a subscriber that
        # attaches concurrently sees each packet exactly once and in order
        # (either in its fast-start backlog or live). _offer never blocks.
        def fanout(packet: EncodedPacket) -> None:
            with self._lock:
                src.ring.push(packet)
                for sub in src.subscribers:
                    sub._offer(packet)

        src.reader = StreamReader(src.spec, on_packet=fanout, on_status=self.on_status, options=self.options,
                                  on_params=lambda _cid, params: src.ring.set_params(params))
        src.reader.start()

    def _shutdown(self, src: _Source) -> None:
        if src.linger is not None:
            src.linger.cancel()
        if src.reader is not None:
            src.reader.stop(2.0)
            src.reader = None
        for sub in list(src.subscribers):
            sub.closed = True
            sub._deliver_end()
        src.subscribers.clear()

    # ---- introspection --------------------------------------------------------------------
    def ring(self, camera_id: str) -> PacketRing:
        with self._lock:
            return self._sources[camera_id].ring

    def params(self, camera_id: str) -> StreamParams | None:
        with self._lock:
            src = self._sources.get(camera_id)
            return src.ring.params if src else None

    def stats(self) -> list[RelayStats]:
        with self._lock:
            return [
                RelayStats(
                    cid, s.reader.state if s.reader else "idle", len(s.subscribers),
                    s.reader.stats.packets if s.reader else 0, s.ring.span_s(),
                    s.dropped_closed + sum(x.dropped for x in s.subscribers),
                )
                for cid, s in sorted(self._sources.items())
            ]


def replace_decode_off(options: ReaderOptions) -> ReaderOptions:
    from dataclasses import replace

    return replace(options, decode=False)
