"""Zone rules: intrusion, loitering (dwell), crowd gathering, vehicle stopped (illegal parking)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from analytics.rules.base import OncePerPresence, Polygon, RuleEvent, Scene, Schedule, class_filter
from analytics.tracking import Track
from devices import CrowdRule, IllegalParkingRule, LoiteringRule, ZoneIntrusionRule, ZoneRuleBase


def _box(t: Track) -> list[float]:
    return [round(v, 1) for v in t.xyxy]


class _ZoneRule:
    """What the zone rules share: settings, zone, classes, schedule, one alert per presence."""

    kind: str

    def __init__(self, spec: ZoneRuleBase, polygon: Polygon, names: Mapping[int, str]) -> None:
        self.rule_id = spec.id
        self.polygon = polygon
        self.classes = class_filter(names, spec.effective_classes)
        self.schedule = Schedule(spec)
        self.once = OncePerPresence(spec.cooldown_s)
        self.min_conf = spec.min_confidence

    def outline(self, width: int, height: int) -> np.ndarray | None:
        return self.polygon.pixels(width, height)


class ZoneIntrusion(_ZoneRule):
    """An object of the given classes enters the zone (its foot point inside the polygon) during the schedule.

    One alert per presence of a track (see :class:`OncePerPresence`); a track must be inside
    for ``min_frames`` analysed frames in a row first, so a box flickering on the edge does not alert.
    """

    kind = "zone_intrusion"

    def __init__(self, spec: ZoneIntrusionRule, polygon: Polygon, names: Mapping[int, str]) -> None:
        super().__init__(spec, polygon, names)
        self.min_frames = spec.min_frames
        self._inside_frames: dict[int, int] = {}

    def evaluate(self, scene: Scene) -> list[RuleEvent]:
        if not self.schedule.active(scene.ts):
            self._inside_frames.clear()
            return []
        events: list[RuleEvent] = []
        inside_now: dict[int, int] = {}
        for t in scene.tracks:
            if t.cls not in self.classes or not self.polygon.contains(t.foot, scene.width, scene.height):
                continue
            n = self._inside_frames.get(t.track_id, 0) + 1
            inside_now[t.track_id] = n
            key = f"{scene.camera_id}:{self.rule_id}:{t.track_id}"
            if self.once.seen(key, scene.ts) or n < self.min_frames or t.conf < self.min_conf:
                continue
            self.once.fire(key, scene.ts)
            events.append(
                RuleEvent(self.rule_id, self.kind, scene.names.get(t.cls, str(t.cls)), t.conf, t.track_id,
                          [_box(t)], key, scene.ts)
            )
        self._inside_frames = inside_now
        self.once.prune(scene.ts)
        return events


class Loitering(_ZoneRule):
    """An object stays in the zone for ``dwell_s`` seconds (continuous presence, gaps up to ``gap_s`` allowed)."""

    kind = "loitering"

    def __init__(self, spec: LoiteringRule, polygon: Polygon, names: Mapping[int, str]) -> None:
        super().__init__(spec, polygon, names)
        self.dwell_s = spec.dwell_s
        self.gap_s = spec.gap_s
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def evaluate(self, scene: Scene) -> list[RuleEvent]:
        if not self.schedule.active(scene.ts):
            self._first.clear()
            self._last.clear()
            return []
        events: list[RuleEvent] = []
        for t in scene.tracks:
            if t.cls not in self.classes or not self.polygon.contains(t.foot, scene.width, scene.height):
                continue
            last = self._last.get(t.track_id)
            if last is None or scene.ts - last > self.gap_s:
                self._first[t.track_id] = scene.ts
            self._last[t.track_id] = scene.ts
            dwell = scene.ts - self._first[t.track_id]
            key = f"{scene.camera_id}:{self.rule_id}:{t.track_id}"
            if dwell >= self.dwell_s and not self.once.seen(key, scene.ts):
                self.once.fire(key, scene.ts)
                events.append(
                    RuleEvent(self.rule_id, self.kind, scene.names.get(t.cls, str(t.cls)), t.conf, t.track_id,
                              [_box(t)], key, scene.ts, {"dwell_s": round(dwell, 1)})
                )
        stale = [k for k, v in self._last.items() if scene.ts - v > max(self.gap_s, 10.0)]
        for k in stale:
            self._last.pop(k, None)
            self._first.pop(k, None)
        self.once.prune(scene.ts)
        return events


class CrowdGathering(_ZoneRule):
    """At least ``min_count`` objects in the zone continuously for ``duration_s`` seconds."""

    kind = "crowd"

    def __init__(self, spec: CrowdRule, polygon: Polygon, names: Mapping[int, str]) -> None:
        super().__init__(spec, polygon, names)
        self.min_count = spec.min_count
        self.duration_s = spec.dwell_s  # how long the crowd must last
        self._since: float | None = None

    def evaluate(self, scene: Scene) -> list[RuleEvent]:
        inside = [
            t for t in scene.tracks
            if t.cls in self.classes and self.polygon.contains(t.foot, scene.width, scene.height)
        ]
        self.once.prune(scene.ts)
        if not self.schedule.active(scene.ts) or len(inside) < self.min_count:
            self._since = None
            return []
        if self._since is None:
            self._since = scene.ts
        if scene.ts - self._since < self.duration_s:
            return []
        key = f"{scene.camera_id}:{self.rule_id}"
        if self.once.seen(key, scene.ts):
            return []  # the same gathering, still going on
        self.once.fire(key, scene.ts)
        conf = sum(t.conf for t in inside) / len(inside)
        cls_name = scene.names.get(inside[0].cls, str(inside[0].cls))
        return [RuleEvent(self.rule_id, self.kind, cls_name, conf, None, [_box(t) for t in inside], key, scene.ts,
                          {"count": len(inside)})]


class IllegalParking(_ZoneRule):
    """A vehicle stays (moves less than ``max_move`` of its box size) in the zone for ``duration_s`` seconds."""

    kind = "illegal_parking"

    def __init__(self, spec: IllegalParkingRule, polygon: Polygon, names: Mapping[int, str]) -> None:
        super().__init__(spec, polygon, names)
        self.duration_s = spec.dwell_s
        self.max_move = spec.max_move
        self.gap_s = spec.gap_s
        self._anchor: dict[int, tuple[float, tuple[float, float]]] = {}
        self._last_seen: dict[int, float] = {}

    def evaluate(self, scene: Scene) -> list[RuleEvent]:
        if not self.schedule.active(scene.ts):
            self._anchor.clear()
            return []
        events: list[RuleEvent] = []
        for t in scene.tracks:
            if t.cls not in self.classes or not self.polygon.contains(t.foot, scene.width, scene.height):
                continue
            self._last_seen[t.track_id] = scene.ts
            anchor = self._anchor.get(t.track_id)
            cx, cy = t.center
            size = max(t.width, t.height, 1.0)
            if anchor is None or max(abs(cx - anchor[1][0]), abs(cy - anchor[1][1])) > self.max_move * size:
                self._anchor[t.track_id] = (scene.ts, (cx, cy))  # moved: the stop starts now
                continue
            stopped = scene.ts - anchor[0]
            key = f"{scene.camera_id}:{self.rule_id}:{t.track_id}"
            if stopped >= self.duration_s and not self.once.seen(key, scene.ts):
                self.once.fire(key, scene.ts)
                events.append(
                    RuleEvent(self.rule_id, self.kind, scene.names.get(t.cls, str(t.cls)), t.conf, t.track_id,
                              [_box(t)], key, scene.ts, {"stopped_s": round(stopped, 1)})
                )
        # A detection may flicker for a few frames; only forget vehicles unseen for ``gap_s``.
        for k in [k for k, v in self._last_seen.items() if scene.ts - v > self.gap_s]:
            self._anchor.pop(k, None)
            del self._last_seen[k]
        self.once.prune(scene.ts)
        return events
