"""Incident actions: each maps onto one step of command's state machine.

``POST /api/incidents/{id}/{action}`` with a typed body. A transition the state
machine refuses answers 409 with its reason; an incident outside the caller's
scope answers 404. Every success publishes ``incident.updated`` on ``xl:events``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from fastapi.responses import FileResponse
from sqlalchemy import ScalarResult, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from command import (
    CONFLICT_REASON,
    Actor,
    AlarmError,
    AuditEvent,
    NotFound,
    TransitionRefused,
    acknowledge,
    alarms,
    arrive,
    audit,
    classify,
    close,
    conflict,
    dispatch,
    escalate,
    evaluate,
    get_incident,
    incident_payload,
    mark_false_alarm,
    relay_after_commit,
    reject,
    reopen,
    resolve,
    revisit,
    set_colour,
    stage_events,
    store_photo,
)

from web.deps import BodyId, IdPath, can_see_incident, current_user, get_ctx, responders_in_scope
from web.errors import api_error
from web.routes.auth import client_ip
from web.routes.incidents import load_visible
from web.scope import Permission, Principal
from web.workflow import actor_for

log = logging.getLogger("web.actions")
router = APIRouter(prefix="/api/incidents", tags=["incident actions"])

Colour = Literal["blue", "yellow", "orange", "red"]
Severity = Literal["low", "normal", "high", "critical"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The incident ``version`` the operator saw (every incident payload carries it). When given,
    # an incident changed since then answers 409 "已被他人处理" instead of acting on what the
    # operator did not see; two concurrent submits give one effect either way (command.lifecycle.claim).
    version: int | None = Field(None, ge=0)


class ClassifyIn(_Body):
    category_code: str = Field(min_length=1, max_length=64)
    severity: str | None = Field(None, max_length=16)
    colour: Colour | None = None


class DispatchIn(_Body):
    responder_ids: list[BodyId] = Field(default_factory=list, max_length=20)
    departments: list[str] = Field(default_factory=list, max_length=10)
    auto: bool = False
    note: str = Field("", max_length=2000)


class EmptyIn(_Body):
    pass


class ArriveIn(_Body):
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class ReasonIn(_Body):
    reason: str = Field(min_length=1, max_length=2000)


class ResolveIn(_Body):
    result: str = Field(min_length=1, max_length=4000)


class EvaluateIn(_Body):
    satisfaction: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)


class RevisitIn(_Body):
    outcome: str = Field(min_length=1, max_length=2000)
    satisfied: bool | None = None


class ColourIn(_Body):
    colour: Colour
    reason: str = Field(min_length=1, max_length=2000)


class FalseAlarmIn(_Body):
    reason: str = Field("", max_length=2000)
    # 标记误报 and mute the rule on this camera for this long (minutes), so it stays quiet.
    mute_minutes: int | None = Field(None, ge=1, le=43200)


class MuteIn(_Body):
    minutes: int = Field(ge=1, le=43200)
    reason: str = Field("", max_length=2000)


def refused(exc: TransitionRefused, version: int | None = None) -> Exception:
    """HTTP 409 for a refused action: ``message`` "已被他人处理" when someone else acted first (detail.kind
    ``conflict``), else the state machine's refusal; ``detail`` = {reason, action, status, kind[, version]}."""
    detail = {"reason": exc.reason, **exc.to_dict(), **({"version": version} if version is not None else {})}
    message = CONFLICT_REASON if exc.kind == "conflict" else (
        exc.reason if not exc.reason.isascii() else "当前状态不允许此操作。")
    return api_error(409, message, code="conflict", detail=detail)


def _run(request: Request, user: Principal, incident_id: int, action: str, call: Callable[[Session, Actor], object],
         expected_version: int | None = None) -> dict[str, Any]:
    """Check visibility, run ``call(session, actor)`` in one transaction, publish the update."""
    ctx = get_ctx(request)
    actor = actor_for(user, client_ip(request))
    with ctx.database.session() as session:
        try:
            incident = get_incident(session, incident_id)
        except NotFound:
            raise HTTPException(404, f"incident {incident_id} not found") from None
        assigned = [a.responder_id for a in incident.assignments
                    if a.status in ("pending", "acknowledged") and a.responder_id is not None]
        if not can_see_incident(user, incident.jurisdiction_code, assigned):
            raise HTTPException(404, f"incident {incident_id} not found")
        if expected_version is not None and expected_version != incident.version:
            raise refused(conflict(action, incident.status), version=incident.version)
        try:
            call(session, actor)
        except TransitionRefused as exc:
            session.rollback()
            raise refused(exc) from exc
        except AlarmError as exc:
            session.rollback()
            raise api_error(422, str(exc), field=f"body.{exc.field}" if exc.field else None) from exc
        session.flush()
        payload = incident_payload(session, incident)
        staged = stage_events(session, [("incident.updated", payload)])  # committed with the change (outbox)
    # Pushed after the commit, so a client that re-fetches on the event sees the change.
    relay_after_commit(ctx.database, ctx.redis_sync, staged)
    log.info("%s: %s incident %s -> %s", user.username, action, incident_id, payload["status"])
    return payload


Body = TypeVar("Body", bound=_Body)


def _route(action: str, body_model: type[Body], summary: str, call_for: Callable[[Session, Actor, int, Body], object]) -> None:
    def handler(incident_id: int, body: _Body, request: Request, user: Principal = Depends(current_user)) -> dict[str, Any]:
        assert isinstance(body, body_model)  # FastAPI validated it as this action's model (annotations below)
        if isinstance(body, DispatchIn):  # every responder id passes the caller's scope
            responders_in_scope(get_ctx(request), user, body.responder_ids)
        return _run(request, user, incident_id, action, lambda session, actor: call_for(session, actor, incident_id, body),
                    body.version)

    handler.__name__ = f"incident_{action}"
    # Real objects, not the postponed strings: FastAPI must see this action's body model.
    handler.__annotations__ = {"incident_id": IdPath, "body": body_model, "request": Request, "user": Principal, "return": dict}
    router.add_api_route(
        f"/{{incident_id}}/{action}",
        handler,
        methods=["POST"],
        summary=summary,
        responses={404: {"description": "no such incident in your jurisdiction"},
                   409: {"description": "the state machine refuses this action now; `detail.reason` says why"}},
    )


_route("classify", ClassifyIn, "分类登记: set category, severity and colour",
       lambda s, a, i, b: classify(s, i, a, category_code=b.category_code, severity=b.severity, colour=b.colour))
_route("dispatch", DispatchIn, "分流转办: assign responders and/or departments (or auto)",
       lambda s, a, i, b: dispatch(s, i, a, responder_ids=b.responder_ids, departments=b.departments,
                                             auto=b.auto, note=b.note))
_route("acknowledge", EmptyIn, "签收: the responder accepts", lambda s, a, i, b: acknowledge(s, i, a))
_route("arrive", ArriveIn, "到场: the responder is on scene", lambda s, a, i, b: arrive(s, i, a, lat=b.lat, lon=b.lon))
_route("reject", ReasonIn, "退回: hand back to the dispatcher", lambda s, a, i, b: reject(s, i, a, reason=b.reason))
_route("resolve", ResolveIn, "办结: record the handling result", lambda s, a, i, b: resolve(s, i, a, result=b.result))
_route("evaluate", EvaluateIn, "群众评价: the citizen's rating",
       lambda s, a, i, b: evaluate(s, i, a, satisfaction=b.satisfaction, comment=b.comment))
_route("revisit", RevisitIn, "回访: follow-up", lambda s, a, i, b: revisit(s, i, a, outcome=b.outcome, satisfied=b.satisfied))
_route("close", EmptyIn, "结案: close", lambda s, a, i, b: close(s, i, a))
_route("false_alarm", FalseAlarmIn, "误报: mark as false alarm (optionally muting its rule for `mute_minutes`)",
       lambda s, a, i, b: mark_false_alarm(s, i, a, reason=b.reason, mute_minutes=b.mute_minutes))


def _mute(session: Session, actor: Actor, incident_id: int, body: MuteIn) -> None:
    if actor.role not in ("admin", "county_operator", "township_operator", "village_operator"):
        raise TransitionRefused("mute", None, f"role {actor.role!r} may not mute alarms", "role")
    incident = get_incident(session, incident_id)
    alarms.mute_incident_rule(session, incident, actor, minutes=body.minutes, reason=body.reason, kind="mute")


_route("mute", MuteIn, "屏蔽: mute the rule that raised this video incident on its camera for `minutes` (audited)", _mute)
_route("reopen", ReasonIn, "重新打开: reopen", lambda s, a, i, b: reopen(s, i, a, reason=b.reason))
_route("escalate", ReasonIn, "上报上级: hand to the next centre up", lambda s, a, i, b: escalate(s, i, a, reason=b.reason))
_route("colour", ColourIn, "Change the four-colour risk grade (audited)",
       lambda s, a, i, b: set_colour(s, i, a, colour=b.colour, reason=b.reason))


MAX_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = {b"\xff\xd8\xff": ".jpg", b"\x89PNG": ".png"}


@router.post("/{incident_id}/photos", summary="Attach a scene photo (JPEG/PNG) with an optional note")
async def add_photo(
    incident_id: IdPath,
    request: Request,
    photo: UploadFile = File(...),
    note: str = Form("", max_length=2000),
    user: Principal = Depends(current_user),
) -> dict:
    if not (user.can(Permission.HANDLE_INCIDENTS) or user.can(Permission.RESPOND)):
        raise HTTPException(403, f"role {user.role.value} may not add photos")
    data = await photo.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise HTTPException(413, f"photo larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    suffix = next((ext for magic, ext in PHOTO_TYPES.items() if data.startswith(magic)), None)
    if suffix is None:
        raise HTTPException(422, {"field": "photo", "message": "photo must be a JPEG or PNG image"})
    ctx = get_ctx(request)

    def attach(session: Session, actor: Actor) -> None:
        index = sum(1 for e in _photo_events(session, incident_id)) + 1
        path = store_photo(ctx.settings.media_dir, data, suffix)
        incident = get_incident(session, incident_id)
        audit(session, actor, "photo", incident=incident, from_status=incident.status, to_status=incident.status,
              detail={"path": path, "index": index, "note": note})

    return await run_in_threadpool(_run, request, user, incident_id, "photo", attach)


def _photo_events(session: Session, incident_id: int) -> ScalarResult[AuditEvent]:
    return session.scalars(select(AuditEvent).where(AuditEvent.incident_id == incident_id, AuditEvent.action == "photo"))


@router.get("/{incident_id}/photos/{index}", summary="A scene photo attached to the incident",
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}})
def get_photo(incident_id: IdPath, index: IdPath, request: Request, user: Principal = Depends(current_user)) -> FileResponse:
    load_visible(request, user, incident_id)
    ctx = get_ctx(request)
    with ctx.database.session() as session:
        stored = next((e.detail.get("path") for e in _photo_events(session, incident_id) if e.detail.get("index") == index), None)
    path = ctx.store.resolve_media(stored) if stored else None
    if path is None:
        raise HTTPException(404, f"incident {incident_id} has no photo {index}")
    media_type = "image/png" if path.suffix == ".png" else "image/jpeg"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})
