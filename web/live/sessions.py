"""WebRTC viewer sessions: SDP offer in, answer out, one RTCPeerConnection per viewer.

Signalling is non-trickle: aiortc gathers all its ICE candidates before
``setLocalDescription`` returns, so the answer is complete, and the browser helper
(``static/live.js``) waits for its own gathering to finish before posting the offer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.sdp import SessionDescription

from web.live.sources import SourceRegistry, UnsupportedStream
from web.live.transcode import TranscodeFeed

logger = logging.getLogger(__name__)


class Mode(StrEnum):
    PASSTHROUGH = "passthrough"   # camera H.264 packetised as is
    TRANSCODE = "transcode"       # decoded and re-encoded as VP8 (fallback)


class LiveError(Exception):
    """A request the live service refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LiveConfig:
    # Empty by default: aiortc would otherwise ask stun.l.google.com, i.e. the internet.
    # Deployments behind NAT list their own STUN/TURN servers here.
    ice_servers: tuple[str, ...] = ()
    max_sessions: int = 200
    # A viewer whose ICE never completes (closed tab before connecting) is reaped after this.
    connect_timeout_s: float = 20.0
    transcode_max_width: int | None = 1280
    # A cold camera: how long to wait for its upstream to report the codec before answering
    # (passthrough needs H.264); after that H.264 is assumed.
    codec_wait_s: float = 3.0


class CountingTrack(MediaStreamTrack):
    """Counts what the sender actually takes (frames sent) — per-viewer delivery, server side."""

    kind = "video"

    def __init__(self, inner: MediaStreamTrack) -> None:
        super().__init__()
        self._inner = inner
        self.sent = 0

    async def recv(self):
        item = await self._inner.recv()
        self.sent += 1
        return item

    def stop(self) -> None:
        super().stop()
        self._inner.stop()


@dataclass
class Session:
    id: str
    camera_id: str
    owner: str
    mode: Mode
    stream: str = field(default="main", init=False)
    pc: RTCPeerConnection = field(repr=False)
    created: float = field(default_factory=time.monotonic)
    closed: bool = False
    track: CountingTrack | None = field(default=None, repr=False)

    def public_dict(self) -> dict:
        return {
            "mode": self.mode.value,
            "stream": self.stream,
            "state": self.pc.connectionState,
            "frames_sent": self.track.sent if self.track is not None else 0,
            "age_s": round(time.monotonic() - self.created, 1),
        }


def source_key(camera_id: str, stream: str) -> str:
    """Upstreams are per camera *and* stream: a 16-tile wall's sub-streams are separate connections."""
    return camera_id if stream == "main" else f"{camera_id}#{stream}"


def offer_accepts_h264(sdp: str) -> bool:
    """True when the offer's video section lists H.264 in packetization-mode 1 (what aiortc sends)."""
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # noqa: BLE001 — malformed SDP from a client
        raise LiveError(400, f"SDP offer could not be parsed: {exc}") from exc
    videos = [m for m in description.media if m.kind == "video"]
    if not videos:
        raise LiveError(400, "SDP offer has no video section: add a recvonly video transceiver")
    for codec in videos[0].rtp.codecs:
        if codec.mimeType.lower() == "video/h264" and str(codec.parameters.get("packetization-mode", "0")) == "1":
            return True
    return False


def strip_mdns_candidates(sdp: str) -> str:
    """Drop ``<uuid>.local`` host candidates (browsers hide their IPs behind mDNS names).

    mDNS is link-local: a server on another subnet can never resolve them, and aioice
    waits a full second per name trying. ICE still connects through the peer-reflexive
    candidate learnt from the browser's own checks to our host candidates.
    """
    lines = sdp.splitlines()
    kept = [ln for ln in lines if not (ln.startswith("a=candidate:") and ".local " in ln)]
    return "\r\n".join(kept) + "\r\n"


def _codec_preferences(mode: Mode) -> list:
    wanted = "video/h264" if mode is Mode.PASSTHROUGH else "video/vp8"
    caps = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in caps if c.mimeType.lower() == wanted]


class LiveSessions:
    """All live-view peer connections of one web app, sharing a :class:`SourceRegistry`."""

    def __init__(self, sources: SourceRegistry, config: LiveConfig | None = None) -> None:
        self.sources = sources
        self.config = config or LiveConfig()
        self._sessions: dict[str, Session] = {}
        self._transcoders: dict[str, TranscodeFeed] = {}
        self._tasks: set[asyncio.Task] = set()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def sessions_for(self, camera_id: str) -> list[Session]:
        return [s for s in self._sessions.values() if s.camera_id == camera_id]

    async def open(self, camera_id: str, url: str, offer_sdp: str, *, owner: str,
                   force_transcode: bool = False, stream: str = "main") -> tuple[Session, RTCSessionDescription]:
        if len(self._sessions) >= self.config.max_sessions:
            raise LiveError(503, f"live view is at its limit of {self.config.max_sessions} viewers; close a tile")
        browser_h264 = offer_accepts_h264(offer_sdp)
        key = source_key(camera_id, stream)
        source = self.sources.acquire(key, url)
        try:
            codec = await source.wait_codec(self.config.codec_wait_s)
        except UnsupportedStream as exc:
            self.sources.release(key)
            raise LiveError(409, str(exc)) from exc
        if codec is None:
            self.sources.release(key)
            raise LiveError(503, f"camera {camera_id} is not streaming (upstream {source.status}); "
                                 "the tile retries by itself — check the camera's network and power")
        # Passthrough whenever both ends speak H.264; otherwise decode + re-encode as VP8.
        passthrough = codec == "h264" and browser_h264 and not force_transcode
        mode = Mode.PASSTHROUGH if passthrough else Mode.TRANSCODE
        ice = [RTCIceServer(u) for u in self.config.ice_servers]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice))
        session = Session(secrets.token_urlsafe(16), camera_id, owner, mode, pc)
        session.stream = stream
        self._sessions[session.id] = session
        try:
            if mode is Mode.PASSTHROUGH:
                track = source.subscribe()
            else:
                feed = self._transcoders.get(key)
                if feed is None:
                    feed = self._transcoders[key] = TranscodeFeed(
                        source, self.config.transcode_max_width, codec)
                track = feed.subscribe()
            session.track = CountingTrack(track)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=strip_mdns_candidates(offer_sdp), type="offer"))
            sender = pc.addTrack(session.track)
            transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
            transceiver.direction = "sendonly"
            transceiver.setCodecPreferences(_codec_preferences(mode))
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except LiveError:
            await self.close(session.id)
            raise
        except Exception as exc:
            await self.close(session.id)
            raise LiveError(400, f"could not answer the SDP offer: {exc}") from exc

        @pc.on("connectionstatechange")
        async def _on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.close(session.id)

        self._spawn(self._reap_if_never_connected(session))
        logger.info("live %s: session %s opened (%s) for %s; %d viewer(s) on this camera",
                    camera_id, session.id[:6], mode.value, owner, self.sources.refs(key))
        return session, pc.localDescription

    async def close(self, session_id: str) -> bool:
        session = self._sessions.pop(session_id, None)
        if session is None or session.closed:
            return False
        session.closed = True
        if session.track is not None:
            session.track.stop()  # ends the viewer's subscription to the camera's upstream
        if session.mode is Mode.TRANSCODE:
            key = source_key(session.camera_id, session.stream)
            feed = self._transcoders.get(key)
            if feed is not None and feed.release():
                del self._transcoders[key]
        await session.pc.close()
        self.sources.release(source_key(session.camera_id, session.stream))
        logger.info("live %s: session %s closed", session.camera_id, session.id[:6])
        return True

    async def close_all(self) -> None:
        for session_id in list(self._sessions):
            await self.close(session_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sources.close()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reap_if_never_connected(self, session: Session) -> None:
        await asyncio.sleep(self.config.connect_timeout_s)
        if not session.closed and session.pc.connectionState != "connected":
            logger.info("live %s: session %s never connected; closing", session.camera_id, session.id[:6])
            await self.close(session.id)
