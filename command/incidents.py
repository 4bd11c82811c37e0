"""Creating incidents from any source, merging duplicates, the audit trail, queries and payloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, case, func, literal, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import manager_of_class, set_committed_value

from command import jurisdictions
from command.bulk import insert_rows, insert_rows_returning_ids
from command.catalog import COLOUR_POLICY, RULE_KIND_CATEGORY, SOURCES, category_for_rule_kind, sla_for
from command.jurisdictions import HANDLING_LEVELS
from command.models import Assignment, AuditEvent, Category, Incident, IncidentSource, incident_in_scope, scope_columns, utcnow
from command.schemas import AlertIn
from command.workflow import ACTIVE_ASSIGNMENT_STATES, CLOSED_STATES, Actor

MERGE_WINDOW = timedelta(minutes=10)


class NotFound(LookupError):
    """The incident (or other record) does not exist or is outside the caller's scope."""


@dataclass
class IntakeResult:
    incident: Incident
    created: bool  # a new incident was opened
    duplicate: bool = False  # this source was already recorded (redelivery): nothing changed
    source: IncidentSource | None = None


def audit(
    session: Session,
    actor: Actor,
    action: str,
    *,
    incident: Incident | None = None,
    subject_type: str = "incident",
    subject_id: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one row to the audit timeline (rows are never updated or deleted)."""
    row = AuditEvent(
        at=now or utcnow(),
        actor=actor.username,
        actor_role=actor.role,
        origin=actor.origin,
        subject_type=subject_type,
        subject_id=subject_id,
        incident=incident,
        action=action,
        from_status=from_status,
        to_status=to_status,
        detail=detail or {},
    )
    session.add(row)
    return row


def raise_level(level: str, minimum: str) -> str:
    return HANDLING_LEVELS[max(HANDLING_LEVELS.index(level), HANDLING_LEVELS.index(minimum))]


def level_for_code(code: str) -> str:
    """The centre that handles incidents located at ``code`` first (grid/village → village)."""
    return {6: "county", 9: "township"}.get(len(code), "village")


def route(category: Category | None) -> tuple[str, str | None]:
    """(queue, department): police-type → police; others → the owning department, else the grid."""
    if category is None:
        return "department", None
    if category.police:
        return "police", category.department or "公安局"
    if category.department:
        return "department", category.department
    return "grid", None


def incident_row(
    *,
    source: str,
    title: str,
    jurisdiction_code: str,
    category: Category | None,
    now: datetime,
    description: str = "",
    severity: str | None = None,
    colour: str | None = None,
    place_key: str | None = None,
    reported_at: datetime | None = None,
    snapshot_path: str | None = None,
    camera_id: str | None = None,
    camera_name: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    address: str | None = None,
    reporter_name: str | None = None,
    reporter_phone: str | None = None,
    boxes: list[list[float]] | None = None,
    frame_width: int | None = None,
    frame_height: int | None = None,
) -> dict[str, Any]:
    """THE incident factory: every column of a new incident (受理, and 分类登记 at once when its
    category is known), whatever its source. :func:`new_incident` builds the ORM object from it,
    the bulk alert intake inserts it as a row."""
    jurisdictions.validate_code(jurisdiction_code)
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    severity = severity or (category.default_severity if category else "normal")
    colour = colour or (category.default_colour if category else "blue")
    queue, department = route(category)
    return {
        "title": title[:256], "description": description, "category_code": category.code if category else "other",
        "source": source, "status": "classified" if category is not None else "received", "is_open": True,
        "severity": severity, "colour": colour, "queue": queue, "department": department,
        "jurisdiction_code": jurisdiction_code, **scope_columns(jurisdiction_code),
        "handling_level": raise_level(level_for_code(jurisdiction_code), COLOUR_POLICY[colour].handling_level),
        "escalation_count": 0, "mediation_level": 1 if category is not None and category.code == "dispute" else 0,
        "camera_id": camera_id, "camera_name": camera_name, "lat": lat, "lon": lon, "address": address,
        "place_key": place_key, "reporter_name": reporter_name, "reporter_phone": reporter_phone,
        "snapshot_path": snapshot_path, "boxes": boxes or [], "frame_width": frame_width, "frame_height": frame_height,
        "source_count": 1, "version": 0, "supervised": False, "overdue": False, "satisfaction": None,
        "created_at": now, "updated_at": now, "last_source_at": reported_at or now,
        "dispatched_at": None, "acknowledged_at": None, "resolved_at": None, "closed_at": None, "ack_deadline": None,
        "resolve_deadline": now + sla_for(category, severity).resolve if category is not None else None,
        "next_revisit_at": None,
    }


def opening_audits(row: dict[str, Any], ref: str) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    """(action, from, to, detail) of a new incident's first timeline rows: receive, then classify if it has a category."""
    steps: list[tuple[str, str | None, str, dict[str, Any]]] = [
        ("receive", None, "received", {"source": row["source"], "ref": ref})]
    if row["status"] == "classified":
        steps.append(("classify", "received", "classified", {
            "category": row["category_code"], "severity": row["severity"], "colour": row["colour"],
            "queue": row["queue"], "department": row["department"]}))
    return steps


def new_incident(session: Session, row: dict[str, Any], *, actor: Actor, ref: str, now: datetime,
                 source_summary: str = "", source_payload: dict[str, Any] | None = None) -> Incident:
    """Open one incident from its :func:`incident_row`, with its first source and timeline rows."""
    incident = Incident(**row, assignments=[])  # initialised: a new incident has none, so no lazy load later
    src = IncidentSource(
        kind=row["source"], ref=ref, received_at=now, reported_at=row["last_source_at"], summary=source_summary,
        snapshot_path=row["snapshot_path"], payload=source_payload or {},
    )
    incident.sources.append(src)
    session.add(incident)
    for action, before, after, detail in opening_audits(row, ref):
        audit(session, actor, action, incident=incident, from_status=before, to_status=after, detail=detail, now=now)
    return incident


def merge_source(
    session: Session, incident: Incident, *, actor: Actor, kind: str, ref: str, now: datetime,
    reported_at: datetime | None = None, summary: str = "", snapshot_path: str | None = None,
    payload: dict[str, Any] | None = None,
) -> IncidentSource:
    """Attach another report of the same thing to ``incident`` (all sources are kept)."""
    # Added by id rather than appended to incident.sources: a busy camera's incident may
    # hold thousands of sources, and appending would load them all on every merge.
    src = IncidentSource(incident_id=incident.id, kind=kind, ref=ref, received_at=now, reported_at=reported_at,
                         summary=summary, snapshot_path=snapshot_path, payload=payload or {})
    if "sources" in incident.__dict__:  # already loaded: keep it current (no extra query)
        incident.sources.append(src)
    else:
        session.add(src)
    _count_merged_source(incident, reported_at or now, snapshot_path, now)
    session.flush()  # the counter is an SQL expression until flushed; callers read it back as a number
    audit(session, actor, "merge", incident=incident, from_status=incident.status, to_status=incident.status,
          detail={"source": kind, "ref": ref}, now=now)
    return src


def find_merge_target(session: Session, place_key: str, category_code: str, at: datetime,
                      window: timedelta = MERGE_WINDOW) -> Incident | None:
    """The open incident at the same place, same category, with a source within ``window`` of ``at``."""
    return session.scalar(
        select(Incident)
        .where(
            Incident.place_key == place_key,
            Incident.category_code == category_code,
            Incident.last_source_at >= at - window,
            Incident.is_open.is_(True),
            Incident.status.not_in(tuple(CLOSED_STATES)),
        )
        .order_by(Incident.last_source_at.desc())
        .limit(1)
    )


def intake_alerts(
    session: Session,
    alerts: list[tuple[AlertIn, str | None]],
    *,
    now: datetime | None = None,
    window: timedelta = MERGE_WINDOW,
    actor: Actor | None = None,
) -> list[IntakeResult]:
    """Turn analytics alerts (with their stored snapshot paths) into incidents, in one round trip.

    Idempotent by ``alert_id``: an alert already recorded returns ``duplicate=True``.
    Alerts of a muted rule or outside its arming-schedule override (command.alarms) get no result.
    Alerts from the same camera and category within ``window`` merge into one incident.
    The batch costs three queries and three bulk INSERTs (COPY on PostgreSQL) whatever
    its size, plus one UPDATE per stored incident that gained a source; the new
    incidents are returned as persistent objects without being read back.
    """
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r} given as now; use an aware UTC datetime")
    now = now.astimezone(UTC)  # the returned objects hold what the database would return
    actor = actor or Actor.system()
    if not alerts:
        return []
    from command.alarms import suppressed_alerts  # here: command.alarms builds on this module's audit()

    with session.no_autoflush:
        known = _recorded_alerts(session, [a.alert_id for a, _ in alerts])
        # 标记误报/屏蔽 mutes and 布防时间 overrides: such alerts open and merge into nothing.
        held = suppressed_alerts(session, [a for a, _ in alerts if a.alert_id not in known], now)
        categories = {c.code: c for c in session.scalars(select(Category))}  # strong refs for the batch
        fallback = categories.get("other") or category_for_rule_kind(session, "other")
        existing = _open_camera_incidents(session, {f"camera:{a.camera_id}" for a, _ in alerts},
                                          min(a.ts for a, _ in alerts) - window)

        # Plan: each alert is a duplicate, a merge into a stored incident, or opens / joins a new one.
        plan: list[tuple[str, Any]] = []  # ("dup", Incident | ("new", index)) | ("old", Incident) | ("new", index)
        groups: list[dict[str, Any]] = []  # new incidents: row + its alerts
        merges: list[tuple[Incident, AlertIn, str | None]] = []  # sources for stored incidents
        open_group: dict[tuple[str, str], int] = {}
        seen: dict[str, tuple[str, Any]] = {}
        for alert, snapshot in alerts:
            if alert.alert_id in held:
                continue
            if alert.alert_id in known:
                plan.append(("dup", known[alert.alert_id]))
                continue
            if alert.alert_id in seen:  # the same alert twice in one batch
                plan.append(("dup", seen[alert.alert_id]))
                continue
            category = categories.get(RULE_KIND_CATEGORY.get(alert.rule_kind, "other")) or fallback
            key = (f"camera:{alert.camera_id}", category.code)
            stored = existing.get(key)
            if stored is not None and stored.last_source_at >= alert.ts - window:
                plan.append(("old", stored))
                seen[alert.alert_id] = ("old", stored)
                merges.append((stored, alert, snapshot))
                _count_merged_source(stored, alert.ts, snapshot, now)
                continue
            index = open_group.get(key)
            if index is not None and groups[index]["row"]["last_source_at"] >= alert.ts - window:
                group = groups[index]
                group["alerts"].append((alert, snapshot))
                group["row"]["source_count"] += 1
                group["row"]["last_source_at"] = max(group["row"]["last_source_at"], alert.ts)
                group["row"]["snapshot_path"] = group["row"]["snapshot_path"] or snapshot
            else:
                index = len(groups)
                open_group[key] = index
                groups.append({"row": _alert_incident_row(alert, snapshot, category, now), "alerts": [(alert, snapshot)],
                               "category": category})
            plan.append(("new", index))
            seen[alert.alert_id] = ("new", index)

        created = _insert_new_incidents(session, [g["row"] for g in groups])
        source_rows, audit_rows = _new_incident_rows(groups, created, actor, now)
        merged_sources, merge_audits = _merge_rows(merges, actor, now)
        insert_rows(session, _TABLES[IncidentSource.__tablename__], source_rows + merged_sources)
        insert_rows(session, _TABLES[AuditEvent.__tablename__], audit_rows + merge_audits)  # each timeline in order
        for incident in {id(i): i for i, _, _ in merges}.values():
            if "sources" in incident.__dict__:
                session.expire(incident, ["sources"])  # loaded before this batch: reload on next access
    session.flush()  # the merged incidents' counters
    results: list[IntakeResult] = []
    opened: set[int] = set()
    for kind, ref in plan:
        if kind == "dup":
            results.append(IntakeResult(ref if isinstance(ref, Incident) else created[ref[1]] if ref[0] == "new" else ref[1],
                                        created=False, duplicate=True))
        elif kind == "old":
            results.append(IntakeResult(ref, created=False))
        else:
            results.append(IntakeResult(created[ref], created=ref not in opened))
            opened.add(ref)
    return results


def _recorded_alerts(session: Session, refs: list[str]) -> dict[str, Incident]:
    """The incident of every alert id among ``refs`` that is already stored (redeliveries)."""
    if _is_postgresql(session):
        # One (kind, ref) probe per alert id. With ``ref IN (…)`` a PostgreSQL that has no
        # statistics yet (a young table, autovacuum not yet run) uses only ``kind`` of the
        # unique index and reads every video source on each batch.
        wanted = func.unnest(literal(refs, ARRAY(String))).table_valued("ref").render_derived()
        source = (select(IncidentSource.ref, IncidentSource.incident_id)
                  .where(IncidentSource.kind == "video", IncidentSource.ref == wanted.c.ref).limit(1).lateral())
        query = (select(source.c.ref, Incident).select_from(wanted).join(source, true())
                 .join(Incident, Incident.id == source.c.incident_id))
    else:
        query = (select(IncidentSource.ref, Incident).join(Incident, Incident.id == IncidentSource.incident_id)
                 .where(IncidentSource.kind == "video", IncidentSource.ref.in_(refs)))
    return {ref: incident for ref, incident in session.execute(query)}


def _open_camera_incidents(session: Session, place_keys: set[str], since: datetime) -> dict[tuple[str, str], Incident]:
    """The latest open incident per (place, category) with a source since ``since``.

    Open and status are checked here, not in SQL: given ``is_open = true`` a planner without
    statistics (SQLite's default) walks the ``(is_open, id)`` index over every open incident,
    a cost that grows with the table, instead of probing ``ix_incidents_dedup`` once per place.
    """
    existing: dict[tuple[str, str], Incident] = {}
    if _is_postgresql(session):
        # An index probe per place, whatever the statistics (see _recorded_alerts).
        keys = func.unnest(literal(sorted(place_keys), ARRAY(String))).table_valued("key").render_derived()
        # OFFSET 0 keeps the planner from flattening the LATERAL into a join it may hash.
        found = (select(Incident).where(Incident.place_key == keys.c.key, Incident.last_source_at >= since)
                 .offset(0).lateral())
        stored = aliased(Incident, found)
        query = select(stored).select_from(keys).join(found, true()).order_by(stored.last_source_at)
    else:
        query = (select(Incident).where(Incident.place_key.in_(place_keys), Incident.last_source_at >= since)
                 .order_by(Incident.last_source_at))
    for incident in session.scalars(query):
        if incident.is_open and incident.status not in CLOSED_STATES:
            existing[(incident.place_key or "", incident.category_code)] = incident  # latest wins
    return existing


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _count_merged_source(incident: Incident, reported_at: datetime, snapshot: str | None, now: datetime) -> None:
    """What one more source changes on its incident (:func:`merge_source`; the bulk intake, which inserts
    the source and audit rows itself)."""
    # Counted in SQL (``source_count = source_count + 1``), not read-modify-write: two workers merging
    # into one incident at once must both count. Several merges in one flush add up on the expression.
    pending = incident.__dict__.get("source_count")
    base = pending if isinstance(pending, ColumnElement) else func.coalesce(Incident.source_count, 1)
    incident.source_count = base + 1
    incident.last_source_at = max(incident.last_source_at, reported_at)
    incident.updated_at = now
    if snapshot and not incident.snapshot_path:
        incident.snapshot_path = snapshot


def _insert_new_incidents(session: Session, rows: list[dict[str, Any]]) -> list[Incident]:
    """INSERT the new incidents and return them as persistent objects (no read-back query)."""
    if not rows:
        return []
    missing = _INCIDENT_COLUMNS - rows[0].keys()
    if missing:
        raise RuntimeError(f"incident rows lack columns {sorted(missing)}: add them to incident_row")
    # (place_key, category) is unique within a batch: it matches RETURNING rows to inputs.
    ids = insert_rows_returning_ids(session, _TABLES[Incident.__tablename__], rows, key=("place_key", "category_code"))
    created = []
    manager = manager_of_class(Incident)
    for incident_id, row in zip(ids, rows, strict=True):
        # Filled the way SQLAlchemy's loader fills a fetched row (the instance dict, no change
        # events: 7x cheaper than the constructor), then made a clean persistent object.
        incident = manager.new_instance()
        incident.__dict__.update(row, id=incident_id)
        make_transient_to_detached(incident)
        session.add(incident)
        set_committed_value(incident, "assignments", [])  # a new incident has none: no lazy load later
        created.append(incident)
    return created


def _audit_base(actor: Actor, now: datetime) -> dict[str, Any]:
    return {"actor": actor.username, "actor_role": actor.role, "origin": actor.origin, "subject_type": "incident",
            "subject_id": None, "at": now}


def _new_incident_rows(groups: list[dict[str, Any]], created: list[Incident], actor: Actor,
                       now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Source rows and audit rows (receive, classify, then one merge per extra alert) of new incidents."""
    source_rows, audit_rows = [], []
    base = _audit_base(actor, now)
    for group, incident in zip(groups, created, strict=True):
        for action, before, after, detail in opening_audits(group["row"], group["alerts"][0][0].alert_id):
            audit_rows.append({**base, "incident_id": incident.id, "action": action, "from_status": before,
                               "to_status": after, "detail": detail})
        for n, (alert, snapshot) in enumerate(group["alerts"]):
            source_rows.append(_alert_source_row(incident.id, alert, snapshot, now))
            if n:
                audit_rows.append({**base, "incident_id": incident.id, "action": "merge", "from_status": "classified",
                                   "to_status": "classified", "detail": {"source": "video", "ref": alert.alert_id}})
    return source_rows, audit_rows


def _merge_rows(merges: list[tuple[Incident, AlertIn, str | None]], actor: Actor,
                now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Source rows and ``merge`` audit rows of alerts joining stored incidents (as :func:`merge_source` writes)."""
    base = _audit_base(actor, now)
    sources = [_alert_source_row(incident.id, alert, snapshot, now) for incident, alert, snapshot in merges]
    audits = [{**base, "incident_id": incident.id, "action": "merge", "from_status": incident.status,
               "to_status": incident.status, "detail": {"source": "video", "ref": alert.alert_id}}
              for incident, alert, _ in merges]
    return sources, audits


def _alert_source_row(incident_id: int, alert: AlertIn, snapshot: str | None, now: datetime) -> dict[str, Any]:
    return {"incident_id": incident_id, "kind": "video", "ref": alert.alert_id, "received_at": now,
            "reported_at": alert.ts, "summary": _alert_summary(alert), "snapshot_path": snapshot,
            "payload": alert.model_dump(mode="json", exclude={"alert_id"})}


def _alert_summary(alert: AlertIn) -> str:
    return f"{alert.object_class} {alert.confidence:.2f} rule {alert.rule_id}"


def _alert_incident_row(alert: AlertIn, snapshot: str | None, category: Category, now: datetime) -> dict[str, Any]:
    """:func:`incident_row` of an analytics alert."""
    camera = alert.camera_name or alert.camera_id
    return incident_row(
        source="video", title=f"{category.name} · {camera}", jurisdiction_code=alert.jurisdiction_code, category=category,
        now=now, description=f"{camera} 规则 {alert.rule_id} 检测到 {alert.object_class}（置信度 {alert.confidence:.2f}）",
        place_key=f"camera:{alert.camera_id}", reported_at=alert.ts, snapshot_path=snapshot, camera_id=alert.camera_id,
        camera_name=alert.camera_name, lat=alert.lat, lon=alert.lon, boxes=alert.boxes, frame_width=alert.frame_width,
        frame_height=alert.frame_height)


_TABLES = Incident.metadata.tables
_INCIDENT_COLUMNS = frozenset(c.key for c in _TABLES[Incident.__tablename__].columns) - {"id"}


# ---- queries ---------------------------------------------------------------------------------


def get_incident(session: Session, incident_id: int, scope: str | None = None) -> Incident:
    """The incident, or :class:`NotFound` when missing or outside ``scope``."""
    incident = session.get(Incident, incident_id)
    if incident is None or (scope is not None and not incident.jurisdiction_code.startswith(scope)):
        raise NotFound(f"incident {incident_id} not found" + (f" in jurisdiction {scope}" if scope else ""))
    return incident


@dataclass(frozen=True)
class IncidentFilter:
    """The filters of the incident list (``GET /api/incidents``); the desk's search has its own (command.search).

    ``scope`` is the caller's jurisdiction subtree, ``jurisdiction_code`` a subtree inside it, ``assigned_to``
    a responder with an active (pending or acknowledged) assignment on the incident. None filters nothing.
    """

    scope: str = ""
    jurisdiction_code: str | None = None
    status: str | None = None
    colour: str | None = None
    camera_id: str | None = None
    open_only: bool = False
    assigned_to: int | None = None


def where_incident_fields(query: Select[Incident], *, status: Sequence[str] = (), category: Sequence[str] = (),
                          source: Sequence[str] = (), colour: Sequence[str] = (), open_only: bool = False,
                          overdue_only: bool = False, since: datetime | None = None,
                          until: datetime | None = None) -> Select[Incident]:
    """The filters the desk's list and its search share (an empty value filters nothing)."""
    if status:
        query = query.where(Incident.status.in_(status))
    if category:
        query = query.where(Incident.category_code.in_(category))
    if source:
        query = query.where(Incident.source.in_(source))
    if colour:
        query = query.where(Incident.colour.in_(colour))
    if open_only:
        query = query.where(Incident.is_open.is_(True))
    if overdue_only:
        query = query.where(Incident.overdue.is_(True))
    if since:
        query = query.where(Incident.created_at >= since)
    if until:
        query = query.where(Incident.created_at < until)
    return query


def assigned_to(responder_id: int) -> ColumnElement[bool]:
    """Incidents with an active (pending or acknowledged) assignment to this responder."""
    return Incident.assignments.any(and_(Assignment.responder_id == responder_id,
                                         Assignment.status.in_(ACTIVE_ASSIGNMENT_STATES)))


def list_incidents(session: Session, flt: IncidentFilter | None = None, *, limit: int = 50,
                   before_id: int | None = None) -> list[Incident]:
    """THE incident list (the API's ``GET /api/incidents``, and what ``xueliang bench command`` times):
    newest first, keyset-paginated (pass the last id as ``before_id`` for the next page)."""
    flt = flt or IncidentFilter()
    query = select(Incident)
    for code in (flt.scope, flt.jurisdiction_code):
        if code:
            query = query.where(incident_in_scope(code))
    query = where_incident_fields(query, status=[flt.status] if flt.status else (),
                                  colour=[flt.colour] if flt.colour else (), open_only=flt.open_only)
    if flt.camera_id:
        query = query.where(Incident.camera_id == flt.camera_id)
    if flt.assigned_to is not None:
        query = query.where(assigned_to(flt.assigned_to))
    if before_id is not None:
        query = query.where(Incident.id < before_id)
    # the serialiser reads every incident's assignments: one more query per page, not one per row
    query = query.order_by(Incident.id.desc()).limit(max(1, min(limit, 500))).options(selectinload(Incident.assignments))
    return list(session.scalars(query))


COLOUR_RANK = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}


def incident_queue(session: Session, scope: str = "", *, limit: int = 500, assigned: int | None = None) -> list[Incident]:
    """Open incidents, most urgent first: colour (red → blue), then the nearest resolve deadline.

    The desk's queue must hold every open case however old, not just the newest rows.
    """
    rank = case(COLOUR_RANK, value=Incident.colour, else_=9)
    query = select(Incident).where(Incident.is_open.is_(True))
    if scope:
        query = query.where(incident_in_scope(scope))
    if assigned is not None:
        query = query.where(assigned_to(assigned))
    query = query.order_by(rank, Incident.resolve_deadline.is_(None), Incident.resolve_deadline, Incident.id.desc())
    return list(session.scalars(query.limit(limit).options(selectinload(Incident.assignments))))


def timeline(session: Session, incident_id: int) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.incident_id == incident_id).order_by(AuditEvent.id)))


# ---- the incident as an aggregate of alerts: one merge row, evidence -----------------------------

MAX_EVIDENCE_ROWS = 500  # snapshot-bearing sources read per incident (the analytics sends a few per window)


@dataclass(frozen=True)
class EvidenceItem:
    source_id: int
    path: str
    at: datetime | None
    confidence: float | None


@dataclass
class Evidence:
    """First, latest and best snapshot of an incident, and its clips (one per alarm window), oldest first."""

    first: EvidenceItem | None
    latest: EvidenceItem | None
    best: EvidenceItem | None
    clips: list[EvidenceItem]


def incident_evidence(session: Session, incident: Incident) -> Evidence:
    """What the desk can show of an incident: see :class:`Evidence`. Paths are relative to the media dir."""
    rows = list(session.execute(
        select(IncidentSource.id, IncidentSource.snapshot_path, IncidentSource.reported_at, IncidentSource.received_at,
               IncidentSource.payload)
        .where(IncidentSource.incident_id == incident.id)
        .where(IncidentSource.snapshot_path.is_not(None) | (IncidentSource.id == _first_source_id(session, incident.id)))
        .order_by(IncidentSource.id.desc()).limit(MAX_EVIDENCE_ROWS)))
    rows.reverse()
    snaps: list[EvidenceItem] = []
    clips: list[EvidenceItem] = []
    seen_clips: set[str] = set()
    for source_id, snapshot, reported, received, payload in rows:
        payload = payload or {}
        at = reported or received
        confidence = payload.get("confidence")
        if snapshot:
            snaps.append(EvidenceItem(source_id, snapshot, at, confidence))
        clip = payload.get("clip_path")
        if clip and clip not in seen_clips:
            seen_clips.add(clip)
            clips.append(EvidenceItem(source_id, clip, at, confidence))
    first = next((s for s in snaps if s.path == incident.snapshot_path), snaps[0] if snaps else None)
    best = max(snaps, key=lambda s: (s.confidence or 0.0, s.source_id)) if snaps else None
    return Evidence(first=first, latest=snaps[-1] if snaps else None, best=best, clips=clips)


def _first_source_id(session: Session, incident_id: int) -> int:
    return session.scalar(select(func.min(IncidentSource.id)).where(IncidentSource.incident_id == incident_id)) or 0


def evidence_source_path(session: Session, incident_id: int, source_id: int, what: str) -> str | None:
    """The stored snapshot (``what="snapshot"``) or clip (``"clip"``) path of one source of the incident."""
    row = session.execute(select(IncidentSource.snapshot_path, IncidentSource.payload)
                          .where(IncidentSource.id == source_id, IncidentSource.incident_id == incident_id)).first()
    if row is None:
        return None
    snapshot, payload = row
    return snapshot if what == "snapshot" else (payload or {}).get("clip_path")
