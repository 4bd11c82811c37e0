"""Cascade up: our lower platform registers to SIPp playing the city platform (digest verified by SIPp),
answers its Catalog, and streams the sample camera as PS over RTP to it (checked by demuxing what arrives)."""

from __future__ import annotations

import asyncio
import io

import av
import pytest

from devices.gb28181.cascade import CascadeChannel, CascadeClient, UpperPlatform
from ingest.ps.cascade import remux_starter
from ingest.ps.rtp import RtpDepacketizer
from tests.devices.gb28181.sipp import free_port, needs_sipp, start_sipp
from tests.devices.gb28181.test_sipp_device import wait_for
from tests.ingest.ps.footage import H264_SAMPLE

pytestmark = [needs_sipp, pytest.mark.timeout(90)]
UPPER, LOWER = "33030000002000000001", "33038100002000000001"
CHANS = [CascadeChannel("33038100001320000001", "塘下镇中心路口", "330381101", lat=27.9, lon=120.6),
         CascadeChannel("33038100001320000002", "学校门口", "330381102")]


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def datagram_received(self, data: bytes, addr) -> None:  # noqa: ANN001
        self.packets.append(data)


async def test_register_up_answer_catalog_and_stream_ps(tmp_path) -> None:
    rtp_port = free_port()
    transport, sink = await asyncio.get_running_loop().create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", rtp_port))
    sipp_port = free_port()
    keys = {"upper": UPPER, "updomain": UPPER[:10], "lower": LOWER, "lowerpw": "city-secret", "chan": CHANS[0].channel_id,
            "rtpport": str(rtp_port)}
    run = await start_sipp("upper.xml", server_port=0, logdir=tmp_path / "sipp", keys=keys, calls=10_000,
                           local_port=sipp_port, hold_ms=3000, server_mode=True)
    await asyncio.sleep(0.5)  # SIPp binds its port
    client = await CascadeClient(UpperPlatform(UPPER, "127.0.0.1", sipp_port, LOWER, "city-secret", keepalive_s=1.0),
                                 lambda: CHANS, remux_starter(lambda ch: str(H264_SAMPLE))).start()
    try:
        await wait_for(lambda: client.registered, what="the registration to the upper platform")
        await wait_for(lambda: client.stats["invites"] == 1 and not client._sessions, timeout=30, what="INVITE, 3 s of media, BYE")
        assert client.stats["catalog_answers"] == 1
        saw = (tmp_path / "sipp" / "messages.log").read_text(errors="replace")
        assert "<SumNum>2</SumNum>" in saw and CHANS[1].channel_id in saw and "<CmdType>Keepalive</CmdType>" in saw
    finally:
        await client.stop()
        transport.close()
        await run.stop()
    # what the upper platform received: RTP with its SSRC, PS inside, H.264 that FFmpeg decodes
    dep = RtpDepacketizer(100000042)
    ps = b"".join(chunk for p in sink.packets for chunk in dep.feed(p))
    assert dep.stats.foreign_ssrc == 0 and dep.stats.packets > 20
    with av.open(io.BytesIO(ps), format="mpeg") as c:
        stream = c.streams.video[0]
        frames = sum(1 for pkt in c.demux(stream) for _ in pkt.decode())
        assert stream.codec_context.name == "h264" and frames >= 15


async def test_wrong_password_is_refused_by_the_upper_platform(tmp_path) -> None:
    sipp_port = free_port()
    keys = {"upper": UPPER, "updomain": UPPER[:10], "lower": LOWER, "lowerpw": "city-secret", "chan": CHANS[0].channel_id,
            "rtpport": "9"}
    run = await start_sipp("upper.xml", server_port=0, logdir=tmp_path / "sipp", keys=keys, local_port=sipp_port, server_mode=True,
                           timeout_s=10)
    await asyncio.sleep(0.5)
    client = CascadeClient(UpperPlatform(UPPER, "127.0.0.1", sipp_port, LOWER, "wrong"), lambda: CHANS, remux_starter(str))
    await client.endpoint.start()
    try:
        assert await client.register() is False
    finally:
        await client.endpoint.stop()
        await run.stop()
