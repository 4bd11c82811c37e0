"""Mobile units (drones, 4G image-transmission terminals): reports checked against the registry, tracks, nearby.

Message format (:class:`devices.mobile.report.Telemetry`; JSON, one object or a list, HTTP body or MQTT payload)::

    {"unit_id": "uav01", "ts": "2026-11-24T18:30:05.200+08:00",
     "lat": 27.7791, "lon": 120.6560, "alt_m": 120.5, "heading_deg": 87.0,
     "speed_mps": 6.2, "battery_pct": 74, "link_quality": 92}

``unit_id`` is the channel id in ``cameras.yaml`` (kind ``drone`` or ``4g_terminal``);
``ts`` is ISO 8601 with an offset or epoch seconds; position is WGS-84. Unknown
fields are rejected, so a firmware change is noticed rather than silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from devices.mobile.report import Telemetry
from devices.mobile.store import PositionStore
from devices.registry import Camera, Registry, haversine_m
from devices.registry.schema import MOBILE_KINDS

__all__ = ["MobileTracker", "Nearby", "Telemetry", "UnknownUnitError"]


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
    """Registered mobile units with their positions and tracks, kept in a :class:`PositionStore`; thread-safe.

    ``registry`` may be a :class:`Registry` or a callable returning the current one
    (e.g. ``lambda: watcher.current``) so hot reloads are followed. Without ``store`` the
    tracks live in a private in-memory database holding ``max_points`` reports per unit.
    """

    def __init__(self, registry: Registry | Callable[[], Registry], *, store: PositionStore | None = None,
                 max_points: int = 3600, stale_after_s: float = 120.0) -> None:
        self._registry = registry if callable(registry) else (lambda: registry)
        self.store = store if store is not None else PositionStore.in_memory(max_points=max_points)
        self.stale_after = timedelta(seconds=stale_after_s)

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
        """Record one report (stored by time, so out-of-order reports take their place; exact duplicates dropped).

        Returns the unit when the report was new (so the caller can publish it), None when dropped;
        raises :class:`UnknownUnitError` for a unit the registry does not list as mobile.
        """
        unit = self._unit(t.unit_id)
        return unit if self.store.record(t) else None

    def latest(self, unit_id: str) -> Telemetry | None:
        return self.store.latest([unit_id]).get(unit_id)

    def history(self, unit_id: str, since: datetime | None = None) -> list[Telemetry]:
        return self.store.history(unit_id, since)

    def units(self, now: datetime | None = None) -> list[dict[str, object]]:
        """Every registered mobile unit with its latest report and whether it is stale."""
        now = now or datetime.now(UTC)
        cameras = [c for kind in sorted(MOBILE_KINDS) for c in self.registry.query(kind=kind)]
        latest = self.store.latest(c.id for c in cameras)
        out: list[dict[str, object]] = []
        for c in cameras:
            last = latest.get(c.id)
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
        for uid, t in self.store.latest(since=None if include_stale else now - self.stale_after).items():
            cam = reg.get(uid)
            if cam is None or not cam.is_mobile or (not include_stale and now - t.ts > self.stale_after):
                continue
            d = float(haversine_m(t.lat, t.lon, lat, lon))
            if d <= metres:
                hits.append(Nearby("mobile", uid, cam.name, cam.kind.value, cam.jurisdiction, t.lat, t.lon, d, t.ts))
        hits.sort(key=lambda h: h.distance_m)
        return hits
