"""The client against an independent ONVIF implementation: PyPI ``ipycam`` (a virtual IP camera).

ipycam multicasts Hello/Bye at start/stop, so it only ever runs inside a network
namespace this test creates. It has no Events service and its PTZ replies use an
unbound ``ptz:`` prefix (not well-formed XML): the client must say so clearly.
"""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from tests.devices.onvif.netns import run_scenario_in_netns

pytestmark = pytest.mark.netns


def test_client_against_ipycam_in_a_network_namespace():
    if importlib.util.find_spec("ipycam") is None:
        pytest.skip("ipycam not installed (pip install -e '.[test]')")
    if shutil.which("ffmpeg") is None:
        pytest.skip("ipycam needs ffmpeg")
    r = run_scenario_in_netns("tests.devices.onvif.netns_ipycam", timeout=120)

    assert r["discovered"] and r["discovered"][0]["xaddrs"] == ["http://127.0.0.1:8080/onvif/device_service"]
    assert r["info"][:2] == ["PythonCam", "VirtualCam-1"]
    assert [p[0] for p in r["profiles"]] == ["Profile_Main", "Profile_Sub"]
    assert r["streams"]["main"] == "rtsp://127.0.0.1:8554/video_main"
    assert r["streams"]["sub"].startswith("rtsp://127.0.0.1:8554/")
    assert r["snapshot_bytes"] > 10_000
    assert r["ptz_capability"] is True
    assert r["ptz_status"] == {"ok": False, "error": "OnvifProtocolError", "message": r["ptz_status"]["message"]}
    assert "not well-formed XML" in r["ptz_status"]["message"]
    assert r["events"]["ok"] is False and r["events"]["error"] == "OnvifNotSupported"
    assert r["wrong_password"]["error"] == "OnvifAuthError"
