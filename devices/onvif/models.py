"""Plain data returned by the ONVIF client (no zeep objects leak out of the package)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str
    model: str
    firmware_version: str
    serial_number: str
    hardware_id: str


@dataclass(frozen=True)
class Capabilities:
    """Service addresses the device advertises (GetCapabilities, completed by GetServices)."""

    xaddrs: dict[str, str] = field(default_factory=dict)  # "devicemgmt", "media", "ptz", "events", "imaging", ...
    pullpoint: bool = False

    @property
    def ptz(self) -> bool:
        return "ptz" in self.xaddrs

    @property
    def events(self) -> bool:
        return "events" in self.xaddrs


@dataclass(frozen=True)
class MediaProfile:
    token: str
    name: str
    encoding: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    ptz_configuration: str | None = None  # token, or None when the profile has no PTZ

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


@dataclass(frozen=True)
class PtzVector:
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0


@dataclass(frozen=True)
class PtzStatus:
    position: PtzVector | None
    moving: bool
    utc_time: str | None = None


@dataclass(frozen=True)
class PtzPreset:
    token: str
    name: str
    position: PtzVector | None = None


@dataclass(frozen=True)
class PtzNode:
    token: str
    name: str
    absolute: bool  # AbsolutePanTiltPositionSpace advertised
    continuous: bool
    max_presets: int
