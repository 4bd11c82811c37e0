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


def test_a_malformed_stream_map_is_tolerated() -> None:
    """Devices in the field send stream maps with a wrong codec type, a bad CRC or a cut-short table;
    the hub's sanitiser (ingest.ps.psm) leaves FFmpeg a stream it decodes, for H.264 and H.265."""
    from ingest.ps.psm import sanitize

    units = access_units(H264_SAMPLE, "h264")[:40]
    good = _mux(units, "h264")
    psm = stream_map(0x1B)
    broken = {
        "wrong stream type": (stream_map(0x02), 1),  # calls H.264 "MPEG-2 video": FFmpeg alone decodes nothing
        "bad CRC": (psm[:-4] + b"\xde\xad\xbe\xef", 0),  # harmless: kept
        "truncated table": (psm[:10] + b"\x00\x08" + psm[12:16] + psm[-4:], 1),  # says 8 bytes of entries, has 4
    }
    for what, (bad, expect_removed) in broken.items():
        ps = good.replace(psm, bad)
        if what == "wrong stream type":
            assert _demux(ps)[1] == 0  # the failure the sanitiser exists for
        cleaned, removed = sanitize(ps)
        assert removed == expect_removed * good.count(psm), what
        codec, frames, _ = _demux(cleaned)
        assert codec == "h264" and frames == 40, (what, codec, frames)
    assert sanitize(good) == (good, 0)


@needs_ffmpeg
def test_h265_without_its_stream_map_is_still_found(tmp_path) -> None:
    from ingest.ps.psm import sanitize

    ps = _mux(access_units(hevc_annexb(tmp_path), "hevc"), "hevc")
    cleaned, removed = sanitize(ps.replace(stream_map(0x24), stream_map(0x1B)[:12] + bytes([0x02]) + stream_map(0x1B)[13:]))
    assert removed == 4 and _demux(cleaned)[:2] == ("hevc", 40)
