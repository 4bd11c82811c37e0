"""Person fallen, and abandoned object: rules on how a track's shape and company change over time."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from analytics.rules.base import OncePerPresence, Polygon, RuleEvent, Scene, Schedule, class_filter
from analytics.tracking import Track
from devices import AbandonedObjectRule, FallRule


def _box(t: Track) -> list[float]:
    return [round(v, 1) for v in t.xyxy]


class PersonFallen:
    """A person track that was upright (box height ≥ ``upright_ratio`` × width) becomes lying
    (width ≥ ``lying_ratio`` × height) and stays down for ``dwell_s`` seconds.

    Requiring the upright history avoids alerting on people already lying when the camera
    starts (a bench sleeper) and on boxes that are wide because of occlusion at the frame edge.
    """

    kind = "fall"

    def __init__(self, spec: FallRule, polygon: Polygon | None, names: Mapping[int, str]) -> None:
        self.rule_id = spec.id
        self.polygon = polygon  # None: anywhere in the frame
        self.classes = class_filter(names, spec.effective_classes)
        self.schedule = Schedule(spec)
        self.dwell_s = spec.dwell_s
        self.upright_ratio = spec.upright_ratio
        self.lying_ratio = spec.lying_ratio
        self.min_conf = spec.min_confidence
        self.once = OncePerPresence(spec.cooldown_s)
        self._upright_at: dict[int, float] = {}
        self._down_since: dict[int, float] = {}

    def outline(self, width: int, height: int) -> np.ndarray | None:
        return self.polygon.pixels(width, height) if self.polygon is not None else None

    def evaluate(self, scene: Scene) -> list[RuleEvent]:
        events: list[RuleEvent] = []
        active = self.schedule.active(scene.ts)
        for t in scene.tracks:
            if t.cls not in self.classes or t.conf < self.min_conf:
                continue
            if self.polygon is not None and not self.polygon.contains(t.center, scene.width, scene.height):
                continue
            tid = t.track_id
            if t.height >= self.upright_ratio * t.width:
                self._upright_at[tid] = scene.ts
                self._down_since.pop(tid, None)
                continue
            if t.width < self.lying_ratio * t.height or tid not in self._upright_at:
                continue
            since = self._down_since.setdefault(tid, scene.ts)
            key = f"{scene.camera_id}:{self.rule_id}:{tid}"
            if active and scene.ts - since >= self.dwell_s and not self.once.seen(key, scene.ts):
                self.once.fire(key, scene.ts)
                events.append(RuleEvent(self.rule_id, self.kind, scene.names.get(t.cls, str(t.cls)), t.conf, tid,
                                        [_box(t)], key, scene.ts, {"down_s": round(scene.ts - since, 1)}))
        for d in (self._upright_at, self._down_since):
            for tid in [k for k, v in d.items() if scene.ts - v > 120]:
                del d[tid]
        self.once.prune(scene.ts)
        return events


class AbandonedObject:
    """A bag/suitcase that stays put in the zone with no person near it for ``dwell_s`` seconds.

    "Near" = a person's foot point within ``owner_radius`` × the person's own height of the
    object's centre (scale-free: works for near and far objects). The clock restarts whenever
    someone is near, so a bag at its owner's feet never alerts.
    """

    kind = "abandoned_object"

    def __init__(self, spec: AbandonedObjectRule, polygon: Polygon, names: Mapping[int, str]) -> None:
        self.rule_id = spec.id
        self.polygon = polygon
        self.classes = class_filter(names, spec.effective_classes)
        self.person = class_filter(names, ["person"])
        self.schedule = Schedule(spec)
        self.dwell_s = spec.dwell_s
        self.owner_radius = spec.owner_radius
        self.max_move = spec.max_move
        self.min_conf = spec.min_confidence
        self.once = OncePerPresence(spec.cooldown_s)
        self.gap_s = spec.gap_s
        self._alone_since: dict[int, tuple[float, tuple[float, float]]] = {}
        self._last_seen: dict[int, float] = {}

    def outline(self, width: int, height: int) -> np.ndarray | None:
        return self.polygon.pixels(width, height) if self.polygon is not None else None

    def evaluate(self, scene: Scene) -> list[RuleEvent]:
        events: list[RuleEvent] = []
        people = [t for t in scene.tracks if t.cls in self.person]
        active = self.schedule.active(scene.ts)
        for t in scene.tracks:
            if t.cls not in self.classes or t.conf < self.min_conf:
                continue
            if not self.polygon.contains(t.foot, scene.width, scene.height):
                continue
            tid = t.track_id
            cx, cy = t.center
            attended = any(
                ((p.foot[0] - cx) ** 2 + (p.foot[1] - cy) ** 2) ** 0.5 <= self.owner_radius * max(p.height, 1.0)
                for p in people
            )
            state = self._alone_since.get(tid)
            size = max(t.width, t.height, 1.0)
            moved = state is not None and max(abs(cx - state[1][0]), abs(cy - state[1][1])) > self.max_move * size
            self._last_seen[tid] = scene.ts
            if attended or moved or state is None:
                self._alone_since[tid] = (scene.ts, (cx, cy))  # the unattended clock (re)starts now
                continue
            key = f"{scene.camera_id}:{self.rule_id}:{tid}"
            alone = scene.ts - state[0]
            if self.once.seen(key, scene.ts) or not active or alone < self.dwell_s:
                continue
            self.once.fire(key, scene.ts)
            events.append(RuleEvent(self.rule_id, self.kind, scene.names.get(t.cls, str(t.cls)), t.conf, tid,
                                    [_box(t)], key, scene.ts, {"unattended_s": round(alone, 1)}))
        # A detection may flicker for a few frames; only forget objects unseen for ``gap_s``.
        for tid in [k for k, v in self._last_seen.items() if scene.ts - v > self.gap_s]:
            self._alone_since.pop(tid, None)
            del self._last_seen[tid]
        self.once.prune(scene.ts)
        return events
