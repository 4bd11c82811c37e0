"""Every workflow step, table-driven. :func:`perform` is the one sequence each action goes
through — clock, load, state machine (state, role, scope), compare-and-set claim, the
responder's own assignment, the action's own checks and changes, the state change with its
audit row, the time stamp, the flush (the caller commits) — and :data:`STEPS` is the table of
what differs per action. The public functions (``classify`` … ``escalate``) only build a step.

All take ``now`` so tests (and replays) control the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from command.alarms import mute_incident_rule
from command.db import rowcount
from command.catalog import COLOUR_POLICY, COLOURS, SEVERITIES, sla_for
from command.dispatch import active_assignments, create_assignment, recommend_responders, release
from command.incidents import audit, get_incident, raise_level, route
from command.jurisdictions import HANDLING_LEVELS
from command.models import Assignment, Category, Evaluation, Incident, Responder, Revisit, utcnow
from command.workflow import (
    CLOSED_STATES,
    TRANSITIONS,
    Actor,
    TransitionRefused,
    check_transition,
    conflict,
    escalation_target,
)

Detail = dict[str, Any]  # the audit row's JSON detail
Stamp = Literal["dispatched_at", "acknowledged_at", "resolved_at", "closed_at"]


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
    if rowcount(done) != 1:
        raise conflict(action, incident.status)
    set_committed_value(incident, "version", read + 1)


@dataclass
class Ctx:
    """What a step works on: the claimed incident, who acts, the clock, the responder's own assignments."""

    session: Session
    incident: Incident
    actor: Actor
    now: datetime
    action: str
    mine: list[Assignment] = field(default_factory=list)

    def refuse(self, reason: str) -> TransitionRefused:
        """The action's own precondition is not met."""
        return TransitionRefused(self.action, self.incident.status, reason, "precondition")


class Step:
    """One row of the table: what an action does around :func:`perform`'s shared sequence.

    ``own``: a responder must hold an active assignment on the incident (its assignments are ``ctx.mine``).
    ``release``: the incident's active assignments end with this status after :meth:`change`.
    ``stamp``: the incident's time column set to ``now`` with the state change.
    ``audit_as``: the audit row's action when it is not the transition's name.
    """

    action: ClassVar[str]
    own: ClassVar[bool] = False
    release: ClassVar[str | None] = None
    stamp: ClassVar[Stamp | None] = None
    audit_as: ClassVar[str | None] = None

    def check(self, ctx: Ctx) -> None:
        """Refusals decided before the claim (nothing written yet)."""

    def change(self, ctx: Ctx) -> Detail | None:
        """Checks and changes before the state change; returns the audit detail."""
        return None

    def after(self, ctx: Ctx) -> None:
        """Changes that follow the state change."""


def _begin(session: Session, incident_id: int, step: Step, actor: Actor, now: datetime) -> Ctx:
    incident = get_incident(session, incident_id)
    check_transition(step.action, incident.status, actor, incident.jurisdiction_code)
    ctx = Ctx(session, incident, actor, now, step.action)
    step.check(ctx)
    claim(session, incident, step.action)
    if step.own:
        ctx.mine = _own_assignment(incident, actor, step.action)
    return ctx


def perform(session: Session, incident_id: int, actor: Actor, step: Step, now: datetime | None = None) -> Incident:
    """Run ``step`` on the incident: the one sequence every workflow action shares (see the module doc)."""
    ctx = _begin(session, incident_id, step, actor, now or utcnow())
    incident = ctx.incident
    detail = step.change(ctx)
    if step.release:
        for assignment in active_assignments(incident):
            release(assignment, step.release, ctx.now)
    transition = check_transition(step.action, incident.status, actor, incident.jurisdiction_code)
    before = incident.status
    after = transition.target or before  # None: the status stays (督办 raises the level only)
    incident.status = after
    incident.is_open = after not in CLOSED_STATES
    incident.updated_at = ctx.now
    audit(session, actor, step.audit_as or step.action, incident=incident, from_status=before, to_status=after,
          detail=detail, now=ctx.now)
    if step.stamp:
        setattr(incident, step.stamp, ctx.now)
    step.after(ctx)
    session.flush()
    return incident


def _own_assignment(incident: Incident, actor: Actor, action: str) -> list[Assignment]:
    """For a responder: their active assignment on this incident, else refuse."""
    mine = [a for a in active_assignments(incident) if actor.responder_id is not None and a.responder_id == actor.responder_id]
    if actor.role == "responder" and not mine:
        raise TransitionRefused(action, incident.status, f"incident {incident.id} is not assigned to {actor.username}", "scope")
    return mine


def _refuse(action: str, incident: Incident, reason: str) -> TransitionRefused:
    return TransitionRefused(action, incident.status, reason, "precondition")


# ---- the table ------------------------------------------------------------------------------------


@dataclass
class Classify(Step):
    """分类登记: set the category (and so the route and SLA) of a received or reopened incident."""

    action = "classify"
    category_code: str
    severity: str | None = None
    colour: str | None = None

    def change(self, ctx: Ctx) -> Detail:
        incident = ctx.incident
        category = ctx.session.get(Category, self.category_code)
        if category is None:
            raise ctx.refuse(f"unknown category {self.category_code!r}")
        severity = self.severity or category.default_severity
        colour = self.colour or category.default_colour
        if severity not in SEVERITIES or colour not in COLOURS:
            raise ctx.refuse(f"severity must be one of {SEVERITIES}, colour one of {COLOURS}")
        queue, department = route(category)
        incident.category_code, incident.severity, incident.colour = category.code, severity, colour
        incident.queue, incident.department = queue, department
        incident.handling_level = raise_level(incident.handling_level, COLOUR_POLICY[colour].handling_level)
        incident.resolve_deadline = incident.created_at + sla_for(category, severity).resolve
        if incident.resolve_deadline < ctx.now:  # reclassified late: give the new owner one full period
            incident.resolve_deadline = ctx.now + sla_for(category, severity).resolve
        return {"category": category.code, "severity": severity, "colour": colour, "queue": queue, "department": department}


@dataclass
class Dispatch(Step):
    """分流转办: assign one or more responders and/or departments (the first is the lead).

    ``auto=True`` without ``responder_ids`` picks the top recommendation. Several
    departments on one incident is 中心吹哨、部门报到.
    """

    action = "dispatch"
    stamp = "dispatched_at"
    responder_ids: list[int] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    auto: bool = False
    note: str = ""

    def change(self, ctx: Ctx) -> Detail:
        session, incident = ctx.session, ctx.incident
        chosen: list[Responder] = []
        for rid in self.responder_ids:
            responder = session.get(Responder, rid)
            if responder is None:
                raise ctx.refuse(f"responder {rid} does not exist")
            if responder.status == "offline":
                raise ctx.refuse(f"responder {responder.name} is offline")
            chosen.append(responder)
        if self.auto and not chosen and not self.departments:
            recommendations = recommend_responders(session, incident, limit=1)
            if not recommendations:
                raise ctx.refuse(f"no available responder for queue {incident.queue}; choose one or escalate")
            chosen.append(recommendations[0].responder)
        if not chosen and not self.departments:
            raise ctx.refuse("name at least one responder or department (or use auto dispatch)")
        for assignment in active_assignments(incident):  # a re-dispatch replaces the previous parties
            release(assignment, "cancelled", ctx.now)
        lead = True
        for responder in chosen:
            create_assignment(session, incident, assigned_by=ctx.actor.username, now=ctx.now, responder=responder,
                              lead=lead, note=self.note)
            lead = False
        for department in self.departments:
            desk = session.scalars(select(Responder).where(
                Responder.kind == "department", Responder.department == department, Responder.status != "offline",
            ).limit(1)).first()
            create_assignment(session, incident, assigned_by=ctx.actor.username, now=ctx.now, responder=desk,
                              department=department, lead=lead, note=self.note)
            lead = False
        session.flush()
        return {"responders": [r.id for r in chosen], "departments": self.departments, "auto": self.auto, "note": self.note}


@dataclass
class Acknowledge(Step):
    """签收: the responder (or an operator on their behalf) accepts the assignment; the ack timer stops."""

    action = "acknowledge"
    own = True
    stamp = "acknowledged_at"

    def change(self, ctx: Ctx) -> Detail:
        targets = ctx.mine or [a for a in active_assignments(ctx.incident) if a.status == "pending"]
        for assignment in targets:
            assignment.status, assignment.acknowledged_at = "acknowledged", ctx.now
        ctx.incident.ack_deadline = None
        return {"assignments": [a.id for a in targets]}


@dataclass
class Arrive(Step):
    """到场: the responder is on scene."""

    action = "arrive"
    own = True
    lat: float | None = None
    lon: float | None = None

    def change(self, ctx: Ctx) -> Detail:
        return {"lat": self.lat, "lon": self.lon}


@dataclass
class Reject(Step):
    """退回: the responder hands the incident back to the dispatcher with a reason."""

    action = "reject"
    reason: str

    def change(self, ctx: Ctx) -> Detail:
        if not self.reason.strip():
            raise ctx.refuse("a reason is required to hand an incident back")
        mine = _own_assignment(ctx.incident, ctx.actor, self.action)
        for assignment in mine or active_assignments(ctx.incident):
            release(assignment, "rejected", ctx.now)
            assignment.note = self.reason
        return {"reason": self.reason}


@dataclass
class Resolve(Step):
    """办结: the handling result is recorded; responders are free again."""

    action = "resolve"
    release = "done"
    stamp = "resolved_at"
    result: str

    def change(self, ctx: Ctx) -> Detail:
        if not self.result.strip():
            raise ctx.refuse("describe the handling result (办结情况) to resolve")
        _own_assignment(ctx.incident, ctx.actor, self.action)
        return {"result": self.result}


@dataclass
class Evaluate(Step):
    """群众评价: the citizen's rating, 1 (very dissatisfied) … 5 (very satisfied)."""

    action = "evaluate"
    satisfaction: int
    comment: str = ""

    def change(self, ctx: Ctx) -> Detail:
        if not 1 <= int(self.satisfaction) <= 5:
            raise ctx.refuse(f"satisfaction must be 1..5, got {self.satisfaction}")
        ctx.session.add(Evaluation(incident_id=ctx.incident.id, satisfaction=int(self.satisfaction), comment=self.comment,
                                   recorded_by=ctx.actor.username, at=ctx.now))
        ctx.incident.satisfaction = int(self.satisfaction)
        ctx.incident.next_revisit_at = ctx.now + COLOUR_POLICY[ctx.incident.colour].revisit_every
        return {"satisfaction": int(self.satisfaction), "comment": self.comment}


@dataclass
class RevisitStep(Step):
    """回访: the follow-up call/visit after evaluation."""

    action = "revisit"
    outcome: str
    satisfied: bool | None = None

    def change(self, ctx: Ctx) -> Detail:
        ctx.session.add(Revisit(incident_id=ctx.incident.id, outcome=self.outcome, satisfied=self.satisfied,
                                recorded_by=ctx.actor.username, at=ctx.now))
        ctx.incident.next_revisit_at = None
        return {"outcome": self.outcome, "satisfied": self.satisfied}


@dataclass
class Close(Step):
    """结案."""

    action = "close"
    stamp = "closed_at"

    def change(self, ctx: Ctx) -> None:
        if ctx.incident.colour in ("orange", "red") and ctx.incident.status != "revisited":
            raise ctx.refuse(f"a {ctx.incident.colour} incident must be revisited (回访) before it is closed")


@dataclass
class FalseAlarm(Step):
    """误报. With ``mute_minutes`` the rule that raised it is muted on its camera for that long
    (command.alarms), so the same false alarm does not open a new incident a second later."""

    action = "false_alarm"
    release = "cancelled"
    stamp = "closed_at"
    reason: str
    mute_minutes: int | None = None

    def change(self, ctx: Ctx) -> Detail:
        return {"reason": self.reason, "mute_minutes": self.mute_minutes}

    def after(self, ctx: Ctx) -> None:
        if self.mute_minutes:
            mute_incident_rule(ctx.session, ctx.incident, ctx.actor, minutes=self.mute_minutes,
                               reason=self.reason or "标记误报", kind="false_alarm", now=ctx.now)


@dataclass
class Reopen(Step):
    """重新打开."""

    action = "reopen"
    reason: str

    def change(self, ctx: Ctx) -> Detail:
        if not self.reason.strip():
            raise ctx.refuse("a reason is required to reopen")
        incident = ctx.incident
        incident.resolved_at = incident.closed_at = None
        category = ctx.session.get(Category, incident.category_code)
        if category is not None:
            incident.resolve_deadline = ctx.now + sla_for(category, incident.severity).resolve
        incident.overdue = False
        return {"reason": self.reason}


@dataclass
class Escalate(Step):
    """上报上级: hand the incident to the centre one level above the one handling it now
    (village → township → county; an operator's own centre counts as handling it). At the
    county there is no higher level. The SLA timers escalate through here too (``automatic``)."""

    action = "escalate"
    release: ClassVar[str | None] = "cancelled"
    reason: str
    automatic: bool = False

    def check(self, ctx: Ctx) -> None:
        if escalation_target(ctx.incident.handling_level, ctx.actor) is None:
            raise ctx.refuse("already handled by the county centre; there is no higher level (县级为最高层级，无法上报)")

    def change(self, ctx: Ctx) -> Detail:
        return {"reason": self.reason, "from_level": ctx.incident.handling_level,
                "to_level": escalation_target(ctx.incident.handling_level, ctx.actor), "automatic": self.automatic}

    def after(self, ctx: Ctx) -> None:
        _raise_level(ctx)


@dataclass
class RaiseLevel(Escalate):
    """督办 escalation of an overdue incident: the level above takes it over, the status (and the work
    in progress) stays. Audited and counted like 上报上级."""

    action = "raise_level"
    release = None
    audit_as = "escalate"
    automatic: bool = True


def _raise_level(ctx: Ctx) -> None:
    ctx.incident.handling_level = escalation_target(ctx.incident.handling_level, ctx.actor) or ctx.incident.handling_level
    ctx.incident.escalation_count = (ctx.incident.escalation_count or 0) + 1


STEPS: dict[str, type[Step]] = {step.action: step for step in (
    Classify, Dispatch, Acknowledge, Arrive, Reject, Resolve, Evaluate, RevisitStep, Close, FalseAlarm, Reopen, Escalate,
    RaiseLevel)}
if set(STEPS) != set(TRANSITIONS):  # every transition of command.workflow has exactly one step here
    raise RuntimeError(f"steps {sorted(STEPS)} do not match the transitions {sorted(TRANSITIONS)}")


# ---- the public functions (one per action) --------------------------------------------------------


def classify(session: Session, incident_id: int, actor: Actor, *, category_code: str,
             severity: str | None = None, colour: str | None = None, now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, Classify(category_code, severity, colour), now)


def dispatch(session: Session, incident_id: int, actor: Actor, *, responder_ids: list[int] | None = None,
             departments: list[str] | None = None, auto: bool = False, note: str = "",
             now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, Dispatch(list(responder_ids or []), list(departments or []), auto, note), now)


def acknowledge(session: Session, incident_id: int, actor: Actor, *, now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, Acknowledge(), now)


def arrive(session: Session, incident_id: int, actor: Actor, *, lat: float | None = None, lon: float | None = None,
           now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, Arrive(lat, lon), now)


def reject(session: Session, incident_id: int, actor: Actor, *, reason: str, now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, Reject(reason), now)


def resolve(session: Session, incident_id: int, actor: Actor, *, result: str, now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, Resolve(result), now)


def evaluate(session: Session, incident_id: int, actor: Actor, *, satisfaction: int, comment: str = "",
             now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, Evaluate(satisfaction, comment), now)


def revisit(session: Session, incident_id: int, actor: Actor, *, outcome: str, satisfied: bool | None = None,
            now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, RevisitStep(outcome, satisfied), now)


def close(session: Session, incident_id: int, actor: Actor, *, now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, Close(), now)


def mark_false_alarm(session: Session, incident_id: int, actor: Actor, *, reason: str,
                     mute_minutes: int | None = None, now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, FalseAlarm(reason, mute_minutes), now)


def reopen(session: Session, incident_id: int, actor: Actor, *, reason: str, now: datetime | None = None) -> Incident:
    return perform(session, incident_id, actor, Reopen(reason), now)


def escalate(session: Session, incident_id: int, actor: Actor, *, reason: str, now: datetime | None = None,
             automatic: bool = False) -> Incident:
    return perform(session, incident_id, actor, Escalate(reason, automatic), now)


def raise_handling_level(session: Session, incident: Incident, actor: Actor, now: datetime, *, reason: str) -> bool:
    """督办: the level above takes the overdue incident over (:class:`RaiseLevel`); False at the county."""
    try:
        perform(session, incident.id, actor, RaiseLevel(reason), now)
    except TransitionRefused as exc:
        if exc.kind != "precondition":
            raise
        return False
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
