"""交接班: the duty roster of the caller's centre and the handover between shifts.

The caller's centre is their own jurisdiction (the county centre, a township centre …).
Roster and handovers outside the caller's subtree answer 404; every change is audited by
command (``duty_shift_added``, ``handover_given``, ``handover_acknowledged``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from command import HandoverError, User, handover

from web.deps import current_user, get_ctx, require
from web.errors import ApiError
from web.scope import Permission, Principal
from web.workflow import actor_for

router = APIRouter(prefix="/api/handover", tags=["handover"])


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    centre_code: str | None = Field(None, pattern=r"^\d{6}(\d{3}){0,3}$", description="default: the caller's centre")


class HandoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=5000)
    to_user: str | None = Field(None, max_length=64, description="default: the next on the roster")
    item_notes: dict[int, str] = Field(default_factory=dict, description="incident id → note")


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=5000)


def _refused(exc: HandoverError) -> ApiError:
    errors = [{"field": f"body.{exc.field}", "message": exc.message, "type": exc.code}] if exc.field else None
    return ApiError(exc.status, exc.code, exc.message, errors=errors)


def _names(session: Session, usernames: set[str]) -> dict[str, str]:
    if not usernames:
        return {}
    rows = session.execute(select(User.username, User.display_name).where(User.username.in_(usernames)))
    return {u: (d or u) for u, d in rows}


def _with_names(session: Session, data: dict[str, Any], *keys: str) -> dict[str, Any]:
    names = _names(session, {data[k] for k in keys if data.get(k)})
    for key in keys:
        data[f"{key}_name"] = names.get(data[key], data[key]) if data.get(key) else None
    return data


@router.get("/roster", summary="Duty roster of the caller's centre (or a centre below it)")
def get_roster(request: Request, user: Principal = Depends(current_user),
               centre_code: str | None = Query(None, pattern=r"^\d{6}(\d{3}){0,3}$"),
               days: int = Query(2, ge=1, le=31)) -> dict:
    centre = centre_code or user.jurisdiction_code
    if not user.covers(centre):
        raise ApiError(404, "not_found", "该中心不在您的管辖范围内")
    now = datetime.now(UTC)
    with get_ctx(request).database.session() as session:
        shifts = handover.roster(session, centre, now - timedelta(hours=12), now + timedelta(days=days))
        current = handover.on_duty(session, centre, now)
        items = [_with_names(session, handover.shift_dict(s), "username") for s in shifts]
    return {"centre_code": centre, "items": items, "on_duty": current.username if current else None}


@router.post("/roster", status_code=201, summary="Put an operator of the centre on the roster (audited)")
def add_shift(body: ShiftIn, request: Request, user: Principal = Depends(require(Permission.HANDLE_INCIDENTS))) -> dict:
    with get_ctx(request).database.session() as session:
        try:
            shift = handover.add_shift(session, actor_for(user, request.client.host if request.client else None),
                                       body.centre_code or user.jurisdiction_code, body.username,
                                       body.starts_at, body.ends_at)
        except HandoverError as exc:
            raise _refused(exc) from exc
        return _with_names(session, handover.shift_dict(shift), "username")


@router.get("/draft", summary="What a handover given now would list: open and overdue cases of the caller's centre")
def get_draft(request: Request, user: Principal = Depends(current_user)) -> dict:
    now = datetime.now(UTC)
    with get_ctx(request).database.session() as session:
        current = handover.draft(session, user.jurisdiction_code, now=now)
        following = handover.next_on_duty(session, user.jurisdiction_code, now, besides=user.username)
        names = _names(session, {following.username} if following else set())
    return {
        "centre_code": current.centre_code, "open_total": current.open_total, "overdue_count": current.overdue_count,
        "next_user": following.username if following else None,
        "next_user_name": names.get(following.username) if following else None,
        "items": [{"incident_id": i.incident_id, "title": i.title, "status": i.status, "colour": i.colour,
                   "overdue": i.overdue, "supervised": i.supervised,
                   "resolve_deadline": i.resolve_deadline.isoformat() if i.resolve_deadline else None}
                  for i in current.open_items],
    }


@router.post("", status_code=201, summary="Give the handover (outgoing operator; audited)")
def give_handover(body: HandoverIn, request: Request, user: Principal = Depends(require(Permission.HANDLE_INCIDENTS))) -> dict:
    with get_ctx(request).database.session() as session:
        try:
            record = handover.give(session, actor_for(user, request.client.host if request.client else None),
                                   note=body.note, to_user=body.to_user or None, item_notes=body.item_notes)
        except HandoverError as exc:
            raise _refused(exc) from exc
        return _with_names(session, handover.handover_dict(record), "from_user", "to_user", "acknowledged_by")


@router.get("", summary="Handovers in scope, newest first (pending_for_me: those I may acknowledge)")
def list_handovers(request: Request, user: Principal = Depends(current_user), pending_for_me: bool = False,
                   limit: int = Query(20, ge=1, le=200)) -> dict:
    with get_ctx(request).database.session() as session:
        rows = handover.list_handovers(session, user.jurisdiction_code,
                                       pending_for=user.username if pending_for_me else None, limit=limit)
        items = [_with_names(session, handover.handover_dict(r), "from_user", "to_user", "acknowledged_by") for r in rows]
    return {"items": items, "count": len(items)}


@router.get("/{handover_id}", summary="One handover with its cases")
def get_handover(handover_id: int, request: Request, user: Principal = Depends(current_user)) -> dict:
    with get_ctx(request).database.session() as session:
        try:
            record = handover.get(session, handover_id, user.jurisdiction_code)
        except HandoverError as exc:
            raise _refused(exc) from exc
        return _with_names(session, handover.handover_dict(record), "from_user", "to_user", "acknowledged_by")


@router.post("/{handover_id}/acknowledge", summary="The incoming operator confirms the handover (audited)")
def acknowledge_handover(handover_id: int, body: AckIn, request: Request,
                         user: Principal = Depends(require(Permission.HANDLE_INCIDENTS))) -> dict:
    with get_ctx(request).database.session() as session:
        try:
            record = handover.acknowledge(session, actor_for(user, request.client.host if request.client else None),
                                          handover_id, note=body.note)
        except HandoverError as exc:
            raise _refused(exc) from exc
        return _with_names(session, handover.handover_dict(record), "from_user", "to_user", "acknowledged_by")
