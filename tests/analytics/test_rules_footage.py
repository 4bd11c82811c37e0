"""Rules on the real sample footage: the full pipeline (gate → ONNX batch → ByteTrack → rules) at 5 fps,
with the detector configured as the worker runs it (native 480×360 input).

Expected alerts were established from the clip itself: most people cross the x=0.25 line
walking left (b_to_a) — about 12 crossings in all, two thirds of them leftwards; the white
van parked at the top right the whole time (one parking alert, the car beside it is
outside the bay); nobody walks on the facade or the south-east lawn, nobody falls, no bag
is left behind, never 40 people at once.
"""

from __future__ import annotations

from collections import Counter

import pytest

from analytics import ChannelAnalysis, FrameIn, Pipeline

from .footage import CAMERA_YAML

T0 = 1_700_000_000.0
LINE_X = 0.25 * 480


@pytest.fixture(scope="session")
def footage_run(native_detector, sample_frames_5fps):
    detector = native_detector
    from devices import parse_registry

    camera = parse_registry(CAMERA_YAML).cameras["footage"]
    channel = ChannelAnalysis.for_camera(camera, detector.names)
    pipeline = Pipeline(detector, max_batch=8)
    results = []
    frames = sample_frames_5fps
    for i in range(0, len(frames), 8):
        results += pipeline.process([FrameIn(channel, f, T0 + (i + k) * 0.2) for k, f in enumerate(frames[i : i + 8])])
    return channel, results


def _events(footage_run, rule_id=None):
    _, results = footage_run
    return [e for r in results for e in r.events if rule_id is None or e.rule_id == rule_id]


def _foot_history(footage_run, track_id):
    _, results = footage_run
    return [(r.frame.ts, t.foot) for r in results for t in r.tracks if t.track_id == track_id]


def test_zone_intrusion_one_alert_per_person_and_none_in_empty_zones(footage_run):
    events = _events(footage_run, "walkway-intrusion")
    assert len(events) >= 20, "dozens of people walk along the walkway"
    tracks = [e.track_id for e in events]
    assert len(tracks) == len(set(tracks)), "a person walking in the zone must alert once, not every frame"
    for e in events:
        assert e.object_class == "person" and e.rule_kind == "zone_intrusion"
        x1, y1, x2, y2 = e.boxes[0]
        assert 0.30 * 360 - 1 <= y2 <= 0.62 * 360 + 1, "alerted while the person's feet were outside the zone"
    assert _events(footage_run, "facade-intrusion") == []
    assert _events(footage_run, "lawn-intrusion") == []


def test_tripwire_counts_and_directions(footage_run):
    any_dir = _events(footage_run, "wire-any")
    a_to_b = _events(footage_run, "wire-a-to-b")
    b_to_a = _events(footage_run, "wire-b-to-a")
    assert 8 <= len(any_dir) <= 16
    assert len(b_to_a) > len(a_to_b) >= 2, "most people cross the line walking left"
    assert sorted((e.track_id, e.ts) for e in any_dir) == sorted((e.track_id, e.ts) for e in a_to_b + b_to_a)
    # Direction checked against the track's own positions (≤2 s before the alert, and at it):
    # A is the top end of the line, so a_to_b (A on the walker's left) is a rightward crossing.
    for e, rightward in [(e, True) for e in a_to_b] + [(e, False) for e in b_to_a]:
        history = _foot_history(footage_run, e.track_id)
        before = [x for ts, (x, _) in history if e.ts - 2 <= ts < e.ts][0]  # where it came from
        now = next(x for ts, (x, _) in history if ts == e.ts)
        assert (before < LINE_X <= now) if rightward else (before > LINE_X >= now), (e, before, now)
    assert len({(e.track_id, e.extra["direction"]) for e in any_dir}) == len(any_dir), "one alert per crossing"


def test_parked_van_alerts_once_and_walkers_never_count_as_parking(footage_run):
    van = _events(footage_run, "van-parking")
    assert len(van) == 1
    assert van[0].object_class == "truck" and van[0].extra["stopped_s"] >= 20
    x1, y1, x2, y2 = van[0].boxes[0]
    assert abs(x1 - 407) < 6 and abs(y2 - 62) < 6, "the box is not on the parked van"
    assert van[0].ts - T0 < 25, "the van is there from the first frame: alert after dwell_s (20 s)"
    assert _events(footage_run, "road-parking") == []


def test_loitering_crowd_fall_abandoned_on_real_footage(footage_run):
    loiter = _events(footage_run, "walkway-loiter")
    assert loiter and all(e.extra["dwell_s"] >= 10 for e in loiter)
    assert len({e.track_id for e in loiter}) == len(loiter)
    assert _events(footage_run, "walkway-loiter-60") == [], "nobody stays a minute on the walkway"
    assert _events(footage_run, "lawn-loiter") == []
    crowd = _events(footage_run, "walkway-crowd")
    assert 1 <= len(crowd) <= 6 and all(e.extra["count"] >= 4 and len(e.boxes) >= 4 for e in crowd)
    assert _events(footage_run, "walkway-crowd-40") == []
    assert _events(footage_run, "anyone-fallen") == [], "nobody falls in the sample footage"
    assert _events(footage_run, "left-bags") == []


def test_every_alert_has_the_contract_fields(footage_run):
    channel, results = footage_run
    kinds = Counter(e.rule_kind for e in _events(footage_run))
    assert {"zone_intrusion", "tripwire", "illegal_parking", "loitering", "crowd"} <= set(kinds)
    for e in _events(footage_run):
        assert e.dedup_key.startswith("footage:" + e.rule_id)
        assert 0 < e.confidence <= 1 and e.boxes
    assert channel.counters.frames == len(results) == 399
