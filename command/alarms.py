"""Alarm handling like a VMS: 标记误报 / 屏蔽 mute a rule on a camera for a chosen time, and
per-rule arming schedules (布防时间) that override cameras.yaml. Both persisted and audited.

The alert intake honours them (:func:`suppressed_alerts`): an alert of a muted rule, or one
outside the rule's overriding schedule, opens and merges into no incident — so a false alarm
marked with a mute stays quiet — and is counted on the mute (``suppressed``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from devices import TimeWindow

from command import jurisdictions
from command.incidents import audit
from command.models import AlarmMute, Incident, IncidentSource, RuleSchedule, utcnow
from command.schemas import AlertIn
from command.workflow import Actor

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # the centre's clock, as in cameras.yaml schedules (command.reports)
MAX_MUTE_MINUTES = 30 * 24 * 60
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MUTE_KINDS = ("false_alarm", "mute")


class AlarmError(ValueError):
    """Bad input to a mute or a schedule; the message says which field and what is expected (zh-CN)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# ---- mutes ---------------------------------------------------------------------------------------------


def incident_rule(session: Session, incident: Incident) -> tuple[str, str] | None:
    """(camera_id, rule_id) of a video incident (from its first alert), else None."""
    if not incident.camera_id:
        return None
    payload = session.scalar(select(IncidentSource.payload).where(IncidentSource.incident_id == incident.id)
                             .order_by(IncidentSource.id).limit(1)) or {}
    rule_id = payload.get("rule_id")
    return (incident.camera_id, rule_id) if rule_id else None


def mute_rule(session: Session, actor: Actor, *, camera_id: str, rule_id: str, jurisdiction_code: str, minutes: int,
              reason: str = "", kind: str = "mute", incident: Incident | None = None,
              now: datetime | None = None) -> AlarmMute:
    """Mute ``rule_id`` on ``camera_id`` for ``minutes`` (1 min … 30 days), audited on the rule and the incident."""
    now = now or utcnow()
    if kind not in MUTE_KINDS:
        raise AlarmError(f"kind 必须是 {' / '.join(MUTE_KINDS)}", "kind")
    if not 1 <= int(minutes) <= MAX_MUTE_MINUTES:
        raise AlarmError(f"屏蔽时长必须在 1 到 {MAX_MUTE_MINUTES} 分钟之间（收到 {minutes}）", "minutes")
    if actor.role != "system" and not jurisdiction_code.startswith(actor.jurisdiction_code):
        raise AlarmError(f"摄像机 {camera_id} 不在您的辖区内", "camera_id")
    mute = AlarmMute(camera_id=camera_id, rule_id=rule_id, jurisdiction_code=jurisdiction_code, kind=kind,
                     reason=reason, created_by=actor.username, created_at=now, until=now + timedelta(minutes=int(minutes)),
                     incident_id=incident.id if incident is not None else None, suppressed=0)
    session.add(mute)
    session.flush()
    detail = {"mute_id": mute.id, "camera_id": camera_id, "rule_id": rule_id, "minutes": int(minutes),
              "until": mute.until.isoformat(), "reason": reason, "kind": kind}
    audit(session, actor, "mute", subject_type="alarm_rule", subject_id=f"{camera_id}/{rule_id}"[:64], detail=detail, now=now)
    if incident is not None:
        audit(session, actor, "mute", incident=incident, from_status=incident.status, to_status=incident.status,
              detail=detail, now=now)
    return mute


def mute_incident_rule(session: Session, incident: Incident, actor: Actor, *, minutes: int, reason: str,
                       kind: str, now: datetime | None = None) -> AlarmMute:
    """Mute the rule that raised a video incident (标记误报 with a time, or 屏蔽)."""
    rule = incident_rule(session, incident)
    if rule is None:
        raise AlarmError("只有视频告警事件可以屏蔽规则（此事件没有摄像机规则）", "incident")
    return mute_rule(session, actor, camera_id=rule[0], rule_id=rule[1], jurisdiction_code=incident.jurisdiction_code,
                     minutes=minutes, reason=reason, kind=kind, incident=incident, now=now)


def lift_mute(session: Session, mute_id: int, actor: Actor, *, now: datetime | None = None) -> AlarmMute:
    now = now or utcnow()
    mute = session.get(AlarmMute, mute_id)
    if mute is None or (actor.role != "system" and not mute.jurisdiction_code.startswith(actor.jurisdiction_code)):
        raise LookupError(f"mute {mute_id} not found")
    if mute.lifted_at is None and mute.until > now:
        mute.lifted_at, mute.lifted_by = now, actor.username
        mute.until = now
        audit(session, actor, "unmute", subject_type="alarm_rule", subject_id=f"{mute.camera_id}/{mute.rule_id}"[:64],
              detail={"mute_id": mute.id}, now=now)
        session.flush()
    return mute


def active_mutes(session: Session, scope: str = "", *, now: datetime | None = None) -> list[AlarmMute]:
    now = now or utcnow()
    query = select(AlarmMute).where(AlarmMute.until > now).order_by(AlarmMute.until)
    if scope:
        query = query.where(jurisdictions.scope_filter(AlarmMute.jurisdiction_code, scope))
    return list(session.scalars(query))


def mute_dict(mute: AlarmMute) -> dict[str, Any]:
    return {"id": mute.id, "camera_id": mute.camera_id, "rule_id": mute.rule_id, "kind": mute.kind,
            "jurisdiction_code": mute.jurisdiction_code, "reason": mute.reason, "created_by": mute.created_by,
            "created_at": mute.created_at.isoformat(), "until": mute.until.isoformat(),
            "lifted_at": mute.lifted_at.isoformat() if mute.lifted_at else None, "incident_id": mute.incident_id,
            "suppressed": mute.suppressed}


# ---- arming schedules (布防时间) -----------------------------------------------------------------------


def parse_windows(raw: list[dict[str, Any]]) -> list[TimeWindow]:
    """Validate ``[{start: "22:00", end: "06:00", days: ["mon", …]}]`` with devices' ``TimeWindow`` (the one
    parser of 布防时间, also cameras.yaml's ``schedule``); errors in zh-CN name the window and field."""
    if len(raw) > 20:
        raise AlarmError("布防时间段最多 20 个", "windows")
    out = []
    for i, item in enumerate(raw):
        try:
            out.append(TimeWindow.model_validate(item))
        except ValidationError as exc:
            raise _window_error(i, item, exc) from None
    return out


def _window_error(i: int, item: object, exc: ValidationError) -> AlarmError:
    first = exc.errors(include_url=False)[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    where = f"第 {i + 1} 个时间段"
    if not isinstance(item, dict):
        return AlarmError(f"{where}必须是 {{start, end, days}} 对象", f"windows[{i}]")
    if name in ("start", "end") and first["type"] == "value_error":
        return AlarmError(f"{where}开始与结束相同", f"windows[{i}]")
    if name in ("start", "end"):
        return AlarmError(f"{where}的 {name} 必须是 HH:MM（如 22:00），收到 {item.get(name)!r}", f"windows[{i}].{name}")
    if name == "days":
        return AlarmError(f"{where}的 days 只能是 {', '.join(DAYS)}，收到 {item.get('days')!r}", f"windows[{i}].days")
    return AlarmError(f"{where}有未知字段 {name}（只能有 start、end、days）", f"windows[{i}].{name}")


def set_rule_schedule(session: Session, actor: Actor, *, camera_id: str, rule_id: str, jurisdiction_code: str,
                      enabled: bool, windows: list[dict[str, Any]], now: datetime | None = None) -> RuleSchedule:
    """Persist (replace) the arming schedule of one rule; empty ``windows`` = armed all day when enabled."""
    now = now or utcnow()
    parsed = parse_windows(windows)
    if actor.role != "system" and not jurisdiction_code.startswith(actor.jurisdiction_code):
        raise AlarmError(f"摄像机 {camera_id} 不在您的辖区内", "camera_id")
    row = session.get(RuleSchedule, (camera_id, rule_id))
    before = None if row is None else {"enabled": row.enabled, "windows": row.windows}
    if row is None:
        row = RuleSchedule(camera_id=camera_id, rule_id=rule_id, jurisdiction_code=jurisdiction_code,
                           updated_by=actor.username, updated_at=now)
        session.add(row)
    row.enabled, row.windows = bool(enabled), [w.model_dump() for w in parsed]
    row.updated_by, row.updated_at, row.jurisdiction_code = actor.username, now, jurisdiction_code
    audit(session, actor, "schedule", subject_type="alarm_rule", subject_id=f"{camera_id}/{rule_id}"[:64],
          detail={"camera_id": camera_id, "rule_id": rule_id, "before": before,
                  "after": {"enabled": row.enabled, "windows": row.windows}}, now=now)
    session.flush()
    return row


def clear_rule_schedule(session: Session, actor: Actor, *, camera_id: str, rule_id: str,
                        now: datetime | None = None) -> bool:
    """Drop the override: the rule follows cameras.yaml again (audited). False when there was none."""
    row = session.get(RuleSchedule, (camera_id, rule_id))
    if row is None:
        return False
    if actor.role != "system" and not row.jurisdiction_code.startswith(actor.jurisdiction_code):
        raise AlarmError(f"摄像机 {camera_id} 不在您的辖区内", "camera_id")
    audit(session, actor, "schedule", subject_type="alarm_rule", subject_id=f"{camera_id}/{rule_id}"[:64],
          detail={"camera_id": camera_id, "rule_id": rule_id, "before": {"enabled": row.enabled, "windows": row.windows},
                  "after": None}, now=now or utcnow())
    session.delete(row)
    session.flush()
    return True


def schedule_overrides(session: Session, camera_ids: set[str] | None = None) -> dict[tuple[str, str], RuleSchedule]:
    query = select(RuleSchedule)
    if camera_ids is not None:
        query = query.where(RuleSchedule.camera_id.in_(sorted(camera_ids)))
    return {(r.camera_id, r.rule_id): r for r in session.scalars(query)}


def armed(row: RuleSchedule, when: datetime) -> bool:
    """Is the rule armed at ``when`` (aware) under this override?"""
    if not row.enabled:
        return False
    windows = parse_windows(row.windows or [])
    local = when.astimezone(LOCAL_TZ)
    return not windows or any(w.contains(local) for w in windows)


def schedule_dict(row: RuleSchedule | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"enabled": row.enabled, "windows": row.windows, "updated_by": row.updated_by,
            "updated_at": row.updated_at.isoformat()}


# ---- the intake's filter ---------------------------------------------------------------------------------


def suppressed_alerts(session: Session, alerts: list[AlertIn], now: datetime) -> set[str]:
    """alert_ids among ``alerts`` that a mute or a disarming schedule override holds back (two queries
    per batch); each mute's ``suppressed`` counter is raised by what it held back."""
    if not alerts:
        return set()
    cameras = {a.camera_id for a in alerts}
    mutes: dict[tuple[str, str], AlarmMute] = {}
    for row in session.scalars(select(AlarmMute).where(AlarmMute.camera_id.in_(sorted(cameras)), AlarmMute.until > now)):
        mutes[(row.camera_id, row.rule_id)] = row
    overrides = schedule_overrides(session, cameras)
    if not mutes and not overrides:
        return set()
    held: set[str] = set()
    counts: dict[int, int] = {}
    for alert in alerts:
        key = (alert.camera_id, alert.rule_id)
        mute = mutes.get(key)
        if mute is not None:
            held.add(alert.alert_id)
            counts[mute.id] = counts.get(mute.id, 0) + 1
            continue
        override = overrides.get(key)
        if override is not None and not armed(override, alert.ts):
            held.add(alert.alert_id)
    for mute_id, n in counts.items():
        session.execute(update(AlarmMute).where(AlarmMute.id == mute_id).values(suppressed=AlarmMute.suppressed + n)
                        .execution_options(synchronize_session=False))
    return held
