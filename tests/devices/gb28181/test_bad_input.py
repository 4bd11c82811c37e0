"""Bad input from the network: a clear log line, a 4xx where SIP allows, nothing else disturbed."""

from __future__ import annotations

import asyncio
import logging

import pytest

from devices.gb28181 import GbConfig, GbEvents, GbPlatform
from tests.devices.gb28181.rawsip import RawDevice, catalog, keepalive

pytestmark = pytest.mark.timeout(60)
PLATFORM = "34020000002000000001"
DEV = "34020000001180000009"
OTHER = "34020000001180000010"


@pytest.fixture
async def platform():
    events = GbEvents()
    p = await GbPlatform(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw", auto_query=False,
                                  keepalive_interval_s=0.4), events).start()
    yield p
    await p.stop()


def logged(caplog, *needles: str) -> bool:
    return any(all(n in r.getMessage() for n in needles) for r in caplog.records)


async def test_register_date_header_format_and_expires_zero(platform) -> None:
    async with RawDevice(DEV, ("127.0.0.1", platform.port)) as dev:
        ok = await dev.register("pw")
        assert ok.status_code == 200
        date = ok.headers.get_first("date") or ""
        assert len(date) == 23 and date[4] == "-" and date[10] == "T" and date[19] == ".", date
        assert platform.store.devices[DEV].online
        bye = await dev.register("pw", expires=0)
        assert bye.status_code == 200 and not platform.store.devices[DEV].online


async def test_garbage_and_headerless_requests_are_logged_and_dropped(platform, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with RawDevice(DEV, ("127.0.0.1", platform.port)) as dev:
        dev.send_raw(b"\x00\xff garbage that is not SIP at all\r\n\r\n")
        dev.send_raw(b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n")  # no Via/From/To/Call-ID/CSeq
        assert await dev.nothing(0.4)
        assert logged(caplog, "missing header")
        assert (await dev.register("pw")).status_code == 200  # the server still works


async def test_unknown_device_and_unregistered_messages_get_403(caplog) -> None:
    p = await GbPlatform(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, device_passwords={DEV: "only-this-one"}, auto_query=False)).start()
    try:
        async with RawDevice(OTHER, ("127.0.0.1", p.port)) as other:
            other.send_raw(other.request("REGISTER", headers={"Expires": "3600"}))
            resp = await other.recv()
            assert resp.status_code == 403
            assert logged(caplog, "unknown device", OTHER)
            assert (await other.message(keepalive(OTHER))).status_code == 403
            assert logged(caplog, "unregistered device", OTHER)
        async with RawDevice(DEV, ("127.0.0.1", p.port)) as dev:
            assert (await dev.register("only-this-one")).status_code == 200
        assert "pw" not in caplog.text and "only-this-one" not in caplog.text
    finally:
        await p.stop()


async def test_bad_bodies_get_400_and_the_device_keeps_working(platform, caplog) -> None:
    async with RawDevice(DEV, ("127.0.0.1", platform.port)) as dev:
        assert (await dev.register("pw")).status_code == 200
        cases = {
            "not well-formed": b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN>",
            "no CmdType": b"<Notify><SN>1</SN></Notify>",
            "SN": b"<Notify><CmdType>Keepalive</CmdType><SN>abc</SN></Notify>",
            "refused XML": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Notify><CmdType>&a;</CmdType></Notify>',
            "exceeds": b"<Notify>" + b"x" * (300 * 1024) + b"</Notify>",
        }
        for needle, body in cases.items():
            if len(body) > 60000:
                continue  # a UDP datagram cannot carry it; the TCP path is checked below
            resp = await dev.message(body)
            assert resp.status_code == 400, needle
            assert logged(caplog, needle, DEV), needle
        for bogus in ("-1", "999999999", "many"):
            resp = await dev.message(catalog(DEV, 5, bogus, ["34020000001320000001"]))
            assert resp.status_code == 400
        assert logged(caplog, "SumNum")
        assert (await dev.message(keepalive(DEV))).status_code == 200
        assert platform.store.devices[DEV].keepalives == 1


async def test_oversize_body_over_tcp_is_refused(platform, caplog) -> None:
    async with RawDevice(DEV, ("127.0.0.1", platform.port)) as dev:
        assert (await dev.register("pw")).status_code == 200
    reader, writer = await asyncio.open_connection("127.0.0.1", platform.port)
    body = b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN>" + b"<x/>" * 80_000 + b"</Notify>"
    req = (f"MESSAGE sip:{PLATFORM}@3402000000 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKbig\r\n"
           f"From: <sip:{DEV}@3402000000>;tag=a\r\nTo: <sip:{PLATFORM}@3402000000>\r\nCall-ID: big\r\nCSeq: 1 MESSAGE\r\n"
           f"Content-Type: Application/MANSCDP+xml\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    writer.write(req)
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status.startswith(b"SIP/2.0 400"), status
    assert logged(caplog, "exceeds", DEV)


async def test_catalog_parts_merge_gb2312_and_partial_catalog_times_out(caplog) -> None:
    got = []
    p = await GbPlatform(GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw", auto_query=False, catalog_timeout_s=0.5),
                         GbEvents(on_catalog=lambda d, items, complete: got.append((len(items), complete)))).start()
    try:
        async with RawDevice(DEV, ("127.0.0.1", p.port)) as dev:
            assert (await dev.register("pw")).status_code == 200
            chans = [f"340200000013200{i:05d}" for i in range(7)]
            assert (await dev.message(catalog(DEV, 11, "7", chans[:3], "GB2312"))).status_code == 200
            assert (await dev.message(catalog(DEV, 12, "2", chans[:1]))).status_code == 200  # another SN interleaved
            assert (await dev.message(catalog(DEV, 11, "7", chans[3:3]))).status_code == 200  # an empty part
            assert (await dev.message(catalog(DEV, 11, "7", chans[3:]))).status_code == 200
            assert got[0] == (7, True)
            assert p.store.channels[chans[0]][1].name == "通道000"  # GB2312 decoded
            await asyncio.sleep(1.6)  # SN 12 never completes: kept as an incomplete catalog, logged
            assert (1, False) in got
            assert logged(caplog, "incomplete", DEV)
    finally:
        await p.stop()


async def test_missed_keepalives_turn_the_device_offline_within_three_intervals(platform) -> None:
    changes: list[tuple[str, float]] = []
    platform.events.on_device = lambda d, e: changes.append((e, asyncio.get_running_loop().time()))
    async with RawDevice(DEV, ("127.0.0.1", platform.port)) as dev:
        assert (await dev.register("pw")).status_code == 200
        start = asyncio.get_running_loop().time()
        for _ in range(3):  # alive while keepalives come
            await asyncio.sleep(0.3)
            assert (await dev.message(keepalive(DEV))).status_code == 200
        assert platform.store.devices[DEV].online
        last = asyncio.get_running_loop().time()
        await asyncio.sleep(1.6)
        offline = [t for e, t in changes if e == "offline"]
        assert offline and offline[0] - last <= 3 * 0.4 + 0.35 and offline[0] > start
        assert not platform.store.devices[DEV].online and "心跳" in platform.store.devices[DEV].offline_reason
        assert (await dev.message(keepalive(DEV))).status_code == 200  # a keepalive brings it back
        assert platform.store.devices[DEV].online and changes[-1][0] == "online"
