"""Service functions for every workflow step. Each checks the state machine, the actor's
role and scope, changes the incident, writes the audit row, and flushes (the caller commits).

All take ``now`` so tests (and replays) control the clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from command.alarms import mute_incident_rule
from command.catalog import COLOUR_POLICY, COLOURS, SEVERITIES, sla_for
from command.dispatch import active_assignments, create_assignment, recommend_responders, release
from command.incidents import audit, get_incident, raise_level, route
from command.jurisdictions import HANDLING_LEVELS
from command.models import Category, Evaluation, Incident, Responder, Revisit, utcnow
from command.workflow import CLOSED_STATES, Actor, TransitionRefused, check_transition, conflict, escalation_target


def claim(session: Session, incident: Incident, action: str) -> None:
    """Serialise actions on ``incident``: compare-and-set its ``version`` in one UPDATE.

    Two requests that read the same version both reach this UPDATE; the database lets one
    match ``version = read`` (SQLite: the write lock; PostgreSQL: the row lock, the loser's
    WHERE re-evaluated on the committed row) and the other updates no row and is refused
    with "已被他人处理" — one effect, whatever the timing. Called before the action writes
    anything else, so every action takes its locks in the same order (no deadlock).
    """
    read = incident.version or 0
    done = session.execute(
        update(Incident).where(Incident.id == incident.id, Incident.version == read).values(version=read + 1)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise conflict(action, incident.status)
    set_committed_value(incident, "version", read + 1)


def _begin(session: Session, incident_id: int, action: str, actor: Actor) -> Incident:
    """Load the incident, check the transition (state, role, scope), then :func:`claim` it."""
    incident = get_incident(session, incident_id)
    check_transition(action, incident.status, actor, incident.jurisdiction_code)
    claim(session, incident, action)
    return incident


def _apply(session: Session, incident: Incident, action: str, actor: Actor, now: datetime,
           detail: dict[str, Any] | None = None) -> None:
    transition = check_transition(action, incident.status, actor, incident.jurisdiction_code)
    before = incident.status
    incident.status = transition.target
    incident.is_open = transition.target not in CLOSED_STATES
    incident.updated_at = now
    audit(session, actor, action, incident=incident, from_status=before, to_status=transition.target,
          detail=detail, now=now)


def _refuse(action: str, incident: Incident, reason: str) -> TransitionRefused:
    return TransitionRefused(action, incident.status, reason, "precondition")


def _own_assignment(incident: Incident, actor: Actor, action: str):  # type: ignore[no-untyped-def]
    """For a responder: their active assignment on this incident, else refuse."""
    mine = [a for a in active_assignments(incident) if actor.responder_id is not None and a.responder_id == actor.responder_id]
    if actor.role == "responder" and not mine:
        raise TransitionRefused(action, incident.status, f"incident {incident.id} is not assigned to {actor.username}", "scope")
    return mine


def classify(session: Session, incident_id: int, actor: Actor, *, category_code: str,
             severity: str | None = None, colour: str | None = None, now: datetime | None = None) -> Incident:
    """分类登记: set the category (and so the route and SLA) of a received or reopened incident."""
    now = now or utcnow()
    incident = _begin(session, incident_id, "classify", actor)
    category = session.get(Category, category_code)
    if category is None:
        raise _refuse("classify", incident, f"unknown category {category_code!r}")
    severity = severity or category.default_severity
    colour = colour or category.default_colour
    if severity not in SEVERITIES or colour not in COLOURS:
        raise _refuse("classify", incident, f"severity must be one of {SEVERITIES}, colour one of {COLOURS}")
    queue, department = route(category)
    _apply(session, incident, "classify", actor, now,
           {"category": category.code, "severity": severity, "colour": colour, "queue": queue, "department": department})
    incident.category_code, incident.severity, incident.colour = category.code, severity, colour
    incident.queue, incident.department = queue, department
    incident.handling_level = raise_level(incident.handling_level, COLOUR_POLICY[colour].handling_level)
    incident.resolve_deadline = incident.created_at + sla_for(category, severity).resolve
    if incident.resolve_deadline < now:  # reclassified late: give the new owner one full period
        incident.resolve_deadline = now + sla_for(category, severity).resolve
    session.flush()
    return incident


def dispatch(session: Session, incident_id: int, actor: Actor, *, responder_ids: list[int] | None = None,
             departments: list[str] | None = None, auto: bool = False, note: str = "",
             now: datetime | None = None) -> Incident:
    """分流转办: assign one or more responders and/or departments (the first is the lead).

    ``auto=True`` without ``responder_ids`` picks the top recommendation. Several
    departments on one incident is 中心吹哨、部门报到.
    """
    now = now or utcnow()
    incident = _begin(session, incident_id, "dispatch", actor)
    chosen: list[Responder] = []
    for rid in responder_ids or []:
        responder = session.get(Responder, rid)
        if responder is None:
            raise _refuse("dispatch", incident, f"responder {rid} does not exist")
        if responder.status == "offline":
            raise _refuse("dispatch", incident, f"responder {responder.name} is offline")
        chosen.append(responder)
    if auto and not chosen and not departments:
        recommendations = recommend_responders(session, incident, limit=1)
        if not recommendations:
            raise _refuse("dispatch", incident, f"no available responder for queue {incident.queue}; choose one or escalate")
        chosen.append(recommendations[0].responder)
    if not chosen and not departments:
        raise _refuse("dispatch", incident, "name at least one responder or department (or use auto dispatch)")
    for assignment in active_assignments(incident):  # a re-dispatch replaces the previous parties
        release(assignment, "cancelled", now)
    lead = True
    for responder in chosen:
        create_assignment(session, incident, assigned_by=actor.username, now=now, responder=responder, lead=lead, note=note)
        lead = False
    for department in departments or []:
        desk = next(iter(session.query(Responder).filter(Responder.kind == "department", Responder.department == department,
                                                         Responder.status != "offline").limit(1)), None)
        create_assignment(session, incident, assigned_by=actor.username, now=now, responder=desk,
                          department=department, lead=lead, note=note)
        lead = False
    session.flush()
    _apply(session, incident, "dispatch", actor, now, {
        "responders": [r.id for r in chosen], "departments": departments or [], "auto": auto, "note": note,
    })
    incident.dispatched_at = now
    session.flush()
    return incident


def acknowledge(session: Session, incident_id: int, actor: Actor, *, now: datetime | None = None) -> Incident:
    """签收: the responder (or an operator on their behalf) accepts the assignment; the ack timer stops."""
    now = now or utcnow()
    incident = _begin(session, incident_id, "acknowledge", actor)
    mine = _own_assignment(incident, actor, "acknowledge")
    targets = mine or [a for a in active_assignments(incident) if a.status == "pending"]
    for assignment in targets:
        assignment.status, assignment.acknowledged_at = "acknowledged", now
    _apply(session, incident, "acknowledge", actor, now, {"assignments": [a.id for a in targets]})
    incident.acknowledged_at = now
    incident.ack_deadline = None
    session.flush()
    return incident


def arrive(session: Session, incident_id: int, actor: Actor, *, lat: float | None = None, lon: float | None = None,
           now: datetime | None = None) -> Incident:
    now = now or utcnow()
    incident = _begin(session, incident_id, "arrive", actor)
    _own_assignment(incident, actor, "arrive")
    _apply(session, incident, "arrive", actor, now, {"lat": lat, "lon": lon})
    session.flush()
    return incident


def reject(session: Session, incident_id: int, actor: Actor, *, reason: str, now: datetime | None = None) -> Incident:
    """退回: the responder hands the incident back to the dispatcher with a reason."""
    now = now or utcnow()
    incident = _begin(session, incident_id, "reject", actor)
    if not reason.strip():
        raise _refuse("reject", incident, "a reason is required to hand an incident back")
    mine = _own_assignment(incident, actor, "reject")
    for assignment in mine or active_assignments(incident):
        release(assignment, "rejected", now)
        assignment.note = reason
    _apply(session, incident, "reject", actor, now, {"reason": reason})
    session.flush()
    return incident


def resolve(session: Session, incident_id: int, actor: Actor, *, result: str, now: datetime | None = None) -> Incident:
    """办结: the handling result is recorded; responders are free again."""
    now = now or utcnow()
    incident = _begin(session, incident_id, "resolve", actor)
    if not result.strip():
        raise _refuse("resolve", incident, "describe the handling result (办结情况) to resolve")
    _own_assignment(incident, actor, "resolve")
    for assignment in active_assignments(incident):
        release(assignment, "done", now)
    _apply(session, incident, "resolve", actor, now, {"result": result})
    incident.resolved_at = now
    session.flush()
    return incident


def evaluate(session: Session, incident_id: int, actor: Actor, *, satisfaction: int, comment: str = "",
             now: datetime | None = None) -> Incident:
    """群众评价: the citizen's rating, 1 (very dissatisfied) … 5 (very satisfied)."""
    now = now or utcnow()
    incident = _begin(session, incident_id, "evaluate", actor)
    if not 1 <= int(satisfaction) <= 5:
        raise _refuse("evaluate", incident, f"satisfaction must be 1..5, got {satisfaction}")
    session.add(Evaluation(incident_id=incident.id, satisfaction=int(satisfaction), comment=comment,
                           recorded_by=actor.username, at=now))
    _apply(session, incident, "evaluate", actor, now, {"satisfaction": int(satisfaction), "comment": comment})
    incident.satisfaction = int(satisfaction)
    incident.next_revisit_at = now + COLOUR_POLICY[incident.colour].revisit_every
    session.flush()
    return incident


def revisit(session: Session, incident_id: int, actor: Actor, *, outcome: str, satisfied: bool | None = None,
            now: datetime | None = None) -> Incident:
    """回访: the follow-up call/visit after evaluation."""
    now = now or utcnow()
    incident = _begin(session, incident_id, "revisit", actor)
    session.add(Revisit(incident_id=incident.id, outcome=outcome, satisfied=satisfied, recorded_by=actor.username, at=now))
    _apply(session, incident, "revisit", actor, now, {"outcome": outcome, "satisfied": satisfied})
    incident.next_revisit_at = None
    session.flush()
    return incident


def close(session: Session, incident_id: int, actor: Actor, *, now: datetime | None = None) -> Incident:
    now = now or utcnow()
    incident = _begin(session, incident_id, "close", actor)
    if incident.colour in ("orange", "red") and incident.status != "revisited":
        raise _refuse("close", incident, f"a {incident.colour} incident must be revisited (回访) before it is closed")
    _apply(session, incident, "close", actor, now)
    incident.closed_at = now
    session.flush()
    return incident


def mark_false_alarm(session: Session, incident_id: int, actor: Actor, *, reason: str,
                     mute_minutes: int | None = None, now: datetime | None = None) -> Incident:
    """误报. With ``mute_minutes`` the rule that raised it is muted on its camera for that long
    (command.alarms), so the same false alarm does not open a new incident a second later."""
    now = now or utcnow()
    incident = _begin(session, incident_id, "false_alarm", actor)
    for assignment in active_assignments(incident):
        release(assignment, "cancelled", now)
    _apply(session, incident, "false_alarm", actor, now, {"reason": reason, "mute_minutes": mute_minutes})
    incident.closed_at = now
    if mute_minutes:
        mute_incident_rule(session, incident, actor, minutes=mute_minutes, reason=reason or "标记误报",
                           kind="false_alarm", now=now)
    session.flush()
    return incident


def reopen(session: Session, incident_id: int, actor: Actor, *, reason: str, now: datetime | None = None) -> Incident:
    now = now or utcnow()
    incident = _begin(session, incident_id, "reopen", actor)
    if not reason.strip():
        raise _refuse("reopen", incident, "a reason is required to reopen")
    _apply(session, incident, "reopen", actor, now, {"reason": reason})
    incident.resolved_at = incident.closed_at = None
    category = session.get(Category, incident.category_code)
    if category is not None:
        incident.resolve_deadline = now + sla_for(category, incident.severity).resolve
    incident.overdue = False
    session.flush()
    return incident


def escalate(session: Session, incident_id: int, actor: Actor, *, reason: str, now: datetime | None = None,
             automatic: bool = False) -> Incident:
    """上报上级: hand the incident to the centre one level above the one handling it now
    (village → township → county; an operator's own centre counts as handling it). At the
    county there is no higher level. The SLA timers escalate through here too (``automatic``)."""
    now = now or utcnow()
    incident = get_incident(session, incident_id)
    check_transition("escalate", incident.status, actor, incident.jurisdiction_code)
    new_level = escalation_target(incident.handling_level, actor)
    if new_level is None:
        raise _refuse("escalate", incident, "already handled by the county centre; there is no higher level (县级为最高层级，无法上报)")
    claim(session, incident, "escalate")
    for assignment in active_assignments(incident):
        release(assignment, "cancelled", now)
    _apply(session, incident, "escalate", actor, now, {"reason": reason, "from_level": incident.handling_level,
                                                      "to_level": new_level, "automatic": automatic})
    incident.handling_level = new_level
    incident.escalation_count = (incident.escalation_count or 0) + 1
    session.flush()
    return incident


def raise_handling_level(session: Session, incident: Incident, actor: Actor, now: datetime, *, reason: str) -> bool:
    """督办 escalation of an overdue incident: the level above takes it over, the status (and the
    work in progress) stays. Counted and audited like 上报上级; False at the county."""
    new_level = escalation_target(incident.handling_level, actor)
    if new_level is None:
        return False
    claim(session, incident, "escalate")
    audit(session, actor, "escalate", incident=incident, from_status=incident.status, to_status=incident.status,
          detail={"reason": reason, "from_level": incident.handling_level, "to_level": new_level, "automatic": True},
          now=now)
    incident.handling_level = new_level
    incident.escalation_count = (incident.escalation_count or 0) + 1
    incident.updated_at = now
    return True


def set_colour(session: Session, incident_id: int, actor: Actor, *, colour: str, reason: str,
               now: datetime | None = None) -> Incident:
    """Change an incident's four-colour risk grade (audited); red/orange raise the handling level."""
    now = now or utcnow()
    incident = get_incident(session, incident_id)
    if colour not in COLOURS:
        raise _refuse("set_colour", incident, f"colour must be one of {', '.join(COLOURS)}")
    if actor.role not in ("admin", "county_operator", "township_operator", "village_operator", "system"):
        raise TransitionRefused("set_colour", incident.status, f"role {actor.role!r} may not change the risk colour", "role")
    if actor.role != "system" and not incident.jurisdiction_code.startswith(actor.jurisdiction_code):
        raise TransitionRefused("set_colour", incident.status, "incident is outside your jurisdiction", "scope")
    if colour == incident.colour:
        return incident
    claim(session, incident, "set_colour")
    before = incident.colour
    incident.colour = colour
    incident.handling_level = raise_level(incident.handling_level, COLOUR_POLICY[colour].handling_level)
    incident.updated_at = now
    audit(session, actor, "set_colour", incident=incident, from_status=incident.status, to_status=incident.status,
          detail={"from": before, "to": colour, "reason": reason, "handling_level": incident.handling_level}, now=now)
    session.flush()
    return incident


def escalate_mediation(session: Session, incident_id: int, actor: Actor, *, reason: str,
                       now: datetime | None = None) -> Incident:
    """Disputes go through three levels of mediation (village 人民调解 → township → county) before litigation."""
    now = now or utcnow()
    incident = get_incident(session, incident_id)
    if incident.category_code != "dispute":
        raise _refuse("escalate_mediation", incident, "only 矛盾纠纷 (dispute) incidents are mediated")
    if not incident.is_open:
        raise _refuse("escalate_mediation", incident, f"incident is {incident.status}")
    if actor.role not in ("admin", "county_operator", "township_operator", "village_operator"):
        raise TransitionRefused("escalate_mediation", incident.status, f"role {actor.role!r} may not escalate mediation", "role")
    if incident.mediation_level >= 3:
        raise _refuse("escalate_mediation", incident, "three levels of mediation are exhausted; refer to arbitration or the court")
    claim(session, incident, "escalate_mediation")
    incident.mediation_level += 1
    incident.handling_level = HANDLING_LEVELS[min(incident.mediation_level - 1, 2)]
    incident.updated_at = now
    audit(session, actor, "escalate_mediation", incident=incident, from_status=incident.status, to_status=incident.status,
          detail={"level": incident.mediation_level, "reason": reason}, now=now)
    session.flush()
    return incident
