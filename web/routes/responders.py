"""Responders: the scoped roster, dispatch recommendations, a responder's own tasks and position reports."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from command import Assignment, Incident, publish_event
from command import ASSIGNMENT_LABELS, recommend_responders, responder_history, update_responder_position
from command import get_incident, incident_payload

from web.deps import IdPath, current_user, get_ctx, not_found, require, visible_responder
from web.routes.incidents import load_visible
from web.scope import Permission, Principal, Role

router = APIRouter(prefix="/api", tags=["responders"])
MAX_RECOMMENDATIONS = 200  # ranked before the scope filter, so in-scope units further down still appear
MOBILE_NEARBY_M = 3000.0  # drones / 4G terminals listed beside the recommendations (mobile_units)


@router.get("/responders", summary="Responders in the caller's subtree with status and last position")
def list_responders(request: Request, user: Principal = Depends(current_user)) -> dict:
    items = get_ctx(request).store.list_responders(user.jurisdiction_code)
    return {"items": items, "count": len(items)}


def _visible_responder(request: Request, user: Principal, responder_id: int) -> dict:
    return visible_responder(get_ctx(request), user, responder_id)


@router.get("/responders/{responder_id}", summary="One responder")
def get_responder(responder_id: IdPath, request: Request, user: Principal = Depends(current_user)) -> dict:
    return _visible_responder(request, user, responder_id)


class PositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    status: str | None = Field(None, pattern="^(available|busy|offline)$")


@router.post("/responders/{responder_id}/position", summary="Report a responder's position (the phone, or an operator)")
def report_position(responder_id: IdPath, body: PositionIn, request: Request, user: Principal = Depends(current_user)) -> dict:
    _visible_responder(request, user, responder_id)
    if user.responder_id != responder_id and not user.can(Permission.HANDLE_INCIDENTS):
        raise HTTPException(403, "only the responder themself or an operator may report this position")
    ctx = get_ctx(request)
    with ctx.database.session() as session:
        update_responder_position(session, responder_id, body.lat, body.lon, status=body.status)
    updated = ctx.store.get_responder(responder_id)
    if updated is None:  # removed in between
        raise not_found(f"处置力量 {responder_id}")
    publish_event(ctx.redis_sync, "responder.position", updated["jurisdiction_code"], updated)
    return updated


@router.get("/incidents/{incident_id}/recommendations", summary="Nearest suitable responders for dispatch",
            description="items: ranked responders; departments; mobile_units: drones and 4G terminals in scope whose "
                        "latest position (younger than 2 min) is within 3 km of the incident, nearest first.")
def recommendations(
    incident_id: IdPath,
    request: Request,
    user: Principal = Depends(require(Permission.HANDLE_INCIDENTS)),
    limit: int = Query(5, ge=1, le=20),
) -> dict:
    load_visible(request, user, incident_id)
    ctx = get_ctx(request)
    with ctx.database.session() as session:
        incident = get_incident(session, incident_id)
        # Only units inside the caller's scope: another township's unit (and its distance) is not theirs to see.
        ranked = recommend_responders(session, incident, limit=MAX_RECOMMENDATIONS, scope=user.jurisdiction_code)
        # The incident's own chain first (its township's police station for police-type); each item
        # carries status/status_label, distance_m, local, chain (同网格/同村/本乡镇/本县) and reasons.
        # A department-owned category can also be sent to the department itself (dispatch `departments`).
        items = [r.to_dict() for r in ranked if user.covers(r.responder.jurisdiction_code)][:limit]
        departments = [incident.department] if incident.queue == "department" and incident.department else []
        here = (incident.lat, incident.lon)
    # Drones and 4G terminals whose latest position (from the database, younger than 2 min) is near the scene.
    mobile = [] if here[0] is None or here[1] is None else [
        h.as_dict() for h in ctx.mobile.within_radius(here[0], here[1], MOBILE_NEARBY_M)
        if h.kind == "mobile" and user.covers(h.jurisdiction_code)]
    return {"items": items, "departments": departments, "mobile_units": mobile}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _task(assignment: Assignment, incident: Incident) -> dict:
    """What the phone shows of one assignment beside the incident: its state, deadline, note, whom to
    call and where to go (``nav_url``: a geo: URI any phone's map app opens)."""
    position = (incident.lat, incident.lon) if incident.lat is not None and incident.lon is not None else None
    return {
        "assignment_id": assignment.id, "status": assignment.status,
        "status_label": ASSIGNMENT_LABELS.get(assignment.status, assignment.status), "lead": assignment.lead,
        "note": assignment.note, "assigned_by": assignment.assigned_by, "assigned_at": _iso(assignment.assigned_at),
        "ack_deadline": _iso(assignment.ack_deadline) if assignment.status == "pending" else None,
        "acknowledged_at": _iso(assignment.acknowledged_at), "finished_at": _iso(assignment.finished_at),
        "address": incident.address, "reporter_name": incident.reporter_name, "reporter_phone": incident.reporter_phone,
        "nav_url": f"geo:{position[0]:.6f},{position[1]:.6f}?q={position[0]:.6f},{position[1]:.6f}" if position else None,
    }


@router.get("/me/tasks", summary="The logged-in responder's incidents (pending and in progress)",
            description="Each item is the incident payload plus `task` {assignment_id, status, status_label, lead, note, "
                        "assigned_by, assigned_at, ack_deadline, acknowledged_at, finished_at, address, reporter_name, "
                        "reporter_phone, nav_url}.")
def my_tasks(request: Request, user: Principal = Depends(current_user), include_done: bool = False) -> dict:
    if user.role != Role.RESPONDER or user.responder_id is None:
        return {"items": []}
    statuses = ("pending", "acknowledged", "done") if include_done else ("pending", "acknowledged")
    with get_ctx(request).database.session() as session:
        q = (select(Assignment, Incident).join(Incident, Assignment.incident_id == Incident.id)
             .where(Assignment.responder_id == user.responder_id, Assignment.status.in_(statuses))
             .order_by(Incident.id.desc(), Assignment.id.desc()).limit(50))
        items, seen = [], set()
        for assignment, incident in session.execute(q):
            if incident.id in seen:
                continue
            seen.add(incident.id)
            items.append({**incident_payload(session, incident), "task": _task(assignment, incident)})
    return {"items": items}


def _history(request: Request, responder_id: int, limit: int, before_id: int | None) -> dict:
    with get_ctx(request).database.session() as session:
        rows = responder_history(session, responder_id, limit=limit, before_id=before_id)
        items = [{"incident_id": incident.id, "title": incident.title, "incident_status": incident.status,
                  "jurisdiction_code": incident.jurisdiction_code, "category_code": incident.category_code,
                  "created_at": _iso(incident.created_at), **_task(assignment, incident)}
                 for assignment, incident in rows]
    return {"items": items, "count": len(items), "next_before_id": items[-1]["assignment_id"] if len(items) == limit else None}


@router.get("/me/history", summary="The logged-in responder's assignments, newest first (done, 退回, expired …)",
            description="Items {incident_id, title, incident_status, jurisdiction_code, category_code, created_at, "
                        "assignment_id, status, status_label, note (the 退回 reason), …}; page with before_id.")
def my_history(request: Request, user: Principal = Depends(current_user), limit: int = Query(50, ge=1, le=200),
               before_id: int | None = Query(None, ge=1, le=2**31 - 1)) -> dict:
    if user.role != Role.RESPONDER or user.responder_id is None:
        return {"items": [], "count": 0, "next_before_id": None}
    return _history(request, user.responder_id, limit, before_id)


@router.get("/responders/{responder_id}/history", summary="A responder's assignments, newest first (operators in scope)")
def responder_history_view(responder_id: IdPath, request: Request,
                           user: Principal = Depends(require(Permission.HANDLE_INCIDENTS)),
                           limit: int = Query(50, ge=1, le=200), before_id: int | None = Query(None, ge=1, le=2**31 - 1)) -> dict:
    _visible_responder(request, user, responder_id)  # 404 outside the caller's scope
    return _history(request, responder_id, limit, before_id)
