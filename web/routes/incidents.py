"""Incidents: the scoped list, detail, timeline, snapshot and clip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse

from pydantic import BaseModel

from command import (
    EvidenceItem,
    IncidentDetail,
    IncidentFilter,
    IncidentPage,
    Timeline,
    clip_state,
    evidence_source_path,
    incident_evidence,
    resolve_media_path,
    timeline_entries,
)
from command import get_incident as command_get_incident

from web.deps import MAX_ID, IdPath, current_user, get_ctx, visible_incident
from web.workflow import allowed_actions_for
from web.scope import Principal, Role

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

Colour = Literal["blue", "yellow", "orange", "red"]


@router.get("", summary="Incidents in the caller's jurisdiction subtree, newest first", response_model=IncidentPage)
def list_incidents(
    request: Request,
    user: Principal = Depends(current_user),
    status: str | None = Query(None, max_length=16),
    open_only: bool = False,
    colour: Colour | None = None,
    jurisdiction_code: str | None = Query(None, pattern=r"^\d{6,15}$"),
    camera_id: str | None = Query(None, max_length=128),
    before_id: int | None = Query(None, ge=1, le=MAX_ID, description="page backwards: ids lower than this"),
    limit: int = Query(100, ge=1, le=500),
) -> IncidentPage:
    flt = IncidentFilter(scope=user.jurisdiction_code, jurisdiction_code=jurisdiction_code, status=status, colour=colour,
                         camera_id=camera_id, open_only=open_only, assigned_to=_responder_only(user))
    items = get_ctx(request).store.list_incidents(flt, before_id=before_id, limit=limit)
    return IncidentPage(items=items, count=len(items))


@router.get("/queue", summary="Open incidents in scope, most urgent first (colour, then deadline)", response_model=IncidentPage)
def incident_queue(request: Request, user: Principal = Depends(current_user),
                   limit: int = Query(500, ge=1, le=2000)) -> IncidentPage:
    items = get_ctx(request).store.incident_queue(user.jurisdiction_code, limit=limit, assigned_to=_responder_only(user))
    return IncidentPage(items=items, count=len(items))


def _responder_only(user: Principal) -> int | None:
    """A responder account lists only what is assigned to its unit (-1: bound to none in scope)."""
    return (user.responder_id or -1) if user.role == Role.RESPONDER else None


def load_visible(request: Request, user: Principal, incident_id: int) -> IncidentDetail:
    """The incident if this user may see it; 404 otherwise (existence is not revealed)."""
    return visible_incident(get_ctx(request), user, incident_id)


@router.get("/{incident_id}", summary="One incident with its sources and assignments", response_model=IncidentDetail)
def get_incident(incident_id: IdPath, request: Request, user: Principal = Depends(current_user)) -> IncidentDetail:
    incident = load_visible(request, user, incident_id)
    incident.allowed_actions = allowed_actions_for(user, incident)
    return incident


@router.get("/{incident_id}/timeline", summary="The incident's audit trail, oldest first; merged alerts on one row",
            description="Every merged source is folded into ONE row `action: merge` with `count`, `first_at` and "
                        "`latest_at` (also in `detail`), placed at the first merge.", response_model=Timeline)
def incident_timeline(incident_id: IdPath, request: Request, user: Principal = Depends(current_user)) -> Timeline:
    load_visible(request, user, incident_id)
    with get_ctx(request).database.session() as session:
        return Timeline(items=timeline_entries(session, incident_id))


class EvidenceSnapshot(BaseModel):
    source_id: int
    url: str
    at: str | None  # ISO 8601
    confidence: float | None


class EvidenceClip(EvidenceSnapshot):
    state: Literal["ready", "recording", "missing"]
    reason: str | None


class EvidenceSnapshots(BaseModel):
    first: EvidenceSnapshot | None
    latest: EvidenceSnapshot | None
    best: EvidenceSnapshot | None


class EvidenceView(BaseModel):
    incident_id: int
    source_count: int
    last_source_at: str | None  # ISO 8601
    snapshots: EvidenceSnapshots
    clips: list[EvidenceClip]


def _evidence_item(incident_id: int, item: EvidenceItem | None, kind: str) -> EvidenceSnapshot | None:
    if item is None:
        return None
    return EvidenceSnapshot(source_id=item.source_id, url=f"/api/incidents/{incident_id}/sources/{item.source_id}/{kind}",
                            at=item.at.isoformat() if item.at else None, confidence=item.confidence)


@router.get("/{incident_id}/evidence", summary="First, latest and best snapshot and the clips of the incident",
            description="`snapshots.first|latest|best`: {source_id, url, at, confidence} or null; `clips`: one per "
                        "alarm window, oldest first, each {source_id, url, at, confidence, state: ready|recording|missing, reason}; plus `source_count` and "
                        "`last_source_at` (the merged-alert counter and 'latest at').", response_model=EvidenceView)
def incident_evidence_view(incident_id: IdPath, request: Request, user: Principal = Depends(current_user)) -> EvidenceView:
    load_visible(request, user, incident_id)
    with get_ctx(request).database.session() as session:
        incident = command_get_incident(session, incident_id)
        evidence = incident_evidence(session, incident)
        return EvidenceView(
            incident_id=incident_id,
            source_count=incident.source_count,
            last_source_at=incident.last_source_at.isoformat() if incident.last_source_at else None,
            snapshots=EvidenceSnapshots(first=_evidence_item(incident_id, evidence.first, "snapshot"),
                                        latest=_evidence_item(incident_id, evidence.latest, "snapshot"),
                                        best=_evidence_item(incident_id, evidence.best, "snapshot")),
            clips=[_clip_item(incident_id, clip, get_ctx(request).settings.media_dir) for clip in evidence.clips],
        )


def _clip_item(incident_id: int, item: EvidenceItem, media_dir: Path) -> EvidenceClip:
    """A clip with its ``state``: ``ready`` to play, ``recording`` (its alarm window is still open), or
    ``missing`` with the ``reason`` (the writer failed or stopped) — so the desk never waits for a clip
    that will not come."""
    try:
        path = resolve_media_path(media_dir, item.path)
    except ValueError:
        path = None
    state, reason = clip_state(path, item.at, datetime.now(UTC))
    return EvidenceClip(source_id=item.source_id, url=f"/api/incidents/{incident_id}/sources/{item.source_id}/clip",
                        at=item.at.isoformat() if item.at else None, confidence=item.confidence, state=state, reason=reason)


@router.get("/{incident_id}/sources/{source_id}/{what}", summary="One merged source's snapshot (JPEG) or clip (MP4)",
            responses={200: {"content": {"image/jpeg": {}, "video/mp4": {}}}}, response_class=FileResponse)
def source_media(incident_id: IdPath, source_id: IdPath, what: Literal["snapshot", "clip"], request: Request,
                 user: Principal = Depends(current_user)) -> FileResponse:
    load_visible(request, user, incident_id)
    ctx = get_ctx(request)
    with ctx.database.session() as session:
        stored = evidence_source_path(session, incident_id, source_id, what)
    path = ctx.store.resolve_media(stored) if stored else None
    if path is None:
        raise HTTPException(404, f"incident {incident_id} has no {what} for source {source_id}")
    media_type = "image/jpeg" if what == "snapshot" else "video/mp4"
    # private: snapshots of people must not sit in shared caches
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


def _media(request: Request, user: Principal, incident_id: int, which: int, what: str) -> FileResponse:
    store = get_ctx(request).store
    load_visible(request, user, incident_id)
    media = store.incident_media(incident_id)
    stored = media[which] if media else None
    path = store.resolve_media(stored) if stored else None
    if path is None:
        raise HTTPException(404, f"incident {incident_id} has no {what}")
    media_type = "image/jpeg" if what == "snapshot" else "video/mp4"
    # private: snapshots of people must not sit in shared caches
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.get(
    "/{incident_id}/snapshot",
    summary="The alert snapshot (JPEG)",
    responses={200: {"content": {"image/jpeg": {}}}},
    response_class=FileResponse,
)
def incident_snapshot(incident_id: IdPath, request: Request, user: Principal = Depends(current_user)) -> FileResponse:
    return _media(request, user, incident_id, 1, "snapshot")


@router.get(
    "/{incident_id}/clip",
    summary="The evidence clip (MP4)",
    responses={200: {"content": {"video/mp4": {}}}},
    response_class=FileResponse,
)
def incident_clip(incident_id: IdPath, request: Request, user: Principal = Depends(current_user)) -> FileResponse:
    return _media(request, user, incident_id, 2, "clip")
