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
from typing import cast

import av
import av.error
from av.video.codeccontext import VideoCodecContext

from ingest.bitstream import inspect_keyframe, nal_type, nal_units, parameter_sets
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

    - Starts on the first keyframe that decodes (in-band parameter sets win over
      the SDP's, which may be garbage).
    - Keeps display order: pts are the camera's, dts are rebuilt in decode order
      (RTP carries no dts); a pts going backwards within a session is a B-frame,
      not a reset. Cameras that stamp B-frame streams in decode order (live555)
      get their display order back from one decode pass.
    - Sessions (reconnects restart the camera's pts) are laid end to end.

    Raises ``ValueError`` (a sentence saying why) when nothing decodable is there.
    """
    path = Path(path)
    start, extradata, width, height = _decodable_start(packets, params)
    packets = packets[start:]
    frame = int(round(MP4_TIME_BASE.denominator / params.fps)) if params.fps else 3600
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    try:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_mux_stream(params.codec_name, width=width, height=height)
            stream.time_base = MP4_TIME_BASE
            end = 0  # output time where the next session starts
            last_dts: int | None = None
            first = True
            for segment in _sessions(packets):
                pts = _display_pts(segment, params, frame)
                segment, pts = _complete_tail(segment[: len(pts)], pts, frame)
                ordered = sorted(pts)
                delay = max(0, max(o - p for o, p in zip(ordered, pts)))  # reorder depth, in ticks
                dts = [o - delay for o in ordered]
                base = ordered[0]
                offset = end
                if last_dts is not None and offset + dts[0] - base <= last_dts:
                    offset = last_dts + 1 - (dts[0] - base)
                for p, pt, dt in zip(segment, pts, dts):
                    data = p.data
                    if first and extradata and not _has_parameter_sets(data, params.codec_name):
                        data = extradata + data  # in-band parameter sets so the muxer can build avcC/hvcC
                    first = False
                    pkt = av.Packet(data)
                    pkt.pts = offset + pt - base
                    pkt.dts = last_dts = max(offset + dt - base, (last_dts + 1) if last_dts is not None else offset + dt - base)
                    pkt.duration = frame
                    pkt.time_base = MP4_TIME_BASE
                    pkt.is_keyframe = p.keyframe
                    pkt.stream = stream
                    out.mux(pkt)
                end = offset + ordered[-1] - base + frame
    except av.error.FFmpegError as exc:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"write_mp4: the muxer refused the packets ({exc.strerror or type(exc).__name__}); "
                         f"the stream's parameters may be broken") from exc
    tmp.replace(path)
    return path


def _decodable_start(packets: list[EncodedPacket], params: StreamParams) -> tuple[int, bytes | None, int, int]:
    """Index of the first keyframe that decodes, with the parameter sets and size it decodes with."""
    keys = [i for i, p in enumerate(packets) if p.keyframe]
    if not keys:
        raise ValueError("write_mp4: no keyframe among the packets; nothing decodable to write")
    if params.verified and params.width and params.height:
        return keys[0], params.extradata, params.width, params.height
    for i in keys[:10]:
        info = inspect_keyframe(params.codec_name, packets[i].data, params.extradata)
        if info is not None:
            return i, info.extradata, info.width, info.height
    raise ValueError("write_mp4: none of the keyframes decodes (broken parameter sets?); nothing playable to write")


def _sessions(packets: list[EncodedPacket]) -> list[list[EncodedPacket]]:
    """Runs of packets of one connection, each starting on a keyframe."""
    runs: list[list[EncodedPacket]] = []
    for p in packets:
        if not runs or p.session != runs[-1][-1].session:
            if not p.keyframe:
                continue  # a new connection's packets before its first keyframe do not decode
            runs.append([])
        runs[-1].append(p)
    return runs


def _display_pts(segment: list[EncodedPacket], params: StreamParams, frame: int) -> list[int]:
    """Each packet's presentation time (90 kHz ticks) in decode order."""
    known = [None if (raw := p.pts if p.pts is not None else p.dts) is None else int(round(raw * p.time_base / MP4_TIME_BASE))
             for p in segment]
    pts: list[int] = []
    for i, value in enumerate(known):
        if value is None:
            if pts:
                value = pts[-1] + frame
            else:  # a session's first packet is often unstamped: it displays just before the earliest that follows
                ahead = [v for v in known[i + 1:i + 9] if v is not None]
                value = min(ahead) - frame if ahead else 0
        pts.append(value)
    monotonic = all(b > a for a, b in zip(pts, pts[1:]))
    if params.reorder and monotonic and len(pts) > 2:
        # decode-order stamps: nothing in them shows missing B-frames at the end, so end
        # where a mini-GOP ends (a non-reference frame followed by a reference one)
        cut = max((k for k in range(len(segment) - 1)
                   if not _is_reference(segment[k].data, params.codec_name) and _is_reference(segment[k + 1].data, params.codec_name)),
                  default=len(segment) - 1)
        segment, pts = segment[: cut + 1], pts[: cut + 1]
        order = _decode_order_ranks(segment, params)
        if order is not None:
            ranked = sorted(pts)
            pts = [ranked[r] for r in order]
    return pts[: len(segment)]


def _is_reference(data: bytes, codec: str) -> bool:
    """Whether the access unit's first slice is a reference picture (B-frames usually are not)."""
    for unit in nal_units(data):
        kind = nal_type(codec, unit)
        if codec == "hevc":
            if kind < 32:  # a VCL NAL: even types below 16 are sub-layer non-reference pictures
                return not (kind < 16 and kind % 2 == 0)
        elif kind in (1, 5):
            return (unit[0] >> 5) & 3 != 0
    return True


def _complete_tail(segment: list[EncodedPacket], pts: list[int], frame: int,
                   window: int = 8) -> tuple[list[EncodedPacket], list[int]]:
    """Drop trailing packets whose B-frames were not captured (a P-frame displayed after missing frames)."""
    while len(pts) > 1 and len(segment) - len(pts) < window:
        tail = sorted(pts)[-window:]
        if all(b - a <= frame * 1.5 for a, b in zip(tail, tail[1:])):
            break
        pts = pts[:-1]
    return segment[: len(pts)], pts


def _decode_order_ranks(segment: list[EncodedPacket], params: StreamParams) -> list[int] | None:
    """Display rank of each packet, found by decoding (for cameras that stamp in decode order)."""
    cc = cast(VideoCodecContext, av.CodecContext.create(params.codec_name, "r"))  # StreamParams are a video stream's
    cc.thread_count = 0  # a one-off pass over a clip: use the cores
    if params.extradata:
        cc.extradata = params.extradata
    seen: list[int] = []
    try:
        for i, p in enumerate(segment):
            pkt = av.Packet(p.data)
            pkt.pts = i
            seen += [_pts(f) for f in cc.decode(pkt)]
        seen += [_pts(f) for f in cc.decode(None)]
    except av.error.FFmpegError:
        return None
    if sorted(seen) != list(range(len(segment))):
        return None  # a frame failed to decode: keep the camera's order rather than guess
    ranks = [0] * len(segment)
    for rank, index in enumerate(seen):
        ranks[index] = rank
    return ranks


def _pts(frame: av.VideoFrame) -> int:
    return -1 if frame.pts is None else frame.pts  # no pts: the rank check below rejects the segment


def _has_parameter_sets(data: bytes, codec: str) -> bool:
    return parameter_sets(codec, data) is not None
