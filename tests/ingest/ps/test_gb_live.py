"""A GB/T 28181 channel end to end: SIPp answers the INVITE, PS/RTP arrives over UDP / TCP passive / TCP active,
and the ingest reader (PyAV, the same reader RTSP cameras use) decodes frames from the channel's URL."""

from __future__ import annotations

import asyncio
import threading

import pytest

from devices.gb28181 import GbConfig, GbPlatform
from ingest import ChannelSpec, StreamReader
from ingest.ps import GbMediaHub, PsHttpServer
from ingest.ps.mux import PsMuxer
from tests.devices.gb28181.sipp import MEDIA_TOKEN, free_port, needs_sipp, start_sipp
from tests.devices.gb28181.test_sipp_device import DEVICE, PLATFORM, keys, wait_for
from tests.ingest.ps.footage import access_units, gstreamer_ps, hevc_annexb, needs_ffmpeg, needs_gst, ps_units
from tests.ingest.ps.sender import PsRtpSender

pytestmark = [needs_sipp, needs_gst, needs_ffmpeg, pytest.mark.timeout(120)]
CH1 = "34020000001320000001"


class FrameLog:
    def __init__(self) -> None:
        self.frames: list = []
        self.lock = threading.Lock()

    def __call__(self, frame) -> None:  # noqa: ANN001
        with self.lock:
            self.frames.append(frame)


async def _run_live(tmp_path, mode: str, units: list[bytes], relay_packets: list | None = None,
                    query: str = "") -> tuple[FrameLog, GbMediaHub, PsRtpSender]:
    platform = await GbPlatform(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw")).start()
    hub = GbMediaHub(platform, media_host="127.0.0.1", bind_host="127.0.0.1", mode=mode, linger_s=0.5)  # type: ignore[arg-type]
    platform.on_remote_bye = hub.on_remote_bye
    http = await PsHttpServer(hub, "127.0.0.1", 0, token=MEDIA_TOKEN).start()
    devmedia = free_port(1)
    k = keys(hold_ms=60000) | {"devmedia": str(devmedia)}
    run = await start_sipp("device.xml", ooc="device_ooc.xml", server_port=platform.port, logdir=tmp_path / "sipp",
                           keys=k, auth=(DEVICE, "pw"), timeout_s=90, hold_ms=60000)
    tasks: list[asyncio.Task] = []
    sender: PsRtpSender | None = None
    frames = FrameLog()
    reader = StreamReader(ChannelSpec(id=CH1, url=http.url(CH1) + query, mode="continuous", fps=10.0), on_frame=frames)
    device_server = None
    key = CH1 if not query else f"{CH1}~{query.split('=', 1)[1]}"
    try:
        await wait_for(lambda: CH1 in platform.store.channels, what="the catalog")
        if mode == "tcp-active":  # the device listens on the port of its SDP answer; the hub connects
            async def on_conn(_r, w):  # noqa: ANN001
                await wait_for(lambda: sender is not None, what="the sender")
                tasks.append(asyncio.create_task(sender.tcp(w)))  # type: ignore[union-attr]
            device_server = await asyncio.start_server(on_conn, "127.0.0.1", devmedia)
        reader.start()
        await wait_for(lambda: key in hub.sessions and hub.sessions[key].invite is not None, what="the INVITE")
        session = hub.sessions[key]
        sender = PsRtpSender(units, ssrc=int(session.invite.ssrc))
        if mode == "udp":
            tasks.append(asyncio.create_task(sender.udp("127.0.0.1", session.receiver.port)))
        elif mode == "tcp-passive":
            _, w = await asyncio.open_connection("127.0.0.1", session.receiver.port)
            tasks.append(asyncio.create_task(sender.tcp(w)))
        await wait_for(lambda: len(frames.frames) >= 15, timeout=40, what="frames in the reader")
        if relay_packets is not None:  # live view's path: ingest.LiveRelay, a second consumer of the same INVITE
            from ingest import LiveRelay
            relay = LiveRelay(linger_s=0.2)
            relay.add_source(ChannelSpec(id=CH1, url=http.url(CH1), mode="off", fps=10.0))
            try:
                async with relay.subscribe(CH1) as sub:
                    params = await sub.wait_params(timeout=20)
                    relay_packets.append(params)
                    for _ in range(10):
                        pkt = await sub.get(timeout=10)
                        assert pkt is not None
                        relay_packets.append(pkt)
            finally:
                relay.close()
            assert len(hub.sessions) == 1 and hub.sessions[CH1].reinvites == 0  # one INVITE shared by reader and relay
        return frames, hub, sender
    finally:
        reader.stop()
        for t in tasks:
            t.cancel()
        if device_server is not None:
            device_server.close()
        await hub.close()
        await http.stop()
        await run.stop()
        await platform.stop()


@pytest.mark.parametrize("mode", ["udp", "tcp-passive", "tcp-active"])
async def test_gstreamer_h264_ps_reaches_the_reader(tmp_path, mode) -> None:
    units = ps_units(gstreamer_ps(tmp_path).read_bytes())
    relayed: list = [] if mode == "udp" else None
    frames, hub, sender = await _run_live(tmp_path, mode, units, relayed)
    if relayed is not None:
        params = relayed[0]
        assert (params.codec_name, params.width, params.height) == ("h264", 640, 360) and not params.reorder
        assert len(relayed) == 11
    f = frames.frames[-1]
    assert f.image.shape == (360, 640, 3) and f.channel_id == CH1
    assert sender.sent >= 15


async def test_h265_ps_from_the_product_muxer_reaches_the_reader(tmp_path) -> None:
    mux = PsMuxer("hevc")
    units = [mux.mux(au, 9000 * (i + 1), key) for i, (au, key) in enumerate(access_units(hevc_annexb(tmp_path), "hevc"))]
    frames, _, _ = await _run_live(tmp_path, "udp", units)
    assert frames.frames[-1].image.shape == (360, 640, 3)


async def test_device_recording_plays_back_through_the_ps_endpoint(tmp_path) -> None:
    """``?playback=<start>-<end>`` on the channel's URL: INVITE s=Playback with u= and t=, a playback SSRC (y=1…),
    a session of its own (not the live one), and the same reader decodes the recording."""
    start, end = 1796371200, 1796374800  # 2026-12-04 08:00–09:00 +08:00, one of the RecordInfo items
    frames, hub, _ = await _run_live(tmp_path, "udp", ps_units(gstreamer_ps(tmp_path).read_bytes()), query=f"?playback={start}-{end}")
    assert frames.frames[-1].image.shape == (360, 640, 3)
    invite = (tmp_path / "sipp" / "messages.log").read_text(errors="replace").split("INVITE sip:", 1)[1].split("-----", 1)[0]
    assert "s=Playback" in invite and f"u={CH1}:0" in invite and f"t={start} {end}" in invite
    assert "\ny=1" in invite.replace("\r", "")  # 1 = playback in the SSRC's first digit


async def test_a_stalled_channel_is_re_invited_and_frames_resume(tmp_path) -> None:
    """The device stops sending (a 4G terminal losing its link): after stall_s the hub BYEs the dead
    session and INVITEs again; the device answers, sends to the new SSRC, and the same reader goes on."""
    units = ps_units(gstreamer_ps(tmp_path).read_bytes())
    platform = await GbPlatform(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw")).start()
    hub = GbMediaHub(platform, media_host="127.0.0.1", bind_host="127.0.0.1", mode="udp", linger_s=0.5, stall_s=2.0)
    http = await PsHttpServer(hub, "127.0.0.1", 0, token=MEDIA_TOKEN).start()
    run = await start_sipp("device.xml", ooc="device_ooc.xml", server_port=platform.port, logdir=tmp_path / "sipp",
                           keys=keys(), auth=(DEVICE, "pw"), timeout_s=90, hold_ms=60000)
    frames = FrameLog()
    reader = StreamReader(ChannelSpec(id=CH1, url=http.url(CH1), mode="continuous", fps=10.0), on_frame=frames)
    tasks: list[asyncio.Task] = []
    try:
        await wait_for(lambda: CH1 in platform.store.channels, what="the catalog")
        reader.start()
        await wait_for(lambda: CH1 in hub.sessions and hub.sessions[CH1].invite is not None, what="the INVITE")
        session = hub.sessions[CH1]
        first_ssrc = session.invite.ssrc
        tasks.append(asyncio.create_task(PsRtpSender(units, ssrc=int(first_ssrc)).udp("127.0.0.1", session.receiver.port)))
        await wait_for(lambda: len(frames.frames) >= 10, timeout=30, what="frames")
        tasks.pop().cancel()  # the link drops
        await wait_for(lambda: session.reinvites >= 1 and session.invite is not None, timeout=15, what="the re-INVITE")
        assert session.invite.ssrc != first_ssrc  # a new session, a new SSRC: stale packets cannot leak in
        before = len(frames.frames)
        tasks.append(asyncio.create_task(PsRtpSender(units, ssrc=int(session.invite.ssrc)).udp("127.0.0.1", session.receiver.port)))
        await wait_for(lambda: len(frames.frames) >= before + 10, timeout=30, what="frames after the re-INVITE")
        assert len(hub.sessions) == 1
    finally:
        reader.stop()
        for t in tasks:
            t.cancel()
        await hub.close()
        await http.stop()
        await run.stop()
        await platform.stop()
    sipp_saw = (tmp_path / "sipp" / "messages.log").read_text(errors="replace")
    assert sipp_saw.count("INVITE sip:") >= 2 and "BYE sip:" in sipp_saw
