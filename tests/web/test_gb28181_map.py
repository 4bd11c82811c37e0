"""A drone reporting MobilePosition over GB/T 28181 moves on the map API (web's /api/mobile), in scope only."""

from __future__ import annotations

import asyncio

import pytest
import redis

from devices import RegistryWatcher
from devices.gb28181 import ChannelMapping, GbChannelSource, GbConfig
from tests.devices.gb28181.sipp import MEDIA_TOKEN, needs_sipp, start_sipp
from tests.devices.gb28181.test_sipp_device import CH1, CH2, CH3, DEVICE, PLATFORM, keys, wait_for
from tests.web.conftest import ServerThread, WebServer
from xueliang.gb28181_worker import GbSinks, GbWorker
from xueliang.runtime import free_port

pytestmark = [needs_sipp, pytest.mark.timeout(90)]


async def test_drone_positions_from_gb_reach_the_map_api(web_server: WebServer, tmp_path, monkeypatch) -> None:
    from web import create_app

    monkeypatch.setenv("XUELIANG_GB28181_ENABLED", "1")
    monkeypatch.setenv("XUELIANG_GB28181_DEVICE_KINDS", f"{DEVICE}=drone")
    engine = web_server.database.engine
    mapping = ChannelMapping.from_env()
    watcher = RegistryWatcher(web_server.settings.cameras_file, sources=[GbChannelSource(engine, mapping)])
    client = redis.Redis.from_url(web_server.redis_url)
    worker = await GbWorker(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw"),
                            GbSinks(engine, client, lambda: watcher.current, mapping), media_port=0, media_token=MEDIA_TOKEN).start()
    run = await start_sipp("device.xml", ooc="device_ooc.xml", server_port=worker.platform.port, logdir=tmp_path / "sipp",
                           keys=keys(), auth=(DEVICE, "pw"), hold_ms=1000, timeout_s=60)
    thread = None
    try:
        code, log = await run.wait(timeout=40)
        assert code == 0, log
        from devices.gb28181 import persist  # catalog and positions are written off the loop: wait for both

        await wait_for(lambda: len(persist.load_channels(engine)) == 3, what="the persisted catalog")
        await wait_for(lambda: sum(b"device.position" in f[b"event"] for _, f in client.xrange("xl:events")) >= 2,
                       what="the position events")
        settings = web_server.settings.model_copy(update={"web_port": free_port()})
        thread = ServerThread(create_app(settings), settings.web_port)  # replays device.position at start
        await asyncio.to_thread(thread.start)
        server = WebServer(f"http://127.0.0.1:{settings.web_port}", settings, web_server.database, web_server.redis_url)

        def calls() -> tuple:
            with server.client("op_a") as http:
                units = http.get("/api/mobile/units").json()
                unit = next(u for u in units if u["id"] in (CH1, CH2, CH3))  # the device's first channel: CH1
                track = http.get(f"/api/mobile/units/{unit['id']}/track").json()
            with server.client("op_b") as http:
                other = http.get(f"/api/mobile/units/{unit['id']}/track")
            return unit, track, other
        unit, track, other = await asyncio.to_thread(calls)
        assert unit["id"] == CH1 and unit["kind"] == "drone" and unit["jurisdiction_code"] == "330381101"
        # the two MobilePosition notifies, then (when it has arrived by now) the subscription's NOTIFY at 10:00:11
        assert [(p["lat"], p["lon"]) for p in track][:2] == [(27.9, 120.65), (27.901, 120.651)]
        assert [(p["lat"], p["lon"]) for p in track][2:] in ([], [(27.91, 120.66)])
        assert other.status_code == 404
    finally:
        if thread is not None:
            await asyncio.to_thread(thread.stop)
        await worker.stop()
        await run.stop()
        client.close()
