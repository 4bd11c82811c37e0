"""WS-Discovery: unicast probes on loopback, hostile replies, and multicast inside a network namespace."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from devices.onvif.discovery import DiscoveryReport, discover, parse_probe_matches, probe_message
from tests.devices.onvif.netns import run_scenario_in_netns
from tests.devices.onvif.simulator import XML_BOMB, OnvifSimulator, SimConfig


def test_unicast_probe_finds_the_simulator(make_sim):
    sim = make_sim(discovery=True, name="North Gate", model="XL-PTZ-200")
    started = time.monotonic()
    (device,) = discover("127.0.0.1", port=sim.discovery_port, timeout=3.0)
    assert time.monotonic() - started < 1.0  # a unicast probe returns on the first match
    assert device.endpoint == sim.config.endpoint_uuid
    assert device.xaddrs == (sim.device_url,)
    assert device.best_xaddr() == sim.device_url
    assert (device.name, device.hardware, device.scope("location")) == ("North Gate", "XL-PTZ-200", "330381101201")
    assert device.ptz_scope and "dn:NetworkVideoTransmitter" in device.types


def test_unicast_probe_to_a_silent_port_returns_nothing_after_the_timeout():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    assert discover("127.0.0.1", port=port, timeout=0.5) == []
    assert 0.4 < time.monotonic() - started < 2


@pytest.fixture()
def hostile_responder() -> Iterator[tuple[int, OnvifSimulator]]:
    """A UDP 'device' answering each probe with an XML bomb, garbage, a reply to another probe, then a valid match."""
    sim = OnvifSimulator(SimConfig(name="Honest"))
    sim.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        from defusedxml.ElementTree import fromstring

        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(65536)
            except OSError:
                continue
            mid = fromstring(data).findtext(".//{http://schemas.xmlsoap.org/ws/2004/08/addressing}MessageID")
            sock.sendto(XML_BOMB, addr)
            sock.sendto(b"\x00\xffnot xml at all<<<", addr)
            sock.sendto(sim.probe_match("urn:uuid:someone-else"), addr)
            sock.sendto(sim.probe_match(mid or ""), addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], sim
    stop.set()
    thread.join(timeout=2)
    sock.close()
    sim.stop()


def test_hostile_replies_are_dropped_and_the_valid_one_kept(hostile_responder):
    port, sim = hostile_responder
    report = DiscoveryReport()
    devices = discover("127.0.0.1", port=port, timeout=2.0, report=report)
    assert [d.endpoint for d in devices] == [sim.config.endpoint_uuid]
    reasons = " | ".join(report.rejected)
    assert "unsafe XML refused" in reasons and "not XML" in reasons and "another probe" in reasons


def test_parse_refuses_entity_declarations_without_expanding():
    started = time.monotonic()
    with pytest.raises(ValueError, match="unsafe XML refused"):
        parse_probe_matches(XML_BOMB, None)
    assert time.monotonic() - started < 0.5


def test_probe_message_is_a_valid_ws_discovery_probe():
    from defusedxml.ElementTree import fromstring

    root = fromstring(probe_message("urn:uuid:1"))
    d = "{http://schemas.xmlsoap.org/ws/2005/04/discovery}"
    assert root.find(f".//{d}Probe/{d}Types").text == "dn:NetworkVideoTransmitter"


@pytest.mark.netns
def test_multicast_discovery_and_cli_inside_a_network_namespace():
    result = run_scenario_in_netns("tests.devices.onvif.netns_discovery", timeout=90)

    found = {d["endpoint"]: d for d in result["found"]}
    ptz_id, ptz_url = result["sims"]["ptz"]
    fixed_id, fixed_url = result["sims"]["fixed"]
    assert set(found) == {ptz_id, fixed_id}
    assert found[ptz_id]["xaddrs"] == [ptz_url] and found[ptz_id]["ptz_scope"]
    assert found[fixed_id]["name"] == "Lobby" and not found[fixed_id]["ptz_scope"]

    assert result["cli_rc"] == 0, result["cli_stderr"]
    out = result["cli_stdout"]
    assert "XL-PTZ-200" in out and "XL-FIX-100" in out
    assert "PTZ    yes" in out and "PTZ    no" in out
    text = result["yaml"]
    assert text is not None and "${ONVIF_PASSWORD}" in text and "sim-Secret-42" not in text
    assert "onvif-PTZ0001" in text and "onvif-FIX0002" in text


@pytest.fixture()
def five_sims_on_one_port() -> Iterator[tuple[int, list[OnvifSimulator]]]:
    """Five devices at 127.0.0.2..6, all answering WS-Discovery on the same UDP port (as 3702 in the field)."""
    first = OnvifSimulator(SimConfig(advertise_host="127.0.0.2"), host="127.0.0.2", discovery_port=0).start()
    port = first.discovery_port
    sims = [first] + [
        OnvifSimulator(SimConfig(advertise_host=f"127.0.0.{i}", serial=f"R{i}"), host=f"127.0.0.{i}", discovery_port=port).start()
        for i in range(3, 7)
    ]
    yield port, sims
    for sim in sims:
        sim.stop()


def test_probing_an_address_range_finds_every_device(five_sims_on_one_port):
    from devices.onvif.discovery import expand_hosts

    port, sims = five_sims_on_one_port
    hosts = expand_hosts(["127.0.0.0/29"])  # .1 .. .6; nothing answers on .1
    assert hosts == [f"127.0.0.{i}" for i in range(1, 7)]
    devices = discover(hosts, port=port, timeout=1.0)
    assert {d.endpoint for d in devices} == {s.config.endpoint_uuid for s in sims}
    assert {d.from_address for d in devices} == {f"127.0.0.{i}" for i in range(2, 7)}
    # when every target answers, the call does not wait out the timeout
    started = time.monotonic()
    assert len(discover(hosts[1:], port=port, timeout=5.0)) == 5
    assert time.monotonic() - started < 2


def test_cli_accepts_ranges_and_surveys_every_device(five_sims_on_one_port, monkeypatch, capsys):
    from tests.devices.onvif.test_cli import run

    port, sims = five_sims_on_one_port
    monkeypatch.setenv("ONVIF_PASSWORD", sims[0].config.password)
    assert run(["--host", "127.0.0.0/29", "--port", str(port), "--timeout", "1", "--json"]) == 0
    devices = json.loads(capsys.readouterr().out)["devices"]
    assert sorted(d["info"]["serial_number"] for d in devices) == ["R3", "R4", "R5", "R6", "SIM0001"]
    assert all(d["status"] == "online" for d in devices)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("10.0.0.0/8", "split it"), ("10.0.0.300/24", "bad address range"), ("fe80::/120", "IPv4 only")],
)
def test_bad_ranges_are_refused_with_a_reason(spec, message):
    from devices.onvif.discovery import expand_hosts

    with pytest.raises(ValueError, match=message):
        expand_hosts([spec])
