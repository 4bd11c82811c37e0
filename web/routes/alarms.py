"""Alarm handling: rule mutes (标记误报 / 屏蔽) and arming schedules (布防时间) per camera rule.

Mutes and schedule overrides are stored by command (``command.alarms``) and honoured by the
alert intake; every change is audited. Cameras and their rules come from the registry
(cameras.yaml); an override replaces a rule's YAML ``schedule`` until it is deleted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from command import AlarmError, AlarmMute, alarms
from devices import Camera, Rule, TimeWindow, TripwireRule
from web.deps import IdPath, current_user, get_ctx, require
from web.errors import ApiError, api_error
from web.routes.auth import client_ip
from web.routes.cameras import visible_camera
from web.scope import Permission, Principal
from web.workflow import actor_for

router = APIRouter(prefix="/api", tags=["alarm handling"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MuteIn(_Body):
    camera_id: str = Field(min_length=1, max_length=128)
    rule_id: str = Field(min_length=1, max_length=128)
    minutes: int = Field(ge=1, le=alarms.MAX_MUTE_MINUTES)
    reason: str = Field("", max_length=2000)


class ScheduleIn(_Body):
    enabled: bool = True
    windows: list[TimeWindow] = Field(default_factory=list, max_length=20,
                                      description="{start: 'HH:MM', end: 'HH:MM' (before start = spans midnight), "
                                                  "days: [mon..sun]} in the centre's local time; empty = armed all day")


def _alarm_error(exc: AlarmError) -> ApiError:
    return api_error(422, str(exc), field=f"body.{exc.field}" if exc.field else None)


def _rule(camera: Camera, rule_id: str) -> Rule:
    rule = next((r for r in camera.rules if r.id == rule_id), None)
    if rule is None:
        raise api_error(404, f"摄像机 {camera.id} 没有规则 {rule_id}", detail=f"no rule {rule_id!r} on camera {camera.id!r}")
    return rule


def _yaml_schedule(rule: Rule) -> dict[str, Any]:
    return {"enabled": bool(rule.enabled),
            "windows": [{"start": w.start, "end": w.end, "days": list(w.days)} for w in rule.schedule or []]}


@router.get("/alarm-mutes", summary="Active rule mutes in the caller's jurisdiction",
            description="Items: {id, camera_id, rule_id, kind (false_alarm|mute), jurisdiction_code, reason, created_by, "
                        "created_at, until, lifted_at, incident_id, suppressed (alerts held back so far)}.")
def list_mutes(request: Request, user: Principal = Depends(current_user)) -> dict:
    with get_ctx(request).database.session() as session:
        items = [alarms.mute_dict(m) for m in alarms.active_mutes(session, user.jurisdiction_code)]
    return {"items": items, "count": len(items)}


@router.post("/alarm-mutes", summary="屏蔽: mute one rule of a camera for `minutes` (audited)")
def create_mute(body: MuteIn, request: Request, user: Principal = Depends(require(Permission.HANDLE_INCIDENTS))) -> dict:
    camera = visible_camera(request, user, body.camera_id)
    _rule(camera, body.rule_id)
    with get_ctx(request).database.session() as session:
        try:
            mute = alarms.mute_rule(session, actor_for(user, client_ip(request)), camera_id=camera.id,
                                    rule_id=body.rule_id, jurisdiction_code=str(camera.jurisdiction),
                                    minutes=body.minutes, reason=body.reason, kind="mute")
        except AlarmError as exc:
            raise _alarm_error(exc) from exc
        return alarms.mute_dict(mute)


@router.delete("/alarm-mutes/{mute_id}", summary="Lift a mute now (audited)")
def lift_mute(mute_id: IdPath, request: Request, user: Principal = Depends(require(Permission.HANDLE_INCIDENTS))) -> dict:
    with get_ctx(request).database.session() as session:
        try:
            mute: AlarmMute = alarms.lift_mute(session, mute_id, actor_for(user, client_ip(request)))
        except LookupError:
            raise api_error(404, "未找到该屏蔽，或不在您的管辖范围内。", detail=f"mute {mute_id} not found") from None
        return alarms.mute_dict(mute)


@router.get("/cameras/{camera_id}/rules", summary="A camera's rules with their arming schedule (布防时间) and mutes",
            description="Items: {rule_id, kind, zone, yaml: {enabled, windows}, override: {enabled, windows, updated_by, "
                        "updated_at} | null, effective: {enabled, windows, source: yaml|override}, mute: <mute> | null}. "
                        "Windows are {start: 'HH:MM', end: 'HH:MM', days: [mon..sun]} in the centre's local time.")
def camera_rules(camera_id: str, request: Request, user: Principal = Depends(current_user)) -> dict:
    camera = visible_camera(request, user, camera_id)
    with get_ctx(request).database.session() as session:
        overrides = alarms.schedule_overrides(session, {camera.id})
        mutes = {m.rule_id: m for m in alarms.active_mutes(session, str(camera.jurisdiction)) if m.camera_id == camera.id}
        items = []
        for rule in camera.rules:
            override = alarms.schedule_dict(overrides.get((camera.id, rule.id)))
            yaml = _yaml_schedule(rule)
            effective = {**(override or yaml), "source": "override" if override else "yaml"}
            effective = {k: effective[k] for k in ("enabled", "windows", "source")}
            mute = mutes.get(rule.id)
            zone = None if isinstance(rule, TripwireRule) else rule.zone  # a tripwire has a line, not a zone
            items.append({"rule_id": rule.id, "kind": rule.kind.value, "zone": zone,
                          "yaml": yaml, "override": override, "effective": effective,
                          "mute": alarms.mute_dict(mute) if mute else None})
    return {"camera_id": camera.id, "camera_name": camera.name, "items": items}


@router.put("/cameras/{camera_id}/rules/{rule_id}/schedule", summary="Set a rule's arming schedule (overrides cameras.yaml; audited)")
def put_schedule(camera_id: str, rule_id: str, body: ScheduleIn, request: Request,
                 user: Principal = Depends(require(Permission.HANDLE_INCIDENTS))) -> dict:
    camera = visible_camera(request, user, camera_id)
    _rule(camera, rule_id)
    with get_ctx(request).database.session() as session:
        try:
            row = alarms.set_rule_schedule(session, actor_for(user, client_ip(request)), camera_id=camera.id,
                                           rule_id=rule_id, jurisdiction_code=str(camera.jurisdiction),
                                           enabled=body.enabled, windows=[w.model_dump() for w in body.windows])
        except AlarmError as exc:
            raise _alarm_error(exc) from exc
        return {"camera_id": camera.id, "rule_id": rule_id, "override": alarms.schedule_dict(row)}


@router.delete("/cameras/{camera_id}/rules/{rule_id}/schedule", summary="Drop the override: back to cameras.yaml (audited)")
def delete_schedule(camera_id: str, rule_id: str, request: Request,
                    user: Principal = Depends(require(Permission.HANDLE_INCIDENTS))) -> dict:
    camera = visible_camera(request, user, camera_id)
    _rule(camera, rule_id)
    with get_ctx(request).database.session() as session:
        try:
            removed = alarms.clear_rule_schedule(session, actor_for(user, client_ip(request)), camera_id=camera.id,
                                                 rule_id=rule_id)
        except AlarmError as exc:
            raise _alarm_error(exc) from exc
    return {"camera_id": camera.id, "rule_id": rule_id, "override": None, "removed": removed}
