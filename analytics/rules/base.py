"""What every rule sees (a :class:`Scene`) and returns (:class:`RuleEvent`), plus shared geometry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time as dtime
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, Union

import cv2
import numpy as np

from analytics.tracking import Track

if TYPE_CHECKING:
    from devices import Camera
    from devices import Rule as RuleSpec

# A rule's settings: the registry's ``devices.Rule`` or the same keys as a dict (tests, benchmarks).
RuleConfig: TypeAlias = Union["RuleSpec", Mapping[str, Any]]
# A camera as the rules see it: ``devices.Camera`` or an equivalent dict.
CameraConfig: TypeAlias = Union["Camera", Mapping[str, Any]]


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
    extra: dict[str, Any] = field(default_factory=dict)


class Rule(Protocol):
    rule_id: str
    kind: str

    def evaluate(self, scene: Scene) -> list[RuleEvent]: ...


def param(config: object, name: str, default: Any = None) -> Any:
    """A rule parameter from a pydantic model, a dataclass or a dict (``cameras.yaml`` rule entry)."""
    if isinstance(config, Mapping):
        value = config.get(name, default)
    else:
        value = getattr(config, name, default)
        if value is default:
            extra = getattr(config, "model_extra", None) or {}
            value = extra.get(name, default)
    return default if value is None else value


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
    """When a rule is active. Delegates to the registry rule's ``active_at`` (``devices.Rule``: ``enabled`` +
    ``schedule`` windows with days, in the centre's local time); for plain dicts, ``schedule`` may be
    strings like ``"22:00-06:00"``. No schedule = always active."""

    def __init__(self, config: RuleConfig) -> None:
        self._active_at = getattr(config, "active_at", None)
        self._enabled = bool(param(config, "enabled", True))
        self.windows: list[tuple[dtime, dtime]] = []
        if self._active_at is None:
            for w in param(config, "schedule", []) or []:
                try:
                    a, b = (dtime.fromisoformat(p.strip()) for p in str(w).split("-"))
                except ValueError as exc:
                    raise ValueError(f"schedule window {w!r} must look like '22:00-06:00'") from exc
                self.windows.append((a, b))

    def active(self, ts: float) -> bool:
        when = datetime.fromtimestamp(ts)
        if self._active_at is not None:
            return bool(self._active_at(when))
        if not self._enabled:
            return False
        if not self.windows:
            return True
        now = when.time()
        for a, b in self.windows:
            if (a <= now < b) if a <= b else (now >= a or now < b):
                return True
        return False


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


def class_filter(names: Mapping[int, str], config: RuleConfig, default: Sequence[str]) -> set[int]:
    """Model class ids a rule applies to: its ``classes`` or the kind's default."""
    wanted = list(param(config, "classes", None) or default)
    ids = {k for k, v in names.items() if v in wanted}
    unknown = set(wanted) - set(names.values())
    if unknown:
        raise ValueError(f"unknown object classes {sorted(unknown)}; the model knows e.g. person, car, truck, backpack")
    return ids
