"""THE incident serialiser: pydantic views of an incident, its detail and its timeline.

One shape everywhere: the pushed ``incident.*`` events (:func:`incident_payload`), the web's
lists, queue, search and detail (``response_model`` there, so OpenAPI shows these fields).
Times are ISO 8601 strings with their offset (``datetime.isoformat()``), as they always were.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer, WithJsonSchema
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from command import jurisdictions
from command.catalog import COLOUR_HEX, SOURCES
from command.models import Assignment, AuditEvent, Category, Incident, IncidentSource, Jurisdiction, User
from command.workflow import ACTIVE_ASSIGNMENT_STATES, STATE_LABELS, WORKING_STATES

SNAPSHOT_URL = "/api/incidents/{id}/snapshot"
DETAIL_SOURCES = 50  # merged sources listed in an incident's detail (the first one plus the latest)

Timestamp = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str),
                      WithJsonSchema({"type": "string", "format": "date-time"})]


class SlaState(BaseModel):
    """签收 and 办结 deadlines as they stand (None once met and on closed cases: no countdown)."""

    ack_deadline: Timestamp | None
    resolve_deadline: Timestamp | None
    ack_overdue: bool
    resolve_overdue: bool
    supervised: bool
    computed_at: Timestamp


class IncidentView(BaseModel):
    """What the web renders for one incident, and the payload of ``incident.*`` events."""

    id: int
    title: str
    category: str
    category_code: str
    status: str
    status_label: str
    is_open: bool
    colour: str
    colour_hex: str | None
    severity: str
    source: str
    source_label: str
    source_count: int
    queue: str
    department: str | None
    camera_id: str | None
    camera_name: str | None
    jurisdiction_code: str
    jurisdiction_name: str
    handling_level: str
    lat: float | None
    lon: float | None
    address: str | None
    created_at: Timestamp
    updated_at: Timestamp
    last_source_at: Timestamp
    acknowledged_at: Timestamp | None
    resolved_at: Timestamp | None
    closed_at: Timestamp | None
    ack_deadline: Timestamp | None
    resolve_deadline: Timestamp | None
    sla: SlaState
    overdue: bool
    supervised: bool
    escalation_count: int
    version: int
    satisfaction: int | None
    snapshot_url: str | None
    boxes: list[list[float]]
    frame_width: int | None
    frame_height: int | None
    assigned_responder_ids: list[int]


class SourceBrief(BaseModel):
    id: int
    kind: str
    ref: str
    received_at: Timestamp
    reported_at: Timestamp | None
    summary: str
    has_snapshot: bool


class AssignmentView(BaseModel):
    id: int
    responder_id: int | None
    responder_name: str | None
    department: str | None
    lead: bool
    status: str
    assigned_by: str
    assigned_at: Timestamp
    ack_deadline: Timestamp | None  # 签收 deadline per unit, while pending
    acknowledged_at: Timestamp | None
    finished_at: Timestamp | None
    note: str


class IncidentDetail(IncidentView):
    """One incident with its text, reporter, the first and latest sources and its assignments."""

    description: str
    reporter_name: str | None
    reporter_phone: str | None  # the hotline panel: 来电人 and 电话 (operators in scope)
    sources: list[SourceBrief]
    sources_total: int
    assignments: list[AssignmentView]
    has_clip: bool
    allowed_actions: list[str] = []


class IncidentPage(BaseModel):
    items: list[IncidentView]
    count: int


class TimelineEntry(BaseModel):
    """One audit row; merged sources are ONE ``merge`` row with ``count``, ``first_at``, ``latest_at``."""

    id: int
    at: Timestamp
    actor: str
    actor_name: str
    actor_role: str
    action: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any]
    count: int | None = None
    first_at: Timestamp | None = None
    latest_at: Timestamp | None = None


class Timeline(BaseModel):
    items: list[TimelineEntry]


class NameCache:
    """Category and jurisdiction names for payloads, cached for ``ttl_s`` (they change rarely)."""

    def __init__(self, ttl_s: float = 60.0) -> None:
        self._clock = time.monotonic
        self._ttl = ttl_s
        self._loaded = -1e18
        self._categories: dict[str, str] = {}
        self._places: dict[str, str] = {}

    def _refresh(self, session: Session) -> None:
        if self._clock() - self._loaded < self._ttl:
            return
        self._categories = {c: n for c, n in session.execute(select(Category.code, Category.name))}
        self._places = {c: n for c, n in session.execute(select(Jurisdiction.code, Jurisdiction.name))}
        self._loaded = self._clock()

    def category(self, session: Session, code: str) -> str:
        self._refresh(session)
        return self._categories.get(code, code)

    def place(self, session: Session, code: str) -> str:
        self._refresh(session)
        for candidate in jurisdictions.ancestors(code):
            if candidate in self._places:
                return self._places[candidate]
        return code


def sla_state(incident: Incident, now: datetime | None = None) -> SlaState:
    """``ack_deadline`` while an assignment waits for 签收, ``resolve_deadline`` until 办结."""
    now = now or datetime.now(UTC)
    ack = incident.ack_deadline if incident.status == "dispatched" and incident.is_open else None
    resolve = incident.resolve_deadline if incident.status in WORKING_STATES and incident.is_open else None
    return SlaState(ack_deadline=ack, resolve_deadline=resolve, ack_overdue=bool(ack and ack < now),
                    resolve_overdue=bool(resolve and resolve < now),
                    supervised=bool(incident.supervised and incident.is_open), computed_at=now)


def _view_fields(session: Session, incident: Incident, names: NameCache | None) -> dict[str, Any]:
    if names is not None:
        category_name = names.category(session, incident.category_code)
        place_name = names.place(session, incident.jurisdiction_code)
    else:
        category = session.get(Category, incident.category_code)
        category_name = category.name if category else incident.category_code
        place_name = jurisdictions.name_of(session, incident.jurisdiction_code)
    sla = sla_state(incident)
    return {
        "id": incident.id, "title": incident.title, "category": category_name, "category_code": incident.category_code,
        "status": incident.status, "status_label": STATE_LABELS.get(incident.status, incident.status),
        "is_open": incident.is_open, "colour": incident.colour, "colour_hex": COLOUR_HEX.get(incident.colour),
        "severity": incident.severity, "source": incident.source, "source_label": SOURCES.get(incident.source, incident.source),
        "source_count": incident.source_count, "queue": incident.queue, "department": incident.department,
        "camera_id": incident.camera_id, "camera_name": incident.camera_name,
        "jurisdiction_code": incident.jurisdiction_code, "jurisdiction_name": place_name,
        "handling_level": incident.handling_level, "lat": incident.lat, "lon": incident.lon, "address": incident.address,
        "created_at": incident.created_at, "updated_at": incident.updated_at, "last_source_at": incident.last_source_at,
        "acknowledged_at": incident.acknowledged_at, "resolved_at": incident.resolved_at, "closed_at": incident.closed_at,
        # Deadlines that still run (None once met or the case is closed): see sla_state.
        "ack_deadline": sla.ack_deadline, "resolve_deadline": sla.resolve_deadline, "sla": sla,
        "overdue": incident.overdue, "supervised": incident.supervised, "escalation_count": incident.escalation_count,
        "version": incident.version or 0, "satisfaction": incident.satisfaction,
        "snapshot_url": SNAPSHOT_URL.format(id=incident.id) if incident.snapshot_path else None,
        "boxes": incident.boxes or [], "frame_width": incident.frame_width, "frame_height": incident.frame_height,
        "assigned_responder_ids": [a.responder_id for a in incident.assignments
                                   if a.status in ACTIVE_ASSIGNMENT_STATES and a.responder_id],
    }


def incident_view(session: Session, incident: Incident, names: NameCache | None = None) -> IncidentView:
    return IncidentView(**_view_fields(session, incident, names))


def incident_payload(session: Session, incident: Incident, names: NameCache | None = None) -> dict[str, Any]:
    """:class:`IncidentView` as JSON-ready data (the payload of ``incident.*`` events)."""
    return incident_view(session, incident, names).model_dump(mode="json")


def _assignment_view(a: Assignment) -> AssignmentView:
    return AssignmentView(
        id=a.id, responder_id=a.responder_id, responder_name=a.responder.name if a.responder else None,
        department=a.department, lead=a.lead, status=a.status, assigned_by=a.assigned_by, assigned_at=a.assigned_at,
        ack_deadline=a.ack_deadline if a.status == "pending" else None, acknowledged_at=a.acknowledged_at,
        finished_at=a.finished_at, note=a.note)


def incident_detail(session: Session, incident: Incident) -> IncidentDetail:
    """The incident with its first source and the latest :data:`DETAIL_SOURCES` (a busy camera's incident
    merges thousands of alerts; ``sources_total`` says how many, the evidence endpoint has the media)."""
    latest = list(session.scalars(select(IncidentSource).where(IncidentSource.incident_id == incident.id)
                                  .order_by(IncidentSource.id.desc()).limit(DETAIL_SOURCES)))
    first = session.scalar(select(IncidentSource).where(IncidentSource.incident_id == incident.id)
                           .order_by(IncidentSource.id).limit(1))
    shown = ([first] if first is not None and all(src.id != first.id for src in latest) else []) + latest[::-1]
    return IncidentDetail(
        **_view_fields(session, incident, None),
        description=incident.description, reporter_name=incident.reporter_name, reporter_phone=incident.reporter_phone,
        sources=[SourceBrief(id=src.id, kind=src.kind, ref=src.ref, received_at=src.received_at,
                             reported_at=src.reported_at, summary=src.summary, has_snapshot=bool(src.snapshot_path))
                 for src in shown],
        sources_total=incident.source_count,
        assignments=[_assignment_view(a) for a in incident.assignments],
        has_clip=any(src.payload and src.payload.get("clip_path") for src in shown),
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def timeline_entries(session: Session, incident_id: int) -> list[TimelineEntry]:
    """The timeline, oldest first, with every merged source folded into ONE ``merge`` row.

    A busy camera merges hundreds of alerts into one incident; the desk shows "合并来源 ×N,
    最新 hh:mm" on one row (``count``, ``first_at``, ``latest_at``) at the place of the first
    merge, so a re-fetch on every push stays small. The audit rows themselves are all kept.
    """
    rows = list(session.scalars(select(AuditEvent).where(AuditEvent.incident_id == incident_id,
                                                         AuditEvent.action != "merge").order_by(AuditEvent.id)))
    count, first_id, first_at, latest_at = session.execute(
        select(func.count(), func.min(AuditEvent.id), func.min(AuditEvent.at), func.max(AuditEvent.at))
        .where(AuditEvent.incident_id == incident_id, AuditEvent.action == "merge")).one()
    # operators read names, not account codes ("actor" stays the account for programs)
    names = dict(session.execute(select(User.username, User.display_name)
                                 .where(User.username.in_({e.actor for e in rows}))).all()) if rows else {}
    out = [TimelineEntry(id=e.id, at=e.at, actor=e.actor, actor_name=names.get(e.actor) or e.actor,
                         actor_role=e.actor_role, action=e.action, from_status=e.from_status, to_status=e.to_status,
                         detail=e.detail or {}) for e in rows]
    if count:
        first_at, latest_at = _aware(first_at), _aware(latest_at)
        out.append(TimelineEntry(id=first_id, at=first_at, actor="system", actor_name="system", actor_role="system",
                                 action="merge", from_status=None, to_status=None, count=int(count), first_at=first_at,
                                 latest_at=latest_at, detail={"count": int(count), "latest_at": latest_at.isoformat()}))
        out.sort(key=lambda row: row.id)
    return out
