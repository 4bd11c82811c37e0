"""devices: what exists out there — the camera registry, mobile units, device health.

Other packages import only from here::

    from devices import load_registry, Camera, Registry, RegistryError, RegistryWatcher
    from devices import MobileTracker, Telemetry, ingest_telemetry, publish_position  # drones, 4G terminals
    from devices import HealthMonitor, ChannelHealth, DeviceStatus, publish_status    # device health, VQD

The health and mobile names load lazily (OpenCV, FastAPI) so a process that only
needs the registry does not pay for them.
"""

from typing import TYPE_CHECKING

from devices.registry import (
    COCO_CLASSES,
    Analysis,
    AnalysisMode,
    Camera,
    CameraSet,
    CameraKind,
    Direction,
    Frame,
    Health,
    Onvif,
    Position,
    Problem,
    Registry,
    RegistryDiff,
    RegistryError,
    RegistryWatcher,
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
    diff_registries,
    Zone,
    haversine_m,
    load_registry,
    mask_url,
    parse_registry,
)

__all__ = [
    "COCO_CLASSES", "Analysis", "CameraSet", "RegistryDiff", "RegistryWatcher", "diff_registries", "AnalysisMode", "Camera", "CameraKind", "Direction", "Frame", "Health", "Onvif",
    "Position", "Problem", "Registry", "RegistryError", "Rule", "RuleKind", "AbandonedObjectRule", "CrowdRule", "FallRule", "IllegalParkingRule", "LoiteringRule", "RuleBase", "TripwireRule", "ZoneIntrusionRule", "ZoneRuleBase", "parse_rules", "SecretError", "Streams",
    "TimeWindow", "Zone", "haversine_m", "load_registry", "mask_url", "parse_registry",
]

_LAZY = {
    "ChannelHealth": "devices.health", "DeviceStatus": "devices.health", "Fault": "devices.health",
    "HealthMonitor": "devices.health", "HealthReport": "devices.health", "VideoQualityAnalyzer": "devices.health",
    "publish_status": "devices.health", "status_event": "devices.health", "LAST_FRAME_KEY": "devices.health",
    "MobileTracker": "devices.mobile", "Nearby": "devices.mobile", "Telemetry": "devices.mobile",
    "UnknownUnitError": "devices.mobile", "ingest_telemetry": "devices.mobile",
    "DEVICE_POSITION": "devices.mobile", "IngestResult": "devices.mobile", "publish_position": "devices.mobile", "telemetry_from_event": "devices.mobile",
}
__all__ += [
    "ChannelHealth", "DeviceStatus", "Fault", "HealthMonitor", "HealthReport", "VideoQualityAnalyzer", "publish_status",
    "status_event", "LAST_FRAME_KEY", "MobileTracker", "Nearby", "Telemetry", "UnknownUnitError", "ingest_telemetry",
    "DEVICE_POSITION", "IngestResult", "publish_position", "telemetry_from_event",
]  # = [*_LAZY], spelled out so type checkers and linters see the lazy names

if TYPE_CHECKING:
    from devices.health import (
        LAST_FRAME_KEY,
        ChannelHealth,
        DeviceStatus,
        Fault,
        HealthMonitor,
        HealthReport,
        VideoQualityAnalyzer,
        publish_status,
        status_event,
    )
    from devices.mobile import (
        DEVICE_POSITION,
        IngestResult,
        MobileTracker,
        Nearby,
        Telemetry,
        UnknownUnitError,
        ingest_telemetry,
        publish_position,
        telemetry_from_event,
    )


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'devices' has no attribute {name!r}")
