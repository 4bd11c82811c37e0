"""GB/T 28181 to the letter with SIPp as the device: the platform answers an Alarm with ``Response Alarm``
(same SN, the alarm's DeviceID, Result OK); its MobilePosition subscription is refreshed in the same dialog
before it expires; after the device unregisters and registers again, a new dialog is opened."""

from __future__ import annotations

import re

import pytest

from devices.gb28181 import GbConfig, GbEvents, GbPlatform
from devices.gb28181.subscribe import refresh_after
from tests.devices.gb28181.sipp import needs_sipp, start_sipp
from tests.devices.gb28181.test_sipp_device import CH1, DEVICE, PLATFORM, keys, wait_for

pytestmark = [needs_sipp, pytest.mark.timeout(90)]


def received(messages_log: str) -> list[tuple[float, str]]:
    """(time, message) of what SIPp received, in order (its -trace_msg log)."""
    out = []
    for block in re.split(r"^-{20,} ", messages_log, flags=re.M)[1:]:
        stamp, _, rest = block.partition("\n")
        m = re.match(r"\s*(?:UDP|TCP) message received \[\d+\] bytes :\s*\n", rest)
        if m:
            t = re.search(r"(\d+):(\d+):(\d+(?:\.\d+)?)", stamp)
            assert t is not None, stamp
            out.append((int(t.group(1)) * 3600 + int(t.group(2)) * 60 + float(t.group(3)), rest[m.end():].strip()))
    return out


def header(msg: str, name: str) -> str:
    m = re.search(rf"^{name}:\s*(.*)$", msg, flags=re.M | re.I)
    return m.group(1).strip() if m else ""


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_alarm_is_answered_and_the_position_subscription_is_refreshed_and_renewed(tmp_path, transport) -> None:
    positions: list = []
    config = GbConfig(platform_id=PLATFORM, host="127.0.0.1", port=0, password="pw", subscribe_expires_s=2, position_interval_s=1)
    platform = await GbPlatform(config, GbEvents(on_position=positions.append)).start()
    sub = platform.position_subs.want(DEVICE)  # a drone: keep it subscribed whenever it is registered
    try:
        run = await start_sipp("device_reregister.xml", ooc="device_ooc.xml", server_port=platform.port, transport=transport,
                               logdir=tmp_path / "sipp", keys=keys(), auth=(DEVICE, "pw"), timeout_s=40)
        await wait_for(lambda: sub.refreshes >= 2, timeout=20, what="two in-dialog refreshes")
        code, log = await run.wait()
        assert code == 0, log
        await wait_for(lambda: sub.dialogs >= 2, timeout=5, what="the subscription after re-registering")
    finally:
        await platform.stop()

    timed = received((tmp_path / "sipp" / "messages.log").read_text(errors="replace"))
    msgs = [m for _, m in timed]
    # 1. Response Alarm: a MESSAGE after the alarm, with the alarm's SN and DeviceID and Result OK
    answers = [m for m in msgs if m.startswith("MESSAGE ") and "<Response>" in m and "<CmdType>Alarm</CmdType>" in m]
    assert len(answers) == 1, msgs
    body = answers[0]
    assert "<SN>8</SN>" in body and f"<DeviceID>{CH1}</DeviceID>" in body and "<Result>OK</Result>" in body
    assert platform.counters["alarm_responses"] == 1

    # 2. SUBSCRIBEs: a dialog, refreshed in it (same Call-ID and tags, CSeq up, Expires again), then a new dialog
    subs = [m for m in msgs if m.startswith("SUBSCRIBE ")]
    first_call = header(subs[0], "Call-ID")
    assert "tag=" not in header(subs[0], "To") and header(subs[0], "Event") == "presence"
    assert header(subs[0], "Expires") == "2" and "<CmdType>MobilePosition</CmdType>" in subs[0] and "<Interval>1</Interval>" in subs[0]
    refreshes = [m for m in subs[1:] if header(m, "Call-ID") == first_call]
    assert len(refreshes) >= 2
    to_tags = {re.search(r"tag=([^;>\s]+)", header(m, "To")).group(1) for m in refreshes}  # type: ignore[union-attr]
    assert len(to_tags) == 1  # the device's tag from the first 200 OK, every time
    from_tags = {re.search(r"tag=([^;>\s]+)", header(m, "From")).group(1) for m in [subs[0], *refreshes]}  # type: ignore[union-attr]
    assert len(from_tags) == 1
    cseqs = [int(header(m, "CSeq").split()[0]) for m in [subs[0], *refreshes]]
    assert cseqs == sorted(cseqs) and len(set(cseqs)) == len(cseqs)
    assert all(m.split()[1].startswith(f"sip:{DEVICE}@127.0.0.1:") for m in refreshes)  # to the device's Contact
    later = [m for m in subs if header(m, "Call-ID") != first_call]
    assert later and "tag=" not in header(later[0], "To")  # after re-registering: a new dialog
    # every refresh came before the previous grant (2 s) ran out
    times = [t for t, m in timed if m.startswith("SUBSCRIBE ") and header(m, "Call-ID") == first_call]
    assert all(0 < b - a < 2.0 for a, b in zip(times, times[1:])), times
    assert refresh_after(2) == 1.0 and refresh_after(3600) == 3540  # a minute before, half-way when short

    # 3. the NOTIFY the device sent in the subscription's dialog became a position
    assert any(p.lat == 27.91 and p.lon == 120.66 and p.speed == 36 for p in positions)
