"""The rule set, built per camera from its ``cameras.yaml`` entry (``zones`` + ``rules``)."""

from __future__ import annotations

from collections.abc import Mapping

from analytics.rules.base import CameraConfig, Cooldown, Polygon, Rule, RuleConfig, RuleEvent, Scene, Schedule, param
from analytics.rules.line import Tripwire
from analytics.rules.posture import AbandonedObject, PersonFallen
from analytics.rules.zone import CrowdGathering, IllegalParking, Loitering, ZoneIntrusion

ZONE_RULES: dict[str, type] = {
    "zone_intrusion": ZoneIntrusion,
    "loitering": Loitering,
    "crowd": CrowdGathering,
    "illegal_parking": IllegalParking,
    "abandoned_object": AbandonedObject,
}
# Rules whose zone is optional or that use a line: built with (id, config, names, zones).
OTHER_RULES: dict[str, type] = {"tripwire": Tripwire, "fall": PersonFallen}


class RuleConfigError(ValueError):
    """A rule in cameras.yaml cannot be built; the message names camera, rule and field."""


def build_rules(camera: CameraConfig, names: Mapping[int, str]) -> list[Rule]:
    """The rules of one camera (a ``devices.Camera`` or an equivalent dict)."""
    camera_id = param(camera, "id", "?")
    zones = {param(z, "id"): Polygon(param(z, "polygon")) for z in param(camera, "zones", [])}
    rules: list[Rule] = []
    for cfg in param(camera, "rules", []):
        rule_id = param(cfg, "id")
        if not param(cfg, "enabled", True):
            continue
        kind = param(cfg, "kind")
        try:
            if kind in ZONE_RULES:
                zone_id = param(cfg, "zone")
                if zone_id not in zones:
                    raise RuleConfigError(f"zone {zone_id!r} is not among the camera's zones {sorted(zones)}")
                rules.append(ZONE_RULES[kind](rule_id, zones[zone_id], cfg, names))
            elif kind in OTHER_RULES:
                rules.append(OTHER_RULES[kind](rule_id, cfg, names, zones))
            else:
                raise RuleConfigError(f"unknown kind {kind!r}; known: {sorted({*ZONE_RULES, *OTHER_RULES})}")
        except (ValueError, KeyError) as exc:
            raise RuleConfigError(f"camera {camera_id}: rule {rule_id}: {exc}") from exc
    return rules


__all__ = [
    "AbandonedObject",
    "CameraConfig",
    "Cooldown",
    "CrowdGathering",
    "IllegalParking",
    "Loitering",
    "PersonFallen",
    "Polygon",
    "Rule",
    "RuleConfig",
    "RuleConfigError",
    "RuleEvent",
    "Scene",
    "Schedule",
    "Tripwire",
    "ZoneIntrusion",
    "build_rules",
]
