"""PullPoint events from the simulator, decoded into alarms and command.AlertIn fields."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from devices.onvif import OnvifCamera, OnvifEvent, classify_topic, event_to_alert

MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"
TAMPER = "tns1:RuleEngine/TamperDetector/Tamper"
LINE = "tns1:RuleEngine/LineDetector/Crossed"
SCENE = "tns1:VideoSource/GlobalSceneChange/ImagingService"


def camera_for(sim) -> OnvifCamera:
    return OnvifCamera(sim.device_url, sim.config.username, sim.config.password, timeout=3.0)


def test_motion_tamper_and_line_crossing_become_alarms(sim):
    with camera_for(sim).pullpoint(pull_timeout=dt.timedelta(seconds=1)) as sub:
        assert sim.subscription_count() == 1
        assert sub.pull() == []  # nothing happened yet: the long-poll returns empty
        sim.emit_event(MOTION, {"IsMotion": "true"})
        sim.emit_event(TAMPER, {"IsTamper": "true"})
        sim.emit_event(LINE, {"ObjectId": "7"}, source={"VideoSourceConfigurationToken": "vsc_main", "Rule": "Line1"})
        sim.emit_event(MOTION, {"IsMotion": "false"})
        events = sub.pull()
    assert sim.subscription_count() == 0  # unsubscribed on exit
    assert [(e.kind, e.active, e.is_alarm) for e in events] == [
        ("motion", True, True), ("tamper", True, True), ("line_crossing", True, True), ("motion", False, False),
    ]
    assert events[2].source["Rule"] == "Line1"
    assert events[0].topic == MOTION


def test_long_poll_wakes_up_when_the_camera_raises_an_alarm(sim):
    with camera_for(sim).pullpoint(pull_timeout=dt.timedelta(seconds=5)) as sub:
        timer = threading.Timer(0.3, sim.emit_event, args=(SCENE, {"State": "true"}))
        timer.start()
        started = time.monotonic()
        events = sub.pull()
        elapsed = time.monotonic() - started
        timer.join()
    assert [e.kind for e in events] == ["tamper"]
    assert elapsed < 3  # returned on the event, not at the 5 s pull timeout


def test_initial_state_dump_is_not_an_alarm(sim):
    with camera_for(sim).pullpoint(pull_timeout=dt.timedelta(seconds=1)) as sub:
        sim.emit_event(MOTION, {"IsMotion": "true"}, operation="Initialized")
        events = sub.pull()
    assert len(events) == 1 and events[0].active and not events[0].is_alarm


def test_resubscribes_when_the_device_forgot_the_subscription(sim):
    with camera_for(sim).pullpoint(pull_timeout=dt.timedelta(seconds=1)) as sub:
        first = sub.address
        sim.drop_subscriptions()  # device rebooted
        sim_thread = threading.Timer(0.3, sim.emit_event, args=(MOTION, {"IsMotion": "true"}))
        sim_thread.start()
        events = sub.pull()
        sim_thread.join()
        if not events:
            events = sub.pull()
        assert sub.address != first
    assert [e.kind for e in events] == ["motion"]


def test_event_time_is_converted_to_our_clock_for_a_camera_two_hours_off(make_sim):
    sim = make_sim(clock_offset=dt.timedelta(hours=2))
    with camera_for(sim).pullpoint(pull_timeout=dt.timedelta(seconds=1)) as sub:
        sim.emit_event(MOTION, {"IsMotion": "true"})
        (event,) = sub.pull()
    now = dt.datetime.now(dt.UTC)
    assert abs((event.utc_time - now).total_seconds()) < 5
    assert event.device_time is not None and abs((event.device_time - now).total_seconds() - 7200) < 5


def test_alarms_iterator_yields_only_alarms(sim):
    with camera_for(sim).pullpoint(pull_timeout=dt.timedelta(seconds=1)) as sub:
        sim.emit_event(MOTION, {"IsMotion": "true"}, operation="Initialized")
        sim.emit_event(LINE, {"ObjectId": "1"})
        got = list(sub.alarms(max_pulls=2))
    assert [e.kind for e in got] == ["line_crossing"]


def test_alert_fields_follow_the_command_contract(sim):
    command = pytest.importorskip("command", reason="command package not importable")
    with camera_for(sim).pullpoint(pull_timeout=dt.timedelta(seconds=1)) as sub:
        sim.emit_event(LINE, {"ObjectId": "3"}, source={"VideoSourceConfigurationToken": "vsc_main", "Rule": "Gate"})
        (event,) = sub.pull()
    fields = event_to_alert(event, camera_id="cam07", camera_name="东门", jurisdiction_code="330381101201", lat=27.7, lon=120.6)
    alert = command.AlertIn(**fields)
    assert alert.rule_kind == "onvif_event" and alert.object_class == "line_crossing"
    assert alert.rule_id == "onvif:line_crossing"
    assert alert.ts.tzinfo is not None
    # idempotent: the same notification gives the same alert id; another rule gives another dedup key
    assert event_to_alert(event, camera_id="cam07", camera_name="东门", jurisdiction_code="330381101201")["alert_id"] == alert.alert_id
    other = OnvifEvent(**{**event.__dict__, "source": {"Rule": "Other"}})
    assert event_to_alert(other, camera_id="cam07", camera_name="x", jurisdiction_code="330381")["dedup_key"] != alert.dedup_key


@pytest.mark.parametrize(
    ("topic", "kind"),
    [
        ("tns1:VideoSource/MotionAlarm", "motion"),
        ("tns1:RuleEngine/MotionRegionDetector/Motion", "motion"),
        ("tns1:VideoSource/ImageTooBlurry/AnalyticsService", "tamper"),
        ("tns1:RuleEngine/FieldDetector/ObjectsInside", "intrusion"),
        ("tns1:VideoSource/VideoLoss", "video_loss"),
        ("tns1:Device/Trigger/DigitalInput", "other"),
    ],
)
def test_topic_classification(topic, kind):
    assert classify_topic(topic) == kind


def test_topic_filter_is_sent_and_honoured_by_the_device(sim):
    from devices.onvif import PullPointSubscription

    cam = camera_for(sim)
    with PullPointSubscription(cam, pull_timeout=dt.timedelta(seconds=1), topic_filter=f"{LINE}|{TAMPER}") as sub:
        sim.emit_event(MOTION, {"IsMotion": "true"})
        sim.emit_event(LINE, {"ObjectId": "1"})
        events = sub.pull()
    assert [e.kind for e in events] == ["line_crossing"]


def test_subscription_is_renewed_before_it_expires(sim):
    from devices.onvif import PullPointSubscription

    cam = camera_for(sim)
    with PullPointSubscription(cam, termination=dt.timedelta(seconds=11), pull_timeout=dt.timedelta(seconds=1)) as sub:
        first_expiry = sub.termination_time
        for _ in range(3):  # ~3 s: the remaining lifetime drops under the 10 s renewal margin
            sub.pull()
        assert "Renew" in sim.requests
        assert sub.termination_time is not None and first_expiry is not None and sub.termination_time > first_expiry
        sim.emit_event(MOTION, {"IsMotion": "true"})
        assert [e.kind for e in sub.pull()] == ["motion"]
    assert sim.requests.count("CreatePullPointSubscription") == 1  # renewed, never re-created
