"""Per-camera upstreams against the real GStreamer RTSP server (RTSP over loopback, no WebRTC here)."""

from __future__ import annotations

import asyncio
import logging
import os

import av
import psutil
import pytest

from web.live.relay_upstream import RelayUpstreams
from web.live.sources import (
    VIDEO_TIME_BASE,
    PacketTrack,
    RawPacket,
    SourceOptions,
    SourceRegistry,
    redact_url,
    with_parameter_sets,
)
from web.live.transcode import SharedTranscode
from xueliang.runtime import RtspSampleServer, SampleMount, free_port
from xueliang.settings import REPO_ROOT

SAMPLE = REPO_ROOT / "samples" / "vtest_480x360_g10.h264"


def sample_packets(n: int) -> list[RawPacket]:
    """The first ``n`` packets of the sample footage, stamped at 10 fps (3600 ticks would be 25 fps)."""
    out = []
    with av.open(str(SAMPLE)) as container:
        for packet in container.demux(video=0):
            if packet.size == 0:
                continue
            out.append(RawPacket(bytes(packet), 1000 + 9000 * len(out), bool(packet.is_keyframe), 1))
            if len(out) == n:
                break
    return out


def rtsp_connections(port: int) -> int:
    conns = psutil.Process(os.getpid()).net_connections(kind="tcp")
    return sum(1 for c in conns if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


async def wait_for(predicate, timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


async def recv_n(track, n: int, timeout: float = 10.0) -> list:
    return [await asyncio.wait_for(track.recv(), timeout) for _ in range(n)]


# ---- pure logic on real packets -----------------------------------------------------------------


def test_redact_url_hides_credentials() -> None:
    assert redact_url("rtsp://admin:s3cret@10.0.0.5:554/ch1") == "rtsp://admin:***@10.0.0.5:554/ch1"
    assert redact_url("rtsp://10.0.0.5/ch1") == "rtsp://10.0.0.5/ch1"


def test_keyframe_gets_out_of_band_parameter_sets() -> None:
    key = next(p for p in sample_packets(30) if p.keyframe)
    nals = [b"\x00\x00\x01" + n for n in key.data.split(b"\x00\x00\x01") if n]
    parameter_sets = b"".join(n for n in nals if n[3] & 0x1F in (7, 8))
    without = b"".join(n for n in nals if n[3] & 0x1F not in (7, 8))
    assert parameter_sets and without != key.data
    assert with_parameter_sets(without, parameter_sets) == parameter_sets + without
    assert with_parameter_sets(key.data, parameter_sets) == key.data  # already in band: untouched
    assert with_parameter_sets(without, b"\x01\x64\x00\x1f") == without  # avcC extradata is not Annex-B


async def test_viewer_starts_at_keyframe_and_timestamps_stay_monotonic_across_reconnect() -> None:
    packets = sample_packets(25)
    first_key = next(i for i, p in enumerate(packets) if p.keyframe)
    track = PacketTrack(maxsize=100)
    # Joining mid-GOP: everything before the next keyframe is skipped.
    late = [p for p in packets[first_key + 1:] if not p.keyframe][:3]
    assert all(track._offer(p) == 1 for p in late)
    second_key = next(i for i, p in enumerate(packets) if p.keyframe and i > first_key)
    for p in packets[second_key:second_key + 5]:
        assert track._offer(p) == 0
    # Reconnect: the camera's clock restarts at 0 in a new session.
    restarted = [RawPacket(p.data, 9000 * i, p.keyframe, 2) for i, p in enumerate(packets[first_key:first_key + 5])]
    for p in restarted:
        track._offer(p)
    out = await recv_n(track, 10)
    pts = [p.pts for p in out]
    assert bytes(out[0]) == packets[second_key].data
    assert all(b > a for a, b in zip(pts, pts[1:])), pts
    assert pts[1] - pts[0] == 9000  # real spacing kept
    assert pts[5] - pts[4] == 9000  # and across the reconnect
    assert all(p.time_base == VIDEO_TIME_BASE for p in out)


async def test_gop_burst_is_squeezed_then_live_packets_keep_real_spacing() -> None:
    packets = sample_packets(12)
    key = next(i for i, p in enumerate(packets) if p.keyframe)
    burst, live = packets[key:key + 6], packets[key + 6:key + 9]
    track = PacketTrack(maxsize=100)
    for p in burst:
        track._offer(p, burst=True)
    for p in live:
        track._offer(p)
    pts = [p.pts for p in await recv_n(track, len(burst) + len(live))]
    # The burst spans 6 ticks (67 µs), so the browser shows it at once instead of running ~0.5 s late.
    assert pts[len(burst) - 1] - pts[0] == len(burst) - 1
    assert [b - a for a, b in zip(pts[len(burst) - 1:], pts[len(burst):])] == [9000] * len(live)


async def test_slow_viewer_skips_to_next_keyframe_instead_of_losing_single_frames() -> None:
    packets = sample_packets(33)  # GOP 10: keyframes at 0, 10, 20, 30
    track = PacketTrack(maxsize=5)
    dropped = sum(track._offer(p) for p in packets)
    assert dropped > 0 and track.dropped == dropped
    queued = await recv_n(track, track._queue.qsize())
    # Whatever is queued starts with a keyframe: the decoder never sees a broken reference chain.
    assert [bytes(p) for p in queued] == [p.data for p in packets[30:33]]
    assert packets[30].keyframe


# ---- real RTSP server ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["player", "relay"])
async def test_many_viewers_share_one_upstream_which_closes_after_grace(rtsp_server, kind: str) -> None:
    url = rtsp_server.url("cam01")
    registry = SourceRegistry(grace_s=0.5) if kind == "player" else RelayUpstreams(grace_s=0.5)
    try:
        tracks = [registry.acquire("cam01", url).subscribe() for _ in range(3)]
        firsts = [await asyncio.wait_for(t.recv(), 10) for t in tracks]
        assert all(bytes(p) == bytes(firsts[0]) for p in firsts)  # the same camera packet to everyone
        assert rtsp_connections(rtsp_server.port) == 1
        assert registry.refs("cam01") == 3
        await recv_n(tracks[0], 5)
        for t in tracks:
            t.stop()
            registry.release("cam01")
        # Within the grace period a new viewer re-uses the open upstream.
        await asyncio.sleep(0.2)
        again = registry.acquire("cam01", url).subscribe()
        await asyncio.wait_for(again.recv(), 5)
        assert rtsp_connections(rtsp_server.port) == 1
        again.stop()
        registry.release("cam01")
        assert await wait_for(lambda: rtsp_connections(rtsp_server.port) == 0, 5), "upstream not closed after grace"
    finally:
        await registry.close()
    assert rtsp_connections(rtsp_server.port) == 0


async def test_upstream_reconnects_after_server_restart_and_viewer_keeps_playing(tmp_path) -> None:
    port = free_port()
    mounts = [SampleMount("cam01", SAMPLE, fps=10)]
    server = RtspSampleServer(mounts=mounts, port=port, log_path=tmp_path / "rtsp.log").start()
    options = SourceOptions(backoff_initial_s=0.2, backoff_max_s=1.0, read_timeout_s=2.0)
    registry = SourceRegistry(grace_s=0.5, options=options)
    try:
        track = registry.acquire("cam01", server.url("cam01")).subscribe()
        before = await recv_n(track, 5)
        server.stop()
        server = RtspSampleServer(mounts=mounts, port=port, log_path=tmp_path / "rtsp2.log").start()
        after = []
        while len(after) < 5:  # packets queued before the kill drain first
            packet = await asyncio.wait_for(track.recv(), 15)
            after.append(packet)
        assert registry.get("cam01").stats.connects == 2
        pts = [p.pts for p in before + after]
        assert all(b > a for a, b in zip(pts, pts[1:])), pts
        track.stop()
        registry.release("cam01")
    finally:
        await registry.close()
        server.stop()


async def test_credentials_reach_the_camera_but_never_logs_or_stats(tmp_path, caplog) -> None:
    secret = "Zx9-secret-pw"
    server = RtspSampleServer(mounts=[SampleMount("cam01", SAMPLE, fps=10)], auth=f"admin:{secret}",
                              log_path=tmp_path / "rtsp.log").start()
    caplog.set_level(logging.DEBUG)
    registry = SourceRegistry(grace_s=0.1, options=SourceOptions(backoff_initial_s=0.2))
    try:
        wrong = registry.acquire("cam02", server.url("cam01", credentials="admin:wrong-pw"))
        good = registry.acquire("cam01", server.url("cam01", credentials=f"admin:{secret}")).subscribe()
        await asyncio.wait_for(good.recv(), 10)  # the right password was used
        assert await wait_for(lambda: wrong.stats.last_error is not None, 10)
        text = caplog.text + repr(registry.snapshot())
        assert secret not in text and "wrong-pw" not in text
        assert "***@" in caplog.text
        good.stop()
    finally:
        await registry.close()
        server.stop()


async def test_shared_transcode_decodes_and_encodes_once_for_all_viewers(rtsp_server) -> None:
    registry = SourceRegistry(grace_s=0.1)
    try:
        source = registry.acquire("cam01", rtsp_server.url("cam01"))
        assert await source.wait_codec(10) == "h264"
        feed = SharedTranscode(source, "h264", "vp8", max_width=320)
        a, b = feed.subscribe(), feed.subscribe()
        got_a = [await asyncio.wait_for(a.recv(), 10) for _ in range(10)]
        got_b = [await asyncio.wait_for(b.recv(), 10) for _ in range(10)]
        assert len(got_b) == 10  # the second viewer is served by the same encoder
        decoder = av.CodecContext.create("vp8", "r")
        frames = [f for p in got_a for f in decoder.decode(p)]
        assert (frames[0].width, frames[0].height) == (320, 240)  # scaled down from 480x360
        assert all(y.pts > x.pts for x, y in zip(got_a, got_a[1:]))
        assert source.viewers == 1  # one decoder subscription, however many viewers
        # one encode for both viewers: 20 packets delivered, about 10 encoded (per-viewer encoding: >= 20)
        assert feed.frames_encoded < 16, feed.frames_encoded
        a.stop()
        b.stop()
        assert feed.viewers == 0
        await feed.close()
        assert feed._task is None
        assert await wait_for(lambda: source.viewers == 0, 2)
    finally:
        await registry.close()
