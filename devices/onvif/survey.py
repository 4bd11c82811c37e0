"""Survey discovered devices (identity, streams, PTZ) and turn them into registry entries.

Used by ``xueliang discover``. Credentials come from the environment; entries
written for ``configs/cameras.yaml`` carry only ``${ENV}`` references.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import yaml

from devices.onvif.client import OnvifCamera
from devices.onvif.discovery import DiscoveredDevice
from devices.onvif.errors import (
    OnvifAuthError,
    OnvifConnectionError,
    OnvifError,
    OnvifProtocolError,
    OnvifTimeout,
)
from devices.onvif.models import DeviceInfo

log = logging.getLogger(__name__)

# Status names match the device-health vocabulary (online, offline, auth_failed, ...).
_STATUS = ((OnvifAuthError, "auth_failed"), (OnvifConnectionError, "offline"), (OnvifTimeout, "offline"), (OnvifProtocolError, "protocol_error"))


@dataclass
class SurveyResult:
    device_url: str
    endpoint: str = ""
    scope_name: str | None = None
    scope_location: str | None = None
    info: DeviceInfo | None = None
    streams: dict[str, str] = field(default_factory=dict)
    snapshot_uri: str | None = None
    ptz: bool | None = None
    events: bool | None = None
    clock_offset_s: float | None = None
    status: str = "online"
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["info"] = asdict(self.info) if self.info else None
        return data


def survey_device(
    device: DiscoveredDevice | str, username: str | None, password: str | None, *, timeout: float = 5.0
) -> SurveyResult:
    """Ask one device who it is, what it streams and whether it has PTZ. Never raises for device faults."""
    if isinstance(device, DiscoveredDevice):
        url = device.best_xaddr() or ""
        result = SurveyResult(device_url=url, endpoint=device.endpoint, scope_name=device.name, scope_location=device.scope("location"))
    else:
        url = device
        result = SurveyResult(device_url=url)
    if not url:
        result.status, result.error = "protocol_error", "ProbeMatch carried no XAddrs"
        return result
    cam = OnvifCamera(url, username, password, timeout=timeout)
    try:
        caps = cam.connect()
        result.clock_offset_s = cam.clock.offset.total_seconds()
        result.events = caps.events
        result.info = cam.device_information()
        result.streams = cam.stream_uris()
        result.ptz = cam.has_ptz()
        try:
            result.snapshot_uri = cam.snapshot_uri()
        except OnvifError:
            result.snapshot_uri = None  # optional in Profile S
    except OnvifError as exc:
        result.status = next((name for cls, name in _STATUS if isinstance(exc, cls)), "error")
        result.error = str(exc)
    except Exception as exc:  # noqa: BLE001 (an odd device must not abort the survey of the others)
        log.warning("survey of %s failed unexpectedly", url, exc_info=True)
        result.status, result.error = "protocol_error", f"unexpected reply ({type(exc).__name__}: {exc})"
    finally:
        cam.close()
    return result


def survey_all(
    devices: list[DiscoveredDevice | str], username: str | None, password: str | None, *, timeout: float = 5.0, workers: int = 8
) -> list[SurveyResult]:
    """Survey in parallel (a dead device costs its timeout, not everyone's)."""
    if not devices:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(devices))) as pool:
        return list(pool.map(lambda d: survey_device(d, username, password, timeout=timeout), devices))


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    return slug[:48] or "device"


def camera_id(result: SurveyResult, prefix: str = "onvif") -> str:
    if result.info and result.info.serial_number:
        return f"{prefix}-{_slug(result.info.serial_number)}"
    tail = result.endpoint.rsplit(":", 1)[-1].replace("-", "")[-12:] if result.endpoint else _slug(urlsplit(result.device_url).netloc)
    return f"{prefix}-{_slug(tail)}"


def with_credential_refs(uri: str, username: str | None, password_env: str) -> str:
    """``rtsp://host/x`` → ``rtsp://user:${VAR}@host/x`` (existing credentials in the URI are replaced)."""
    if not username:
        return uri
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(username, safe='')}:${{{password_env}}}@{host}"))


def registry_entry(
    result: SurveyResult,
    *,
    jurisdiction: str,
    lat: float,
    lon: float,
    username: str | None,
    password_env: str,
    id_prefix: str = "onvif",
) -> dict[str, Any]:
    """One ``cameras:`` item in the registry schema (docs/ARCHITECTURE.md); the password is a ``${ENV}`` reference."""
    info = result.info
    name = result.scope_name or (f"{info.manufacturer} {info.model} {info.serial_number}".strip() if info else result.device_url)
    entry: dict[str, Any] = {
        "id": camera_id(result, id_prefix),
        "name": name[:200],
        "jurisdiction": jurisdiction,
        "position": {"lat": lat, "lon": lon},
        "kind": "ptz" if result.ptz else "fixed",
        "streams": {
            "main": with_credential_refs(result.streams["main"], username, password_env),
            "sub": with_credential_refs(result.streams.get("sub") or result.streams["main"], username, password_env),
        },
        "onvif": {"url": result.device_url, "username": username or "admin", "password": f"${{{password_env}}}"},
        "analysis": {"mode": "patrol", "fps": 1},
        # Position is the survey site, not the camera: operators must place it on the map.
        "tags": ["discovered", "needs-survey"],
    }
    if info:
        entry["vendor"] = info.manufacturer or None
        entry["model"] = info.model or None
    return entry


def registry_yaml(entries: list[dict[str, Any]], *, comment: str = "") -> str:
    header = (
        "# Written by `xueliang discover`. Review names, positions and jurisdictions, then merge into\n"
        "# configs/cameras.yaml. Passwords are ${ENV} references: export them before connecting.\n"
    )
    if comment:
        header += "".join(f"# {line}\n" for line in comment.splitlines())
    body = yaml.safe_dump({"version": 1, "cameras": entries}, allow_unicode=True, sort_keys=False, default_flow_style=False)
    return header + body
