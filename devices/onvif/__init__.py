"""ONVIF: WS-Discovery, device identity, media profiles and stream URIs, PTZ, PullPoint events.

Public API (import from here only):
    OnvifCamera                       one device (digest auth with clock-offset, timeouts on every call)
    OnvifClientPool                   one reused OnvifCamera per registry camera (PTZ from the web without reconnecting)
    PullPointSubscription, OnvifEvent camera-side alarms; event_to_alert / camera_alert → command.AlertIn fields
    watch_alarms                      long-running subscription loop with reconnect/back-off and link status
    survey_device, survey_all         "who is this and does it work": identity, streams, PTZ, status; never raises
    discover, expand_hosts            WS-Discovery probe (multicast, hosts, ranges) → DiscoveredDevice; DiscoveryReport
    OnvifError and subclasses         OnvifAuthError, OnvifTimeout, OnvifConnectionError, OnvifProtocolError, OnvifNotSupported

Names are imported on first use: ``xueliang`` builds its CLI by importing every
package, and the SOAP stack (zeep, lxml, requests) should cost nothing to commands
that never talk ONVIF.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS: dict[str, str] = {
    "OnvifCamera": "devices.onvif.client",
    "device_service_url": "devices.onvif.client",
    "OnvifClientPool": "devices.onvif.pool",
    "OnvifError": "devices.onvif.errors",
    "OnvifAuthError": "devices.onvif.errors",
    "OnvifTimeout": "devices.onvif.errors",
    "OnvifConnectionError": "devices.onvif.errors",
    "OnvifProtocolError": "devices.onvif.errors",
    "OnvifNotSupported": "devices.onvif.errors",
    "DiscoveredDevice": "devices.onvif.discovery",
    "DiscoveryReport": "devices.onvif.discovery",
    "discover": "devices.onvif.discovery",
    "expand_hosts": "devices.onvif.discovery",
    "OnvifEvent": "devices.onvif.events",
    "PullPointSubscription": "devices.onvif.events",
    "camera_alert": "devices.onvif.events",
    "classify_topic": "devices.onvif.events",
    "event_to_alert": "devices.onvif.events",
    "watch_alarms": "devices.onvif.events",
    "SurveyResult": "devices.onvif.survey",
    "survey_device": "devices.onvif.survey",
    "survey_all": "devices.onvif.survey",
    "Capabilities": "devices.onvif.models",
    "DeviceInfo": "devices.onvif.models",
    "MediaProfile": "devices.onvif.models",
    "PtzNode": "devices.onvif.models",
    "PtzPreset": "devices.onvif.models",
    "PtzStatus": "devices.onvif.models",
    "PtzVector": "devices.onvif.models",
}

__all__ = [  # literal, so linters see the lazy names as exported; must equal sorted(_EXPORTS)
    "Capabilities", "DeviceInfo", "DiscoveredDevice", "DiscoveryReport", "MediaProfile", "OnvifAuthError",
    "OnvifCamera", "OnvifClientPool", "OnvifConnectionError", "OnvifError", "OnvifEvent",
    "OnvifNotSupported", "OnvifProtocolError", "OnvifTimeout", "PtzNode", "PtzPreset", "PtzStatus",
    "PtzVector", "PullPointSubscription", "SurveyResult", "camera_alert", "classify_topic",
    "device_service_url", "discover", "event_to_alert", "expand_hosts", "survey_all", "survey_device",
    "watch_alarms",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'devices.onvif' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


if TYPE_CHECKING:  # for type checkers and IDEs
    from devices.onvif.client import OnvifCamera, device_service_url
    from devices.onvif.pool import OnvifClientPool
    from devices.onvif.discovery import DiscoveredDevice, DiscoveryReport, discover, expand_hosts
    from devices.onvif.errors import (
        OnvifAuthError,
        OnvifConnectionError,
        OnvifError,
        OnvifNotSupported,
        OnvifProtocolError,
        OnvifTimeout,
    )
    from devices.onvif.events import OnvifEvent, PullPointSubscription, camera_alert, classify_topic, event_to_alert, watch_alarms
    from devices.onvif.survey import SurveyResult, survey_all, survey_device
    from devices.onvif.models import Capabilities, DeviceInfo, MediaProfile, PtzNode, PtzPreset, PtzStatus, PtzVector
