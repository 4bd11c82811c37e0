"""The rule set, built per camera from its ``cameras.yaml`` entry (``zones`` + ``rules``).

A rule's settings are validated (and defaulted) by the registry: one ``devices`` model per kind,
told apart by ``kind``. Here each model becomes the object that keeps that rule's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

from analytics.rules.base import Cooldown, ExtraValue, Polygon, Rule, RuleEvent, Scene, Schedule
from analytics.rules.line import Tripwire
from analytics.rules.posture import AbandonedObject, PersonFallen
from analytics.rules.zone import CrowdGathering, IllegalParking, Loitering, ZoneIntrusion
from devices import (
    AbandonedObjectRule,
    Camera,
    CrowdRule,
    FallRule,
    IllegalParkingRule,
    LoiteringRule,
    Rule as RuleSpec,
    TripwireRule,
    ZoneIntrusionRule,
)


class RuleConfigError(ValueError):
    """A rule in cameras.yaml cannot be built; the message names camera, rule and field."""


def _zone(zones: Mapping[str, Polygon], zone_id: str) -> Polygon:
    if zone_id not in zones:
        raise ValueError(f"zone {zone_id!r} is not among the camera's zones {sorted(zones)}")
    return zones[zone_id]


def build_rule(spec: RuleSpec, zones: Mapping[str, Polygon], names: Mapping[int, str]) -> Rule:
    """The rule object of one registry rule (``zones``: the camera's polygons by id)."""
    match spec:
        case ZoneIntrusionRule():
            return ZoneIntrusion(spec, _zone(zones, spec.zone), names)
        case LoiteringRule():
            return Loitering(spec, _zone(zones, spec.zone), names)
        case CrowdRule():
            return CrowdGathering(spec, _zone(zones, spec.zone), names)
        case IllegalParkingRule():
            return IllegalParking(spec, _zone(zones, spec.zone), names)
        case AbandonedObjectRule():
            return AbandonedObject(spec, _zone(zones, spec.zone), names)
        case TripwireRule():
            return Tripwire(spec, names)
        case FallRule():
            return PersonFallen(spec, _zone(zones, spec.zone) if spec.zone else None, names)
        case _:
            assert_never(spec)


def build_rules(camera: Camera, names: Mapping[int, str]) -> list[Rule]:
    """The enabled rules of one ``devices.Camera``."""
    zones = {z.id: Polygon(z.polygon) for z in camera.zones}
    rules: list[Rule] = []
    for spec in camera.rules:
        if not spec.enabled:
            continue
        try:
            rules.append(build_rule(spec, zones, names))
        except ValueError as exc:  # e.g. classes the loaded model does not know
            raise RuleConfigError(f"camera {camera.id}: rule {spec.id}: {exc}") from exc
    return rules


__all__ = [
    "AbandonedObject",
    "Cooldown",
    "CrowdGathering",
    "ExtraValue",
    "IllegalParking",
    "Loitering",
    "PersonFallen",
    "Polygon",
    "Rule",
    "RuleConfigError",
    "RuleEvent",
    "Scene",
    "Schedule",
    "Tripwire",
    "ZoneIntrusion",
    "build_rule",
    "build_rules",
]
