"""Four-colour risk on places and persons of concern (重点场所/重点人员): register, re-grade, revisit."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from command import RiskSubject
from command import NotFound
from command import scope_filter
from command import create_risk_subject, due_revisits, get_risk_subject, record_risk_revisit, set_risk_colour
from command import TransitionRefused

from web.deps import current_user, get_ctx, require
from web.routes.auth import client_ip
from web.scope import Permission, Principal
from web.workflow import actor_for

router = APIRouter(prefix="/api/risk-subjects", tags=["risk"])

Colour = Literal["blue", "yellow", "orange", "red"]


def _dict(s: RiskSubject) -> dict:
    return {"id": s.id, "kind": s.kind, "name": s.name, "jurisdiction_code": s.jurisdiction_code, "colour": s.colour,
            "handling_level": s.handling_level, "note": s.note, "lat": s.lat, "lon": s.lon,
            "next_revisit_at": s.next_revisit_at.isoformat() if s.next_revisit_at else None,
            "updated_at": s.updated_at.isoformat() if s.updated_at else None}


@router.get("", summary="Places and persons of concern in scope (optionally only those due a revisit)")
def list_subjects(request: Request, user: Principal = Depends(current_user), due_only: bool = False) -> dict:
    with get_ctx(request).database.session() as session:
        if due_only:
            rows = due_revisits(session, user.jurisdiction_code)
        else:
            rows = list(session.scalars(select(RiskSubject).where(scope_filter(RiskSubject.jurisdiction_code, user.jurisdiction_code))
                                   .order_by(RiskSubject.id).limit(1000)))
        return {"items": [_dict(s) for s in rows]}


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["place", "person"]
    name: str = Field(min_length=1, max_length=128)
    jurisdiction_code: str = Field(pattern=r"^\d{6}(\d{3}){0,3}$")
    colour: Colour = "blue"
    note: str = Field("", max_length=2000)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


def _refused(exc: TransitionRefused) -> HTTPException:
    return HTTPException(403 if exc.kind in ("role", "scope") else 409, {"reason": exc.reason, **exc.to_dict()})


@router.post("", status_code=201, summary="Register a place or person of concern")
def create(body: SubjectIn, request: Request, user: Principal = Depends(require(Permission.HANDLE_INCIDENTS))) -> dict:
    if not user.covers(body.jurisdiction_code):
        raise HTTPException(403, "the subject's jurisdiction is outside yours")
    with get_ctx(request).database.session() as session:
        try:
            return _dict(create_risk_subject(session, actor_for(user, client_ip(request)), **body.model_dump()))
        except TransitionRefused as exc:
            raise _refused(exc) from exc


def _visible(session: Session, user: Principal, subject_id: int) -> RiskSubject:
    try:
        return get_risk_subject(session, subject_id, scope=user.jurisdiction_code)
    except NotFound:
        raise HTTPException(404, f"risk subject {subject_id} not found") from None


@router.get("/{subject_id}", summary="One subject")
def get(subject_id: int, request: Request, user: Principal = Depends(current_user)) -> dict:
    with get_ctx(request).database.session() as session:
        return _dict(_visible(session, user, subject_id))


class ColourIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    colour: Colour
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/{subject_id}/colour", summary="Re-grade (audited; reschedules the next revisit)")
def colour(subject_id: int, body: ColourIn, request: Request, user: Principal = Depends(current_user)) -> dict:
    with get_ctx(request).database.session() as session:
        _visible(session, user, subject_id)
        try:
            return _dict(set_risk_colour(session, subject_id, actor_for(user, client_ip(request)), colour=body.colour, reason=body.reason))
        except TransitionRefused as exc:
            raise _refused(exc) from exc


class RevisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(min_length=1, max_length=2000)


@router.post("/{subject_id}/revisit", summary="Record a revisit (回访)")
def revisit(subject_id: int, body: RevisitIn, request: Request, user: Principal = Depends(current_user)) -> dict:
    with get_ctx(request).database.session() as session:
        _visible(session, user, subject_id)
        try:
            record_risk_revisit(session, subject_id, actor_for(user, client_ip(request)), outcome=body.outcome)
        except TransitionRefused as exc:
            raise _refused(exc) from exc
        return _dict(get_risk_subject(session, subject_id))
