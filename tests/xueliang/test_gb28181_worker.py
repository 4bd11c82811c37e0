"""The GB worker end to end: SIPp device → catalog persisted → registry channel → Alarm → xl:alerts → incident;
keepalive loss / unregister → device.status for the device's channels."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from sqlalchemy import select

from command.db import open_database
from command.models import Incident
from command.seed import seed_demo
from command.worker import AlertConsumer
from devices import RegistryWatcher
from devices.gb28181 import ChannelMapping, GbChannelSource, GbConfig
from tests.devices.gb28181.sipp import MEDIA_TOKEN, needs_sipp, start_sipp
from tests.devices.gb28181.test_sipp_device import CH1, CH2, CH3, DEVICE, PLATFORM, keys, wait_for
from xueliang.gb28181_worker import GbSinks, GbWorker

pytestmark = [needs_sipp, pytest.mark.timeout(120)]

YAML = """version: 1
cameras:
  - id: cam-yaml-1
    name: 塘下镇政府
    jurisdiction: "330381101"
    position: {lat: 27.80, lon: 120.60}
    streams: {main: "rtsp://127.0.0.1:8554/cam1"}
"""


async def test_device_alarm_becomes_an_incident_and_status_follows_registration(tmp_path, database_url, redis_url) -> None:
    db = open_database(database_url, upgrade=True)
    with db.session() as s:
        seed_demo(s, password="pw-123456", password_hasher=lambda p: "h$" + p)
    client = redis.Redis.from_url(redis_url)
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(YAML)
    mapping = ChannelMapping(media_url="http://127.0.0.1:15999", default_jurisdiction="330381", device_kinds={DEVICE: "drone"})
    watcher = RegistryWatcher(cameras, sources=[GbChannelSource(db.engine, mapping)])
    worker = await GbWorker(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw"),
                            GbSinks(db.engine, client, lambda: watcher.current, mapping), media_port=0, media_token=MEDIA_TOKEN).start()
    try:
        run = await start_sipp("device.xml", ooc="device_ooc.xml", server_port=worker.platform.port, logdir=tmp_path / "sipp",
                               keys=keys(), auth=(DEVICE, "pw"), hold_ms=2500)
        await wait_for(lambda: client.xlen("xl:alerts") >= 1, what="the alarm on xl:alerts")
        await wait_for(lambda: watcher.check() is not None or CH1 in watcher.current, what="the channels in the registry")
        assert {CH1, CH2, CH3, "cam-yaml-1"} <= set(watcher.current.cameras)
        assert watcher.current[CH1].jurisdiction == "330381101" and watcher.current[CH1].name == "塘下镇中心路口"
        code, log = await run.wait()
        assert code == 0, log
        await asyncio.sleep(0.5)  # the unregistration's status events are written off the event loop

        consumer = AlertConsumer(db, client, tmp_path / "media", consumer_name="t1")
        consumer.ensure_group()
        for _ in range(20):
            if consumer.step(block_ms=50) == 0:
                break
        with db.session() as s:
            [incident] = s.scalars(select(Incident)).all()
            assert incident.camera_id == CH1 and incident.category_code == "gb28181_alarm"
            assert incident.jurisdiction_code == "330381101"

        events = [json.loads(f[b"event"]) for _, f in client.xrange("xl:events")]
        status = [e for e in events if e["type"] == "device.status"]
        assert {e["payload"]["camera_id"] for e in status} == {CH1, CH2, CH3}
        assert all(e["payload"]["status"] == "offline" and e["payload"]["reason"] == "设备注销" for e in status)

        # the drone's MobilePosition notifies move its unit on the map (what web's PositionBoard keeps)
        from devices import MobileTracker, telemetry_from_event
        moves = [e for e in events if e["type"] == "device.position"]
        # two MESSAGE notifies, and one NOTIFY in the subscription the worker opened itself for the drone
        assert len(moves) == 3
        assert "<CmdType>MobilePosition</CmdType>" in (tmp_path / "sipp" / "messages.log").read_text(errors="replace").split(
            "SUBSCRIBE sip:", 1)[1].split("-----", 1)[0]
        tracker = MobileTracker(lambda: watcher.current)
        for e in moves:
            tracker.update(telemetry_from_event(e))
        unit = moves[0]["payload"]["unit_id"]
        assert unit == CH1 and watcher.current[unit].kind.value == "drone"  # the device's first channel
        track = tracker.history(unit)
        assert [(t.lat, t.lon) for t in track] == [(27.9, 120.65), (27.901, 120.651), (27.91, 120.66)]  # by report time
        assert abs(track[0].speed_mps - 12.5 / 3.6) < 0.01 and track[0].heading_deg == 90
        near = tracker.within_radius(27.91, 120.66, 50, now=track[-1].ts)  # the scenario's reports carry fixed times
        assert [n["id"] if isinstance(n, dict) else n.id for n in near] == [unit]
    finally:
        await worker.stop()
        client.close()
        db.dispose()


async def test_worker_reports_an_rtsp_camera_up_to_the_city(tmp_path, database_url, rtsp_server) -> None:
    """Cascade from the worker: a cameras.yaml channel with a GB id, served by the GStreamer RTSP server,
    is listed to SIPp's upper platform and streamed to it as PS (re-muxed, not re-encoded)."""
    import io

    import av

    from devices.gb28181.cascade import UpperPlatform
    from ingest.ps.rtp import RtpDepacketizer
    from tests.devices.gb28181.sipp import free_port
    from tests.devices.gb28181.test_cascade import LOWER, UPPER, _Collect

    chan = "33038100001320000009"
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(YAML + f"""  - id: "{chan}"
    name: 塘下镇东门
    jurisdiction: "330381101"
    position: {{lat: 27.81, lon: 120.61}}
    streams: {{main: "{rtsp_server.url('cam03')}"}}
""")
    db = open_database(database_url, upgrade=True)
    watcher = RegistryWatcher(cameras, sources=[GbChannelSource(db.engine, ChannelMapping())])
    rtp_port, sipp_port = free_port(), free_port()
    transport, sink = await asyncio.get_running_loop().create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", rtp_port))
    keys = {"upper": UPPER, "updomain": UPPER[:10], "lower": LOWER, "lowerpw": "city-pw", "chan": chan, "rtpport": str(rtp_port)}
    run = await start_sipp("upper.xml", server_port=0, logdir=tmp_path / "sipp", keys=keys, calls=10_000, local_port=sipp_port,
                           hold_ms=4000, server_mode=True)
    await asyncio.sleep(0.5)
    worker = await GbWorker(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw"),
                            GbSinks(db.engine, None, lambda: watcher.current), media_port=0, media_token=MEDIA_TOKEN).start(
        UpperPlatform(UPPER, "127.0.0.1", sipp_port, LOWER, "city-pw", keepalive_s=1.0), scope="330381101")
    try:
        await wait_for(lambda: worker.cascade.stats["invites"] == 1 and not worker.cascade._sessions, timeout=40,
                       what="INVITE, media, BYE")
        saw = (tmp_path / "sipp" / "messages.log").read_text(errors="replace")
        assert "<SumNum>1</SumNum>" in saw and chan in saw and "cam-yaml-1" not in saw  # only GB-coded ids go up
    finally:
        await worker.stop()
        transport.close()
        await run.stop()
        db.dispose()
    dep = RtpDepacketizer(100000042)
    ps = b"".join(chunk for p in sink.packets for chunk in dep.feed(p))
    with av.open(io.BytesIO(ps), format="mpeg") as c:
        stream = c.streams.video[0]
        frames = sum(1 for pkt in c.demux(stream) for _ in pkt.decode())
    assert stream.codec_context.name == "h264" and (stream.codec_context.width, stream.codec_context.height) == (480, 360)
    assert frames >= 10
