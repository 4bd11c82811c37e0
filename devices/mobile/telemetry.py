"""Telemetry of mobile units (drones, 4G image-transmission terminals) and their tracks.

Message format (JSON, one object or a list of objects; HTTP body or MQTT payload)::

    {"unit_id": "uav01", "ts": "2026-11-24T18:30:05.200+08:00",
     "lat": 27.7791, "lon": 120.6560, "alt_m": 120.5, "heading_deg": 87.0,
     "speed_mps": 6.2, "battery_pct": 74, "link_quality": 92}

``unit_id`` is the channel id in ``cameras.yaml`` (kind ``drone`` or ``4g_terminal``);
``ts`` is ISO 8601 with an offset or epoch seconds; position is WGS-84. Unknown
fields are rejected, so a firmware change is noticed rather than silently dropped.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from devices.registry import Camera, Registry, haversine_m
from devices.registry.schema import MOBILE_KINDS


class Telemetry(BaseModel):
    """One position report of a mobile unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
    ts: AwareDatetime
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    alt_m: float | None = Field(default=None, ge=-500, le=20000, description="metres above sea level")
    heading_deg: float | None = Field(default=None, ge=0, le=360)
    speed_mps: float | None = Field(default=None, ge=0, le=200)
    battery_pct: float | None = Field(default=None, ge=0, le=100)
    link_quality: float | None = Field(default=None, ge=0, le=100, description="0..100 % (RSRP/SNR mapped by the terminal)")


class UnknownUnitError(KeyError):
    """Telemetry for a unit the registry does not list as a drone or 4G terminal."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class Nearby:
    """A camera or mobile unit near a point (for dispatch: 'what can see this place?')."""

    kind: str               # "camera" or "mobile"
    id: str
    name: str
    device_kind: str        # fixed, ptz, drone, 4g_terminal
    jurisdiction_code: str
    lat: float
    lon: float
    distance_m: float
    last_seen: datetime | None = None  # mobile units: time of the position used

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "last_seen": self.last_seen.isoformat() if self.last_seen else None}


class MobileTracker:
    """Latest position and bounded history per mobile unit; thread-safe.

    ``registry`` may be a :class:`Registry` or a callable returning the current one
    (e.g. ``lambda: watcher.current``) so hot reloads are followed.
    """

    def __init__(self, registry: Registry | Callable[[], Registry], *, max_points: int = 3600,
                 stale_after_s: float = 120.0) -> None:
        self._registry = registry if callable(registry) else (lambda: registry)
        self.max_points = max_points
        self.stale_after = timedelta(seconds=stale_after_s)
        self._tracks: dict[str, deque[Telemetry]] = {}
        self._lock = threading.Lock()

    @property
    def registry(self) -> Registry:
        return self._registry()

    def _unit(self, unit_id: str) -> Camera:
        cam = self.registry.get(unit_id)
        if cam is None or cam.kind not in MOBILE_KINDS:
            what = "is not in the camera registry" if cam is None else f"is a {cam.kind.value} camera, not a mobile unit"
            raise UnknownUnitError(f"telemetry for {unit_id!r} rejected: it {what}; add it to cameras.yaml with kind drone or 4g_terminal")
        return cam

    def update(self, t: Telemetry) -> Camera | None:
        """Record one report; out-of-order reports are placed by time, exact duplicates dropped.

        Returns the unit when the report was new (so the caller can publish it), None when dropped;
        raises :class:`UnknownUnitError` for a unit the registry does not list as mobile.
        """
        unit = self._unit(t.unit_id)
        with self._lock:
            track = self._tracks.setdefault(t.unit_id, deque(maxlen=self.max_points))
            if not track or t.ts > track[-1].ts:
                track.append(t)
                return unit
            times = [p.ts for p in track]
            i = bisect.bisect_left(times, t.ts)
            if i < len(track) and track[i].ts == t.ts:
                return None
            if len(track) == track.maxlen and i == 0:
                return None  # older than everything we keep
            items = list(track)
            items.insert(i, t)
            self._tracks[t.unit_id] = deque(items[-self.max_points:], maxlen=self.max_points)
            return unit

    def latest(self, unit_id: str) -> Telemetry | None:
        with self._lock:
            track = self._tracks.get(unit_id)
            return track[-1] if track else None

    def history(self, unit_id: str, since: datetime | None = None) -> list[Telemetry]:
        with self._lock:
            track = list(self._tracks.get(unit_id, ()))
        return [p for p in track if since is None or p.ts >= since]

    def units(self, now: datetime | None = None) -> list[dict[str, object]]:
        """Every registered mobile unit with its latest report and whether it is stale."""
        now = now or datetime.now(UTC)
        out: list[dict[str, object]] = []
        for kind in sorted(MOBILE_KINDS):
            for c in self.registry.query(kind=kind):
                last = self.latest(c.id)
                out.append({"id": c.id, "name": c.name, "kind": c.kind.value, "jurisdiction_code": c.jurisdiction,
                            "latest": last.model_dump(mode="json") if last else None,
                            "stale": last is None or now - last.ts > self.stale_after})
        return out

    def within_radius(self, lat: float, lon: float, metres: float, *, now: datetime | None = None,
                      include_stale: bool = False) -> list[Nearby]:
        """Fixed/PTZ cameras and mobile units (at their latest fresh position) within *metres*, nearest first."""
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not math.isfinite(metres) or metres < 0:
            raise ValueError(f"bad query point/radius: lat={lat}, lon={lon}, metres={metres}")
        now = now or datetime.now(UTC)
        reg = self.registry
        hits = [
            Nearby("camera", c.id, c.name, c.kind.value, c.jurisdiction, c.position.lat, c.position.lon, d)
            for c, d in reg.within_radius(lat, lon, metres) if not c.is_mobile
        ]
        with self._lock:
            latest = {uid: track[-1] for uid, track in self._tracks.items() if track}
        for uid, t in latest.items():
            cam = reg.get(uid)
            if cam is None or (not include_stale and now - t.ts > self.stale_after):
                continue
            d = float(haversine_m(t.lat, t.lon, lat, lon))
            if d <= metres:
                hits.append(Nearby("mobile", uid, cam.name, cam.kind.value, cam.jurisdiction, t.lat, t.lon, d, t.ts))
        hits.sort(key=lambda h: h.distance_m)
        return hits
