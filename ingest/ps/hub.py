"""One INVITE per GB channel, shared by every consumer of its PS stream.

The first consumer of a channel makes the hub open a media port, INVITE the
device to send there and start fanning the ordered PS bytes out; later
consumers join with the cached stream map and the bytes since the last keyframe.
When the last one leaves, the session lingers ``linger_s`` then BYE. A session
that stops delivering for ``stall_s`` is re-INVITEd; a BYE from the device too.
A slow consumer loses its oldest data, never anyone else's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from devices.gb28181 import Invite, MediaMode
from ingest.ps.gop import GopCache
from ingest.ps.psm import sanitize
from ingest.ps.receiver import MediaReceiver

log = logging.getLogger(__name__)


class Inviter(Protocol):
    def next_ssrc(self, *, playback: bool = False) -> str: ...

    async def invite(self, channel_id: str, *, host: str, port: int, mode: MediaMode = "udp", ssrc: str | None = None,
                     playback: tuple[int, int] | None = None, timeout_s: float = 10.0) -> Invite: ...

    async def bye(self, invite: Invite) -> None: ...


class Consumer:
    """An async iterator of PS byte chunks for one viewer/reader; ``close()`` when done."""

    def __init__(self, hub: GbMediaHub, channel_id: str, max_bytes: int) -> None:
        self.hub, self.channel_id, self.max_bytes = hub, channel_id, max_bytes
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.queued = 0
        self.dropped = 0
        self.closed = False

    def put(self, chunk: bytes) -> None:
        if self.queued + len(chunk) > self.max_bytes:
            while self.queued + len(chunk) > self.max_bytes and not self.queue.empty():
                old = self.queue.get_nowait()
                self.queued -= len(old or b"")
                self.dropped += 1
        self.queue.put_nowait(chunk)
        self.queued += len(chunk)

    async def get(self) -> bytes | None:
        chunk = await self.queue.get()
        self.queued -= len(chunk or b"")
        return chunk

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.hub._release(self)  # noqa: SLF001


def session_key(channel_id: str, playback: tuple[int, int] | None = None) -> str:
    """Live sessions are shared per channel; a playback session per (channel, start, end)."""
    return channel_id if playback is None else f"{channel_id}~{playback[0]}-{playback[1]}"


@dataclass
class _Session:
    channel_id: str
    receiver: MediaReceiver
    playback: tuple[int, int] | None = None
    invite: Invite | None = None
    consumers: set[Consumer] = field(default_factory=set)
    cache: GopCache = field(default_factory=GopCache)
    opened_at: float = field(default_factory=time.monotonic)
    first_data_at: float | None = None
    last_data_at: float = 0.0
    reinvites: int = 0
    bad_maps: int = 0
    linger: asyncio.TimerHandle | None = None
    watch: asyncio.Task[None] | None = None


class GbMediaHub:
    def __init__(self, inviter: Inviter, *, media_host: str = "127.0.0.1", bind_host: str = "0.0.0.0", mode: MediaMode = "udp",
                 linger_s: float = 5.0, stall_s: float = 6.0, max_consumer_bytes: int = 16 * 1024 * 1024,
                 invite_timeout_s: float = 10.0) -> None:
        self.inviter = inviter
        self.media_host, self.bind_host, self.mode = media_host, bind_host, mode
        self.linger_s, self.stall_s = linger_s, stall_s
        self.max_consumer_bytes = max_consumer_bytes
        self.invite_timeout_s = invite_timeout_s
        self.sessions: dict[str, _Session] = {}
        self._opening: dict[str, asyncio.Future[_Session]] = {}

    async def subscribe(self, channel_id: str, playback: tuple[int, int] | None = None) -> Consumer:
        """A consumer of the channel's live PS, or of its recording between *playback* = (start, end) unix seconds
        (INVITE ``s=Playback``); LookupError (with the reason) when the device cannot send it."""
        key = session_key(channel_id, playback)
        session = self.sessions.get(key)
        if session is None:
            pending = self._opening.get(key)
            if pending is None:
                pending = self._opening[key] = asyncio.get_running_loop().create_future()
                try:
                    session = await self._open(channel_id, playback)
                except BaseException as exc:
                    pending.set_exception(exc if isinstance(exc, Exception) else LookupError(str(exc)))
                    pending.exception()  # retrieved: no "never retrieved" warning when nobody else waits
                    raise
                finally:
                    self._opening.pop(key, None)
                pending.set_result(session)
            else:
                session = await asyncio.shield(pending)
        if session.linger is not None:
            session.linger.cancel()
            session.linger = None
        consumer = Consumer(self, key, self.max_consumer_bytes)
        start = session.cache.start()
        if start:
            consumer.put(start)
        session.consumers.add(consumer)
        return consumer

    async def _open(self, channel_id: str, playback: tuple[int, int] | None = None) -> _Session:
        session: _Session | None = None

        def on_data(chunk: bytes) -> None:
            if session is not None:
                self._on_data(session, chunk)

        receiver = MediaReceiver(self.mode, on_data, host=self.bind_host, name=channel_id)
        port = await receiver.start()
        session = _Session(channel_id, receiver, playback)
        try:
            await self._invite(session, port)
        except BaseException:
            await receiver.close()
            raise
        self.sessions[session_key(channel_id, playback)] = session
        session.watch = asyncio.create_task(self._watch(session))
        return session

    async def _invite(self, session: _Session, port: int) -> None:
        ssrc = self.inviter.next_ssrc(playback=session.playback is not None)
        session.receiver.retarget(int(ssrc))
        invite = await self.inviter.invite(session.channel_id, host=self.media_host, port=port, mode=self.mode, ssrc=ssrc,
                                           playback=session.playback, timeout_s=self.invite_timeout_s)
        if invite.ssrc != ssrc:  # the device chose another y=: follow it
            session.receiver.retarget(int(invite.ssrc) if invite.ssrc.isdigit() else None)
        if self.mode == "tcp-active":
            await session.receiver.connect(invite.answer.host, invite.answer.port)
        session.invite = invite
        session.last_data_at = time.monotonic()

    def _on_data(self, session: _Session, chunk: bytes) -> None:
        chunk, removed = sanitize(chunk)
        if removed:
            session.bad_maps += removed
            if session.bad_maps == removed:  # once per session, not per keyframe
                log.warning("GB28181 media %s: removed a program stream map that misnames the video codec "
                            "(FFmpeg probes the codec from the data instead)", session.channel_id)
        now = time.monotonic()
        if session.first_data_at is None:
            session.first_data_at = now
            log.info("GB28181 media %s: first data %.2f s after opening", session.channel_id, now - session.opened_at)
        session.last_data_at = now
        session.cache.add(chunk)
        for c in session.consumers:
            c.put(chunk)

    async def _watch(self, session: _Session) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.stall_s / 3))
            if time.monotonic() - session.last_data_at > self.stall_s and session.consumers:
                if session.playback is not None:  # a recording that stopped has ended (or the device gave up): end it
                    log.info("GB28181 playback %s: no data for %.0f s; ending", session_key(session.channel_id, session.playback),
                             self.stall_s)
                    for c in list(session.consumers):
                        c.end()
                    session.last_data_at = time.monotonic()
                    continue
                log.warning("GB28181 media %s: no data for %.0f s; re-INVITE", session.channel_id, self.stall_s)
                await self.reinvite(session.channel_id)

    async def reinvite(self, channel_id: str) -> None:
        session = self.sessions.get(channel_id)
        if session is None:
            return
        old, session.invite = session.invite, None
        if old is not None:
            try:
                await self.inviter.bye(old)
            except Exception as exc:  # the device may be gone: the new INVITE is what matters
                log.info("GB28181 media %s: BYE before re-INVITE failed: %s", channel_id, exc)
        session.reinvites += 1
        try:
            await self._invite(session, session.receiver.port)
        except Exception as exc:
            session.last_data_at = time.monotonic()  # try again after another stall period, not in a loop
            log.warning("GB28181 media %s: re-INVITE failed: %s", channel_id, exc)

    def on_remote_bye(self, call_id: str) -> None:
        """Wire to ``GbPlatform.on_remote_bye``: the device ended a session; viewers still watching get a new one."""
        for session in self.sessions.values():
            if session.invite is not None and session.invite.dialog.call_id == call_id:
                session.invite = None
                session.last_data_at = 0.0  # the watcher re-INVITEs at once if anyone watches

    async def _release(self, consumer: Consumer) -> None:
        session = self.sessions.get(consumer.channel_id)
        if session is None:
            return
        session.consumers.discard(consumer)
        if not session.consumers and session.linger is None:
            loop = asyncio.get_running_loop()
            session.linger = loop.call_later(self.linger_s, lambda: asyncio.ensure_future(self._close_if_idle(session)))

    async def _close_if_idle(self, session: _Session) -> None:
        if session.consumers or self.sessions.get(session_key(session.channel_id, session.playback)) is not session:
            return
        del self.sessions[session_key(session.channel_id, session.playback)]
        if session.watch is not None:
            session.watch.cancel()
        if session.invite is not None:
            await self.inviter.bye(session.invite)
        await session.receiver.close()
        log.info("GB28181 media %s: closed (no consumer for %.0f s)", session.channel_id, self.linger_s)

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            for c in list(session.consumers):
                c.end()
            session.consumers.clear()
            if session.linger is not None:
                session.linger.cancel()
            await self._close_if_idle(session)
