"""The platform against SIPp playing a GB/T 28181 device (real SIP over loopback, UDP and TCP)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from devices.gb28181 import GbConfig, GbEvents, GbPlatform, ptz
from tests.devices.gb28181.sipp import needs_sipp, start_sipp

pytestmark = [needs_sipp, pytest.mark.timeout(90)]

PLATFORM = "34020000002000000001"
DEVICE = "34020000001180000001"
CH1, CH2, CH3 = "34020000001320000001", "34020000001320000002", "34020000001310000003"


def keys(hold_ms: int = 3000, prelude_ms: int = 1500) -> dict[str, str]:
    return {"devid": DEVICE, "domain": DEVICE[:10], "platform": PLATFORM, "chan1": CH1, "chan2": CH2, "chan3": CH3,
            "hold": str(hold_ms), "prelude": str(prelude_ms), "devmedia": "40000"}


async def wait_for(pred, timeout: float = 15.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_device_registers_reports_catalog_alarm_position_and_answers_invite(tmp_path, transport, caplog) -> None:
    caplog.set_level(logging.INFO)
    seen: dict[str, list] = {"device": [], "catalog": [], "alarm": [], "position": []}
    events = GbEvents(on_device=lambda d, e: seen["device"].append((d.device_id, e)),
                      on_catalog=lambda dev, items, complete: seen["catalog"].append((dev, items, complete)),
                      on_alarm=seen["alarm"].append, on_position=seen["position"].append)
    platform = await GbPlatform(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="gb-secret-1"), events).start()
    try:
        run = await start_sipp("device.xml", ooc="device_ooc.xml", server_port=platform.port, logdir=tmp_path / "sipp",
                               keys=keys(), transport=transport, auth=(DEVICE, "gb-secret-1"))
        await wait_for(lambda: seen["catalog"], what="the merged catalog")
        dev_id, items, complete = seen["catalog"][0]
        assert dev_id == DEVICE and complete
        assert sorted(i.device_id for i in items) == sorted(["33038110", f"{DEVICE[:10]}2150000001", CH1, CH2, CH3])
        assert sorted(platform.store.channels) == sorted([CH1, CH2, CH3])  # the region and the business group are tree nodes
        assert platform.store.channels[CH1][1].name == "塘下镇中心路口" and platform.store.channels[CH1][1].ptz_type == 1
        await wait_for(lambda: platform.store.devices[DEVICE].manufacturer == "SIPp", what="DeviceInfo")
        await wait_for(lambda: len(seen["position"]) == 2 and seen["alarm"], what="alarm and positions")
        alarm = seen["alarm"][0]
        assert (alarm.device_id, alarm.method, alarm.priority, alarm.lat, alarm.lon) == (CH1, "5", "1", 27.9, 120.6)
        assert [(p.lat, p.lon) for p in seen["position"]] == [(27.9, 120.65), (27.901, 120.651)]
        assert platform.store.devices[DEVICE].keepalives == 1

        invite = await platform.invite(CH1, host="127.0.0.1", port=40002, mode="udp")
        assert invite.ssrc == invite.offered_ssrc and len(invite.ssrc) == 10 and invite.ssrc.startswith("0" + PLATFORM[3:8])
        assert (invite.answer.host, invite.answer.port) == ("127.0.0.1", 40000)
        assert (await platform.endpoint.bye(invite.dialog)).status_code == 200

        records = await platform.query_record_info(CH1, "2026-12-04T00:00:00", "2026-12-04T23:59:59")
        assert [(r["StartTime"], r["Type"]) for r in records] == [
            ("2026-12-04T07:00:00", "time"), ("2026-12-04T08:00:00", "time"), ("2026-12-04T09:00:00", "alarm")]
        await platform.ptz(CH1, ptz.PtzMove(pan=0x40).command())

        code, log = await run.wait()
        assert code == 0, log
        sipp_saw = (tmp_path / "sipp" / "messages.log").read_text(errors="replace")
        assert "<PTZCmd>A50F0001400000F5</PTZCmd>" in sipp_saw  # right 0x01, pan speed 0x40; sum 0x1F5
        assert "<Type>all</Type>" in sipp_saw  # RecordInfo asks for all types (Dahua requires it)
        assert (DEVICE, "registered") in seen["device"] and (DEVICE, "unregistered") in seen["device"]
        assert not platform.store.devices[DEVICE].online
    finally:
        await platform.stop()


async def test_wrong_password_gets_403_and_a_log_line(tmp_path, caplog) -> None:
    platform = await GbPlatform(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="right")).start()
    try:
        run = await start_sipp("wrong_password.xml", server_port=platform.port, logdir=tmp_path / "sipp",
                               keys={"devid": DEVICE, "domain": DEVICE[:10]}, auth=(DEVICE, "wrong"))
        code, log = await run.wait()
        assert code == 0, log
        assert DEVICE not in platform.store.devices
        assert platform.counters["auth_failed"] == 1
        assert any("wrong password" in r.getMessage() and DEVICE in r.getMessage() for r in caplog.records)
    finally:
        await platform.stop()
