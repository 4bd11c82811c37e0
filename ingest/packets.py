"""Encoded-packet ring (the last N seconds of a channel) and MP4 remux without re-encoding.

Analytics cuts pre-event clips from the ring: ``ring.snapshot(since, until)``
returns packets starting at the keyframe at or before ``since`` (a clip must
start decodable), and :func:`write_mp4` remuxes them (the equivalent of
``ffmpeg -c copy -movflags +faststart``) so browsers can start playing the
file before it is fully downloaded.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from fractions import Fraction
from pathlib import Path

import av

from ingest.events import EncodedPacket, StreamParams

MP4_TIME_BASE = Fraction(1, 90000)


class PacketRing:
    """Thread-safe ring of the last ``seconds`` of packets of one channel.

    The ring always starts on a keyframe, so anything it holds can be decoded.
    ``max_bytes`` bounds memory for high-bitrate main streams.
    """

    def __init__(self, seconds: float = 10.0, max_bytes: int = 64 * 1024 * 1024) -> None:
        if seconds <= 0:
            raise ValueError("PacketRing seconds must be > 0")
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._packets: deque[EncodedPacket] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._params: StreamParams | None = None
        self.dropped_packets = 0  # packets evicted for age/size (normal) — for metrics

    @property
    def params(self) -> StreamParams | None:
        return self._params

    def set_params(self, params: StreamParams) -> None:
        self._params = params

    def push(self, packet: EncodedPacket) -> None:
        with self._lock:
            if not self._packets and not packet.keyframe:
                return  # nothing decodable before the first keyframe
            self._packets.append(packet)
            self._bytes += len(packet.data)
            self._trim(packet.ts_monotonic)

    __call__ = push  # so a ring can be passed directly as ``on_packet``

    def _trim(self, now: float) -> None:
        q = self._packets
        horizon = now - self.seconds
        # Evict whole GOPs, and only while what remains still covers `seconds`.
        while q:
            over_size = self._bytes > self.max_bytes
            if not over_size and q[0].ts_monotonic >= horizon:
                break
            nxt = _index_of_next_key(q)
            if nxt is None:
                if over_size:  # one GOP larger than the budget: keep nothing rather than a broken clip
                    self.dropped_packets += len(q)
                    q.clear()
                    self._bytes = 0
                break
            if not over_size and q[nxt].ts_monotonic > horizon:
                break
            for _ in range(nxt):
                self._bytes -= len(q.popleft().data)
                self.dropped_packets += 1

    def __len__(self) -> int:
        return len(self._packets)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def span_s(self) -> float:
        with self._lock:
            if not self._packets:
                return 0.0
            return self._packets[-1].ts_monotonic - self._packets[0].ts_monotonic

    def snapshot(self, since: float | None = None, until: float | None = None) -> list[EncodedPacket]:
        """Packets received in ``[since, until]`` (``time.monotonic()`` values), led by a keyframe.

        ``since=None`` means everything held; ``until=None`` means up to now.
        """
        with self._lock:
            packets = list(self._packets)
        if not packets:
            return []
        until = time.monotonic() if until is None else until
        start = 0
        if since is not None:
            for i, p in enumerate(packets):
                if p.ts_monotonic > since:
                    break
                if p.keyframe:
                    start = i
        return [p for p in packets[start:] if p.ts_monotonic <= until]


def _index_of_next_key(q: deque[EncodedPacket]) -> int | None:
    for i in range(1, len(q)):
        if q[i].keyframe:
            return i
    return None


def write_mp4(packets: list[EncodedPacket], params: StreamParams, path: str | Path) -> Path:
    """Remux encoded packets to an MP4 file (no re-encoding, moov atom first).

    Timestamps are rebased to start at 0 and made continuous across reconnects
    (each reconnect restarts the camera's pts). Raises ``ValueError`` when there
    is nothing decodable to write.
    """
    path = Path(path)
    first_key = next((i for i, p in enumerate(packets) if p.keyframe), None)
    if first_key is None:
        raise ValueError("write_mp4: no keyframe among the packets; nothing decodable to write")
    packets = packets[first_key:]
    default_dur = int(MP4_TIME_BASE.denominator / params.fps) if params.fps else 9000
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_mux_stream(params.codec_name, width=params.width, height=params.height)
        stream.time_base = MP4_TIME_BASE
        offset = 0  # output pts of the current session's first packet
        session: int | None = None
        session_first = 0
        last_out = -1
        prev_in = 0
        for i, p in enumerate(packets):
            pts = p.pts if p.pts is not None else p.dts
            pts90 = int(round((pts or 0) * p.time_base / MP4_TIME_BASE))
            if p.session != session or (session_first is not None and pts90 < prev_in):
                # reconnect (or a camera pts reset): continue the timeline after the last packet
                offset = last_out + default_dur if last_out >= 0 else 0
                session, session_first = p.session, pts90
            prev_in = pts90
            out_pts = offset + pts90 - session_first
            if out_pts <= last_out:  # no B-frames on these streams: keep dts strictly increasing
                out_pts = last_out + 1
            data = p.data
            if i == 0 and params.extradata and params.extradata[:3] in (b"\x00\x00\x01", b"\x00\x00\x00") and not _has_sps(data):
                data = params.extradata + data  # in-band SPS/PPS so the muxer can build avcC
            pkt = av.Packet(data)
            pkt.pts = pkt.dts = out_pts
            pkt.duration = p.duration and int(round(p.duration * p.time_base / MP4_TIME_BASE)) or default_dur
            pkt.time_base = MP4_TIME_BASE
            pkt.is_keyframe = p.keyframe
            pkt.stream = stream
            out.mux(pkt)
            last_out = out_pts
    tmp.replace(path)
    return path


def _has_sps(data: bytes) -> bool:
    """True if an Annex-B H.264 access unit carries an SPS NAL (type 7)."""
    i = data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        if data[i + 3] & 0x1F == 7:
            return True
        i = data.find(b"\x00\x00\x01", i + 3)
    return False
