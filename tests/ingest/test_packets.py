"""PacketRing + write_mp4: pre-event clips remuxed from real RTSP packets, no re-encoding."""

from __future__ import annotations

import time

import av
import pytest

from ingest import ChannelSpec, EncodedPacket, PacketRing, StreamReader, write_mp4
from tests.ingest.helpers import wait_until


def test_ring_keeps_last_seconds_from_a_keyframe_and_clip_plays(rtsp_server, tmp_path):
    ring = PacketRing(seconds=2.0)
    reader = StreamReader(ChannelSpec("cam02", rtsp_server.url("cam02"), fps=1), packet_ring=ring)
    with reader:
        assert wait_until(lambda: ring.span_s() >= 2.0, 10)
        time.sleep(2.0)
        packets = ring.snapshot()
    assert packets[0].keyframe
    assert 2.0 <= packets[-1].ts_monotonic - packets[0].ts_monotonic <= 3.2  # ≥ N s, < N s + one GOP
    assert reader.stats.frames_decoded == 0, "no on_frame: packets only, nothing decoded"

    since = packets[0].ts_monotonic + 1.05
    clip = ring.snapshot(since=since)
    assert clip[0].keyframe and clip[0].ts_monotonic <= since

    path = write_mp4(packets, ring.params, tmp_path / "clip.mp4")
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "not faststart: browsers would wait for the whole file"
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        assert (st.codec_context.width, st.codec_context.height) == (480, 360)
        frames = list(c.decode(st))
    assert len(frames) == len(packets)
    assert frames[-1].time - frames[0].time == pytest.approx((len(packets) - 1) * 0.1, abs=0.02)


def test_write_mp4_refuses_a_clip_without_keyframe(tmp_path):
    from fractions import Fraction

    from ingest import StreamParams

    p = EncodedPacket("c", b"\x00\x00\x00\x01\x41", 0, 0, 9000, Fraction(1, 90000), False, 0.0, 1)
    with pytest.raises(ValueError, match="no keyframe"):
        write_mp4([p], StreamParams("h264", 480, 360, None, Fraction(1, 90000), 10.0), tmp_path / "x.mp4")


def test_ring_is_bounded_by_bytes():
    from fractions import Fraction

    ring = PacketRing(seconds=100, max_bytes=10_000)
    for i in range(100):
        ring.push(EncodedPacket("c", b"x" * 1000, i, i, 1, Fraction(1, 10), i % 10 == 0, float(i), 1))
    assert ring.nbytes <= 10_000
    assert ring.snapshot()[0].keyframe
