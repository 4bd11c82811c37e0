"""One upstream RTSP connection per camera, its encoded packets fanned out to every viewer.

Shared by both upstream kinds: :class:`RawPacket` (what an upstream delivers) and
:class:`PacketTrack` (one viewer's aiortc track of ``av.Packet``, never decoded). This
module also holds the ``player`` upstream — aiortc's ``MediaPlayer(decode=False)`` with
:class:`SourceRegistry`; the default ``relay`` upstream (ingest's ``LiveRelay``) is in
``relay_upstream.py``. What aiortc's ``MediaRelay`` does not do, and these do:

* **keyframe-aware fan-out** — a viewer starts at a keyframe and, when its queue overflows
  (slow network), drops up to the next keyframe instead of losing single P-frames (which
  would smear the picture until the next IDR);
* **fast start** — a new viewer gets the GOP in progress at once, its timestamps squeezed
  so the browser does not play it late;
* **reconnect** with exponential back-off and jitter while viewers remain, timestamps kept
  monotonic across reconnects so browsers' jitter buffers do not stall;
* **reference counting** — the upstream is opened by the first viewer and closed a grace
  period after the last one leaves (tile switches and tours re-use it).

The URL carries the camera's credentials: it is held in memory only, logs use
:func:`redact_url` and API-facing errors :func:`describe_error` (no URL at all).
"""

from __future__ import annotations

from devices import mask_url as redact_url  # one redactor for the whole product (devices owns URLs)

import asyncio
import fractions
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger(__name__)

# 90 kHz is the RTP clock of every video payload; keeping packets in it avoids rounding.
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)


_URL = re.compile(r"'?\b[a-z][a-z0-9+.-]*://\S+?'?(?=[\s,;)]|$)", re.IGNORECASE)


def describe_error(exc: BaseException) -> str:
    """An error for API responses and stats: no URL at all (the camera's address stays internal)."""
    return _URL.sub("<camera>", f"{type(exc).__name__}: {exc}")


def _nal_types(data: bytes) -> set[int]:
    types, i = set(), data.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(data):
        types.add(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


def with_parameter_sets(data: bytes, extradata: bytes | None) -> bytes:
    """A keyframe the browser can decode on its own: prepend SPS/PPS when the camera sends them
    only out of band (RTSP ``sprop-parameter-sets``, i.e. the demuxer's extradata)."""
    if not extradata or not extradata.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        return data
    if 7 in _nal_types(data[:4096]):
        return data
    return extradata + data


class RedactingFilter(logging.Filter):
    """Rewrites log records of third-party loggers that print stream URLs (aiortc's MediaPlayer
    logs ``MediaPlayer(rtsp://user:password@...)`` at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str) and "://" in record.msg:
            record.msg = redact_url(record.msg)
        return True


def _guard_third_party_loggers() -> None:
    target = logging.getLogger("aiortc.contrib.media")
    if not any(isinstance(f, RedactingFilter) for f in target.filters):
        target.addFilter(RedactingFilter())


class SourceState(StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"
    CLOSED = "closed"


@dataclass(frozen=True)
class SourceOptions:
    """How an upstream RTSP connection is opened and kept alive."""

    rtsp_transport: str = "tcp"
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    # Small probe: the RTSP SDP already names the codec, so long probing only delays the first frame.
    probesize: int = 32_768
    analyzeduration_us: int = 0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 15.0
    # Wrong password: retrying quickly only locks the account on many cameras.
    auth_retry_s: float = 60.0
    # Per-viewer queue: ~5 s at 25 fps (must hold the replayed GOP). Beyond it the viewer skips to the next keyframe.
    viewer_queue_packets: int = 120
    # Longest GOP replayed to a new viewer (packets); 0 disables fast start.
    gop_cache_packets: int = 100

    def av_options(self) -> dict[str, str]:
        return {
            "rtsp_transport": self.rtsp_transport,
            "probesize": str(self.probesize),
            "analyzeduration": str(self.analyzeduration_us),
            # No "fflags=nobuffer": it throws away the packets read while probing — the first IDR.
        }


@dataclass
class SourceStats:
    state: SourceState = SourceState.CONNECTING
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    connects: int = 0
    packets: int = 0
    keyframes: int = 0
    dropped_for_viewers: int = 0
    last_error: str | None = None
    online_since: float | None = None
    reorder: bool = False
    profile: str | None = None
    fps: float | None = None


@dataclass(frozen=True)
class StreamInfo:
    """What decides whether a browser can play a camera stream as is."""

    codec: str  # FFmpeg name: h264, hevc, ...
    reorder: bool = False  # B-frames: browsers' WebRTC decoders play only the keyframes
    profile: str | None = None
    fps: float | None = None
    width: int | None = None


@dataclass(frozen=True, slots=True)
class RawPacket:
    """One encoded video packet as the upstream delivered it (shared by all viewers, immutable)."""

    data: bytes
    pts: int          # in VIDEO_TIME_BASE (90 kHz) units, as the camera stamped it
    keyframe: bool
    session: int      # changes on every reconnect: the camera's timestamps restart


class PacketTrack(MediaStreamTrack):
    """One viewer's view of a camera: ``av.Packet`` objects for aiortc's H.264 packetiser.

    Starts at a keyframe; when the source offers a *burst* (the GOP in progress, so the
    picture appears at once instead of after up to a GOP) the burst's timestamps are
    squeezed together so the browser renders it immediately rather than playing it late
    forever after. Timestamps stay monotonic across upstream reconnects.
    """

    kind = "video"

    def __init__(self, maxsize: int, on_stop: Callable[["PacketTrack"], None] | None = None) -> None:
        super().__init__()
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(maxsize)
        self._on_stop = on_stop
        self._need_keyframe = True
        self._offset: int | None = None
        self._session: int | None = None
        self._last_raw: int | None = None
        self._last_out: int | None = None
        self._frame_ticks = 3600  # 25 fps until measured
        self._burst_index = 0
        self.dropped = 0
        self.delivered = 0

    def _offer(self, raw: RawPacket, burst: bool = False) -> int:
        """Queue ``raw`` (called on the event loop by the source); returns how many packets were dropped."""
        if self._need_keyframe:
            if not raw.keyframe:
                self.dropped += 1
                return 1
            self._need_keyframe = False
        if self._queue.full():
            # Dropping one P-frame corrupts every frame up to the next IDR; skip to it instead.
            dropped = self._queue.qsize() + 1
            while not self._queue.empty():
                self._queue.get_nowait()
            self._need_keyframe = True
            self.dropped += dropped
            return dropped
        self._queue.put_nowait(self._stamp(raw, burst))
        return 0

    def _stamp(self, raw: RawPacket, burst: bool) -> av.Packet:
        if burst:
            out = self._burst_index
            self._burst_index += 1
        else:
            if raw.session == self._session and self._last_raw is not None and raw.pts > self._last_raw:
                self._frame_ticks = min(raw.pts - self._last_raw, 90000)
            if self._offset is None or raw.session != self._session:
                self._offset = (self._last_out + self._frame_ticks - raw.pts) if self._last_out is not None else -raw.pts
            out = raw.pts + self._offset
            if self._last_out is not None and out <= self._last_out:
                out = self._last_out + 1
        self._session, self._last_raw, self._last_out = raw.session, raw.pts, out
        if burst:
            self._offset = out - raw.pts  # the next live packet follows the burst at its real spacing
        packet = av.Packet(raw.data)
        packet.pts = packet.dts = out
        packet.time_base = VIDEO_TIME_BASE
        return packet

    def continue_from(self, other: "PacketTrack") -> None:
        """Stamp on from where ``other`` stopped (a viewer switched to this upstream in place): the
        receiver sees one timeline, not a jump back to zero."""
        self._last_out, self._frame_ticks = other._last_out, other._frame_ticks

    def _end(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            super().stop()
            raise MediaStreamError
        self.delivered += 1
        return packet

    def stop(self) -> None:
        super().stop()
        if self._on_stop is not None:
            on_stop, self._on_stop = self._on_stop, None
            on_stop(self)


PlayerFactory = Callable[[str, SourceOptions], Awaitable[tuple[object, MediaStreamTrack]]]


async def open_media_player(url: str, options: SourceOptions) -> tuple[object, MediaStreamTrack]:
    """Open ``url`` with aiortc's MediaPlayer without decoding; returns (player, video track)."""
    from aiortc.contrib.media import MediaPlayer

    _guard_third_party_loggers()

    def _open() -> MediaPlayer:
        return MediaPlayer(
            url,
            options=options.av_options(),
            timeout=(options.open_timeout_s, options.read_timeout_s),
            decode=False,
        )

    player = await asyncio.to_thread(_open)
    if player.video is None:
        await asyncio.to_thread(_close_player, player)
        raise UnsupportedStream(
            "camera stream has no H.264 video that can be relayed without transcoding "
            "(H.265 or MJPEG main stream?): configure the camera's main stream as H.264"
        )
    return player, player.video


def _close_player(player: object) -> None:
    for track in (getattr(player, "video", None), getattr(player, "audio", None)):
        if track is not None:
            track.stop()  # the last stopped track joins the demux thread and closes the container


class UnsupportedStream(Exception):
    """The upstream cannot be relayed (wrong codec); reconnecting will not help."""


@dataclass
class CameraSource:
    """The single upstream connection of one camera and the viewers attached to it."""

    camera_id: str
    url: str = field(repr=False)
    options: SourceOptions = field(default_factory=SourceOptions)
    open_player: PlayerFactory = open_media_player
    stats: SourceStats = field(default_factory=SourceStats)
    _subscribers: set[PacketTrack] = field(default_factory=set, init=False, repr=False)
    _task: asyncio.Task | None = field(default=None, init=False, repr=False)
    _online: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _session: int = field(default=0, init=False, repr=False)
    # The GOP in progress (from its keyframe): a new viewer starts with it instead of waiting.
    _gop: list[RawPacket] = field(default_factory=list, init=False, repr=False)
    _unsupported: str | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"live-source-{self.camera_id}")

    @property
    def viewers(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> PacketTrack:
        track = PacketTrack(self.options.viewer_queue_packets, on_stop=self._subscribers.discard)
        for raw in self._gop:
            track._offer(raw, burst=True)
        self._subscribers.add(track)
        return track

    async def wait_online(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._online.wait(), timeout)
            return True
        except TimeoutError:
            return False

    @property
    def status(self) -> str:
        """Short state for error messages (never contains the URL)."""
        return self.stats.state.value + (f": {self.stats.last_error}" if self.stats.last_error else "")

    async def wait_codec(self, timeout: float) -> str | None:
        """The camera's video codec once connected (None if it did not connect in time)."""
        if self._unsupported:
            raise UnsupportedStream(self._unsupported)
        if self.stats.codec is None:
            await self.wait_online(timeout)
        if self._unsupported:
            raise UnsupportedStream(self._unsupported)
        return self.stats.codec

    async def wait_info(self, timeout: float) -> StreamInfo | None:
        """Codec, reordering and profile once connected (None if it did not connect in time)."""
        codec = await self.wait_codec(timeout)
        if codec is None:
            return None
        return StreamInfo(codec, self.stats.reorder, self.stats.profile, self.stats.fps, self.stats.width)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for track in list(self._subscribers):
            track._end()
        self._subscribers.clear()
        self.stats.state = SourceState.CLOSED

    async def _run(self) -> None:
        backoff = self.options.backoff_initial_s
        safe_url = redact_url(self.url)
        while True:
            self.stats.state = SourceState.CONNECTING
            player = None
            try:
                player, track = await self.open_player(self.url, self.options)
                self.stats.connects += 1
                self._session += 1
                self._gop.clear()
                logger.info("live %s: upstream open %s", self.camera_id, safe_url)
                await self._pump(track)
                self.stats.last_error = "stream ended (camera or server closed the connection)"
            except asyncio.CancelledError:
                raise
            except UnsupportedStream as exc:
                self.stats.last_error = self._unsupported = str(exc)
                self._online.set()  # wake up anyone waiting for the codec: the answer is "no"
                self.stats.state = SourceState.OFFLINE
                logger.error("live %s: %s", self.camera_id, exc)
                for sub in list(self._subscribers):
                    sub._end()
                return
            except Exception as exc:  # noqa: BLE001 — any upstream failure means: back off and retry
                self.stats.last_error = describe_error(exc)
                logger.warning("live %s: upstream %s failed: %s", self.camera_id, safe_url,
                               redact_url(f"{type(exc).__name__}: {exc}"))
                if isinstance(exc, av.error.HTTPUnauthorizedError):
                    backoff = max(backoff, self.options.auth_retry_s)
                    self.stats.last_error = "authentication failed: check the camera's username/password " + \
                        "(${ENV} secret in configs/cameras.yaml)"
            finally:
                self._online.clear()
                if player is not None:
                    # Joining the demux thread can block for up to the read timeout: not on the loop.
                    await asyncio.shield(asyncio.to_thread(_close_player, player))
            if self.stats.online_since is not None and time.monotonic() - self.stats.online_since > 10:
                backoff = self.options.backoff_initial_s  # it was healthy for a while: retry quickly
            self.stats.state = SourceState.OFFLINE
            self.stats.online_since = None
            delay = backoff * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, self.options.backoff_max_s)

    async def _pump(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            if packet.pts is None or packet.time_base is None:
                continue
            data = bytes(packet)
            # FFmpeg's RTSP demuxer does not always flag the first IDR: look at the NAL types too.
            keyframe = bool(packet.is_keyframe) or 5 in _nal_types(data[:4096])
            if keyframe and packet.stream is not None:
                data = with_parameter_sets(data, packet.stream.codec_context.extradata)
            raw = RawPacket(data, int(packet.pts * packet.time_base / VIDEO_TIME_BASE), keyframe, self._session)
            if self.stats.state is not SourceState.ONLINE:
                self.stats.state = SourceState.ONLINE
                self.stats.online_since = time.monotonic()
                codec = packet.stream.codec_context if packet.stream is not None else None
                if codec is not None:
                    self.stats.codec, self.stats.width, self.stats.height = codec.name, codec.width, codec.height
                    self.stats.reorder, self.stats.profile = bool(codec.has_b_frames), codec.profile
                    rate = codec.framerate
                    self.stats.fps = float(rate) if rate and 1 <= float(rate) <= 240 else None
                self._online.set()
            self.stats.packets += 1
            if raw.keyframe:
                self.stats.keyframes += 1
                self._gop.clear()
            if raw.keyframe or self._gop:
                self._gop.append(raw)
                if len(self._gop) > self.options.gop_cache_packets:
                    self._gop.clear()  # GOP too long to replay: new viewers wait for the next keyframe
            for sub in list(self._subscribers):
                self.stats.dropped_for_viewers += sub._offer(raw)


SourceFactory = Callable[[str, str], CameraSource]


class SourceRegistry:
    """Per-camera upstreams shared by all viewers, opened on demand and closed when unused.

    ``acquire`` / ``release`` are reference counts; when the count reaches zero the upstream
    stays open for ``grace_s`` so a tile switch or a tour coming back does not reconnect.
    """

    def __init__(self, *, grace_s: float = 10.0, options: SourceOptions | None = None,
                 open_player: PlayerFactory = open_media_player) -> None:
        self.grace_s = grace_s
        self.options = options or SourceOptions()
        self._open_player = open_player
        self._sources: dict[str, CameraSource] = {}
        self._refs: dict[str, int] = {}
        self._closers: dict[str, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task] = set()

    def acquire(self, camera_id: str, url: str) -> CameraSource:
        handle = self._closers.pop(camera_id, None)
        if handle is not None:
            handle.cancel()
        source = self._sources.get(camera_id)
        if source is not None and source.url != url:
            # The camera's address or password changed: the next viewer gets a fresh connection.
            if self._refs.get(camera_id, 0) == 0:
                self._schedule_close(camera_id, source, 0)
                source = None
        if source is None:
            source = CameraSource(camera_id, url, self.options, self._open_player)
            self._sources[camera_id] = source
            source.start()
        self._refs[camera_id] = self._refs.get(camera_id, 0) + 1
        return source

    def release(self, camera_id: str) -> None:
        refs = self._refs.get(camera_id, 0) - 1
        if refs > 0:
            self._refs[camera_id] = refs
            return
        self._refs.pop(camera_id, None)
        source = self._sources.get(camera_id)
        if source is not None:
            loop = asyncio.get_running_loop()
            self._closers[camera_id] = loop.call_later(
                self.grace_s, self._schedule_close, camera_id, source, 0)

    def _schedule_close(self, camera_id: str, source: CameraSource, _unused: int) -> None:
        self._closers.pop(camera_id, None)
        if self._sources.get(camera_id) is source and self._refs.get(camera_id, 0) == 0:
            del self._sources[camera_id]
        task = asyncio.get_running_loop().create_task(source.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def get(self, camera_id: str) -> CameraSource | None:
        return self._sources.get(camera_id)

    def refs(self, camera_id: str) -> int:
        return self._refs.get(camera_id, 0)

    def snapshot(self) -> dict[str, dict]:
        return {
            cid: {
                "viewers": self._refs.get(cid, 0),
                "state": s.stats.state.value,
                "codec": s.stats.codec,
                "width": s.stats.width,
                "height": s.stats.height,
                "connects": s.stats.connects,
                "packets": s.stats.packets,
                "keyframes": s.stats.keyframes,
                "dropped_for_viewers": s.stats.dropped_for_viewers,
                "last_error": s.stats.last_error,
            }
            for cid, s in self._sources.items()
        }

    async def close(self) -> None:
        for handle in self._closers.values():
            handle.cancel()
        self._closers.clear()
        sources = list(self._sources.values())
        self._sources.clear()
        self._refs.clear()
        await asyncio.gather(*(s.close() for s in sources), *self._closing, return_exceptions=True)
