"""Reproducible ONVIF client figures against the simulator on loopback (numbers quoted in docs/onvif.md).

    .venv/bin/python -m tests.devices.onvif.measure [--devices 50]

Prints one JSON object: WSDL parse time, per-operation round trips (median of 20),
event latency (alarm raised → returned by the pending long-poll), unicast discovery
latency, a unicast probe of N addresses (one socket), and the wall time to survey the N
devices found, 16 in parallel (as `xueliang discover --host 10.x.y.0/24` does).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import threading
import time

from devices.onvif import OnvifCamera, discover
from devices.onvif.survey import survey_all
from devices.onvif.wsdl import document
from tests.devices.onvif.simulator import OnvifSimulator, SimConfig


def median_ms(fn, n: int = 20) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=50, help="simulated devices on 127.0.1.1..N (max 254)")
    args = parser.parse_args()
    out: dict[str, object] = {}

    t = time.perf_counter()
    for f in ("devicemgmt.wsdl", "media.wsdl", "ptz.wsdl", "events.wsdl"):
        document(f)
    out["wsdl_parse_s"] = round(time.perf_counter() - t, 3)

    with OnvifSimulator(SimConfig(clock_offset=dt.timedelta(hours=2)), discovery_port=0) as sim:
        c = sim.config
        t = time.perf_counter()
        cam = OnvifCamera(sim.device_url, c.username, c.password)
        cam.connect()
        out["connect_ms"] = round((time.perf_counter() - t) * 1000, 1)  # clock sync + GetCapabilities + GetServices
        ops = {
            "GetDeviceInformation": cam.device_information,
            "GetProfiles": lambda: cam.profiles(refresh=True),
            "GetStreamUri": lambda: cam.stream_uri("prof_main"),
            "PTZ GetStatus": cam.ptz_status,
            "PTZ ContinuousMove+Stop": lambda: (cam.continuous_move(pan=0.1), cam.stop()),
        }
        out["round_trip_ms_median"] = {name: median_ms(fn) for name, fn in ops.items()}

        latencies = []
        with cam.pullpoint(pull_timeout=dt.timedelta(seconds=5)) as sub:
            for _ in range(10):
                raised: list[float] = []

                def fire(raised: list[float] = raised) -> None:
                    raised.append(time.perf_counter())
                    sim.emit_event("tns1:RuleEngine/CellMotionDetector/Motion", {"IsMotion": "true"})

                timer = threading.Timer(0.2, fire)
                timer.start()
                events = sub.pull()
                timer.join()
                assert events, "no event"
                latencies.append(time.perf_counter() - raised[0])
        out["event_latency_ms_median"] = round(statistics.median(latencies) * 1000, 2)
        out["unicast_discovery_ms_median"] = median_ms(lambda: discover("127.0.0.1", port=sim.discovery_port, timeout=2), n=10)
        cam.close()

    # N devices at 127.0.1.1..N, all answering WS-Discovery on one UDP port, as on a township subnet
    first = OnvifSimulator(SimConfig(serial="S0001", advertise_host="127.0.1.1"), host="127.0.1.1", discovery_port=0).start()
    port = first.discovery_port
    sims = [first] + [
        OnvifSimulator(SimConfig(serial=f"S{i:04d}", advertise_host=f"127.0.1.{i}"), host=f"127.0.1.{i}", discovery_port=port).start()
        for i in range(2, args.devices + 1)
    ]
    try:
        hosts = [f"127.0.1.{i}" for i in range(1, args.devices + 1)]
        t = time.perf_counter()
        found = discover(hosts, port=port, timeout=5)
        out["range_probe"] = {"hosts": len(hosts), "found": len(found), "wall_s": round(time.perf_counter() - t, 3)}
        t = time.perf_counter()
        results = survey_all(found, "admin", SimConfig().password, timeout=5, workers=16)
        out["survey"] = {
            "devices": len(found),
            "online": sum(r.status == "online" for r in results),
            "wall_s": round(time.perf_counter() - t, 2),
            "workers": 16,
        }
    finally:
        for s in sims:
            s.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
