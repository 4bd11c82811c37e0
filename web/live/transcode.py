"""Transcoded live view: decode a camera once, encode once, send the same packets to every viewer.

Browsers' WebRTC decoders play H.264 without frame reordering only: a camera with
B-frames (H.264 High with reordering) decodes keyframes only, and H.265 not at all
without hardware. Those cameras are decoded once per camera (the sub-stream when it
has one), scaled to at most ``max_width`` px and encoded once per output codec (VP8 or
H.264 Constrained Baseline, as the browser prefers); the encoded packets are fanned
out keyframe-aware like camera packets, so the 2nd..Nth viewer of a camera costs the
packetisation only (``xueliang bench webrtc``: ``cpu_per_viewer_transcode_shared``).

A new viewer asks the shared encoder for a keyframe, so it starts at once instead of
after a GOP.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time

import av
import av.error
from aiortc.mediastreams import MediaStreamError

from web.live.sources import VIDEO_TIME_BASE, PacketTrack, RawPacket

logger = logging.getLogger(__name__)

OUTPUT_CODECS = ("vp8", "h264")
BACKLOG_PACKETS = 3  # more than this many camera packets waiting = behind: skip encoding until caught up


class SharedTranscode:
    """One camera stream → one encoded stream in ``codec``; viewers subscribe to its packets."""

    def __init__(self, source, codec_in: str, codec_out: str, *, max_width: int = 640, fps: float | None = None,
                 bitrate: int = 800_000, viewer_queue_packets: int = 120) -> None:
        if codec_out not in OUTPUT_CODECS:
            raise ValueError(f"transcode output must be one of {OUTPUT_CODECS}, not {codec_out!r}")
        self.codec_out = codec_out
        self._source = source
        self._codec_in = codec_in
        self._max_width = max_width
        self._fps = fps if fps and 1 <= fps <= 60 else 25.0
        self._bitrate = bitrate
        self._queue = viewer_queue_packets
        self._decoder: av.CodecContext | None = None
        self._encoder: av.CodecContext | None = None
        self._subscribers: set[PacketTrack] = set()
        self._input: PacketTrack | None = None
        self._task: asyncio.Task | None = None
        self._want_key = True
        self._frames = 0
        self._t0 = time.monotonic()
        self._last_pts = -1
        self.frames_encoded = 0
        self.decode_errors = 0

    @property
    def viewers(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> PacketTrack:
        track = PacketTrack(self._queue, on_stop=self._subscribers.discard)
        self._subscribers.add(track)
        self._want_key = True  # the new viewer starts at the next encoded frame
        if self._task is None:
            self._input = self._source.subscribe()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-transcode")
        return track

    async def close(self) -> None:
        """Stop decoding and encoding; every viewer's track ends."""
        if self._input is not None:
            self._input._end()  # wakes the pending recv() so the task ends on its own
            self._input.stop()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, MediaStreamError):
                pass
        for sub in list(self._subscribers):
            sub._end()
        self._subscribers.clear()

    async def _run(self) -> None:
        assert self._input is not None
        while True:
            try:
                packet = await self._input.recv()
            except MediaStreamError:
                break
            # Behind (the fast-start GOP burst, or a slow machine): decode to catch up, encode only the
            # latest. A packet or two waiting is arrival jitter, not a backlog.
            behind = self._input._queue.qsize() > BACKLOG_PACKETS
            encoded = await asyncio.to_thread(self._transcode, packet, behind)
            for data, pts, key in encoded:
                raw = RawPacket(data, pts, key, 1)
                for sub in list(self._subscribers):
                    sub._offer(raw)
        for sub in list(self._subscribers):
            sub._end()

    # ---- worker thread ---------------------------------------------------------------
    def _transcode(self, packet: av.Packet, decode_only: bool = False) -> list[tuple[bytes, int, bool]]:
        if self._decoder is None:
            self._decoder = av.CodecContext.create(self._codec_in, "r")
            self._decoder.thread_count = 1
        try:
            frames = self._decoder.decode(packet)
        except av.error.FFmpegError:
            self.decode_errors += 1
            return []
        out: list[tuple[bytes, int, bool]] = []
        for frame in frames:
            if decode_only:
                continue
            width, height = _fit(frame.width, frame.height, self._max_width)
            if self._encoder is None:
                self._encoder = self._open_encoder(width, height)
            image = frame.reformat(width=width, height=height, format="yuv420p")
            # stamped when encoded: frames skipped while catching up leave a real gap, not a fast-forward
            pts = int((time.monotonic() - self._t0) * 90000)
            image.pts = self._last_pts = max(pts, self._last_pts + 1)
            image.time_base = VIDEO_TIME_BASE
            self._frames += 1
            if self._want_key:
                image.pict_type = av.video.frame.PictureType.I
                self._want_key = False
            for p in self._encoder.encode(image):
                self.frames_encoded += 1
                out.append((bytes(p), image.pts, bool(p.is_keyframe)))
        return out

    def _open_encoder(self, width: int, height: int) -> av.CodecContext:
        if self.codec_out == "vp8":
            enc = av.CodecContext.create("libvpx", "w")
            enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "error-resilient": "1"}
        else:
            enc = av.CodecContext.create("libx264", "w")
            enc.options = {"preset": "ultrafast", "tune": "zerolatency", "level": "31"}
            enc.profile = "Constrained Baseline"
        enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
        enc.time_base = VIDEO_TIME_BASE
        enc.framerate = fractions.Fraction(self._fps).limit_denominator(1000)
        enc.bit_rate = self._bitrate
        enc.gop_size = int(self._fps * 2)
        enc.thread_count = 1
        enc.open()
        return enc


def _fit(width: int, height: int, max_width: int) -> tuple[int, int]:
    if width <= max_width:
        return width // 2 * 2, height // 2 * 2
    return max_width // 2 * 2, int(height * max_width / width) // 2 * 2
