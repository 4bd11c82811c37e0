"""Recommending responders and dispatching incidents to them (and to departments)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from command import jurisdictions
from command.catalog import sla_for
from command.models import Assignment, Category, Incident, Responder, utcnow
from command.workflow import ACTIVE_ASSIGNMENT_STATES

QUEUE_KIND = {"police": "police", "department": "department", "grid": "grid_worker"}
BUSY_PENALTY_M = 20_000.0  # a busy responder ranks behind any available one within 20 km
UNKNOWN_POSITION_M = 50_000.0
SKILL_PENALTY_M = 5_000.0


STATUS_LABELS = {"available": "空闲", "busy": "忙碌", "offline": "离线"}
LEVEL_WORDS = {15: "同网格", 12: "同村", 9: "本乡镇", 6: "本县"}


@dataclass
class Recommendation:
    responder: Responder
    distance_m: float | None
    score: float
    reasons: list[str]
    shared_level: int = 6  # digits of the jurisdiction code the responder shares with the incident (15/12/9/6)

    def to_dict(self) -> dict:
        r = self.responder
        return {
            "responder_id": r.id, "name": r.name, "kind": r.kind, "department": r.department, "status": r.status,
            "status_label": STATUS_LABELS.get(r.status, r.status), "phone": r.phone,
            "jurisdiction_code": r.jurisdiction_code, "distance_m": None if self.distance_m is None else round(self.distance_m),
            "local": self.shared_level >= 9, "chain": chain_word(self.shared_level, r.jurisdiction_code),
            "position_at": r.position_at.isoformat() if r.position_at else None,
            "score": round(self.score), "reasons": self.reasons,
        }


def chain_word(level: int, responder_code: str) -> str:
    """同网格 / 同村 / 本乡镇 / 本县 (a county desk) / 其他乡镇."""
    if level == 6 and len(responder_code) > 6:
        return "其他乡镇"
    return LEVEL_WORDS.get(level, "其他乡镇")


def incident_position(session: Session, incident: Incident) -> tuple[float, float] | None:
    if incident.lat is not None and incident.lon is not None:
        return incident.lat, incident.lon
    for code in jurisdictions.ancestors(incident.jurisdiction_code):
        row = jurisdictions.get(session, code)
        if row is not None and row.center_lat is not None and row.center_lon is not None:
            return row.center_lat, row.center_lon
    return None


def shared_level(responder_code: str, incident_code: str) -> int:
    """How far down the jurisdiction chain a responder and an incident agree: 15 grid, 12 village,
    9 township, 6 county (a township's police station shares 9 with every village of its township)."""
    for digits in (15, 12, 9, 6):
        if len(responder_code) >= digits and len(incident_code) >= digits and responder_code[:digits] == incident_code[:digits]:
            return digits
        if len(responder_code) == digits and incident_code.startswith(responder_code):
            return digits
    return 0


def recommend_responders(
    session: Session, incident: Incident, *, limit: int = 5, exclude: set[int] | None = None,
    scope: str | None = None,
) -> list[Recommendation]:
    """Responders who fit the incident's queue: the incident's own jurisdiction chain first
    (same grid → village → the township's police station / grid workers → county), then the
    nearest available.

    Police-type incidents go to police units; others to the owning department's desk, or to
    grid workers when no department owns the category. Distance is from the responder's last
    reported position; busy responders and missing skills rank lower within their tier;
    offline responders are never proposed. ``scope`` (the operator's jurisdiction) keeps
    every unit outside it out of the list — a township never sees another township's units.
    """
    kind = QUEUE_KIND.get(incident.queue, "grid_worker")
    query = select(Responder).where(Responder.kind == kind, Responder.status != "offline")
    if kind == "department" and incident.department:
        query = query.where(Responder.department == incident.department)
    if kind == "grid_worker":
        # Grid workers act inside their own township.
        query = query.where(jurisdictions.scope_filter(Responder.jurisdiction_code, incident.jurisdiction_code[:9]))
    if scope:
        query = query.where(jurisdictions.scope_filter(Responder.jurisdiction_code, scope))
    category = session.get(Category, incident.category_code)
    wanted = set(category.skills) if category else set()
    here = incident_position(session, incident)
    ranked: list[Recommendation] = []
    for responder in session.scalars(query):
        if exclude and responder.id in exclude:
            continue
        level = shared_level(responder.jurisdiction_code, incident.jurisdiction_code)
        reasons: list[str] = [chain_word(level, responder.jurisdiction_code)]
        if here is not None and responder.lat is not None and responder.lon is not None:
            distance = jurisdictions.haversine_m(here[0], here[1], responder.lat, responder.lon)
            score = distance
            reasons.append(f"距离 {distance / 1000:.1f} km")
        else:
            distance, score = None, UNKNOWN_POSITION_M
            reasons.append("位置未知")
        if responder.status != "available":
            score += BUSY_PENALTY_M
            reasons.append(STATUS_LABELS.get(responder.status, responder.status))
        missing = wanted - set(responder.skills or [])
        if missing:
            score += SKILL_PENALTY_M
            reasons.append("缺少技能 " + "、".join(sorted(missing)))
        ranked.append(Recommendation(responder, distance, score, reasons, level))
    # The chain first (a deeper shared code = closer in the organisation), then the score.
    ranked.sort(key=lambda r: (-r.shared_level, r.score, r.responder.id))
    return ranked[:limit]


def create_assignment(
    session: Session, incident: Incident, *, assigned_by: str, now: datetime | None = None,
    responder: Responder | None = None, department: str | None = None, lead: bool = True, note: str = "",
) -> Assignment:
    now = now or utcnow()
    category = session.get(Category, incident.category_code)
    ack = sla_for(category, incident.severity).ack if category else None
    assignment = Assignment(
        incident=incident, responder=responder, responder_id=responder.id if responder else None,
        department=department or (responder.department if responder else None), lead=lead, status="pending",
        assigned_by=assigned_by, assigned_at=now, ack_deadline=now + ack if ack else None, note=note,
    )
    session.add(assignment)
    if responder is not None:
        responder.status = "busy"
    deadlines = [a.ack_deadline for a in incident.assignments if a.status == "pending" and a.ack_deadline]
    incident.ack_deadline = min(deadlines) if deadlines else None
    return assignment


def active_assignments(incident: Incident) -> list[Assignment]:
    return [a for a in incident.assignments if a.status in ACTIVE_ASSIGNMENT_STATES]


def release(assignment: Assignment, status: str, now: datetime) -> None:
    """End an assignment and make its responder available again."""
    assignment.status = status
    assignment.finished_at = now
    if assignment.responder is not None and assignment.responder.status == "busy":
        assignment.responder.status = "available"


def update_responder_position(session: Session, responder_id: int, lat: float, lon: float,
                              status: str | None = None, now: datetime | None = None) -> Responder:
    """A phone's position report (and optionally its status: available | busy | offline)."""
    responder = session.get(Responder, responder_id)
    if responder is None:
        raise LookupError(f"responder {responder_id} not found")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"position ({lat}, {lon}) is not a valid latitude/longitude")
    if status is not None and status not in ("available", "busy", "offline"):
        raise ValueError(f"status {status!r} must be available, busy or offline")
    responder.lat, responder.lon, responder.position_at = lat, lon, now or utcnow()
    if status is not None:
        responder.status = status
    session.flush()
    return responder


def list_responders(session: Session, scope: str = "", *, kind: str | None = None,
                    status: str | None = None) -> list[Responder]:
    """Responders working inside ``scope`` (plus county-level desks when scope is below the county)."""
    query = select(Responder).order_by(Responder.kind, Responder.jurisdiction_code, Responder.id)
    if scope:
        query = query.where(
            jurisdictions.scope_filter(Responder.jurisdiction_code, scope) | (Responder.jurisdiction_code == scope[:6])
        )
    if kind:
        query = query.where(Responder.kind == kind)
    if status:
        query = query.where(Responder.status == status)
    return list(session.scalars(query))


ASSIGNMENT_LABELS = {"pending": "待签收", "acknowledged": "已签收", "rejected": "已退回", "done": "已办结",
                     "cancelled": "已撤回", "expired": "超时未签收"}


def responder_history(session: Session, responder_id: int, *, limit: int = 50,
                      before_id: int | None = None) -> list[tuple[Assignment, Incident]]:
    """Every assignment of a responder, newest first (keyset by assignment id), with its incident."""
    query = (select(Assignment, Incident).join(Incident, Incident.id == Assignment.incident_id)
             .where(Assignment.responder_id == responder_id))
    if before_id is not None:
        query = query.where(Assignment.id < before_id)
    return [(a, i) for a, i in session.execute(query.order_by(Assignment.id.desc()).limit(max(1, min(limit, 200))))]
