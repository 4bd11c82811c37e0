"""A person walking in a GB/T 28181 channel's PS stream becomes an incident.

SIPp plays the device (register, catalog, answers the INVITE); GStreamer's mpegpsmux PS of the
sample footage goes over RTP/UDP to the port the platform offered; the real analytics worker
process reads the channel's PS URL with the same reader RTSP cameras use, runs the detector and
the zone rule, publishes to Valkey; the real command consumer turns the alert into an incident.
"""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
import redis
from sqlalchemy import select

from command.db import open_database
from command.models import Incident
from command.seed import seed_demo
from command.worker import AlertConsumer
from devices.gb28181 import GbConfig, GbPlatform
from ingest.ps import GbMediaHub, PsHttpServer
from tests.analytics.test_worker import WALKWAY, read_alerts
from devices.gb28181.cameras import stream_url
from tests.devices.gb28181.sipp import MEDIA_TOKEN, needs_sipp, start_sipp
from tests.devices.gb28181.test_sipp_device import CH1, DEVICE, PLATFORM, keys, wait_for
from tests.ingest.ps.footage import gstreamer_ps, needs_ffmpeg, needs_gst, ps_units
from tests.ingest.ps.sender import PsRtpSender
from xueliang.runtime import spawn, stop
from xueliang.settings import REPO_ROOT

pytestmark = [needs_sipp, needs_gst, needs_ffmpeg, pytest.mark.slow, pytest.mark.timeout(240)]


async def test_person_in_a_gb_channel_becomes_an_incident(tmp_path, redis_url, database_url) -> None:
    units = ps_units(gstreamer_ps(tmp_path).read_bytes())  # before SIPp starts: this blocks the loop
    platform = await GbPlatform(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw")).start()
    hub = GbMediaHub(platform, media_host="127.0.0.1", bind_host="127.0.0.1", mode="udp")
    platform.on_remote_bye = hub.on_remote_bye
    http = await PsHttpServer(hub, "127.0.0.1", 0, token=MEDIA_TOKEN).start()
    run = await start_sipp("device.xml", ooc="device_ooc.xml", server_port=platform.port, logdir=tmp_path / "sipp",
                           keys=keys(hold_ms=200_000), auth=(DEVICE, "pw"), timeout_s=220, hold_ms=200_000)
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(f"""version: 1
cameras:
  - id: "{CH1}"
    name: 塘下镇中心路口(国标)
    jurisdiction: "330381101201"
    position: {{lat: 27.78, lon: 120.65}}
    streams: {{main: "{stream_url(f'http://127.0.0.1:{http.port}', CH1)}"}}
    analysis: {{mode: continuous, fps: 5, detector_classes: [person]}}
    zones:
      - id: walkway
        polygon: {WALKWAY}
    rules:
      - {{id: walkway-intrusion, kind: zone_intrusion, zone: walkway, classes: [person], cooldown_s: 30}}
""", encoding="utf-8")
    sender_task: asyncio.Task | None = None
    log_path = tmp_path / "worker.log"
    proc = None
    client = redis.Redis.from_url(redis_url)
    try:
        await wait_for(lambda: CH1 in platform.store.channels, what="the catalog")
        proc = spawn([sys.executable, "-m", "xueliang.cli", "analytics", "run", "--cameras", str(cameras)],
                     env={"REDIS_URL": redis_url, "XUELIANG_GB28181_MEDIA_TOKEN": MEDIA_TOKEN, "XUELIANG_DATA_DIR": str(tmp_path / "data"), "YOLO_OFFLINE": "1"},
                     cwd=REPO_ROOT, log_path=log_path)
        await wait_for(lambda: CH1 in hub.sessions and hub.sessions[CH1].invite is not None, timeout=120,
                       what="the analytics reader's INVITE")
        sender = PsRtpSender(units, ssrc=int(hub.sessions[CH1].invite.ssrc))
        sender_task = asyncio.create_task(sender.udp("127.0.0.1", hub.sessions[CH1].receiver.port))
        alerts = await asyncio.to_thread(read_alerts, client, time.monotonic() + 120, 1, {CH1})
        assert alerts, f"no alert from the GB channel within 120 s; worker log:\n{log_path.read_text()[-3000:]}"
        alert, jpeg = alerts[0]
        assert alert["rule_kind"] == "zone_intrusion" and alert["object_class"] == "person" and jpeg[:2] == b"\xff\xd8"
    finally:
        if proc is not None:
            stop(proc)
        if sender_task is not None:
            sender_task.cancel()
        await hub.close()
        await http.stop()
        await run.stop()
        await platform.stop()

    db = open_database(database_url, upgrade=True)
    with db.session() as s:
        seed_demo(s, password="pw-123456", password_hasher=lambda p: "h$" + p)
    consumer = AlertConsumer(db, client, tmp_path / "media", consumer_name="t1")
    consumer.ensure_group()
    for _ in range(20):
        if consumer.step(block_ms=50) == 0:
            break
    with db.session() as s:
        incidents = s.scalars(select(Incident)).all()
        assert incidents and incidents[0].camera_id == CH1 and incidents[0].category_code == "zone_intrusion"
    db.dispose()
    client.close()
