"""交接班: the duty roster of each centre and the handover between shifts.

A centre is a jurisdiction code (the county centre 330381, a township centre 330381101 …).
The roster holds who is on duty when. At the end of a shift the outgoing operator gives a
handover: the centre's open cases that need its attention (handled at its level, supervised
or overdue) and the overdue ones, each as it stood then, with a note per case. The incoming
operator — the one named, or the next on the roster, or else any other operator of the centre —
acknowledges it. Every step is an audit row (subject ``duty_shift`` / ``handover``).

Refusals raise :class:`HandoverError` with a stable ``code`` and a zh-CN ``message``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from command.accounts import OPERATOR_ROLES, get_user
from command.incidents import audit
from command.jurisdictions import level_of
from command.models import DutyShift, Handover, HandoverItem, Incident, User, utcnow
from command.workflow import Actor

MAX_ITEMS = 500
MAX_SHIFT = timedelta(hours=24)
COLOUR_RANK = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}


class HandoverError(ValueError):
    """A roster or handover request that cannot be done: stable ``code``, zh-CN ``message``."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status


@dataclass(frozen=True)
class DraftItem:
    incident_id: int
    title: str
    status: str
    colour: str
    overdue: bool
    resolve_deadline: datetime | None
    jurisdiction_code: str
    supervised: bool


@dataclass(frozen=True)
class Draft:
    """What a handover given now would list."""

    centre_code: str
    open_items: list[DraftItem]
    open_total: int  # every open case in the centre's scope, listed or not
    overdue_count: int


def _check_operator(actor: Actor, centre_code: str) -> None:
    if actor.role not in OPERATOR_ROLES:
        raise HandoverError("handover.role", "只有值班操作员可以交接班", status=403)
    if not centre_code.startswith(actor.jurisdiction_code):
        raise HandoverError("handover.scope", "该中心不在您的管辖范围内", "centre_code", status=404)


def _centre_user(session: Session, username: str, centre_code: str, field: str) -> User:
    user = get_user(session, username)
    if user is None or not user.active or user.role not in OPERATOR_ROLES or user.jurisdiction_code != centre_code:
        raise HandoverError("handover.bad_user", f"{username} 不是本中心（{centre_code}）的在岗操作员", field, status=422)
    return user


# ---- roster ------------------------------------------------------------------------------


def add_shift(session: Session, actor: Actor, centre_code: str, username: str, starts_at: datetime,
              ends_at: datetime, *, now: datetime | None = None) -> DutyShift:
    """Put ``username`` (an operator of the centre) on the roster; shifts of one person never overlap."""
    _check_operator(actor, centre_code)
    if actor.role == "village_operator":
        raise HandoverError("handover.role", "村级操作员不能排班", status=403)
    _centre_user(session, username, centre_code, "username")
    if ends_at <= starts_at:
        raise HandoverError("handover.bad_shift", "下班时间须晚于上班时间", "ends_at", status=422)
    if ends_at - starts_at > MAX_SHIFT:
        raise HandoverError("handover.bad_shift", "单个班次不能超过 24 小时", "ends_at", status=422)
    clash = session.scalar(select(DutyShift).where(
        DutyShift.username == username, DutyShift.starts_at < ends_at, DutyShift.ends_at > starts_at))
    if clash is not None:
        raise HandoverError("handover.overlap", f"{username} 在该时段已有班次（#{clash.id}）", "starts_at")
    shift = DutyShift(centre_code=centre_code, username=username, starts_at=starts_at, ends_at=ends_at,
                      created_by=actor.username, created_at=now or utcnow())
    session.add(shift)
    session.flush()
    audit(session, actor, "duty_shift_added", subject_type="duty_shift", subject_id=str(shift.id), now=now,
          detail={"centre_code": centre_code, "username": username, "starts_at": starts_at.isoformat(),
                  "ends_at": ends_at.isoformat()})
    return shift


def roster(session: Session, centre_code: str, since: datetime, until: datetime) -> list[DutyShift]:
    """Shifts of the centre overlapping [since, until), in start order."""
    return list(session.scalars(select(DutyShift).where(
        DutyShift.centre_code == centre_code, DutyShift.starts_at < until, DutyShift.ends_at > since,
    ).order_by(DutyShift.starts_at, DutyShift.id)))


def on_duty(session: Session, centre_code: str, at: datetime) -> DutyShift | None:
    return session.scalar(select(DutyShift).where(
        DutyShift.centre_code == centre_code, DutyShift.starts_at <= at, DutyShift.ends_at > at,
    ).order_by(DutyShift.starts_at.desc()).limit(1))


def next_on_duty(session: Session, centre_code: str, after: datetime, *, besides: str) -> DutyShift | None:
    """The next shift of someone other than ``besides`` starting at or after ``after`` − 1 h (an early relief)."""
    return session.scalar(select(DutyShift).where(
        DutyShift.centre_code == centre_code, DutyShift.username != besides,
        DutyShift.ends_at > after, DutyShift.starts_at >= after - timedelta(hours=1),
    ).order_by(DutyShift.starts_at, DutyShift.id).limit(1))


# ---- handover ----------------------------------------------------------------------------


def _scope(centre_code: str):
    column = {6: Incident.county_code, 9: Incident.township_code, 12: Incident.village_code}.get(len(centre_code))
    return (column if column is not None else Incident.jurisdiction_code) == centre_code


def draft(session: Session, centre_code: str, *, now: datetime | None = None) -> Draft:
    """The cases a handover given now would list: open, and handled at this centre's level, or 督办, or overdue."""
    now = now or utcnow()
    level = level_of(centre_code) if len(centre_code) in (6, 9) else "village"
    late = or_(Incident.overdue.is_(True), Incident.resolve_deadline < now)
    needs_centre = or_(Incident.handling_level == level, Incident.supervised.is_(True), late)
    where = and_(_scope(centre_code), Incident.is_open.is_(True))
    rank = case(COLOUR_RANK, value=Incident.colour, else_=9)
    rows = session.scalars(select(Incident).where(where, needs_centre)
                           .order_by(rank, Incident.resolve_deadline.is_(None), Incident.resolve_deadline, Incident.id)
                           .limit(MAX_ITEMS)).all()
    items = [DraftItem(i.id, i.title, i.status, i.colour,
                       bool(i.overdue or (i.resolve_deadline is not None and i.resolve_deadline < now)),
                       i.resolve_deadline, i.jurisdiction_code, i.supervised) for i in rows]
    open_total = session.scalar(select(func.count()).select_from(Incident).where(where)) or 0
    overdue = session.scalar(select(func.count()).select_from(Incident).where(where, late)) or 0
    return Draft(centre_code, items, int(open_total), int(overdue))


def give(session: Session, actor: Actor, *, note: str = "", to_user: str | None = None,
         item_notes: dict[int, str] | None = None, now: datetime | None = None) -> Handover:
    """The outgoing operator hands over the centre ``actor.jurisdiction_code`` (one pending handover at a time)."""
    centre_code = actor.jurisdiction_code
    _check_operator(actor, centre_code)
    now = now or utcnow()
    pending = session.scalar(select(Handover).where(Handover.centre_code == centre_code, Handover.status == "pending",
                                                    Handover.from_user == actor.username))
    if pending is not None:
        raise HandoverError("handover.pending", f"您已有一份待接班确认的交接（#{pending.id}），请等待接班人确认")
    if to_user is not None:
        if to_user == actor.username:
            raise HandoverError("handover.self", "不能交班给自己", "to_user", status=422)
        _centre_user(session, to_user, centre_code, "to_user")
    else:
        following = next_on_duty(session, centre_code, now, besides=actor.username)
        to_user = following.username if following else None
    current = draft(session, centre_code, now=now)
    notes = {int(k): v.strip()[:2000] for k, v in (item_notes or {}).items() if v and v.strip()}
    listed = {item.incident_id for item in current.open_items}
    unknown = sorted(set(notes) - listed)
    if unknown:
        raise HandoverError("handover.note_not_listed", f"备注的警情不在本次交接清单中：{'、'.join(f'#{i}' for i in unknown)}",
                            "item_notes", status=422)
    handover = Handover(centre_code=centre_code, from_user=actor.username, to_user=to_user, note=note.strip()[:5000],
                        status="pending", open_count=current.open_total, overdue_count=current.overdue_count,
                        created_at=now, ack_note="")
    handover.items = [HandoverItem(incident_id=i.incident_id, overdue=i.overdue, status=i.status, colour=i.colour,
                                   title=i.title, resolve_deadline=i.resolve_deadline, note=notes.get(i.incident_id, ""))
                      for i in current.open_items]
    session.add(handover)
    session.flush()
    audit(session, actor, "handover_given", subject_type="handover", subject_id=str(handover.id), now=now,
          detail={"centre_code": centre_code, "to_user": to_user, "items": len(handover.items),
                  "open": current.open_total, "overdue": current.overdue_count})
    return handover


def get(session: Session, handover_id: int, scope: str) -> Handover:
    handover = session.scalar(select(Handover).where(Handover.id == handover_id)
                              .options(selectinload(Handover.items)))
    if handover is None or not handover.centre_code.startswith(scope):
        raise HandoverError("handover.not_found", f"交接记录 #{handover_id} 不存在或不在您的管辖范围内", status=404)
    return handover


def acknowledge(session: Session, actor: Actor, handover_id: int, *, note: str = "",
                now: datetime | None = None) -> Handover:
    """The incoming operator confirms they took the listed cases over."""
    handover = get(session, handover_id, actor.jurisdiction_code)
    if actor.role not in OPERATOR_ROLES:
        raise HandoverError("handover.role", "只有值班操作员可以接班", status=403)
    if handover.status != "pending":
        raise HandoverError("handover.done", f"该交接已由 {handover.acknowledged_by} 确认接班")
    if actor.username == handover.from_user:
        raise HandoverError("handover.self", "交班人不能自己确认接班")
    if handover.to_user and actor.username != handover.to_user:
        raise HandoverError("handover.not_yours", f"该交接指定由 {handover.to_user} 接班", status=403)
    if not handover.to_user and actor.jurisdiction_code != handover.centre_code:
        raise HandoverError("handover.not_yours", "只有本中心的操作员可以接班", status=403)
    now = now or utcnow()
    handover.status = "acknowledged"
    handover.acknowledged_by = actor.username
    handover.acknowledged_at = now
    handover.ack_note = note.strip()[:5000]
    session.flush()
    audit(session, actor, "handover_acknowledged", subject_type="handover", subject_id=str(handover.id), now=now,
          detail={"centre_code": handover.centre_code, "from_user": handover.from_user, "items": len(handover.items)})
    return handover


def list_handovers(session: Session, scope: str, *, pending_for: str | None = None, limit: int = 50) -> list[Handover]:
    """Newest first inside ``scope``; ``pending_for`` = only those this user may acknowledge now."""
    query = select(Handover).where(Handover.centre_code >= scope, Handover.centre_code < scope + ":")
    if pending_for is not None:
        query = query.where(Handover.status == "pending", Handover.from_user != pending_for,
                            or_(Handover.to_user == pending_for, and_(Handover.to_user.is_(None), Handover.centre_code == scope)))
    return list(session.scalars(query.order_by(Handover.id.desc()).limit(max(1, min(limit, 200)))
                                .options(selectinload(Handover.items))))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def handover_dict(handover: Handover) -> dict[str, object]:
    return {
        "id": handover.id, "centre_code": handover.centre_code, "from_user": handover.from_user,
        "to_user": handover.to_user, "note": handover.note, "status": handover.status,
        "open_count": handover.open_count, "overdue_count": handover.overdue_count,
        "created_at": _iso(handover.created_at), "acknowledged_by": handover.acknowledged_by,
        "acknowledged_at": _iso(handover.acknowledged_at), "ack_note": handover.ack_note,
        "items": [{"incident_id": i.incident_id, "title": i.title, "status": i.status, "colour": i.colour,
                   "overdue": i.overdue, "resolve_deadline": _iso(i.resolve_deadline), "note": i.note}
                  for i in handover.items],
    }


def shift_dict(shift: DutyShift) -> dict[str, object]:
    return {"id": shift.id, "centre_code": shift.centre_code, "username": shift.username,
            "starts_at": _iso(shift.starts_at), "ends_at": _iso(shift.ends_at), "created_by": shift.created_by}


__all__ = ["Draft", "DraftItem", "HandoverError", "acknowledge", "add_shift", "draft", "get", "give",
           "handover_dict", "list_handovers", "next_on_duty", "on_duty", "roster", "shift_dict"]
