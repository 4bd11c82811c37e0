"""SLA timers: acknowledgement timeouts (reassign or escalate) and overdue incidents (督办 + escalation).

Deadlines live in the database (``incidents.resolve_deadline``, ``assignments.ack_deadline``),
so a restarted worker picks up exactly where the last one stopped. ``run_timers`` is one
pass; the worker calls it every few seconds with the real clock, tests with a fake one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from command.catalog import sla_for
from command.dispatch import create_assignment, recommend_responders, release
from command.incidents import audit
from command.lifecycle import claim, escalate, raise_handling_level
from command.models import Assignment, Category, Incident, utcnow
from command.workflow import ACTIVE_ASSIGNMENT_STATES, WORKING_STATES, Actor, TransitionRefused

MAX_REASSIGN = 2  # after this many unacknowledged assignments, escalate instead


def _claimed(session: Session, incident: Incident) -> bool:
    """Take the incident's action version first: an operator who acted on it meanwhile wins,
    and the timer leaves it for its next pass (no double reassignment, no double escalation)."""
    try:
        claim(session, incident, "timer")
    except TransitionRefused:
        session.expire(incident)
        return False
    return True


def ack_timeouts(session: Session, now: datetime, actor: Actor) -> list[Incident]:
    """Pending assignments past their acknowledgement deadline: reassign to the next best responder,
    or escalate when ``MAX_REASSIGN`` responders have already let it lapse."""
    changed: list[Incident] = []
    expired = list(session.scalars(
        select(Assignment).where(Assignment.status == "pending", Assignment.ack_deadline.is_not(None), Assignment.ack_deadline < now)
    ))
    for assignment in expired:
        incident = assignment.incident
        if not _claimed(session, incident):
            continue
        release(assignment, "expired", now)
        audit(session, actor, "ack_timeout", incident=incident, from_status=incident.status, to_status=incident.status,
              detail={"assignment": assignment.id, "responder": assignment.responder_id}, now=now)
        if incident.status != "dispatched":
            continue
        tried = {a.responder_id for a in incident.assignments if a.responder_id is not None}
        lapsed = sum(1 for a in incident.assignments if a.status == "expired")
        recommendation = None
        if lapsed <= MAX_REASSIGN and assignment.responder_id is not None:
            candidates = [r for r in recommend_responders(session, incident, limit=5, exclude=tried) if r.responder.status == "available"]
            recommendation = candidates[0] if candidates else None
        if recommendation is not None:
            new = create_assignment(session, incident, assigned_by=actor.username, now=now,
                                    responder=recommendation.responder, lead=assignment.lead, note="reassigned: no acknowledgement")
            session.flush()
            audit(session, actor, "reassign", incident=incident, from_status=incident.status, to_status=incident.status,
                  detail={"from_responder": assignment.responder_id, "to_responder": recommendation.responder.id,
                          "assignment": new.id}, now=now)
        elif not any(a.status in ACTIVE_ASSIGNMENT_STATES for a in incident.assignments):
            # Through the same transition table as 上报上级 (status, level, escalation_count, audit).
            try:
                escalate(session, incident.id, actor, reason="no responder acknowledged in time", now=now, automatic=True)
            except TransitionRefused as exc:  # already at the county: supervise there
                audit(session, actor, "supervise", incident=incident, from_status=incident.status,
                      to_status=incident.status, detail={"reason": "no acknowledgement", "note": exc.reason}, now=now)
            else:
                audit(session, actor, "supervise", incident=incident, from_status=incident.status,
                      to_status=incident.status, detail={"reason": "no acknowledgement"}, now=now)
            incident.supervised = True
        pending = [a.ack_deadline for a in incident.assignments if a.status == "pending" and a.ack_deadline]
        incident.ack_deadline = min(pending) if pending else None
        incident.updated_at = now
        if incident not in changed:
            changed.append(incident)
    return changed


def overdue_incidents(session: Session, now: datetime, actor: Actor) -> list[Incident]:
    """Open incidents past their resolve deadline: flag 督办, escalate one level, start the next period."""
    changed: list[Incident] = []
    due = list(session.scalars(
        select(Incident).where(
            Incident.is_open.is_(True),
            Incident.status.in_(tuple(WORKING_STATES)),
            Incident.resolve_deadline.is_not(None),
            Incident.resolve_deadline < now,
        ).order_by(Incident.resolve_deadline).limit(1000)
    ))
    for incident in due:
        deadline = incident.resolve_deadline
        if deadline is None or not _claimed(session, incident):  # (the query asks for a deadline)
            continue
        first = not incident.overdue
        incident.overdue = True
        incident.supervised = True
        audit(session, actor, "supervise", incident=incident, from_status=incident.status, to_status=incident.status,
              detail={"reason": "overdue", "deadline": deadline.isoformat(), "first": first}, now=now)
        raise_handling_level(session, incident, actor, now, reason="overdue")
        category = session.get(Category, incident.category_code)
        # The upper centre gets a fresh period; when that lapses too, it escalates again.
        period = sla_for(category, incident.severity).resolve if category else None
        incident.resolve_deadline = now + period if period and incident.handling_level != "county" else None
        incident.updated_at = now
        changed.append(incident)
    return changed


def run_timers(session: Session, *, now: datetime | None = None, actor: Actor | None = None) -> list[Incident]:
    """One pass of all timers; returns the incidents that changed (flushed, caller commits)."""
    now = now or utcnow()
    actor = actor or Actor.system("command-timers")
    changed = ack_timeouts(session, now, actor)
    for incident in overdue_incidents(session, now, actor):
        if incident not in changed:
            changed.append(incident)
    session.flush()
    return changed
