"""LiveRelay: one upstream per camera, fan-out to many async viewers, fast start, slow viewers."""

from __future__ import annotations

import asyncio
import time

import av

from ingest import ChannelSpec, EncodedPacket, LiveRelay, write_mp4
from tests.ingest.helpers import connections_to, wait_until


async def _take(sub, n: int) -> list[EncodedPacket]:
    out = []
    async for p in sub:
        out.append(p)
        if len(out) >= n:
            break
    return out


async def test_one_upstream_for_many_viewers(rtsp_server, tmp_path):
    relay = LiveRelay(linger_s=0.5)
    relay.add_source(ChannelSpec("cam01", rtsp_server.url("cam01")))
    try:
        subs = [relay.subscribe("cam01") for _ in range(5)]
        for s in subs:
            await s.__aenter__()
        params = await subs[0].wait_params(10)
        assert (params.codec_name, params.width, params.height) == ("h264", 480, 360)
        got = await asyncio.wait_for(asyncio.gather(*(_take(s, 25) for s in subs)), 15)
        assert connections_to(rtsp_server.port) == 1, "five viewers, one camera session"
        for packets in got:
            assert packets[0].keyframe, "every viewer starts on a keyframe"
        # same packets (same objects: nothing copied or re-encoded per viewer)
        assert got[0][-1] is got[1][-1] or got[0][-1].data == got[1][-1].data
        # the relay's packets remux into a playable clip
        write_mp4(got[0], params, tmp_path / "live.mp4")
        with av.open(str(tmp_path / "live.mp4")) as c:
            assert len(list(c.decode(video=0))) == 25
        for s in subs:
            await s.__aexit__(None, None, None)
        assert relay.stats()[0].subscribers == 0
        # last viewer gone: upstream closes after linger_s
        assert await asyncio.to_thread(wait_until, lambda: connections_to(rtsp_server.port) == 0, 3)
        assert relay.stats()[0].upstream == "idle"
    finally:
        relay.close()


async def test_late_viewer_gets_fast_start_from_the_ring(rtsp_server):
    relay = LiveRelay()
    relay.add_source(ChannelSpec("cam02", rtsp_server.url("cam02")), always_on=True)
    try:
        await asyncio.to_thread(wait_until, lambda: relay.ring("cam02").span_s() >= 1.5, 10)
        t0 = time.monotonic()
        async with relay.subscribe("cam02") as sub:
            first = await sub.get(timeout=5)
            waited = time.monotonic() - t0
        assert first.keyframe
        assert waited < 0.5, f"fast start should not wait for the next keyframe (waited {waited:.2f} s)"
        assert first.ts_monotonic < t0, "first packet came from the ring (received before subscribing)"
    finally:
        relay.close()


async def test_slow_viewer_drops_to_next_keyframe_without_slowing_others(rtsp_server):
    relay = LiveRelay(max_queue=5)
    relay.add_source(ChannelSpec("cam03", rtsp_server.url("cam03")))
    try:
        async with relay.subscribe("cam03") as slow, relay.subscribe("cam03", max_queue=1000) as fast:
            fast_packets = await asyncio.wait_for(_take(fast, 30), 10)  # slow never reads meanwhile
            assert slow.dropped > 0
            assert fast.dropped == 0 and len(fast_packets) == 30
            # a flush empties the backlog and waits for a keyframe: what the slow viewer
            # sees next always starts a GOP (a freeze, never a smeared picture)
            resumed = await asyncio.wait_for(slow.get(), 5)
            assert resumed is not None and resumed.keyframe
    finally:
        relay.close()


async def test_remove_source_ends_subscriptions(rtsp_server):
    relay = LiveRelay()
    relay.add_source(ChannelSpec("cam04", rtsp_server.url("cam04")))
    async with relay.subscribe("cam04") as sub:
        assert await sub.get(timeout=10) is not None
        await asyncio.to_thread(relay.remove_source, "cam04")
        rest = await asyncio.wait_for(_take(sub, 10_000), 3)  # iteration ends instead of hanging
        assert len(rest) < 10_000
    relay.close()
    assert connections_to(rtsp_server.port) == 0


def test_callback_subscriber_from_a_thread(rtsp_server):
    got: list[EncodedPacket] = []
    with LiveRelay() as relay:
        relay.add_source(ChannelSpec("cam01", rtsp_server.url("cam01")))
        sub = relay.subscribe("cam01", callback=got.append)
        assert wait_until(lambda: len(got) >= 12, 10)
        sub.close()
    assert got[0].keyframe and sum(p.keyframe for p in got) >= 1
