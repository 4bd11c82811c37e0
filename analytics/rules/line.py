"""Tripwire: an object's foot point crosses a line segment, optionally in one direction only."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from analytics.rules.base import OncePerPresence, RuleEvent, Scene, Schedule, class_filter
from analytics.tracking import Track
from devices import TripwireRule


def _cross(ax: float, ay: float, bx: float, by: float, px: float, py: float) -> float:
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def segments_intersect(p0: tuple[float, float], p1: tuple[float, float],
                       a: tuple[float, float], b: tuple[float, float]) -> bool:
    d1 = _cross(*a, *b, *p0)
    d2 = _cross(*a, *b, *p1)
    d3 = _cross(*p0, *p1, *a)
    d4 = _cross(*p0, *p1, *b)
    return (d1 > 0) != (d2 > 0) and d1 != d2 and (d3 > 0) != (d4 > 0)


class Tripwire:
    """Alert when a track's foot point moves across the segment A→B.

    Direction (as in ``devices.Direction``): ``a_to_b`` = crossing with point A on the
    walker's left and B on the right (on screen); ``b_to_a`` the opposite; ``any`` both.
    Crossings are judged between the last two analysed positions of a track, so skipped
    frames only make the step longer, never hide a crossing.
    """

    kind = "tripwire"

    def __init__(self, spec: TripwireRule, names: Mapping[int, str]) -> None:
        self.rule_id = spec.id
        (ax, ay), (bx, by) = spec.line
        self.a, self.b = (float(ax), float(ay)), (float(bx), float(by))
        self.direction = spec.direction.value  # any, a_to_b or b_to_a
        self.classes = class_filter(names, spec.effective_classes)
        self.schedule = Schedule(spec)
        self.min_conf = spec.min_confidence
        self.once = OncePerPresence(spec.cooldown_s)
        self.hysteresis = spec.hysteresis
        self._last: dict[int, tuple[float, tuple[float, float], bool]] = {}  # ts, foot, side of the line

    def outline(self, width: int, height: int) -> np.ndarray | None:
        """The wire as a 2-point polyline in pixels."""
        return np.array([[self.a[0] * width, self.a[1] * height], [self.b[0] * width, self.b[1] * height]], np.float32)

    def crossing(self, p0: tuple[float, float], p1: tuple[float, float], w: int, h: int) -> str | None:
        """``"a_to_b"``, ``"b_to_a"`` or ``None`` for a step from ``p0`` to ``p1`` (pixels)."""
        a = (self.a[0] * w, self.a[1] * h)
        b = (self.b[0] * w, self.b[1] * h)
        if not segments_intersect(p0, p1, a, b):
            return None
        # On screen (y down) the walker has A on the left when the cross product goes + → −.
        return "a_to_b" if _cross(*a, *b, *p0) > 0 else "b_to_a"

    def evaluate(self, scene: Scene) -> list[RuleEvent]:
        active = self.schedule.active(scene.ts)
        w, h = scene.width, scene.height
        ax, ay, bx, by = self.a[0] * w, self.a[1] * h, self.b[0] * w, self.b[1] * h
        length = max(((bx - ax) ** 2 + (by - ay) ** 2) ** 0.5, 1e-6)
        events: list[RuleEvent] = []
        for t in scene.tracks:
            if t.cls not in self.classes:
                continue
            foot = t.foot
            distance = _cross(ax, ay, bx, by, *foot) / length
            # Hysteresis: a side counts only when the foot is clearly off the line (a third of the
            # box width), so a person standing on the line cannot "cross" back and forth.
            if abs(distance) < max(2.0, self.hysteresis * t.width):
                continue
            side = distance > 0
            prev = self._last.get(t.track_id)
            self._last[t.track_id] = (scene.ts, foot, side)
            if prev is None or prev[2] == side or not active or t.conf < self.min_conf:
                continue
            crossed = self.crossing(prev[1], foot, w, h)
            if crossed is None or (self.direction != "any" and crossed != self.direction):
                continue
            key = f"{scene.camera_id}:{self.rule_id}:{t.track_id}:{crossed}"
            if self.once.seen(key, scene.ts):
                continue
            self.once.fire(key, scene.ts)
            events.append(RuleEvent(self.rule_id, self.kind, scene.names.get(t.cls, str(t.cls)), t.conf, t.track_id,
                                    [_box(t)], key, scene.ts, {"direction": crossed}))
        for tid in [k for k, v in self._last.items() if scene.ts - v[0] > 30]:
            del self._last[tid]
        self.once.prune(scene.ts)
        return events


def _box(t: Track) -> list[float]:
    return [round(v, 1) for v in t.xyxy]
