"""Fallback for browsers that cannot decode H.264: decode once per camera, encode per viewer.

Used only when the viewer's SDP offer has no H.264 with packetization-mode 1 (some
Firefox builds without the OpenH264 plug-in, de-Googled Chromium builds), when the
camera's stream is not H.264 (H.265 main streams, via the ingest relay upstream), or
when the client asks for ``mode=transcode``. The camera's packets come from the same single
upstream connection as the passthrough viewers; one decoder per camera feeds all
transcoding viewers through ``MediaRelay``, and aiortc's VP8 encoder runs per viewer
(that per-viewer encode is the cost measured by ``xueliang bench webrtc``).
"""

from __future__ import annotations

import asyncio
import logging

import av
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from web.live.sources import CameraSource, PacketTrack

logger = logging.getLogger(__name__)


class DecodedTrack(MediaStreamTrack):
    """Decodes one camera's packet track into ``av.VideoFrame`` objects (in a worker thread)."""

    kind = "video"

    def __init__(self, packets: PacketTrack, max_width: int | None = None, codec: str = "h264") -> None:
        super().__init__()
        self._packets = packets
        self._codec = av.CodecContext.create(codec, "r")
        self._max_width = max_width
        self._pending: list[av.VideoFrame] = []
        self.decode_errors = 0

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        try:
            frames = self._codec.decode(packet)
        except av.FFmpegError:
            self.decode_errors += 1
            return []
        out = []
        for frame in frames:
            frame.pts = packet.pts
            frame.time_base = packet.time_base
            if self._max_width and frame.width > self._max_width:
                height = int(frame.height * self._max_width / frame.width) // 2 * 2
                scaled = frame.reformat(width=self._max_width, height=height)
                scaled.pts, scaled.time_base = frame.pts, frame.time_base
                frame = scaled
            out.append(frame)
        return out

    async def recv(self) -> av.VideoFrame:
        while not self._pending:
            if self.readyState != "live":
                raise MediaStreamError
            packet = await self._packets.recv()
            self._pending = await asyncio.to_thread(self._decode, packet)
        return self._pending.pop(0)

    def stop(self) -> None:
        super().stop()
        self._packets.stop()


class TranscodeFeed:
    """The shared decoded feed of one camera with a reference count of transcoding viewers."""

    def __init__(self, source: CameraSource, max_width: int | None = None, codec: str = "h264") -> None:
        self._decoded = DecodedTrack(source.subscribe(), max_width, codec)
        self._relay = MediaRelay()
        self.refs = 0

    def subscribe(self) -> MediaStreamTrack:
        self.refs += 1
        return self._relay.subscribe(self._decoded, buffered=False)

    def release(self) -> bool:
        """Drop one viewer; returns True (and stops decoding) when none is left."""
        self.refs -= 1
        if self.refs <= 0:
            self._decoded.stop()
            return True
        return False
