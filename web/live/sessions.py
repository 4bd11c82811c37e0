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
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.sdp import SessionDescription

from web.live.feedback import ReceiverFeedback
from web.live.relay_upstream import RelayUpstream
from web.live.sources import CameraSource, PacketTrack, SourceRegistry, StreamInfo, UnsupportedStream
from web.live.transcode import OUTPUT_CODECS, SharedTranscode

logger = logging.getLogger(__name__)
Upstream = CameraSource | RelayUpstream  # one camera stream (ingest's relay, or aiortc's player)


class Mode(StrEnum):
    PASSTHROUGH = "passthrough"   # camera H.264 packetised as is
    TRANSCODE = "transcode"       # decoded once per camera, re-encoded once (VP8 or H.264), shared by viewers


# H.264 profiles browsers' WebRTC decoders play (without frame reordering: see choose_mode)
PASSTHROUGH_PROFILES = {"Baseline", "Constrained Baseline", "Main", "High", "Extended"}


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
    transcode_max_width: int = 640
    # Concurrent transcoded camera streams (each costs a decode + an encode, 10-50 % of a core);
    # viewers of a camera already transcoded always fit.
    max_transcodes: int = 4
    transcode_bitrate: int = 800_000
    # A cold camera: how long to wait for its upstream to report the codec and a decoded
    # keyframe (reordering, profile) before answering.
    codec_wait_s: float = 3.0


class CountingTrack(MediaStreamTrack):
    """What the viewer's RTP sender reads: counts the frames it takes (per-viewer delivery, server
    side) and can switch to another upstream in place (passthrough → transcode) without
    renegotiating — both send H.264 packets, and the timeline continues."""

    kind = "video"

    def __init__(self, inner: PacketTrack) -> None:
        super().__init__()
        self._inner = inner
        self.sent = 0

    async def recv(self):
        while True:
            inner = self._inner
            try:
                item = await inner.recv()
            except MediaStreamError:
                if inner is not self._inner:
                    continue  # switched while waiting: read the new upstream
                raise
            if inner is self._inner:
                self.sent += 1
                return item

    def switch(self, inner: PacketTrack) -> None:
        """Read ``inner`` from now on; the old upstream is released (its pending read ends)."""
        old, self._inner = self._inner, inner
        inner.continue_from(old)
        old.stop()
        old._end()

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
    codec: str = "h264"  # what the browser receives
    reason: str = ""  # why this mode (shown in stats and the answer)
    source_key: str = ""  # the upstream it holds
    feed_key: tuple[str, str] | None = None  # the shared transcode it watches
    reports: list[tuple[float, int, int]] = field(default_factory=list, repr=False)  # (t, received, decoded)
    # what a passthrough viewer needs to be moved to the transcode in place
    url: str = field(default="", repr=False)
    fallback_url: str | None = field(default=None, repr=False)
    info: StreamInfo | None = field(default=None, repr=False)
    feedback: ReceiverFeedback | None = field(default=None, repr=False)  # the browser's RTCP about our stream
    switched: bool = False  # moved to the transcode by the server (RTCP feedback), not by a reconnect

    def public_dict(self) -> dict:
        return {
            "mode": self.mode.value,
            "codec": self.codec,
            "reason": self.reason,
            "stream": self.stream,
            "state": self.pc.connectionState,
            "frames_sent": self.track.sent if self.track is not None else 0,
            "keyframe_requests": self.feedback.plis if self.feedback is not None else None,
            "age_s": round(time.monotonic() - self.created, 1),
        }


def source_key(camera_id: str, stream: str) -> str:
    """Upstreams are per camera *and* stream: a 16-tile wall's sub-streams are separate connections."""
    return camera_id if stream == "main" else f"{camera_id}#{stream}"


def offer_codecs(sdp: str) -> list[str]:
    """The video codecs the offer accepts that we can send, in the browser's order of preference
    ("h264" only in packetization-mode 1, what aiortc sends)."""
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # noqa: BLE001 — malformed SDP from a client
        raise LiveError(400, f"SDP offer could not be parsed: {exc}") from exc
    videos = [m for m in description.media if m.kind == "video"]
    if not videos:
        raise LiveError(400, "SDP offer has no video section: add a recvonly video transceiver")
    found: list[str] = []
    for codec in videos[0].rtp.codecs:
        mime = codec.mimeType.lower()
        name = "h264" if mime == "video/h264" and str(codec.parameters.get("packetization-mode", "0")) == "1" \
            else "vp8" if mime == "video/vp8" else None
        if name is not None and name not in found:
            found.append(name)
    return found


def offer_accepts_h264(sdp: str) -> bool:
    """True when the offer's video section lists H.264 in packetization-mode 1 (what aiortc sends)."""
    return "h264" in offer_codecs(sdp)


_CODEC_NAMES = {"hevc": "H.265", "mjpeg": "MJPEG", "mpeg4": "MPEG-4"}


def choose_mode(info: StreamInfo, browser_codecs: list[str], *, force_transcode: bool = False,
                stalled_before: bool = False) -> tuple[Mode, str]:
    """Passthrough only for what the browser actually decodes; the reason either way (zh-CN: operators read it)."""
    if force_transcode:
        return Mode.TRANSCODE, "已要求转码"
    if info.codec != "h264":
        return Mode.TRANSCODE, f"摄像机为 {_CODEC_NAMES.get(info.codec, info.codec.upper())} 编码，浏览器无法直接解码"
    if info.reorder:
        return Mode.TRANSCODE, "摄像机使用 B 帧，浏览器直通只能解出关键帧"
    if info.profile is not None and info.profile not in PASSTHROUGH_PROFILES:
        return Mode.TRANSCODE, f"浏览器不支持 H.264 {info.profile} 档次"
    if "h264" not in browser_codecs:
        return Mode.TRANSCODE, "浏览器不支持 H.264"
    if stalled_before:
        return Mode.TRANSCODE, "该摄像机直通播放曾在浏览器中卡住"
    return Mode.PASSTHROUGH, "浏览器直接解码摄像机的 H.264"


def strip_mdns_candidates(sdp: str) -> str:
    """Drop ``<uuid>.local`` host candidates (browsers hide their IPs behind mDNS names).

    mDNS is link-local: a server on another subnet can never resolve them, and aioice
    waits a full second per name trying. ICE still connects through the peer-reflexive
    candidate learnt from the browser's own checks to our host candidates.
    """
    lines = sdp.splitlines()
    kept = [ln for ln in lines if not (ln.startswith("a=candidate:") and ".local " in ln)]
    return "\r\n".join(kept) + "\r\n"


def _codec_preferences(codec: str) -> list:
    wanted = f"video/{codec}"
    caps = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in caps if c.mimeType.lower() == wanted]


# A passthrough viewer is stalled when the browser decodes less than this share of the frames
# it receives, over at least STALL_WINDOW_S of client reports. B-frames decode keyframes only
# (1 in a GOP: 2-10 %); a browser merely slow on a busy PC still decodes most frames, so the
# share is low enough not to mistake the one for the other.
STALL_DECODED_SHARE = 0.25
STALL_WINDOW_S = 1.5
STALL_MEMORY_S = 600.0  # later viewers of a stalled camera get the transcode for this long


class LiveSessions:
    """All live-view peer connections of one web app, sharing a :class:`SourceRegistry`."""

    def __init__(self, sources: SourceRegistry, config: LiveConfig | None = None) -> None:
        self.sources = sources
        self.config = config or LiveConfig()
        self._sessions: dict[str, Session] = {}
        self._transcodes: dict[tuple[str, str], SharedTranscode] = {}
        self._stalled: dict[str, float] = {}  # camera stream -> when its passthrough stalled in a browser
        self._switching: set[str] = set()  # sessions being moved to the transcode
        self._tasks: set[asyncio.Task] = set()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def sessions_for(self, camera_id: str) -> list[Session]:
        return [s for s in self._sessions.values() if s.camera_id == camera_id]

    @property
    def transcodes(self) -> int:
        return len(self._transcodes)

    async def open(self, camera_id: str, url: str, offer_sdp: str, *, owner: str,
                   force_transcode: bool = False, stream: str = "main",
                   fallback_url: str | None = None, force_passthrough: bool = False,
                   ) -> tuple[Session, RTCSessionDescription]:
        """Answer a viewer's offer. ``fallback_url`` is the camera's sub-stream: a transcode reads it
        (smaller, cheaper to decode) instead of the main stream. ``force_passthrough`` skips the
        stream checks (tests and diagnosis: the stall watchdog still switches)."""
        if len(self._sessions) >= self.config.max_sessions:
            raise LiveError(503, f"live view is at its limit of {self.config.max_sessions} viewers; close a tile")
        browser = offer_codecs(offer_sdp)
        if not browser:
            raise LiveError(400, "SDP offer has neither H.264 (packetization-mode 1) nor VP8 video")
        key = source_key(camera_id, stream)
        source = self.sources.acquire(key, url)
        try:
            info = await source.wait_info(self.config.codec_wait_s)
        except UnsupportedStream as exc:
            self.sources.release(key)
            raise LiveError(409, str(exc)) from exc
        if info is None:
            self.sources.release(key)
            raise LiveError(503, f"camera {camera_id} is not streaming (upstream {source.status}); "
                                 "the tile retries by itself — check the camera's network and power")
        stalled_at = self._stalled.get(key)
        stalled_before = stalled_at is not None and time.monotonic() - stalled_at < STALL_MEMORY_S
        mode, reason = choose_mode(info, browser, force_transcode=force_transcode, stalled_before=stalled_before)
        if force_passthrough and "h264" in browser and info.codec == "h264":
            mode, reason = Mode.PASSTHROUGH, "已要求直通"
        out_codec = "h264" if mode is Mode.PASSTHROUGH else next(c for c in browser if c in OUTPUT_CODECS)
        if mode is Mode.TRANSCODE:
            key, source, info = await self._transcode_input(camera_id, stream, key, source, info, fallback_url)
        feed_key = (key, out_codec)
        if mode is Mode.TRANSCODE and feed_key not in self._transcodes and len(self._transcodes) >= self.config.max_transcodes:
            self.sources.release(key)
            raise LiveError(503, f"转码路数已达上限（{self.config.max_transcodes} 路）：摄像机 {camera_id} 的视频"
                                 f"（{reason}）需要服务器转码后才能在浏览器播放。请先关闭其他需要转码的画面，或请管理员"
                                 "把摄像机改为 H.264 无 B 帧编码。")
        ice = [RTCIceServer(u) for u in self.config.ice_servers]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice))
        session = Session(secrets.token_urlsafe(16), camera_id, owner, mode, pc)
        session.stream, session.codec, session.reason, session.source_key = stream, out_codec, reason, key
        session.url, session.fallback_url, session.info = url, fallback_url, info
        self._sessions[session.id] = session
        try:
            if mode is Mode.PASSTHROUGH:
                track = source.subscribe()
            else:
                feed = self._transcodes.get(feed_key)
                if feed is None:
                    feed = self._transcodes[feed_key] = SharedTranscode(
                        source, info.codec, out_codec, max_width=self.config.transcode_max_width, fps=info.fps,
                        bitrate=self.config.transcode_bitrate)
                session.feed_key = feed_key
                track = feed.subscribe()
            session.track = CountingTrack(track)
            # The codec is chosen before the offer is applied: aiortc negotiates it in setRemoteDescription.
            transceiver = pc.addTransceiver(session.track, direction="sendonly")
            transceiver.setCodecPreferences(_codec_preferences(out_codec))
            if mode is Mode.PASSTHROUGH:
                self._watch_feedback(session, transceiver.sender)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=strip_mdns_candidates(offer_sdp), type="offer"))
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
        logger.info("live %s: session %s opened (%s %s: %s) for %s; %d viewer(s) on this stream",
                    camera_id, session.id[:6], mode.value, out_codec, reason, owner, self.sources.refs(key))
        return session, pc.localDescription

    def report(self, session_id: str, frames_received: int, frames_decoded: int) -> str | None:
        """A viewer's receive statistics (``getStats``); returns ``"transcode"`` when its passthrough
        stalls (frames arrive but are not decoded: B-frames the SPS did not announce, a profile the
        browser cannot decode) — the viewer then reconnects and gets the transcoded stream — or
        ``"switched"`` when the server already moved it to the transcode in place (RTCP feedback)."""
        session = self._sessions.get(session_id)
        if session is not None and session.switched:
            return "switched"
        if session is None or session.mode is not Mode.PASSTHROUGH:
            return None
        now = time.monotonic()
        session.reports.append((now, frames_received, frames_decoded))
        session.reports = [r for r in session.reports if now - r[0] <= STALL_WINDOW_S * 3]
        first = next((r for r in session.reports if now - r[0] >= STALL_WINDOW_S), None)
        if first is None:
            return None
        received, decoded = frames_received - first[1], frames_decoded - first[2]
        if received >= 10 and decoded < received * STALL_DECODED_SHARE:
            self._stalled[session.source_key] = now
            logger.warning("live %s: passthrough stalled in the browser (%d of %d frames decoded); switching to transcode",
                           session.camera_id, decoded, received)
            return "transcode"
        return None

    # ---- receiver feedback (RTCP) -------------------------------------------------------
    def _watch_feedback(self, session: Session, sender: RTCRtpSender) -> None:
        """See the RTCP the browser sends about this viewer's stream (PLI/FIR, receiver reports).

        aiortc hands each RTCP packet for a sender to its ``_handle_rtcp_packet`` coroutine and
        exposes neither keyframe requests nor a hook: the instance's handler is wrapped (aiortc 1.x).
        """
        feedback = session.feedback = ReceiverFeedback(sender._ssrc)
        handle = sender._handle_rtcp_packet

        async def _handle_rtcp_packet(packet) -> None:  # noqa: ANN001 — aiortc's AnyRtcpPacket
            feedback.note(packet)
            if (session.mode is Mode.PASSTHROUGH and not session.closed and session.id not in self._switching
                    and feedback.stalled()):
                self._switching.add(session.id)
                self._spawn(self._switch_to_transcode(session))
            await handle(packet)

        sender._handle_rtcp_packet = _handle_rtcp_packet  # type: ignore[method-assign]

    async def _switch_to_transcode(self, session: Session) -> None:
        """Move a stalled passthrough viewer to the camera's shared transcode, in place: same peer
        connection, same negotiated H.264, the picture continues at the transcode's next keyframe."""
        try:
            feedback, info = session.feedback, session.info
            if feedback is None or info is None or session.track is None:
                return
            logger.warning("live %s: passthrough stalled in the browser (%d keyframe requests, %.0f %% lost); "
                           "switching session %s to transcode", session.camera_id, feedback.plis,
                           100 * feedback.fraction_lost, session.id[:6])
            self._stalled[session.source_key] = time.monotonic()
            old_key = session.source_key
            source = self.sources.acquire(old_key, session.url)  # held until the switch is done
            key, source, info = await self._transcode_input(session.camera_id, session.stream, old_key, source,
                                                            info, session.fallback_url)
            feed_key = (key, "h264")  # what the browser negotiated for the passthrough
            if session.closed or (feed_key not in self._transcodes
                                  and len(self._transcodes) >= self.config.max_transcodes):
                if not session.closed:
                    logger.warning("live %s: cannot switch session %s: %d transcodes running (the limit)",
                                   session.camera_id, session.id[:6], len(self._transcodes))
                self.sources.release(key)
                return
            feed = self._transcodes.get(feed_key)
            if feed is None:
                feed = self._transcodes[feed_key] = SharedTranscode(
                    source, info.codec, "h264", max_width=self.config.transcode_max_width, fps=info.fps,
                    bitrate=self.config.transcode_bitrate)
            session.track.switch(feed.subscribe())
            self.sources.release(old_key)  # the passthrough's hold (the transcode's is `key`)
            session.mode, session.feed_key, session.source_key, session.switched = Mode.TRANSCODE, feed_key, key, True
            session.reason = (f"浏览器无法解码直通的 H.264（{feedback.plis} 次关键帧请求，丢包 "
                              f"{100 * feedback.fraction_lost:.0f}%），服务器已切换为转码")
        finally:
            self._switching.discard(session.id)

    async def _transcode_input(self, camera_id: str, stream: str, key: str, source: Upstream, info: StreamInfo,
                               fallback_url: str | None) -> tuple[str, Upstream, StreamInfo]:
        """What a transcode reads: the camera's sub-stream when it has one (same picture, a fraction of
        the decode cost), else ``source``. The caller's hold on ``key`` moves to the returned key."""
        if not fallback_url or stream != "main":
            return key, source, info
        sub_key = source_key(camera_id, "sub")
        sub = self.sources.acquire(sub_key, fallback_url)
        try:
            sub_info = await sub.wait_info(self.config.codec_wait_s)
        except UnsupportedStream:
            sub_info = None
        if sub_info is None:  # no sub-stream after all: the main stream
            self.sources.release(sub_key)
            return key, source, info
        self.sources.release(key)
        return sub_key, sub, sub_info

    async def close(self, session_id: str) -> bool:
        session = self._sessions.pop(session_id, None)
        if session is None or session.closed:
            return False
        session.closed = True
        if session.track is not None:
            session.track.stop()  # ends the viewer's subscription to the camera's upstream
        if session.feed_key is not None:
            feed = self._transcodes.get(session.feed_key)
            if feed is not None and feed.viewers == 0:
                del self._transcodes[session.feed_key]
                await feed.close()
        await session.pc.close()
        self.sources.release(session.source_key or source_key(session.camera_id, session.stream))
        logger.info("live %s: session %s closed", session.camera_id, session.id[:6])
        return True

    async def close_all(self) -> None:
        for session_id in list(self._sessions):
            await self.close(session_id)
        for feed in list(self._transcodes.values()):
            await feed.close()
        self._transcodes.clear()
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
