"""The product's own MPEG-2 program stream muxer and PS-over-RTP packetiser.

Why our own: GStreamer's ``mpegpsmux`` takes no H.265 and FFmpeg's ``mpeg``
muxer writes no usable program stream map (its output probes as MP3), while
GB/T 28181 devices and upper platforms expect what devices send: per access
unit a pack header, and before each keyframe a system header and a stream map
(stream type 0x1B H.264, 0x24 H.265), then PES packets of at most 64 KiB.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

STREAM_TYPES = {"h264": 0x1B, "hevc": 0x24, "h265": 0x24}
VIDEO_ID = 0xE0
MAX_PES_PAYLOAD = 65_400
RTP_PAYLOAD = 1_400


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def pack_header(scr: int, mux_rate: int = 6106) -> bytes:
    scr &= (1 << 33) - 1
    return bytes([
        0x00, 0x00, 0x01, 0xBA,
        0x44 | ((scr >> 27) & 0x38) | ((scr >> 28) & 0x03),
        (scr >> 20) & 0xFF,
        0x04 | ((scr >> 12) & 0xF8) | ((scr >> 13) & 0x03),
        (scr >> 5) & 0xFF,
        0x04 | ((scr << 3) & 0xF8),  # SCR extension 0
        0x01,
        (mux_rate >> 14) & 0xFF, (mux_rate >> 6) & 0xFF, ((mux_rate << 2) & 0xFC) | 0x03,
        0xF8,  # reserved, no stuffing
    ])


def system_header(mux_rate: int = 6106) -> bytes:
    body = bytes([
        0x80 | ((mux_rate >> 15) & 0x7F), (mux_rate >> 7) & 0xFF, ((mux_rate << 1) & 0xFE) | 0x01,  # rate bound
        0x04,  # audio bound 1, not fixed, not CSPS
        0xE1,  # system audio/video lock, marker, video bound 1
        0xFF,  # packet rate restriction off, reserved
        VIDEO_ID, 0xE0, 0x80,  # P-STD buffer: scale 1024, 128 KiB
    ])
    return b"\x00\x00\x01\xbb" + len(body).to_bytes(2, "big") + body


def stream_map(stream_type: int) -> bytes:
    es = bytes([stream_type, VIDEO_ID, 0x00, 0x00])
    body = bytes([0xE0, 0xFF, 0x00, 0x00]) + len(es).to_bytes(2, "big") + es  # current, version 0; no program info
    length = len(body) + 4
    head = b"\x00\x00\x01\xbc" + length.to_bytes(2, "big")
    crc = _crc32_mpeg(head + body)
    return head + body + crc.to_bytes(4, "big")


def _pts_bytes(pts: int, prefix: int) -> bytes:
    pts &= (1 << 33) - 1
    return bytes([(prefix << 4) | ((pts >> 29) & 0x0E) | 0x01, (pts >> 22) & 0xFF, ((pts >> 14) & 0xFE) | 0x01,
                  (pts >> 7) & 0xFF, ((pts << 1) & 0xFE) | 0x01])


def pes_packets(payload: bytes, pts: int | None, dts: int | None = None) -> Iterator[bytes]:
    first = True
    for i in range(0, max(len(payload), 1), MAX_PES_PAYLOAD):
        part = payload[i:i + MAX_PES_PAYLOAD]
        if first and pts is not None:
            if dts is not None and dts != pts:
                header = bytes([0x80, 0xC0, 10]) + _pts_bytes(pts, 0x3) + _pts_bytes(dts, 0x1)
            else:
                header = bytes([0x80, 0x80, 5]) + _pts_bytes(pts, 0x2)
        else:
            header = bytes([0x80, 0x00, 0])
        first = False
        yield b"\x00\x00\x01" + bytes([VIDEO_ID]) + (len(header) + len(part)).to_bytes(2, "big") + header + part


@dataclass
class PsMuxer:
    """Access units (Annex-B) in, program stream bytes out: ``mux(au, pts_90k, keyframe)``."""

    codec: str = "h264"

    def __post_init__(self) -> None:
        if self.codec not in STREAM_TYPES:
            raise ValueError(f"PS muxer: codec {self.codec!r} not supported (h264, hevc)")
        self._psm = stream_map(STREAM_TYPES[self.codec])
        self._sys = system_header()

    def mux(self, access_unit: bytes, pts: int, keyframe: bool, dts: int | None = None) -> bytes:
        scr = dts if dts is not None else pts
        parts = [pack_header(max(scr - 3600, 0))]
        if keyframe:
            parts += [self._sys, self._psm]
        parts.extend(pes_packets(access_unit, pts, dts))
        return b"".join(parts)


def rtp_packets(ps: bytes, *, seq: int, timestamp: int, ssrc: int, payload_type: int = 96, size: int = RTP_PAYLOAD) -> tuple[list[bytes], int]:
    """One muxed access unit as RTP packets (marker on the last); returns (packets, next sequence number)."""
    from ingest.ps.rtp import build_rtp

    out = []
    chunks = [ps[i:i + size] for i in range(0, len(ps), size)] or [b""]
    for i, chunk in enumerate(chunks):
        out.append(build_rtp(chunk, seq=seq, timestamp=timestamp, ssrc=ssrc, marker=i == len(chunks) - 1, payload_type=payload_type))
        seq = (seq + 1) & 0xFFFF
    return out, seq


def rfc4571(packet: bytes) -> bytes:
    """TCP framing: the 2-byte length then the RTP packet."""
    return len(packet).to_bytes(2, "big") + packet
