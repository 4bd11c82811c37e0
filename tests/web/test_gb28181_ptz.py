"""The wall's PTZ API on a GB/T 28181 channel: web → GB worker → DeviceControl PTZCmd → SIPp playing the dome."""

from __future__ import annotations

import asyncio

import pytest

from devices import parse_registry
from devices.gb28181 import GbConfig
from tests.devices.gb28181.sipp import MEDIA_TOKEN, needs_sipp, start_sipp
from tests.devices.gb28181.test_sipp_device import CH1, DEVICE, PLATFORM, keys, wait_for
from tests.web.conftest import ServerThread, WebServer
from xueliang.gb28181_worker import GbSinks, GbWorker
from xueliang.runtime import free_port

pytestmark = [needs_sipp, pytest.mark.timeout(90)]


async def test_ptz_on_a_gb_channel_reaches_the_device_in_scope_only(web_server: WebServer, tmp_path, monkeypatch) -> None:
    from web import create_app

    empty = parse_registry("version: 1\ncameras: []\n")
    worker = await GbWorker(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw"),
                            GbSinks(web_server.database.engine, None, lambda: empty), media_port=0, media_token=MEDIA_TOKEN).start()
    run = await start_sipp("device.xml", ooc="device_ooc.xml", server_port=worker.platform.port, logdir=tmp_path / "sipp",
                           keys=keys(), auth=(DEVICE, "pw"), hold_ms=15000, timeout_s=60)
    thread = None
    try:
        await wait_for(lambda: CH1 in worker.platform.store.channels, what="the catalog")
        await asyncio.sleep(0.5)  # persisted off the loop
        monkeypatch.setenv("XUELIANG_GB28181_ENABLED", "1")
        monkeypatch.setenv("XUELIANG_GB28181_MEDIA_URL", f"http://127.0.0.1:{worker.http.port}")
        monkeypatch.setenv("XUELIANG_GB28181_MEDIA_TOKEN", MEDIA_TOKEN)
        settings = web_server.settings.model_copy(update={"web_port": free_port()})
        thread = ServerThread(create_app(settings), settings.web_port)
        await asyncio.to_thread(thread.start)
        server = WebServer(f"http://127.0.0.1:{settings.web_port}", settings, web_server.database, web_server.redis_url)

        def calls() -> list[tuple[int, dict | str]]:
            out = []
            with server.client("op_a") as http:
                out.append(http.get(f"/api/cameras/{CH1}").json())
                for body in ({"action": "move", "pan": 0.25, "timeout_s": 0.3}, {"action": "goto_preset", "preset": "3"},
                             {"action": "goto_preset", "preset": "大桥"}):
                    r = http.post(f"/api/cameras/{CH1}/ptz", json=body)
                    out.append((r.status_code, r.json()))
                r = http.get(f"/api/cameras/{CH1}/records", params={"start": "2026-12-04T00:00:00", "end": "2026-12-04T23:59:59"})
                out.append((r.status_code, r.json()))
            with server.client("op_b") as http:  # another township: the channel does not exist for it
                r = http.post(f"/api/cameras/{CH1}/ptz", json={"action": "stop"})
                out.append((r.status_code, r.text))
            return out
        view, move, goto, bad_preset, records, other = await asyncio.to_thread(calls)
        assert records[0] == 200 and [(r["StartTime"], r["Type"]) for r in records[1]["items"]] == [
            ("2026-12-04T07:00:00", "time"), ("2026-12-04T08:00:00", "time"), ("2026-12-04T09:00:00", "alarm")]
        assert view["kind"] == "ptz" and "gb28181" in view["tags"] and "streams" not in view
        assert move[0] == 200 and goto[0] == 200, (move, goto)
        assert bad_preset[0] == 422  # GB presets are numbers 1–255
        assert other[0] == 404
        await asyncio.sleep(0.6)  # the move's timeout sends a stop
    finally:
        if thread is not None:
            await asyncio.to_thread(thread.stop)
        await worker.stop()
        await run.stop()
        await asyncio.sleep(0.2)
    sipp_saw = (tmp_path / "sipp" / "messages.log").read_text(errors="replace")
    # right at speed 0x40, then the automatic stop, then call preset 3 (checksums by hand: 0x1F5, 0xB4, 0x139)
    for cmd in ("A50F0001400000F5", "A50F0000000000B4", "A50F008200030039"):
        assert f"<PTZCmd>{cmd}</PTZCmd>" in sipp_saw, cmd
