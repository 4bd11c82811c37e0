"""Long-running alarm watcher (reconnects across a device restart), snapshots, registry-built clients."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from devices.onvif import OnvifAuthError, OnvifCamera, OnvifEvent, camera_alert, watch_alarms
from tests.devices.onvif.conftest import gate_ptz_registry
from tests.devices.onvif.simulator import OnvifSimulator, SimConfig

MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_watcher_delivers_alarms_and_survives_a_device_restart():
    config = SimConfig()
    sim = OnvifSimulator(config).start()
    port = sim.port
    alarms: list[OnvifEvent] = []
    statuses: list[str] = []
    stop = threading.Event()
    cam = OnvifCamera(sim.device_url, config.username, config.password, timeout=1.0)
    thread = threading.Thread(
        target=watch_alarms,
        args=(cam, alarms.append, stop),
        kwargs={"on_status": lambda s, _r: statuses.append(s), "pull_timeout": dt.timedelta(seconds=1), "max_backoff_s": 0.5},
        daemon=True,
    )
    thread.start()
    restarted = None
    try:
        assert wait_for(lambda: sim.subscription_count() == 1, 5)
        sim.emit_event(MOTION, {"IsMotion": "true"})
        assert wait_for(lambda: len(alarms) == 1, 5)

        sim.stop()  # device goes away (power cut)
        assert wait_for(lambda: "offline" in statuses, 10)

        restarted = OnvifSimulator(config, http_port=port).start()  # same address, fresh state
        assert wait_for(lambda: restarted.subscription_count() == 1, 10)
        restarted.emit_event(MOTION, {"IsMotion": "true"})
        assert wait_for(lambda: len(alarms) == 2, 5)
    finally:
        stop.set()
        thread.join(timeout=10)
        if restarted is not None:
            restarted.stop()
        sim.stop()
    assert not thread.is_alive()
    assert statuses == ["online", "offline", "online"]
    assert [a.kind for a in alarms] == ["motion", "motion"]


def test_watcher_reports_auth_failure_and_keeps_trying_until_stopped(make_sim):
    sim = make_sim()
    statuses: list[tuple[str, str]] = []
    stop = threading.Event()
    cam = OnvifCamera(sim.device_url, "admin", "wrong", timeout=1.0)
    thread = threading.Thread(target=watch_alarms, args=(cam, lambda e: None, stop),
                              kwargs={"on_status": lambda s, r: statuses.append((s, r)), "max_backoff_s": 0.2}, daemon=True)
    thread.start()
    assert wait_for(lambda: statuses, 5)
    time.sleep(0.5)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert [s for s, _ in statuses] == ["auth_failed"]  # reported once, not on every retry
    assert "wrong" not in statuses[0][1]


def test_watcher_stops_for_a_camera_without_events(make_sim):
    sim = make_sim(events=False)
    statuses: list[str] = []
    cam = OnvifCamera(sim.device_url, sim.config.username, sim.config.password, timeout=1.0)
    watch_alarms(cam, lambda e: None, threading.Event(), on_status=lambda s, r: statuses.append(s))
    assert statuses == ["unsupported"]


def test_snapshot_is_a_real_jpeg_behind_http_digest(sim):
    import cv2
    import numpy as np

    with OnvifCamera(sim.device_url, sim.config.username, sim.config.password, timeout=3.0) as cam:
        jpeg = cam.fetch_snapshot()
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[:2] == (360, 480)  # a vtest.avi frame


def test_snapshot_with_wrong_password_is_an_auth_error(sim):
    with OnvifCamera(sim.device_url, sim.config.username, sim.config.password, timeout=3.0) as cam:
        cam.snapshot_uri()  # SOAP services are set up with the right password
        cam._password = "wrong"  # now only the HTTP digest of the snapshot GET fails  # noqa: SLF001
        with pytest.raises(OnvifAuthError) as err:
            cam.fetch_snapshot()
    assert err.value.operation == "GET snapshot"


def test_client_from_registry_camera_resolves_env_credentials(sim, monkeypatch):
    from devices import parse_registry

    text = gate_ptz_registry(sim.device_url, frame=(640, 360))
    camera = parse_registry(text).cameras["gate-ptz"]
    monkeypatch.setenv("GATE_ONVIF_PASSWORD", sim.config.password)
    with OnvifCamera.from_registry(camera, timeout=3.0) as cam:
        assert cam.device_information().model == "XL-PTZ-200"
        with cam.pullpoint(pull_timeout=dt.timedelta(seconds=1)) as sub:
            sim.emit_event(MOTION, {"IsMotion": "true"})
            (event,) = sub.pull()
    fields = camera_alert(event, camera)
    assert (fields["camera_id"], fields["jurisdiction_code"], fields["frame_width"], fields["lat"]) == ("gate-ptz", "330381101201", 640, 27.78)
    assert "gate-ptz" in repr(cam.name) and sim.config.password not in repr(cam)


def test_a_failing_alarm_handler_does_not_stop_the_watcher(sim):
    delivered: list[str] = []

    def flaky(event: OnvifEvent) -> None:
        delivered.append(event.kind)
        if len(delivered) == 1:
            raise ConnectionError("alerts stream unavailable")

    stop = threading.Event()
    cam = OnvifCamera(sim.device_url, sim.config.username, sim.config.password, timeout=1.0)
    thread = threading.Thread(target=watch_alarms, args=(cam, flaky, stop), kwargs={"pull_timeout": dt.timedelta(seconds=1)}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: sim.subscription_count() == 1, 5)
        sim.emit_event(MOTION, {"IsMotion": "true"})
        assert wait_for(lambda: len(delivered) == 1, 5)
        sim.emit_event("tns1:RuleEngine/TamperDetector/Tamper", {"IsTamper": "true"})
        assert wait_for(lambda: len(delivered) == 2, 5)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert delivered == ["motion", "tamper"]
    assert sim.requests.count("CreatePullPointSubscription") == 1  # same subscription throughout
