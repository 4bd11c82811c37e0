"""What every rule sees (a :class:`Scene`) and returns (:class:`RuleEvent`), plus shared geometry.

A rule's settings are its ``devices`` rule model (one per kind, defaults included); the classes here
hold only the state of a rule between frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import cv2
import numpy as np

from analytics.tracking import Track
from devices import RuleBase

# Values a rule puts in ``RuleEvent.extra`` (seconds of dwell, the crossing direction, a crowd's size …).
ExtraValue = float | int | str


@dataclass(frozen=True)
class Scene:
    """One analysed frame of one camera, after tracking."""

    camera_id: str
    ts: float  # seconds (wall clock, time.time()) of the frame
    width: int
    height: int
    tracks: Sequence[Track]
    names: Mapping[int, str]


@dataclass(frozen=True)
class RuleEvent:
    """A rule fired: one alert to publish (the worker adds camera data, snapshot and clip)."""

    rule_id: str
    rule_kind: str
    object_class: str
    confidence: float
    track_id: int | None
    boxes: list[list[float]]
    dedup_key: str
    ts: float
    extra: dict[str, ExtraValue] = field(default_factory=dict)


class Rule(Protocol):
    """A built rule: its registry settings (``spec``, one of the ``devices`` rule models) and its state."""

    rule_id: str
    kind: str

    def evaluate(self, scene: Scene) -> list[RuleEvent]: ...

    def outline(self, width: int, height: int) -> np.ndarray | None:
        """What to draw on the alert's snapshot (the zone or the wire, in pixels), or None."""
        ...


class Polygon:
    """A zone polygon given in normalised [0..1] coordinates, tested in frame pixels."""

    def __init__(self, points: Sequence[Sequence[float]]) -> None:
        pts = np.asarray(points, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[0] < 3 or pts.shape[1] != 2:
            raise ValueError(f"a zone polygon needs ≥3 [x, y] points, got {points!r}")
        self.norm = pts
        self._px: dict[tuple[int, int], np.ndarray] = {}

    def pixels(self, width: int, height: int) -> np.ndarray:
        key = (width, height)
        if key not in self._px:
            self._px[key] = (self.norm * np.array([width, height], np.float32)).reshape(-1, 1, 2)
        return self._px[key]

    def contains(self, point: tuple[float, float], width: int, height: int) -> bool:
        return cv2.pointPolygonTest(self.pixels(width, height), (float(point[0]), float(point[1])), False) >= 0


class Schedule:
    """When a rule is active: the registry rule's own ``active_at`` (``enabled`` + ``schedule`` windows
    with days, in the centre's local time), asked with the frame's wall-clock time."""

    def __init__(self, spec: RuleBase) -> None:
        self._spec = spec

    def active(self, ts: float) -> bool:
        return self._spec.active_at(datetime.fromtimestamp(ts))


class Cooldown:
    """At most one alert per key per ``seconds``: one event → one alert."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: dict[str, float] = {}

    def ready(self, key: str, ts: float) -> bool:
        last = self._last.get(key)
        if last is not None and ts - last < self.seconds:
            return False
        self._last[key] = ts
        if len(self._last) > 4096:  # forget keys far older than the cooldown
            self._last = {k: v for k, v in self._last.items() if ts - v < self.seconds}
        return True


class OncePerPresence:
    """One alert per object while it stays: a key alerts again only after it has been absent
    (not reported by ``seen``) for ``cooldown_s`` — so a person standing in a zone for ten
    minutes is one alert, and the same person coming back later is a new one."""

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self._last_seen: dict[str, float] = {}

    def seen(self, key: str, ts: float) -> bool:
        """Record ``key`` as present at ``ts``; True if this presence has already alerted."""
        if key in self._last_seen:
            self._last_seen[key] = ts
            return True
        return False

    def fire(self, key: str, ts: float) -> None:
        self._last_seen[key] = ts

    def prune(self, ts: float) -> None:
        for key in [k for k, v in self._last_seen.items() if ts - v > self.cooldown_s]:
            del self._last_seen[key]


def class_filter(names: Mapping[int, str], wanted: Sequence[str]) -> set[int]:
    """Model class ids of the class names ``wanted`` (a rule's ``effective_classes``)."""
    ids = {k for k, v in names.items() if v in wanted}
    unknown = set(wanted) - set(names.values())
    if unknown:
        raise ValueError(f"unknown object classes {sorted(unknown)}; the model knows e.g. person, car, truck, backpack")
    return ids
