"""Runs INSIDE a throw-away network namespace (see test_discovery.py): two simulated
cameras answer multicast WS-Discovery on 239.255.255.250:3702; the production
``discover()`` and the ``discover`` command (multicast mode) probe them. Prints one JSON line."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

from devices.onvif import cli as onvif_cli
from devices.onvif.discovery import discover
from tests.devices.onvif.simulator import OnvifSimulator, SimConfig


def main() -> None:
    ptz = OnvifSimulator(SimConfig(name="Gate PTZ", serial="PTZ0001", location="330381101201"), host="10.77.0.1",
                         discovery_port=3702, multicast=True)
    fixed = OnvifSimulator(SimConfig(name="Lobby", serial="FIX0002", model="XL-FIX-100", ptz=False, location="330381101201"),
                           host="10.77.0.1", discovery_port=3702, multicast=True)
    ptz.config.advertise_host = fixed.config.advertise_host = "10.77.0.1"
    with ptz, fixed:
        found = discover(timeout=1.0, interface="10.77.0.1")
        out = Path(tempfile.mkdtemp()) / "discovered.yaml"
        os.environ["ONVIF_PASSWORD"] = ptz.config.password
        parser = argparse.ArgumentParser(prog="xueliang")
        onvif_cli.register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(["discover", "--timeout", "1.0", "--interface", "10.77.0.1", "--username", "admin",
                                  "--write", str(out), "--position", "27.78,120.65"])
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            rc = args.func(args)
        print(json.dumps({
            "found": [{"endpoint": d.endpoint, "xaddrs": d.xaddrs, "name": d.name, "ptz_scope": d.ptz_scope} for d in found],
            "sims": {"ptz": [ptz.config.endpoint_uuid, ptz.device_url], "fixed": [fixed.config.endpoint_uuid, fixed.device_url]},
            "cli_rc": rc, "cli_stdout": stdout.getvalue(), "cli_stderr": stderr.getvalue(),
            "yaml": out.read_text() if out.exists() else None,
        }))


if __name__ == "__main__":
    main()
