"""The product's PS muxer, checked by FFmpeg's own demuxer (PyAV format="mpeg") and decoder."""

from __future__ import annotations

import io

import av

from ingest.ps.mux import PsMuxer, _crc32_mpeg, stream_map
from tests.ingest.ps.footage import H264_SAMPLE, access_units, hevc_annexb, needs_ffmpeg


def _demux(ps: bytes) -> tuple[str, int, list[int]]:
    with av.open(io.BytesIO(ps), format="mpeg") as c:
        s = c.streams.video[0]
        frames, pts = 0, []
        for packet in c.demux(s):
            if packet.pts is not None:
                pts.append(packet.pts)
            for _ in packet.decode():
                frames += 1
        return s.codec_context.name, frames, pts


def _mux(units: list[tuple[bytes, bool]], codec: str) -> bytes:
    m = PsMuxer(codec)
    return b"".join(m.mux(au, 9000 * (i + 1), key) for i, (au, key) in enumerate(units))


@needs_ffmpeg
def test_h265_ps_is_read_back_by_ffmpeg(tmp_path) -> None:
    units = access_units(hevc_annexb(tmp_path), "hevc")
    assert len(units) == 40 and sum(k for _, k in units) == 4
    codec, frames, pts = _demux(_mux(units, "hevc"))
    assert codec == "hevc" and frames == len(units)
    assert pts[:3] == [9000, 18000, 27000]


def test_h264_ps_is_read_back_by_ffmpeg() -> None:
    units = access_units(H264_SAMPLE, "h264")[:50]
    codec, frames, _ = _demux(_mux(units, "h264"))
    assert codec == "h264" and frames == 50


def test_stream_map_layout_and_crc() -> None:
    psm = stream_map(0x24)
    assert psm[:4] == b"\x00\x00\x01\xbc" and int.from_bytes(psm[4:6], "big") == len(psm) - 6
    assert psm[12:16] == bytes([0x24, 0xE0, 0, 0])
    # MPEG-2 CRC-32 of the whole section including its CRC is 0 (ISO/IEC 13818-1 annex A)
    assert _crc32_mpeg(psm) == 0
    assert _crc32_mpeg(b"123456789") == 0x0376E6E7  # the CRC-32/MPEG-2 check value
