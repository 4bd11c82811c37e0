"""Four-colour risk on places and persons of concern (incidents: ``lifecycle.set_colour``).

The colour sets the revisit frequency and the lowest centre allowed to handle the subject
(``catalog.COLOUR_POLICY``); every change is audited with who, when, why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from command import jurisdictions
from command.catalog import COLOUR_POLICY, COLOURS
from command.incidents import NotFound, audit, level_for_code, raise_level
from command.models import Revisit, RiskSubject, utcnow
from command.workflow import OPERATORS, Actor, TransitionRefused


def _check(actor: Actor, code: str, action: str) -> None:
    if actor.role not in OPERATORS and actor.role != "system":
        raise TransitionRefused(action, None, f"role {actor.role!r} may not {action}", "role")
    if actor.role != "system" and not code.startswith(actor.jurisdiction_code):
        raise TransitionRefused(action, None, f"{code} is outside {actor.username}'s jurisdiction", "scope")


def create_risk_subject(session: Session, actor: Actor, *, kind: str, name: str, jurisdiction_code: str,
                        colour: str = "blue", note: str = "", lat: float | None = None, lon: float | None = None,
                        now: datetime | None = None) -> RiskSubject:
    """Register a place (e.g. a reservoir, a construction site) or a person of concern."""
    now = now or utcnow()
    if kind not in ("place", "person"):
        raise ValueError(f"kind must be 'place' or 'person', got {kind!r}")
    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {', '.join(COLOURS)}")
    jurisdictions.validate_code(jurisdiction_code)
    _check(actor, jurisdiction_code, "create_risk_subject")
    policy = COLOUR_POLICY[colour]
    subject = RiskSubject(kind=kind, name=name, jurisdiction_code=jurisdiction_code, colour=colour,
                          handling_level=raise_level(level_for_code(jurisdiction_code), policy.handling_level),
                          note=note, lat=lat, lon=lon, next_revisit_at=now + policy.revisit_every, updated_at=now)
    session.add(subject)
    session.flush()
    audit(session, actor, "create_risk_subject", subject_type="risk_subject", subject_id=str(subject.id),
          detail={"kind": kind, "name": name, "colour": colour}, now=now)
    session.flush()
    return subject


def get_risk_subject(session: Session, subject_id: int, scope: str | None = None) -> RiskSubject:
    subject = session.get(RiskSubject, subject_id)
    if subject is None or (scope is not None and not subject.jurisdiction_code.startswith(scope)):
        raise NotFound(f"risk subject {subject_id} not found")
    return subject


def set_risk_colour(session: Session, subject_id: int, actor: Actor, *, colour: str, reason: str,
                    now: datetime | None = None) -> RiskSubject:
    """Re-grade a subject; the next revisit is rescheduled from now at the new colour's frequency."""
    now = now or utcnow()
    subject = get_risk_subject(session, subject_id)
    _check(actor, subject.jurisdiction_code, "set_risk_colour")
    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {', '.join(COLOURS)}")
    if not reason.strip():
        raise TransitionRefused("set_risk_colour", None, "a reason is required to change a risk colour", "precondition")
    before = subject.colour
    policy = COLOUR_POLICY[colour]
    subject.colour = colour
    subject.handling_level = raise_level(level_for_code(subject.jurisdiction_code), policy.handling_level)
    subject.next_revisit_at = now + policy.revisit_every
    subject.updated_at = now
    audit(session, actor, "set_colour", subject_type="risk_subject", subject_id=str(subject.id),
          detail={"from": before, "to": colour, "reason": reason, "handling_level": subject.handling_level}, now=now)
    session.flush()
    return subject


def record_risk_revisit(session: Session, subject_id: int, actor: Actor, *, outcome: str,
                        now: datetime | None = None) -> Revisit:
    now = now or utcnow()
    subject = get_risk_subject(session, subject_id)
    _check(actor, subject.jurisdiction_code, "record_risk_revisit")
    visit = Revisit(risk_subject_id=subject.id, outcome=outcome, recorded_by=actor.username, at=now)
    session.add(visit)
    subject.next_revisit_at = now + COLOUR_POLICY[subject.colour].revisit_every
    subject.updated_at = now
    audit(session, actor, "revisit", subject_type="risk_subject", subject_id=str(subject.id), detail={"outcome": outcome}, now=now)
    session.flush()
    return visit


def due_revisits(session: Session, scope: str, *, now: datetime | None = None) -> list[RiskSubject]:
    """Subjects in ``scope`` whose revisit is due, most urgent colour first."""
    now = now or utcnow()
    rows = session.scalars(
        select(RiskSubject).where(jurisdictions.scope_filter(RiskSubject.jurisdiction_code, scope),
                                  RiskSubject.next_revisit_at <= now)
    )
    order = {c: i for i, c in enumerate(reversed(COLOURS))}
    return sorted(rows, key=lambda s: (order[s.colour], s.next_revisit_at))
