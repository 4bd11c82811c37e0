"""Runs INSIDE a throw-away network namespace (see test_ipycam.py): starts the third-party
virtual camera ``ipycam`` (it multicasts Hello/Bye, hence the namespace), probes it with the
production client, prints one JSON line, and stops ipycam with its whole process group."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devices.onvif import OnvifCamera, OnvifError, discover

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "ipy-Secret-7"


def wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ipycam exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("ipycam did not listen on 8080")


def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except OnvifError as exc:
        return {"ok": False, "error": type(exc).__name__, "message": str(exc)}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ipycam-"))
    (work / "camera_config.json").write_text(json.dumps({"local_ip": "127.0.0.1", "username": "admin", "password": PASSWORD}))
    log = open(work / "ipycam.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipycam", "--source", str(REPO / "samples" / "vtest.avi"), "--width", "640", "--height", "360",
         "--fps", "5", "--hw", "cpu"],
        cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_port(8080, proc, 30)
        found = discover(timeout=1.0, interface="10.77.0.1")
        cam = OnvifCamera("http://127.0.0.1:8080/onvif/device_service", "admin", PASSWORD, timeout=5)
        info = cam.device_information()
        result = {
            "discovered": [{"endpoint": d.endpoint, "xaddrs": list(d.xaddrs)} for d in found],
            "info": [info.manufacturer, info.model, info.firmware_version],
            "profiles": [[p.token, p.width, p.height, p.encoding] for p in cam.profiles()],
            "streams": cam.stream_uris(),
            "snapshot_bytes": len(cam.fetch_snapshot()),
            "ptz_capability": cam.has_ptz(),
            "ptz_status": attempt(lambda: str(cam.ptz_status())),
            "events": attempt(lambda: cam.pullpoint().subscribe()),
            "wrong_password": attempt(lambda: OnvifCamera(cam.url, "admin", "wrong", timeout=5).device_information()),
        }
        cam.close()
        print(json.dumps(result))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


if __name__ == "__main__":
    main()
