"""Cameras from the registry (scoped, credential-free) and PTZ control through ONVIF."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from devices import Camera, SecretError
from devices.gb28181 import ChannelMapping, control_headers
from devices.onvif import OnvifAuthError, OnvifCamera, OnvifError, OnvifNotSupported, OnvifTimeout
from web.cameras import CameraDirectory, camera_view
from web.deps import current_user, get_ctx, require
from web.errors import api_error
from web.scope import Permission, Principal

log = logging.getLogger("web.cameras")
router = APIRouter(prefix="/api/cameras", tags=["cameras"])
T = TypeVar("T")


def _directory(request: Request) -> CameraDirectory:
    return get_ctx(request).cameras


def visible_camera(request: Request, user: Principal, camera_id: str) -> Camera:
    camera = _directory(request).get(camera_id)
    if camera is None or not user.covers(camera.jurisdiction):
        raise HTTPException(404, f"camera {camera_id!r} not found in your jurisdiction")
    return camera


@router.get("", summary="Cameras in the caller's subtree (no stream URLs, no credentials)")
def list_cameras(
    request: Request,
    user: Principal = Depends(current_user),
    kind: Literal["fixed", "ptz", "drone", "4g_terminal"] | None = None,
    tag: str | None = Query(None, max_length=64),
    limit: int = Query(1000, ge=1, le=10000),
    offset: int = Query(0, ge=0),
) -> dict:
    directory = _directory(request)
    cameras = directory.in_scope(user.jurisdiction_code)
    if kind:
        cameras = [c for c in cameras if c.kind.value == kind]
    if tag:
        cameras = [c for c in cameras if tag in c.tags]
    page = cameras[offset: offset + limit]
    return {"items": [camera_view(c) for c in page], "count": len(cameras), "registry_error": directory.error}


@router.get("/{camera_id}", summary="One camera")
def get_camera(camera_id: str, request: Request, user: Principal = Depends(current_user)) -> dict:
    return camera_view(visible_camera(request, user, camera_id))


class PtzIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["move", "stop", "goto_preset", "set_preset"]
    pan: float = Field(0.0, ge=-1, le=1)
    tilt: float = Field(0.0, ge=-1, le=1)
    zoom: float = Field(0.0, ge=-1, le=1)
    timeout_s: float = Field(1.0, gt=0, le=10, description="a move stops by itself after this long")
    preset: str | None = Field(None, max_length=64, description="preset token (goto) or name (set)")


_DEVICE_RESPONSES: dict[int | str, dict[str, Any]] = {409: {"description": "not a PTZ camera, no ONVIF endpoint, or the operation is not supported"},
                     502: {"description": "the camera refused the credentials or answered with a fault"},
                     503: {"description": "the camera's ONVIF credentials are not configured"},
                     504: {"description": "the camera did not answer in time"}}


def _device_error(exc: Exception) -> tuple[int, str, str]:
    """(status, code, zh-CN message template) for an ONVIF error; most specific class first."""
    if isinstance(exc, OnvifAuthError):
        return 502, "camera_auth", "摄像机 {camera} 拒绝了 ONVIF 账号，请检查设备密码配置。"
    if isinstance(exc, OnvifNotSupported):
        return 409, "not_supported", "摄像机 {camera} 不支持此云台操作。"
    if isinstance(exc, OnvifTimeout):
        return 504, "camera_timeout", "摄像机 {camera} 未及时响应，请稍后重试。"
    return 502, "camera_error", "摄像机 {camera} 返回错误，操作未完成；详情见服务器日志。"


def _ptz_call(request: Request, camera: Camera, fn: Callable[[OnvifCamera], T]) -> T:
    """``fn(client)`` on the camera's pooled ONVIF client; device errors become 502/504/409 with the reason."""
    if camera.onvif is None:
        raise api_error(409, f"摄像机 {camera.id} 未配置 ONVIF 地址，无法云台控制。", code="no_onvif",
                        detail=f"camera {camera.id} has no ONVIF endpoint; PTZ is not possible")
    try:
        return get_ctx(request).onvif.call(camera, fn)
    except SecretError as exc:  # names the variable to export, never a value
        raise api_error(503, f"摄像机 {camera.id} 的 ONVIF 账号未配置，请联系管理员。", code="not_configured",
                        detail=f"ONVIF credentials of {camera.id} are not configured: {exc}") from exc
    except OnvifError as exc:
        # The device's own words (SOAP fault text) go to the log only: a camera is not a trusted
        # author of what operators read, and its faults can carry internal details.
        log.warning("PTZ on %s failed: %s: %s", camera.id, type(exc).__name__, exc)
        status, code, message = _device_error(exc)
        raise api_error(status, message.format(camera=camera.id), code=code) from exc


def _gb_control(camera_id: str, action: str, payload: dict) -> dict:
    """Ask the GB worker (``xueliang gb28181 run``) to act on a channel; its refusals become 4xx/5xx here."""
    url = f"{ChannelMapping.from_env().media_url.rstrip('/')}/gb28181/{camera_id}/{action}"
    try:
        headers = control_headers()  # XUELIANG_GB28181_MEDIA_TOKEN; the error names the variable, never a value
    except ValueError as exc:
        log.warning("GB28181 control of %s not possible: %s", camera_id, exc)
        raise api_error(503, "国标服务令牌未配置，请联系管理员。", code="not_configured", detail=str(exc)) from exc
    try:
        r = httpx.post(url, json=payload, headers=headers, timeout=12.0)
    except httpx.HTTPError as exc:
        log.warning("GB28181 worker unreachable for %s on %s: %s", action, camera_id, exc)
        raise api_error(503, f"国标服务未运行或不可达，无法控制 {camera_id}。", code="gb28181_unavailable",
                        detail=f"GB28181 worker not reachable: {type(exc).__name__}") from exc
    if r.status_code == 200:
        return {k: v for k, v in r.json().items() if k in ("preset", "items")}
    status = {400: 422, 409: 409, 504: 504}.get(r.status_code, 502)
    raise api_error(status, f"国标设备 {camera_id} 未执行操作：{r.text[:200]}", code="gb28181_refused",
                    detail=f"GB28181 worker answered {r.status_code}")


@router.post("/{camera_id}/ptz", responses=_DEVICE_RESPONSES, summary="Pan/tilt/zoom: move (stops after timeout_s), stop, go to or set a preset")
def ptz(camera_id: str, body: PtzIn, request: Request, user: Principal = Depends(require(Permission.CONTROL_CAMERAS))) -> dict:
    camera = visible_camera(request, user, camera_id)
    if camera.kind.value != "ptz":
        raise HTTPException(409, f"camera {camera_id} is a {camera.kind.value} camera, not PTZ")
    if body.action in ("goto_preset", "set_preset") and not body.preset:
        raise HTTPException(422, {"field": "body.preset", "message": f"{body.action} needs a preset"})
    if "gb28181" in camera.tags:  # a GB/T 28181 channel: the GB worker sends DeviceControl PTZCmd
        result = _gb_control(camera.id, "ptz", body.model_dump())
        log.info("%s: PTZ %s on %s (GB28181)", user.username, body.action, camera_id)
        return {"ok": True, "camera_id": camera_id, "action": body.action, **result}

    preset = body.preset or ""  # checked above for the preset actions

    def run(device: OnvifCamera) -> dict[str, str]:
        if body.action == "move":
            device.continuous_move(body.pan, body.tilt, body.zoom, timeout_s=body.timeout_s)
        elif body.action == "stop":
            device.stop()
        elif body.action == "goto_preset":
            device.goto_preset(preset)
        else:
            return {"preset": device.set_preset(preset)}
        return {}

    result = _ptz_call(request, camera, run)
    log.info("%s: PTZ %s on %s", user.username, body.action, camera_id)
    return {"ok": True, "camera_id": camera_id, "action": body.action, **result}


@router.get("/{camera_id}/records", summary="GB/T 28181 channel: recordings kept on the device (RecordInfo)")
def device_records(camera_id: str, request: Request, user: Principal = Depends(current_user),
                   start: str | None = Query(None, max_length=19, description="local time yyyy-MM-ddTHH:mm:ss (default: today 00:00)"),
                   end: str | None = Query(None, max_length=19, description="local time (default: now)")) -> dict:
    camera = visible_camera(request, user, camera_id)  # scope first: another township's id is simply not found
    now = dt.datetime.now()
    start = start or now.strftime("%Y-%m-%dT00:00:00")
    end = end or now.strftime("%Y-%m-%dT%H:%M:%S")
    for name, value in (("start", start), ("end", end)):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", value):
            raise HTTPException(422, {"field": f"query.{name}", "message": "use yyyy-MM-ddTHH:mm:ss (local time)"})
    if "gb28181" not in camera.tags:
        raise api_error(409, f"摄像机 {camera_id} 不是国标通道，设备录像查询不可用。", code="not_gb28181",
                        detail=f"camera {camera_id} is not a GB/T 28181 channel")
    items = _gb_control(camera.id, "records", {"start": start, "end": end}).get("items", [])
    keep = ("StartTime", "EndTime", "Type", "Name", "FileSize", "Secrecy")
    return {"items": [{k: r[k] for k in keep if k in r} for r in items]}


@router.get("/{camera_id}/ptz/presets", responses=_DEVICE_RESPONSES, summary="The PTZ camera's presets")
def ptz_presets(camera_id: str, request: Request, user: Principal = Depends(current_user)) -> dict:
    camera = visible_camera(request, user, camera_id)
    presets = _ptz_call(request, camera, lambda device: device.presets())
    return {"items": [{"token": p.token, "name": p.name} for p in presets]}
