"""Camera registry: schema, loader with line-numbered problems, indexed queries, hot reload."""

from devices.registry.errors import Problem, RegistryError
from devices.registry.index import CameraSet, Registry, haversine_m
from devices.registry.loader import load_registry, parse_registry
from devices.registry.reload import RegistryDiff, RegistryWatcher, diff_registries
from devices.registry.schema import (
    COCO_CLASSES,
    Analysis,
    AnalysisMode,
    Camera,
    CameraKind,
    Direction,
    Frame,
    Health,
    Onvif,
    Position,
    Rule,
    RuleKind,
    AbandonedObjectRule,
    CrowdRule,
    FallRule,
    IllegalParkingRule,
    LoiteringRule,
    RuleBase,
    TripwireRule,
    ZoneIntrusionRule,
    ZoneRuleBase,
    parse_rules,
    SecretError,
    Streams,
    TimeWindow,
    Zone,
    mask_url,
)

__all__ = [
    "COCO_CLASSES", "Analysis", "CameraSet", "RegistryDiff", "RegistryWatcher", "diff_registries", "AnalysisMode", "Camera", "CameraKind", "Direction", "Frame", "Health", "Onvif",
    "Position", "Problem", "Registry", "RegistryError", "Rule", "RuleKind", "AbandonedObjectRule", "CrowdRule", "FallRule", "IllegalParkingRule", "LoiteringRule", "RuleBase", "TripwireRule", "ZoneIntrusionRule", "ZoneRuleBase", "parse_rules", "SecretError", "Streams",
    "TimeWindow", "Zone", "haversine_m", "load_registry", "mask_url", "parse_registry",
]
