"""ORM models (SQLAlchemy 2, typed). The schema itself is owned by the Alembic migrations.

Timestamps are stored as naive UTC and returned as aware UTC (:class:`UTCDateTime`)
so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    event,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, naive UTC in the column."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Jurisdiction(Base):
    """County (6 digits) → township (9) → village (12) → grid (15); prefix = ancestor."""

    __tablename__ = "jurisdictions"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16))  # county | township | village | grid
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    # GeoJSON-style ring [[lon, lat], ...] (closed), None when unknown.
    boundary: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    center_lat: Mapped[float | None] = mapped_column(Float)
    center_lon: Mapped[float | None] = mapped_column(Float)


class Category(Base):
    """Incident category: police-type or not, owning department, default severity and SLA."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    police: Mapped[bool] = mapped_column(Boolean, default=False)
    department: Mapped[str | None] = mapped_column(String(64))
    default_severity: Mapped[str] = mapped_column(String(16), default="normal")
    default_colour: Mapped[str] = mapped_column(String(8), default="blue")
    # Overrides of the per-severity SLA (minutes); None = severity default.
    ack_minutes: Mapped[int | None] = mapped_column(Integer)
    resolve_minutes: Mapped[int | None] = mapped_column(Integer)
    skills: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Responder(Base):
    """Police unit, department desk or grid worker who can be dispatched."""

    __tablename__ = "responders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # police | department | grid_worker
    department: Mapped[str | None] = mapped_column(String(64))
    jurisdiction_code: Mapped[str] = mapped_column(String(15), index=True)
    skills: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="available")  # available | busy | offline
    phone: Mapped[str | None] = mapped_column(String(32))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    position_at: Mapped[datetime | None] = mapped_column()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    jurisdiction_code: Mapped[str] = mapped_column(String(15), index=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    responder_id: Mapped[int | None] = mapped_column(ForeignKey("responders.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_jurisdiction_id", "jurisdiction_code", "id"),
        Index("ix_incidents_status_id", "status", "id"),
        Index("ix_incidents_category_id", "category_code", "id"),
        Index("ix_incidents_created_at", "created_at"),
        Index("ix_incidents_dedup", "place_key", "category_code", "last_source_at"),
        Index("ix_incidents_open_deadline", "is_open", "resolve_deadline"),
        # (filter, id) pairs let "newest first" lists walk one index instead of sorting (migration 0002)
        Index("ix_incidents_colour_id", "colour", "id"),
        Index("ix_incidents_source_id", "source", "id"),
        Index("ix_incidents_overdue_id", "overdue", "id"),
        Index("ix_incidents_open_id", "is_open", "id"),
        Index("ix_incidents_county_id", "county_code", "id"),
        Index("ix_incidents_township_id", "township_code", "id"),
        Index("ix_incidents_village_id", "village_code", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"))
    source: Mapped[str] = mapped_column(String(16))  # first source: video | hotline_12345 | police_110 | grid | citizen
    status: Mapped[str] = mapped_column(String(16), default="received")
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    severity: Mapped[str] = mapped_column(String(16), default="normal")
    colour: Mapped[str] = mapped_column(String(8), default="blue")
    queue: Mapped[str] = mapped_column(String(16), default="department")  # police | department | grid
    department: Mapped[str | None] = mapped_column(String(64))
    jurisdiction_code: Mapped[str] = mapped_column(String(15))
    # Ancestors of jurisdiction_code, denormalised so "newest first inside a township/village"
    # is one index walk on (code, id) instead of a range scan plus sort (migration 0003).
    county_code: Mapped[str | None] = mapped_column(String(6))
    township_code: Mapped[str | None] = mapped_column(String(9))
    village_code: Mapped[str | None] = mapped_column(String(12))
    handling_level: Mapped[str] = mapped_column(String(16), default="village")  # village | township | county
    escalation_count: Mapped[int] = mapped_column(Integer, default=0)
    mediation_level: Mapped[int] = mapped_column(Integer, default=0)  # disputes: 0 none, 1..3
    camera_id: Mapped[str | None] = mapped_column(String(128), index=True)
    camera_name: Mapped[str | None] = mapped_column(String(256))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(256))
    place_key: Mapped[str | None] = mapped_column(String(256))
    reporter_name: Mapped[str | None] = mapped_column(String(64))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    snapshot_path: Mapped[str | None] = mapped_column(String(512))
    boxes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    frame_width: Mapped[int | None] = mapped_column(Integer)
    frame_height: Mapped[int | None] = mapped_column(Integer)
    source_count: Mapped[int] = mapped_column(Integer, default=1)
    # Bumped by every workflow action with a compare-and-set (command.lifecycle.claim): two
    # operators acting on the same version give one effect and one "已被他人处理" (migration 0005).
    # Merged alerts do not bump it, so alerts flowing in never refuse an operator's action.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)  # 督办
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_source_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    ack_deadline: Mapped[datetime | None] = mapped_column()
    resolve_deadline: Mapped[datetime | None] = mapped_column()
    next_revisit_at: Mapped[datetime | None] = mapped_column()

    sources: Mapped[list[IncidentSource]] = relationship(back_populates="incident", order_by="IncidentSource.id")
    assignments: Mapped[list[Assignment]] = relationship(back_populates="incident", order_by="Assignment.id")


class IncidentSource(Base):
    """Every report merged into an incident; (kind, ref, scope_code) unique = idempotency by alert id / work-order number."""

    __tablename__ = "incident_sources"
    # Idempotency per scope: the same work-order number filed in two townships is two orders, and
    # one township cannot claim (or probe) another's numbers. Machine sources (video, device faults)
    # keep the empty scope, so their refs stay unique county-wide.
    __table_args__ = (UniqueConstraint("kind", "ref", "scope_code", name="uq_incident_sources_kind_ref_scope"),
                      Index("ix_incident_sources_ref", "ref"))  # search by work-order number (migration 0006)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(128))
    scope_code: Mapped[str] = mapped_column(String(15), default="", server_default="")  # see __table_args__
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    reported_at: Mapped[datetime | None] = mapped_column()
    summary: Mapped[str] = mapped_column(Text, default="")
    snapshot_path: Mapped[str | None] = mapped_column(String(512))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    incident: Mapped[Incident] = relationship(back_populates="sources")


class Assignment(Base):
    """One dispatched party on an incident (several departments may report to one: 中心吹哨、部门报到)."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    responder_id: Mapped[int | None] = mapped_column(ForeignKey("responders.id"), index=True)
    department: Mapped[str | None] = mapped_column(String(64))
    lead: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|acknowledged|rejected|done|cancelled|expired
    assigned_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    ack_deadline: Mapped[datetime | None] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")

    incident: Mapped[Incident] = relationship(back_populates="assignments")
    responder: Mapped[Responder | None] = relationship()


class AuditEvent(Base):
    """Append-only timeline: who, when, what, from where. Never updated or deleted."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str | None] = mapped_column(String(128))  # IP, worker name, import file
    subject_type: Mapped[str] = mapped_column(String(16))  # incident | responder | risk_subject | user
    subject_id: Mapped[str | None] = mapped_column(String(64))  # for incidents: incident_id
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    incident: Mapped[Incident | None] = relationship()


class Evaluation(Base):
    """The citizen's rating of a resolved incident (群众评价)."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    satisfaction: Mapped[int] = mapped_column(Integer)  # 1..5
    comment: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Revisit(Base):
    """A follow-up visit/call (回访) on an incident or a risk subject."""

    __tablename__ = "revisits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    risk_subject_id: Mapped[int | None] = mapped_column(ForeignKey("risk_subjects.id"), index=True)
    outcome: Mapped[str] = mapped_column(Text, default="")
    satisfied: Mapped[bool | None] = mapped_column(Boolean)
    recorded_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class RiskSubject(Base):
    """A place or person of concern graded in four colours."""

    __tablename__ = "risk_subjects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # place | person
    name: Mapped[str] = mapped_column(String(128))
    jurisdiction_code: Mapped[str] = mapped_column(String(15), index=True)
    colour: Mapped[str] = mapped_column(String(8), default="blue")
    handling_level: Mapped[str] = mapped_column(String(16), default="village")
    note: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    next_revisit_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlarmMute(Base):
    """标记误报 / 屏蔽: alerts of ``rule_id`` on ``camera_id`` open no incident until ``until`` (audited)."""

    __tablename__ = "alarm_mutes"
    __table_args__ = (Index("ix_alarm_mutes_camera_rule", "camera_id", "rule_id", "until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(128))
    jurisdiction_code: Mapped[str] = mapped_column(String(15))
    kind: Mapped[str] = mapped_column(String(16))  # false_alarm | mute
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    until: Mapped[datetime] = mapped_column()
    lifted_at: Mapped[datetime | None] = mapped_column()
    lifted_by: Mapped[str | None] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    suppressed: Mapped[int] = mapped_column(Integer, default=0)  # alerts dropped while it held


class RuleSchedule(Base):
    """布防时间: a persisted override of a rule's ``schedule`` from cameras.yaml (audited)."""

    __tablename__ = "rule_schedules"

    camera_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    jurisdiction_code: Mapped[str] = mapped_column(String(15))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    windows: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{start, end, days}]
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """An ``xl:events`` entry written in the transaction of the change it announces (transactional outbox).

    ``command.outbox`` relays it to the stream after the commit and sets ``sent_at``; a row left
    unsent by a crash is relayed by the sweeper, and Redis drops a second copy by ``event_id``.
    """

    __tablename__ = "event_outbox"
    __table_args__ = (Index("ix_event_outbox_unsent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)  # the event's own id (streams.event_entry)
    event: Mapped[str] = mapped_column(Text)  # the entry's JSON, as built by streams.event_entry
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class Lease(Base):
    """A named lease (e.g. the SLA timers): held by ``holder`` until ``expires_at`` unless renewed."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime]


class DutyShift(Base):
    """One operator on duty at a centre (the county or a township centre) from ``starts_at`` to ``ends_at``."""

    __tablename__ = "duty_shifts"
    __table_args__ = (Index("ix_duty_shifts_centre_start", "centre_code", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    centre_code: Mapped[str] = mapped_column(String(15))
    username: Mapped[str] = mapped_column(String(64), index=True)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Handover(Base):
    """交接班: the outgoing operator's list of open and overdue cases, acknowledged by the incoming one."""

    __tablename__ = "handovers"
    __table_args__ = (Index("ix_handovers_centre_id", "centre_code", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    centre_code: Mapped[str] = mapped_column(String(15))
    from_user: Mapped[str] = mapped_column(String(64))
    to_user: Mapped[str | None] = mapped_column(String(64), index=True)  # None: whoever comes on next
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | acknowledged
    open_count: Mapped[int] = mapped_column(Integer, default=0)
    overdue_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    ack_note: Mapped[str] = mapped_column(Text, default="")

    items: Mapped[list[HandoverItem]] = relationship(back_populates="handover", order_by="HandoverItem.id")


class HandoverItem(Base):
    """One case on a handover, as it stood when handed over, with the outgoing operator's note."""

    __tablename__ = "handover_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handover_id: Mapped[int] = mapped_column(ForeignKey("handovers.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    colour: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(256))
    resolve_deadline: Mapped[datetime | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")

    handover: Mapped[Handover] = relationship(back_populates="items")


def scope_columns(jurisdiction_code: str) -> dict[str, str | None]:
    """The denormalised ancestor codes stored with an incident."""
    return {
        "county_code": jurisdiction_code[:6],
        "township_code": jurisdiction_code[:9] if len(jurisdiction_code) >= 9 else None,
        "village_code": jurisdiction_code[:12] if len(jurisdiction_code) >= 12 else None,
    }


def incident_in_scope(code: str) -> ColumnElement[bool]:
    """Incidents in the subtree of ``code``: an equality on the ancestor column :func:`scope_columns` stores.

    With statistics (ANALYZE) both planners know a county matches nearly every row and walk a
    (filter, id) index instead of the scope column.
    """
    column = {6: Incident.county_code, 9: Incident.township_code, 12: Incident.village_code}.get(len(code))
    return (column if column is not None else Incident.jurisdiction_code) == code


@event.listens_for(Incident, "before_insert")
@event.listens_for(Incident, "before_update")
def _fill_scope_columns(_mapper: Mapper[Incident], _connection: Connection, incident: Incident) -> None:
    for key, value in scope_columns(incident.jurisdiction_code).items():
        setattr(incident, key, value)
