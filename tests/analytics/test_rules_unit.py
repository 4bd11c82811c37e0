"""Rule logic on constructed track sequences (synthetic: no clip of a fall, a left bag or a
stopping car exists in the sample footage). Real-footage rule tests: test_rules_footage.py."""

from __future__ import annotations

import pytest

from pydantic import ValidationError

from analytics import Scene, Track, build_rules
from analytics.rules import RuleConfigError
from analytics.rules.line import Tripwire
from devices import COCO_CLASSES, Camera, TripwireRule

NAMES = dict(enumerate(COCO_CLASSES))  # the shipped model's classes, in order
W, H = 480, 360
T0 = 1_700_000_000.0


def camera(rules, zones=None):
    """A registry camera with these rules (validated and defaulted as cameras.yaml would be)."""
    return Camera.model_validate({
        "id": "cam", "name": "cam", "jurisdiction": "330381", "position": {"lat": 29.9, "lon": 121.6},
        "streams": {"main": "rtsp://127.0.0.1/cam"}, "analysis": {"mode": "continuous"},
        "zones": zones if zones is not None else [{"id": "z", "polygon": [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]]}],
        "rules": rules,
    })


def run(rules, frames, fps=5.0):
    """Feed ``frames`` (lists of Track) at ``fps``; return all events."""
    built = build_rules(camera(rules) if isinstance(rules, list) else rules, NAMES)
    events = []
    for i, tracks in enumerate(frames):
        scene = Scene("cam", T0 + i / fps, W, H, tracks, NAMES)
        for r in built:
            events += r.evaluate(scene)
    return events


def person(tid, cx, foot_y, w=20, h=50, conf=0.8):
    return Track(tid, 0, conf, (cx - w / 2, foot_y - h, cx + w / 2, foot_y))


def box(tid, cls, cx, cy, w, h, conf=0.8):
    return Track(tid, cls, conf, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))


# -- zone intrusion --------------------------------------------------------------------------------------------
def test_zone_intrusion_once_per_presence_and_again_after_leaving_for_the_cooldown():
    rule = [{"id": "r", "kind": "zone_intrusion", "zone": "z", "cooldown_s": 10}]
    inside, outside = person(1, 240, 180), person(1, 20, 340)
    frames = [[outside]] * 5 + [[inside]] * 100 + [[outside]] * 5 + [[inside]] * 5 + [[outside]] * 60 + [[inside]] * 5
    events = run(rule, frames)
    # enters (1), stays 20 s (no repeat), leaves 1 s and comes back (same presence), leaves 12 s → new alert
    assert len(events) == 2 and all(e.track_id == 1 for e in events)
    assert events[0].ts == T0 + 5 / 5


def test_zone_intrusion_respects_classes_confidence_and_schedule():
    cfg = [{"id": "r", "kind": "zone_intrusion", "zone": "z", "min_confidence": 0.5}]
    assert run(cfg, [[box(1, 2, 240, 150, 60, 40)]] * 5) == [], "a car is not a person"
    assert run(cfg, [[person(1, 240, 180, conf=0.4)]] * 5) == []
    # Schedule windows are local time; pick a window that excludes "now" of the scenes.
    from datetime import datetime, timedelta

    t = datetime.fromtimestamp(T0)
    start, end = (t + timedelta(hours=2)).strftime("%H:%M"), (t + timedelta(hours=3)).strftime("%H:%M")
    scheduled = [{"id": "r", "kind": "zone_intrusion", "zone": "z", "schedule": [{"start": start, "end": end}]}]
    assert run(scheduled, [[person(1, 240, 180)]] * 5) == []
    now = [{"id": "r", "kind": "zone_intrusion", "zone": "z", "schedule": [{"start": t.strftime("%H:%M"), "end": end}]}]
    assert len(run(now, [[person(1, 240, 180)]] * 5)) == 1, "inside its window the rule fires"


def test_two_people_entering_are_two_alerts_with_distinct_dedup_keys():
    events = run([{"id": "r", "kind": "zone_intrusion", "zone": "z"}], [[person(1, 200, 180), person(2, 260, 180)]] * 10)
    assert sorted(e.track_id for e in events) == [1, 2]
    assert len({e.dedup_key for e in events}) == 2


# -- tripwire ----------------------------------------------------------------------------------------------------
def test_tripwire_direction_on_screen_and_segment_bounds():
    wire = Tripwire(TripwireRule(id="w", kind="tripwire", line=[(0.5, 0.2), (0.5, 0.8)]), NAMES)
    assert wire.crossing((200, 180), (280, 180), W, H) == "a_to_b"  # rightward: A (top) on the walker's left
    assert wire.crossing((280, 180), (200, 180), W, H) == "b_to_a"
    assert wire.crossing((200, 20), (280, 20), W, H) is None, "passing above the segment is not a crossing"
    assert wire.crossing((200, 180), (239, 180), W, H) is None


def test_tripwire_one_alert_per_crossing_despite_jitter_and_skipped_frames():
    rule = [{"id": "w", "kind": "tripwire", "line": [[0.5, 0.2], [0.5, 0.8]], "direction": "a_to_b", "cooldown_s": 10}]
    xs = [150, 200, 235, 245, 236, 246, 300, 350]  # jitters across the line twice on the way
    events = run(rule, [[person(7, x, 200)] for x in xs])
    assert len(events) == 1 and events[0].extra["direction"] == "a_to_b"
    # A long gap (gate skipped frames) makes one big step: still one crossing.
    assert len(run(rule, [[person(8, 100, 200)], [person(8, 400, 200)]])) == 1
    assert run(rule, [[person(9, x, 200)] for x in reversed(xs)]) == [], "wrong direction"


# -- fall (synthetic tracks) ------------------------------------------------------------------------------------
def test_synthetic_fall_upright_then_lying_for_dwell_alerts_once():
    rule = [{"id": "f", "kind": "fall", "dwell_s": 2}]
    upright = [[box(3, 0, 240, 180, 20, 50)]] * 10
    lying = [[box(3, 0, 240, 200, 55, 22)]] * 25
    events = run(rule, upright + lying)
    assert len(events) == 1 and events[0].rule_kind == "fall" and events[0].extra["down_s"] >= 2
    assert events[0].ts == pytest.approx(T0 + (10 + 10) / 5)


def test_synthetic_fall_needs_upright_history_and_duration():
    rule = [{"id": "f", "kind": "fall", "dwell_s": 2}]
    assert run(rule, [[box(3, 0, 240, 200, 55, 22)]] * 30) == [], "lying from the start (bench sleeper) is not a fall"
    upright = [[box(3, 0, 240, 180, 20, 50)]] * 10
    assert run(rule, upright + [[box(3, 0, 240, 200, 55, 22)]] * 5 + upright) == [], "bending down for 1 s"


# -- abandoned object (synthetic tracks) ------------------------------------------------------------------------
def test_synthetic_abandoned_bag_alerts_after_owner_leaves_for_dwell():
    rule = [{"id": "a", "kind": "abandoned_object", "zone": "z", "dwell_s": 10}]
    bag = box(50, 28, 240, 200, 20, 16)
    together = [[bag, person(1, 250, 210)]] * 20  # owner next to the bag for 4 s
    walking_away = [[bag, person(1, 250 + 15 * i, 210)] for i in range(1, 15)]
    alone = [[bag]] * 60
    events = run(rule, together + walking_away + alone)
    assert len(events) == 1 and events[0].object_class == "suitcase" and events[0].track_id == 50
    assert events[0].extra["unattended_s"] >= 10


def test_synthetic_attended_or_carried_bag_never_alerts():
    rule = [{"id": "a", "kind": "abandoned_object", "zone": "z", "dwell_s": 5}]
    bag = box(50, 24, 240, 200, 20, 16)
    assert run(rule, [[bag, person(1, 250, 215)]] * 100) == [], "owner stays beside the bag"
    carried = [[box(50, 24, 130 + 4 * i, 200, 20, 16)] for i in range(60)]
    assert run(rule, carried) == [], "a moving bag is being carried"


# -- illegal parking (synthetic tracks) -------------------------------------------------------------------------
def test_synthetic_parking_stopped_car_alerts_once_moving_car_never():
    rule = [{"id": "p", "kind": "illegal_parking", "zone": "z", "dwell_s": 10}]
    driving = [[box(9, 2, 60 + 10 * i, 180, 60, 36)] for i in range(40)]
    assert run(rule, driving) == []
    stopped = [[box(9, 2, 240, 180, 60, 36)]] * 80
    # detections flicker: a few frames without the car must not restart the clock
    flicker = stopped[:20] + [[]] * 3 + stopped[:60]
    events = run(rule, driving[:15] + flicker)
    assert len(events) == 1 and events[0].object_class == "car" and events[0].extra["stopped_s"] >= 10


# -- crowd / loitering (synthetic tracks) -----------------------------------------------------------------------
def test_synthetic_crowd_needs_count_for_duration_and_alerts_once_per_gathering():
    rule = [{"id": "c", "kind": "crowd", "zone": "z", "min_count": 3, "dwell_s": 2, "cooldown_s": 5}]
    group = [person(i, 200 + 15 * i, 200) for i in range(3)]
    assert run(rule, [group[:2]] * 50) == []
    events = run(rule, [group] * 50 + [[]] * 40 + [group] * 20)
    assert len(events) == 2 and events[0].extra["count"] == 3 and len(events[0].boxes) == 3


def test_synthetic_loitering_dwell_with_short_gaps():
    rule = [{"id": "l", "kind": "loitering", "zone": "z", "dwell_s": 6, "gap_s": 2}]
    here = [[person(4, 240, 200)]]
    events = run(rule, here * 15 + [[]] * 5 + here * 20)  # 1 s unseen (occlusion) does not reset
    assert len(events) == 1 and events[0].extra["dwell_s"] >= 6
    assert run(rule, here * 15 + [[]] * 20 + here * 20) == [], "a 4 s absence restarts the dwell clock"


# -- configuration errors --------------------------------------------------------------------------------------
def test_rule_config_errors_are_the_registrys_and_name_the_field():
    """A rule's settings are checked where cameras.yaml is loaded, with the field's path."""
    with pytest.raises(ValidationError, match=r"rules\.0\.zone: unknown zone 'nope'"):
        camera([{"id": "r", "kind": "zone_intrusion", "zone": "nope"}])
    with pytest.raises(ValidationError, match=r"rules\.0\.kind\n.*unknown rule kind 'teleport'") as bad:
        camera([{"id": "r", "kind": "teleport"}])
    assert "zone_intrusion, tripwire" in str(bad.value)
    with pytest.raises(ValidationError, match=r"rules\.0\.line\n.*a tripwire rule needs line"):
        camera([{"id": "r", "kind": "tripwire"}])
    with pytest.raises(ValidationError, match=r"rules\.0\.dwell_s\n.*dwell_s does not apply to a zone_intrusion rule"):
        camera([{"id": "r", "kind": "zone_intrusion", "zone": "z", "dwell_s": 5}])
    assert build_rules(camera([{"id": "r", "kind": "zone_intrusion", "zone": "z", "enabled": False}]), NAMES) == []


def test_rules_built_for_a_model_that_lacks_their_classes_name_camera_and_rule():
    names = {0: "person"}  # a model without vehicles
    with pytest.raises(RuleConfigError, match=r"camera cam: rule p: unknown object classes \['bus', 'car'"):
        build_rules(camera([{"id": "p", "kind": "illegal_parking", "zone": "z"}]), names)


def test_defaults_come_from_the_registry_model_of_each_kind():
    cam = camera([{"id": "a", "kind": "abandoned_object", "zone": "z"}, {"id": "f", "kind": "fall"},
                  {"id": "t", "kind": "tripwire", "line": [[0.5, 0.2], [0.5, 0.8]]}])
    bag, fall, wire = build_rules(cam, NAMES)
    assert (bag.dwell_s, bag.once.cooldown_s, bag.owner_radius) == (60.0, 600.0, 1.5)
    assert (fall.dwell_s, fall.polygon, fall.once.cooldown_s) == (3.0, None, 30.0)
    assert (wire.direction, wire.hysteresis, wire.min_conf) == ("any", 0.3, 0.35)
