"""Fixtures: ONVIF device simulators (real SOAP over HTTP, real WS-Discovery over UDP) on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from tests.devices.onvif.simulator import OnvifSimulator, SimConfig

SimFactory = Callable[..., OnvifSimulator]


@pytest.fixture()
def make_sim() -> Iterator[SimFactory]:
    """Start simulators with ``make_sim(ptz=False, clock_offset=...)``; all are stopped after the test."""
    started: list[OnvifSimulator] = []

    def factory(*, discovery: bool = False, **config: object) -> OnvifSimulator:
        sim = OnvifSimulator(SimConfig(**config), discovery_port=0 if discovery else None)  # type: ignore[arg-type]
        sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture()
def sim(make_sim: SimFactory) -> OnvifSimulator:
    """A PTZ camera with events whose stream URIs are plain placeholders (no RTSP needed)."""
    return make_sim()


@pytest.fixture()
def silent_tcp_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a hung device)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_loop() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/onvif/device_service"
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    server.close()


@pytest.fixture()
def closed_port_url() -> str:
    """A device URL on a loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/onvif/device_service"


def gate_ptz_registry(sim_url: str, *, frame: tuple[int, int] | None = (480, 360), second_url: str | None = None) -> str:
    """cameras.yaml text with the ONVIF dome ``gate-ptz`` on ``sim_url`` (password from $GATE_ONVIF_PASSWORD),
    and optionally a second dome ``yard-ptz`` on ``second_url``."""
    frame_line = f"    frame: {{width: {frame[0]}, height: {frame[1]}}}\n" if frame else ""
    text = f"""
version: 1
cameras:
  - id: gate-ptz
    name: 东门球机
    jurisdiction: "330381101201"
    position: {{lat: 27.78, lon: 120.65}}
    kind: ptz
    streams: {{main: "rtsp://127.0.0.1:8554/cam01"}}
{frame_line}    onvif: {{url: "{sim_url}", username: admin, password: "${{GATE_ONVIF_PASSWORD}}"}}
"""
    if second_url:
        text += f"""
  - id: yard-ptz
    name: 后院球机
    jurisdiction: "330381101201"
    position: {{lat: 27.781, lon: 120.651}}
    kind: ptz
    streams: {{main: "rtsp://127.0.0.1:8554/cam02"}}
    onvif: {{url: "{second_url}", username: admin, password: "${{GATE_ONVIF_PASSWORD}}"}}
"""
    return text
