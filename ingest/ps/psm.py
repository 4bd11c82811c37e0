"""Program stream maps as devices send them, made safe for FFmpeg's ``mpeg`` demuxer.

FFmpeg believes the map: one that calls H.264 "MPEG-2 video" (firmware bugs seen in the
field) yields no decodable stream, while a stream without any map is probed from the
data and found. So a map whose video entry is not H.264 (0x1B), H.265 (0x24) or MPEG-4
(0x10), or that does not parse, is removed; a bad CRC alone is harmless and left.
"""

from __future__ import annotations

PSM = b"\x00\x00\x01\xbc"
VIDEO_TYPES = frozenset({0x1B, 0x24, 0x10})


def _psm_ok(packet: bytes) -> bool:
    if len(packet) < 16:
        return False
    info_len = int.from_bytes(packet[8:10], "big")
    pos = 10 + info_len
    if pos + 2 > len(packet):
        return False
    es_len = int.from_bytes(packet[pos:pos + 2], "big")
    pos += 2
    end = pos + es_len
    if end + 4 > len(packet):
        return False
    while pos + 4 <= end:
        stream_type, stream_id = packet[pos], packet[pos + 1]
        if 0xE0 <= stream_id <= 0xEF and stream_type not in VIDEO_TYPES:
            return False
        pos += 4 + int.from_bytes(packet[pos + 2:pos + 4], "big")
    return pos == end


def sanitize(chunk: bytes) -> tuple[bytes, int]:
    """(*chunk* without unusable stream maps, how many were removed)."""
    i = chunk.find(PSM)
    if i < 0:
        return chunk, 0
    out, removed, start = [], 0, 0
    while i >= 0:
        if i + 6 > len(chunk):
            break  # a map cut by the RTP packet boundary: left as is (FFmpeg resyncs)
        end = i + 6 + int.from_bytes(chunk[i + 4:i + 6], "big")
        if end <= len(chunk) and not _psm_ok(chunk[i:end]):
            out.append(chunk[start:i])
            start = end
            removed += 1
        i = chunk.find(PSM, max(end, i + 4))
    out.append(chunk[start:])
    return b"".join(out), removed
