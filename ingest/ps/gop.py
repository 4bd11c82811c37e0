"""What a viewer joining a live PS stream needs first: the stream map and the bytes since the last keyframe."""

from __future__ import annotations

PACK = b"\x00\x00\x01\xba"
PSM = b"\x00\x00\x01\xbc"
_MAX_BYTES = 8 * 1024 * 1024


def _has_parameter_sets(chunk: bytes) -> bool:
    """H.264 SPS (NAL 7) or H.265 VPS/SPS (NAL 32/33) inside *chunk*: a keyframe starts here."""
    i = chunk.find(b"\x00\x00\x01")
    while 0 <= i < len(chunk) - 4:
        b = chunk[i + 3]
        if (b & 0x9F) == 0x07 or b in (0x40, 0x42):  # H.264 SPS with any nal_ref_idc; H.265 VPS/SPS
            return True
        i = chunk.find(b"\x00\x00\x01", i + 3)
    return False


class GopCache:
    def __init__(self) -> None:
        self.psm = b""
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        j = chunk.find(PSM)
        if j >= 0 and j + 6 <= len(chunk):
            n = int.from_bytes(chunk[j + 4:j + 6], "big")
            if j + 6 + n <= len(chunk):
                self.psm = chunk[j:j + 6 + n]
        if _has_parameter_sets(chunk):
            start = chunk.find(PACK)
            self.chunks, self.size = [chunk[start:] if start >= 0 else chunk], len(chunk)
            return
        if self.chunks:
            self.chunks.append(chunk)
            self.size += len(chunk)
            if self.size > _MAX_BYTES:  # no keyframe for a long time: stop caching rather than grow
                self.chunks, self.size = [], 0

    def start(self) -> bytes:
        """Bytes to send a new viewer before the live ones (empty until a keyframe was seen)."""
        if not self.chunks:
            return b""
        first = self.chunks[0]
        if self.psm and PSM not in first[:256] and first.startswith(PACK) and len(first) >= 14:
            end = 14 + (first[13] & 0x07)  # pack header + stuffing: the stream map goes right after it
            first = first[:end] + self.psm + first[end:]
        return first + b"".join(self.chunks[1:])
