"""Read side of the web API over command's database (users, incidents, responders, jurisdictions).

Every query takes the caller's scope code and filters by jurisdiction prefix in SQL,
so out-of-scope rows never leave the database. Writes go through command's own
functions (state machine, dispatch), never through these models directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from command import (
    IncidentDetail,
    IncidentFilter,
    IncidentView,
    NameCache,
    incident_detail,
    incident_queue,
    incident_view,
    list_incidents,
    scope_filter,
)
from command import Incident, IncidentSource, Jurisdiction, Responder, User



@dataclass(frozen=True)
class UserRecord:
    id: int
    username: str
    password_hash: str
    role: str
    jurisdiction_code: str
    display_name: str
    active: bool
    responder_id: int | None
    # The bound responder's own jurisdiction: a binding outside the account's scope is ignored (web.deps).
    responder_jurisdiction_code: str | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _prefix(column, scope_code: str):
    # A range on the code (command's scope_filter) so the index is used on SQLite and PostgreSQL.
    return scope_filter(column, scope_code) if scope_code else column.is_not(None)


def responder_dict(r: Responder) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "department": r.department,
        "jurisdiction_code": r.jurisdiction_code,
        "skills": r.skills or [],
        "status": r.status,
        "phone": r.phone,
        "lat": r.lat,
        "lon": r.lon,
        "position_at": _iso(r.position_at),
    }


def jurisdiction_dict(j: Jurisdiction, *, with_boundary: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": j.code,
        "name": j.name,
        "level": j.level,
        "parent_code": j.parent_code,
        "center_lat": j.center_lat,
        "center_lon": j.center_lon,
    }
    if with_boundary:
        out["boundary"] = j.boundary
    return out


class Store:
    def __init__(self, session_factory: sessionmaker[Session], media_dir: Path) -> None:
        self._sessions = session_factory
        self.media_dir = media_dir

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    # -- users ---------------------------------------------------------------------
    def get_user(self, username: str) -> UserRecord | None:
        with self.session() as s:
            u = s.scalar(select(User).where(User.username == username))
            if u is None:
                return None
            return UserRecord(
                id=u.id,
                username=u.username,
                password_hash=u.password_hash,
                role=u.role,
                jurisdiction_code=u.jurisdiction_code,
                display_name=u.display_name or u.username,
                active=bool(u.active),
                responder_id=u.responder_id,
                responder_jurisdiction_code=(s.scalar(select(Responder.jurisdiction_code).where(Responder.id == u.responder_id))
                                             if u.responder_id is not None else None),
            )

    # -- incidents -----------------------------------------------------------------
    def list_incidents(self, flt: IncidentFilter, *, before_id: int | None = None, limit: int = 100) -> list[IncidentView]:
        """command's incident list (``list_incidents``), newest first, as the API serves it."""
        with self.session() as s:
            names = NameCache()
            return [incident_view(s, i, names) for i in list_incidents(s, flt, limit=limit, before_id=before_id)]

    def incident_queue(self, scope_code: str, *, limit: int = 500, assigned_to: int | None = None) -> list[IncidentView]:
        """Open incidents in scope, most urgent first (command's ``incident_queue``)."""
        with self.session() as s:
            names = NameCache()
            return [incident_view(s, i, names) for i in incident_queue(s, scope_code, limit=limit, assigned=assigned_to)]

    def get_incident(self, incident_id: int) -> IncidentDetail | None:
        q = select(Incident).where(Incident.id == incident_id).options(selectinload(Incident.assignments))
        with self.session() as s:
            inc = s.scalar(q)
            return incident_detail(s, inc) if inc is not None else None

    def incident_media(self, incident_id: int) -> tuple[str, str | None, str | None] | None:
        """(jurisdiction_code, snapshot_path, clip_path of the first source that has one) or None when the
        incident does not exist. Sources are read in order until a clip turns up (a busy camera's incident
        holds thousands; none is loaded as an object)."""
        with self.session() as s:
            row = s.execute(select(Incident.jurisdiction_code, Incident.snapshot_path).where(Incident.id == incident_id)).first()
            if row is None:
                return None
            payloads = s.scalars(select(IncidentSource.payload).where(IncidentSource.incident_id == incident_id)
                                 .order_by(IncidentSource.id).execution_options(yield_per=100))
            clip = next((p["clip_path"] for p in payloads if p and p.get("clip_path")), None)
            return row[0], row[1], clip

    def incident_jurisdiction(self, incident_id: int) -> str | None:
        with self.session() as s:
            return s.scalar(select(Incident.jurisdiction_code).where(Incident.id == incident_id))

    def resolve_media(self, stored: str) -> Path | None:
        """The file for a stored media path, only if it lies under ``media_dir`` (no path tricks)."""
        path = Path(stored)
        if not path.is_absolute():
            path = self.media_dir / path
        try:
            path = path.resolve(strict=True)
            path.relative_to(self.media_dir.resolve())
        except (OSError, ValueError):
            return None
        return path

    # -- responders and jurisdictions ----------------------------------------------
    def list_responders(self, scope_code: str) -> list[dict[str, Any]]:
        q = select(Responder).where(_prefix(Responder.jurisdiction_code, scope_code)).order_by(Responder.id)
        with self.session() as s:
            return [responder_dict(r) for r in s.scalars(q)]

    def get_responder(self, responder_id: int) -> dict[str, Any] | None:
        with self.session() as s:
            r = s.get(Responder, responder_id)
            return responder_dict(r) if r is not None else None

    def list_jurisdictions(self, scope_code: str, *, with_boundary: bool = False, max_level: str | None = None) -> list[dict[str, Any]]:
        q = select(Jurisdiction).where(_prefix(Jurisdiction.code, scope_code)).order_by(Jurisdiction.code)
        if max_level:
            q = q.where(Jurisdiction.level.in_(_levels_up_to(max_level)))
        with self.session() as s:
            return [jurisdiction_dict(j, with_boundary=with_boundary) for j in s.scalars(q)]

    def get_jurisdiction(self, code: str) -> dict[str, Any] | None:
        with self.session() as s:
            j = s.get(Jurisdiction, code)
            return jurisdiction_dict(j, with_boundary=True) if j is not None else None


LEVELS = ("county", "township", "village", "grid")


def _levels_up_to(level: str) -> tuple[str, ...]:
    return LEVELS[: LEVELS.index(level) + 1] if level in LEVELS else LEVELS


__all__ = ["Store", "UserRecord", "Session"]
