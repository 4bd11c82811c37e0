"""Synchronous ONVIF client for one device: identity, media profiles, stream URIs, PTZ.

Built on the WSDL bundle of ``onvif-zeep`` and its SOAP engine ``zeep``. We do not
use ``onvif.ONVIFCamera`` itself: importing it reconfigures the root logger, it
removes ``http_proxy`` from the process environment, it has no per-call timeout
and it measures the clock offset with naive local datetimes. This module keeps
the same WSDLs and bindings and adds what a county-scale estate needs.

    cam = OnvifCamera("http://10.1.2.3/onvif/device_service", "admin", password)
    cam.device_information().manufacturer
    cam.stream_uris()  # {"main": "rtsp://...", "sub": "rtsp://..."}
    cam.continuous_move(pan=0.5); cam.stop()
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse, urlunparse

import requests

from devices.onvif.errors import OnvifAuthError, OnvifError, OnvifNotSupported, OnvifProtocolError
from devices.onvif.models import (
    Capabilities,
    DeviceInfo,
    MediaProfile,
    PtzNode,
    PtzPreset,
    PtzStatus,
    PtzVector,
)
from devices.onvif.soap import DeviceClock, OffsetDigestToken, SafeTransport, call, make_service, read_body

if TYPE_CHECKING:
    from devices.onvif.events import PullPointSubscription
    from devices.registry.schema import Camera

MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0

# GetServices namespaces -> our service keys
_NAMESPACES = {
    "http://www.onvif.org/ver10/device/wsdl": "devicemgmt",
    "http://www.onvif.org/ver10/media/wsdl": "media",
    "http://www.onvif.org/ver20/ptz/wsdl": "ptz",
    "http://www.onvif.org/ver10/events/wsdl": "events",
    "http://www.onvif.org/ver20/imaging/wsdl": "imaging",
    "http://www.onvif.org/ver20/media/wsdl": "media2",
}
# GetCapabilities element -> our service keys
_CAPABILITIES = {"Device": "devicemgmt", "Media": "media", "PTZ": "ptz", "Events": "events", "Imaging": "imaging", "Analytics": "analytics"}

_ABSOLUTE_PT_SPACE = "AbsolutePanTiltPositionSpace"


def device_service_url(host: str, port: int = 80, scheme: str = "http") -> str:
    """The fixed ONVIF entry point of a device."""
    return f"{scheme}://{host}:{port}/onvif/device_service"


def _text(value: Any) -> str:
    if value is None:
        return ""
    inner = getattr(value, "_value_1", None)
    return str(inner if inner is not None else value)


class OnvifCamera:
    """One ONVIF device. Connects lazily; every call has ``timeout`` seconds and raises ``OnvifError`` subclasses."""

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        sync_clock: bool = True,
        rewrite_xaddrs: bool = True,
        name: str | None = None,
        verify: bool | str = True,
    ) -> None:
        """``verify``: TLS verification for https device URLs (False, or a CA bundle path for self-signed cameras)."""
        if "://" not in url:
            url = device_service_url(url)
        self.url = url
        self.username = username
        self._password = password
        self.timeout = timeout
        self.sync_clock = sync_clock
        self.rewrite_xaddrs = rewrite_xaddrs
        self.name = name or urlparse(url).netloc
        self.clock = DeviceClock()
        self.verify = verify
        self._transport = self._new_transport(timeout)
        self._services: dict[str, Any] = {}
        self._capabilities: Capabilities | None = None
        self._profiles: list[MediaProfile] | None = None
        self._ptz_nodes: list[PtzNode] | None = None
        self._clock_synced = False
        # One client may serve several threads (web PTZ routes, health checks): build each
        # lazily cached piece once instead of racing to build it N times.
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"OnvifCamera({self.url!r}, username={self.username!r})"

    @classmethod
    def from_registry(cls, camera: Camera, **kwargs: Any) -> OnvifCamera:
        """Client for a registry ``devices.Camera``; its ``${ENV}`` credentials are resolved now (raises if unset)."""
        if camera.onvif is None:
            raise ValueError(f"camera {camera.id!r} has no onvif section in the registry")
        username, password = camera.onvif_credentials()
        return cls(camera.onvif.url, username, password, name=kwargs.pop("name", camera.id), **kwargs)

    # ------------------------------------------------------------------ plumbing
    def _wsse(self) -> OffsetDigestToken | None:
        if not self.username:
            return None
        return OffsetDigestToken(self.username, self._password or "", self.clock)

    def _new_transport(self, timeout: float) -> SafeTransport:
        transport = SafeTransport(timeout)
        transport.session.verify = self.verify
        if self.username:
            # Some firmwares guard the SOAP endpoint with HTTP digest instead of (or besides)
            # WS-Security. requests answers a digest challenge only; nothing is sent up front.
            transport.session.auth = requests.auth.HTTPDigestAuth(self.username, self._password or "")
        return transport

    def _service(self, key: str) -> Any:
        with self._lock:
            return self._service_locked(key)

    def _service_locked(self, key: str) -> Any:
        if key not in self._services:
            if key == "devicemgmt":
                address = self.url
            else:
                advertised = self.capabilities().xaddrs.get(key)
                if not advertised:
                    raise OnvifNotSupported(self.name, f"{key} service", "the device does not advertise this service")
                address = advertised
            self._services[key] = make_service(key, address, self._transport, self._wsse())
        return self._services[key]

    def _call(self, key: str, operation: str, **params: Any) -> Any:
        service = self._service(key)
        return call(self.name, operation, lambda: getattr(service, operation)(**params))

    def close(self) -> None:
        self._transport.session.close()

    def __enter__(self) -> "OnvifCamera":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ device
    def measure_clock_offset(self) -> dt.timedelta:
        """GetSystemDateAndTime (unauthenticated by the ONVIF spec) → device clock minus ours."""
        anonymous = make_service("devicemgmt", self.url, self._transport, None)
        sent = dt.datetime.now(dt.UTC)
        try:
            reply = call(self.name, "GetSystemDateAndTime", anonymous.GetSystemDateAndTime)
        except OnvifAuthError:
            # Some firmwares authenticate every request despite the spec; ask again
            # with credentials (works when the clocks are close enough).
            if not self.username:
                raise
            sent = dt.datetime.now(dt.UTC)
            reply = self._call("devicemgmt", "GetSystemDateAndTime")
        received = dt.datetime.now(dt.UTC)
        utc = getattr(reply, "UTCDateTime", None)
        if utc is None or utc.Date is None or utc.Time is None:
            log.warning("%s: GetSystemDateAndTime has no UTCDateTime; assuming the clocks agree", self.name)
            return dt.timedelta(0)
        try:
            device_now = dt.datetime(
                utc.Date.Year, utc.Date.Month, utc.Date.Day, utc.Time.Hour, utc.Time.Minute, utc.Time.Second,
                tzinfo=dt.UTC,
            )
        except (TypeError, ValueError) as exc:
            raise OnvifProtocolError(self.name, "GetSystemDateAndTime", f"invalid UTCDateTime: {exc}") from None
        midpoint = sent + (received - sent) / 2
        return device_now - midpoint.replace(microsecond=0)

    def sync_time(self) -> dt.timedelta:
        """Measure the clock offset and use it for every later digest. Returns the offset."""
        offset = self.measure_clock_offset()
        self.clock.offset = offset
        self._clock_synced = True
        if abs(offset) > dt.timedelta(seconds=30):
            log.info("%s: device clock is off by %.0f s; digests follow the device clock", self.name, offset.total_seconds())
        return offset

    def connect(self) -> Capabilities:
        """Clock sync (if enabled) then service discovery; forgets what a rebooted device may have changed.

        Called implicitly by the first operation; call it again after a reconnect.
        """
        with self._lock:
            self._capabilities = None
            self._profiles = None
            self._ptz_nodes = None
            self._services.clear()
            if self.sync_clock:
                self.sync_time()
            return self.capabilities()

    def capabilities(self) -> Capabilities:
        if self._capabilities is not None:
            return self._capabilities
        with self._lock:
            if self._capabilities is None:
                self._capabilities = self._discover_services()
            return self._capabilities

    def _discover_services(self) -> Capabilities:
        if self.sync_clock and not self._clock_synced:
            self.sync_time()
        xaddrs: dict[str, str] = {"devicemgmt": self.url}
        pullpoint = False
        # Either call may be missing or broken on a given firmware; one is enough.
        # Auth failures and timeouts are not "missing": they propagate.
        failures: list[OnvifError] = []
        try:
            caps = self._call("devicemgmt", "GetCapabilities", Category=["All"])
        except (OnvifNotSupported, OnvifProtocolError) as exc:
            failures.append(exc)
            caps = None
        if caps is not None:
            for element, key in _CAPABILITIES.items():
                entry = getattr(caps, element, None)
                if entry is not None and getattr(entry, "XAddr", None):
                    xaddrs[key] = self._rewrite(entry.XAddr)
            events = getattr(caps, "Events", None)
            pullpoint = bool(events is not None and getattr(events, "WSPullPointSupport", False))
        try:
            services = self._call("devicemgmt", "GetServices", IncludeCapability=False)
        except (OnvifNotSupported, OnvifProtocolError) as exc:
            failures.append(exc)
            services = []
        for svc in services or []:
            service_key = _NAMESPACES.get(getattr(svc, "Namespace", ""))
            if service_key and getattr(svc, "XAddr", None):
                xaddrs.setdefault(service_key, self._rewrite(svc.XAddr))
        if caps is None and not services:
            if failures:
                raise failures[0]
            raise OnvifProtocolError(self.name, "GetCapabilities", "neither GetCapabilities nor GetServices answered")
        if "events" in xaddrs and caps is None:
            pullpoint = True  # ONVIF profile S/T devices with an events service must support PullPoint
        return Capabilities(xaddrs=xaddrs, pullpoint=pullpoint)

    def _rewrite(self, xaddr: str) -> str:
        # Devices behind NAT/port mapping (4G terminals, aggregated township links)
        # advertise their private address; reach them through the address we used.
        if not self.rewrite_xaddrs:
            return xaddr
        ours, theirs = urlparse(self.url), urlparse(xaddr)
        if not theirs.scheme:
            return xaddr
        return urlunparse(theirs._replace(scheme=ours.scheme, netloc=ours.netloc))

    def device_information(self) -> DeviceInfo:
        self.capabilities()
        r = self._call("devicemgmt", "GetDeviceInformation")
        return DeviceInfo(
            manufacturer=_text(r.Manufacturer), model=_text(r.Model), firmware_version=_text(r.FirmwareVersion),
            serial_number=_text(r.SerialNumber), hardware_id=_text(r.HardwareId),
        )

    # ------------------------------------------------------------------ media
    def profiles(self, refresh: bool = False) -> list[MediaProfile]:
        if self._profiles is not None and not refresh:
            return self._profiles
        with self._lock:
            if self._profiles is not None and not refresh:
                return self._profiles
            self._profiles = self._fetch_profiles()
            return self._profiles

    def _fetch_profiles(self) -> list[MediaProfile]:
        result = []
        for p in self._call("media", "GetProfiles") or []:
            enc = getattr(p, "VideoEncoderConfiguration", None)
            res = getattr(enc, "Resolution", None) if enc is not None else None
            rate = getattr(enc, "RateControl", None) if enc is not None else None
            ptz = getattr(p, "PTZConfiguration", None)
            result.append(
                MediaProfile(
                    token=p.token, name=_text(p.Name),
                    encoding=str(enc.Encoding) if enc is not None and enc.Encoding is not None else None,
                    width=_number(int, getattr(res, "Width", None)),
                    height=_number(int, getattr(res, "Height", None)),
                    fps=_number(float, getattr(rate, "FrameRateLimit", None)),
                    ptz_configuration=getattr(ptz, "token", None),
                )
            )
        if not result:
            raise OnvifProtocolError(self.name, "GetProfiles", "the device has no media profile")
        return result

    def main_and_sub_profiles(self) -> tuple[MediaProfile, MediaProfile | None]:
        """The highest-resolution profile is main; the lowest (if different) is sub, as NVRs do."""
        profiles = [p for p in self.profiles() if (p.encoding or "H264").upper() in ("H264", "H265")] or self.profiles()
        ordered = sorted(profiles, key=lambda p: -p.pixels)
        main = ordered[0]
        sub = ordered[-1] if len(ordered) > 1 and ordered[-1].token != main.token else None
        return main, sub

    def stream_uri(self, profile: str | MediaProfile | None = None, protocol: str = "RTSP") -> str:
        token = self._profile_token(profile)
        r = self._call(
            "media", "GetStreamUri",
            StreamSetup={"Stream": "RTP-Unicast", "Transport": {"Protocol": protocol}}, ProfileToken=token,
        )
        uri = _text(getattr(r, "Uri", None))
        if not uri:
            raise OnvifProtocolError(self.name, "GetStreamUri", f"empty Uri for profile {token}")
        return uri

    def stream_uris(self) -> dict[str, str]:
        """``{"main": uri, "sub": uri}`` (sub falls back to main when there is only one profile)."""
        main, sub = self.main_and_sub_profiles()
        main_uri = self.stream_uri(main)
        return {"main": main_uri, "sub": self.stream_uri(sub) if sub else main_uri}

    def snapshot_uri(self, profile: str | MediaProfile | None = None) -> str:
        token = self._profile_token(profile)
        r = self._call("media", "GetSnapshotUri", ProfileToken=token)
        uri = _text(getattr(r, "Uri", None))
        if not uri:
            raise OnvifProtocolError(self.name, "GetSnapshotUri", f"empty Uri for profile {token}")
        return uri

    def fetch_snapshot(self, profile: str | MediaProfile | None = None) -> bytes:
        """GET the JPEG behind GetSnapshotUri (HTTP digest auth, as cameras require; size-capped)."""
        uri = self.snapshot_uri(profile)
        operation = "GET snapshot"
        auth = requests.auth.HTTPDigestAuth(self.username or "", self._password or "") if self.username else None

        def get() -> bytes:
            r = self._transport.session.get(uri, auth=auth, timeout=(self.timeout, self.timeout), stream=True)
            if r.status_code == 401 and self.username and "basic" in r.headers.get("WWW-Authenticate", "").lower():
                r.close()
                basic = requests.auth.HTTPBasicAuth(self.username, self._password or "")
                r = self._transport.session.get(uri, auth=basic, timeout=(self.timeout, self.timeout), stream=True)
            return _read_capped(r, self.timeout)

        body = call(self.name, operation, get)
        if not body.startswith(b"\xff\xd8"):
            raise OnvifProtocolError(self.name, operation, f"snapshot at {uri} is not a JPEG")
        return body

    def try_snapshot(self) -> bytes:
        """:meth:`fetch_snapshot`, or ``b""`` (logged) when the device cannot give one: an alarm is sent without image rather than lost."""
        try:
            return self.fetch_snapshot()
        except OnvifError as exc:
            log.warning("%s: no snapshot for the alarm (%s)", self.name, exc.detail)
            return b""

    def _profile_token(self, profile: str | MediaProfile | None) -> str:
        if isinstance(profile, MediaProfile):
            return profile.token
        if profile:
            return profile
        return self.main_and_sub_profiles()[0].token

    # ------------------------------------------------------------------ PTZ
    def has_ptz(self) -> bool:
        return self.capabilities().ptz and any(p.ptz_configuration for p in self.profiles())

    def _ptz_profile(self, operation: str, profile: str | None) -> str:
        if not self.capabilities().ptz:
            raise OnvifNotSupported(self.name, operation, "the device has no PTZ service (fixed camera?)")
        if profile:
            return profile
        for p in self.profiles():
            if p.ptz_configuration:
                return p.token
        raise OnvifNotSupported(self.name, operation, "no media profile carries a PTZ configuration")

    def ptz_nodes(self) -> list[PtzNode]:
        if self._ptz_nodes is None:
            self._ptz_profile("GetNodes", None)
            nodes = []
            for n in self._call("ptz", "GetNodes") or []:
                spaces = getattr(n, "SupportedPTZSpaces", None)
                nodes.append(
                    PtzNode(
                        token=n.token, name=_text(getattr(n, "Name", "")),
                        absolute=bool(spaces is not None and getattr(spaces, _ABSOLUTE_PT_SPACE, None)),
                        continuous=bool(spaces is not None and getattr(spaces, "ContinuousPanTiltVelocitySpace", None)),
                        max_presets=int(getattr(n, "MaximumNumberOfPresets", 0) or 0),
                    )
                )
            self._ptz_nodes = nodes
        return self._ptz_nodes

    def continuous_move(
        self, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0, *, timeout_s: float | None = None, profile: str | None = None
    ) -> None:
        """Move at a normalised velocity (-1..1). The camera stops after ``timeout_s`` or on :meth:`stop`."""
        token = self._ptz_profile("ContinuousMove", profile)
        params: dict[str, Any] = {
            "ProfileToken": token,
            "Velocity": {"PanTilt": {"x": _clamp(pan), "y": _clamp(tilt)}, "Zoom": {"x": _clamp(zoom)}},
        }
        if timeout_s is not None:
            params["Timeout"] = dt.timedelta(seconds=timeout_s)
        self._call("ptz", "ContinuousMove", **params)

    def stop(self, *, pan_tilt: bool = True, zoom: bool = True, profile: str | None = None) -> None:
        token = self._ptz_profile("Stop", profile)
        self._call("ptz", "Stop", ProfileToken=token, PanTilt=pan_tilt, Zoom=zoom)

    def absolute_move(self, pan: float, tilt: float, zoom: float | None = None, *, profile: str | None = None) -> None:
        token = self._ptz_profile("AbsoluteMove", profile)
        if not any(n.absolute for n in self.ptz_nodes()):
            raise OnvifNotSupported(self.name, "AbsoluteMove", "the PTZ node has no absolute position space; use continuous moves or presets")
        position: dict[str, Any] = {"PanTilt": {"x": _clamp(pan), "y": _clamp(tilt)}}
        if zoom is not None:
            position["Zoom"] = {"x": min(max(zoom, 0.0), 1.0)}
        self._call("ptz", "AbsoluteMove", ProfileToken=token, Position=position)

    def ptz_status(self, *, profile: str | None = None) -> PtzStatus:
        token = self._ptz_profile("GetStatus", profile)
        r = self._call("ptz", "GetStatus", ProfileToken=token)
        pos = getattr(r, "Position", None)
        move = getattr(r, "MoveStatus", None)
        moving = False
        if move is not None:
            moving = any(str(_text(getattr(move, k, "")) or "").upper() == "MOVING" for k in ("PanTilt", "Zoom"))
        return PtzStatus(position=_vector(pos), moving=moving, utc_time=str(getattr(r, "UtcTime", "") or "") or None)

    def presets(self, *, profile: str | None = None) -> list[PtzPreset]:
        token = self._ptz_profile("GetPresets", profile)
        result = []
        for p in self._call("ptz", "GetPresets", ProfileToken=token) or []:
            result.append(PtzPreset(token=p.token, name=_text(getattr(p, "Name", "")), position=_vector(getattr(p, "PTZPosition", None))))
        return result

    def goto_preset(self, preset_token: str, *, profile: str | None = None) -> None:
        token = self._ptz_profile("GotoPreset", profile)
        self._call("ptz", "GotoPreset", ProfileToken=token, PresetToken=preset_token)

    def set_preset(self, name: str, *, preset_token: str | None = None, profile: str | None = None) -> str:
        """Store the current position as preset ``name`` (overwrite ``preset_token`` if given). Returns its token."""
        token = self._ptz_profile("SetPreset", profile)
        params: dict[str, Any] = {"ProfileToken": token, "PresetName": name}
        if preset_token:
            params["PresetToken"] = preset_token
        r = self._call("ptz", "SetPreset", **params)
        return _text(r)

    # ------------------------------------------------------------------ events
    def pullpoint(self, **kwargs: Any) -> PullPointSubscription:
        from devices.onvif.events import PullPointSubscription

        return PullPointSubscription(self, **kwargs)

    # used by events.py: a service bound to an address the device gave us
    def _bound_service(self, key: str, address: str, timeout: float, plugins: list | None = None) -> Any:
        transport = self._new_transport(timeout)
        return make_service(key, self._rewrite(address), transport, self._wsse(), plugins=plugins)


def _read_capped(response: requests.Response, timeout: float) -> bytes:
    import zeep.exceptions

    if response.status_code != 200:
        response.close()
        raise zeep.exceptions.TransportError(f"HTTP {response.status_code}", status_code=response.status_code)
    return read_body(response, time.monotonic(), timeout, MAX_SNAPSHOT_BYTES)


def _number(kind: type, value: Any) -> Any:
    # Firmwares leave fields empty or write "1920.0"; a bad number is unknown, not fatal.
    try:
        return kind(float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _clamp(value: float) -> float:
    return min(max(float(value), -1.0), 1.0)


def _vector(pos: Any) -> PtzVector | None:
    if pos is None:
        return None
    pt = getattr(pos, "PanTilt", None)
    zoom = getattr(pos, "Zoom", None)
    return PtzVector(
        pan=_number(float, getattr(pt, "x", None)) or 0.0,
        tilt=_number(float, getattr(pt, "y", None)) or 0.0,
        zoom=_number(float, getattr(zoom, "x", None)) or 0.0,
    )

