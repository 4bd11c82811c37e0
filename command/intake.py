"""Intake from people: 12345 work orders (single and bulk CSV/JSON), 110 transfers,
grid-worker reports with photos and citizen reports. Video alerts: :func:`command.incidents.intake_alerts`.

Every report is idempotent by (source, ref); a report at the same place and category
as an open incident within the merge window joins that incident as another source.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from command import jurisdictions
from command.catalog import COLOURS, SEVERITIES
from command.incidents import MERGE_WINDOW, IntakeResult, find_merge_target, incident_row, merge_source, new_incident
from command.media import store_photo
from command.models import Category, IncidentSource, utcnow
from command.workflow import SYSTEM_ROLE, Actor

PersonSource = Literal["hotline_12345", "police_110", "grid", "citizen"]
MAX_PHOTO_BYTES = 10 * 1024 * 1024


class IntakeError(ValueError):
    """A report cannot be accepted as given; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ReportIn(BaseModel):
    """A report from a person: 12345 work order, 110 transfer, grid worker or citizen."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: PersonSource
    ref: str | None = Field(default=None, max_length=128, description="work-order / 警情 number; generated when absent")
    title: str = Field(min_length=1, max_length=256)
    description: str = Field(default="", max_length=10_000)
    category_code: str | None = Field(default=None, description="category code or name; None = classify later")
    jurisdiction_code: str | None = Field(default=None, pattern=r"^\d{6}(\d{3}){0,3}$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=256)
    reporter_name: str | None = Field(default=None, max_length=64)
    reporter_phone: str | None = Field(default=None, max_length=32)
    reported_at: AwareDatetime | None = None
    severity: str | None = None
    colour: str | None = None

    @field_validator("severity")
    @classmethod
    def _severity(cls, v: str | None) -> str | None:
        if v is not None and v not in SEVERITIES:
            raise ValueError(f"must be one of {', '.join(SEVERITIES)}")
        return v

    @field_validator("colour")
    @classmethod
    def _colour(cls, v: str | None) -> str | None:
        if v is not None and v not in COLOURS:
            raise ValueError(f"must be one of {', '.join(COLOURS)}")
        return v


def _category(session: Session, code_or_name: str | None) -> Category | None:
    if not code_or_name:
        return None
    category = session.get(Category, code_or_name) or session.scalar(select(Category).where(Category.name == code_or_name))
    if category is None:
        raise IntakeError("category_code", f"unknown category {code_or_name!r}")
    return category


def _place_key(report: ReportIn) -> str | None:
    if report.address:
        return "addr:" + "".join(report.address.split())
    if report.lat is not None and report.lon is not None:
        return f"geo:{report.lat:.3f},{report.lon:.3f}"  # ~100 m cells
    return None


def _photo_suffix(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    raise IntakeError("photos", "only JPEG or PNG photos are accepted")


def submit_report(
    session: Session,
    report: ReportIn,
    actor: Actor,
    *,
    photos: list[bytes] | tuple[bytes, ...] = (),
    media_dir: Path | None = None,
    now: datetime | None = None,
    window: timedelta = MERGE_WINDOW,
) -> IntakeResult:
    """Accept one report: create an incident or merge into an open one. Raises :class:`IntakeError`.

    Every check that can raise :class:`IntakeError` runs before anything is written, so a caller
    that skips a refused report (the bulk import) needs no savepoint. The (source, ref) key is
    scoped to the township of the reported place (:func:`ref_scope`): another township's
    numbers can neither be claimed nor probed, and a report only merges into an open incident
    of its own township inside the reporter's scope.
    """
    now = now or utcnow()
    category = _category(session, report.category_code)
    code = report.jurisdiction_code
    if code is None and report.lat is not None and report.lon is not None:
        code = _locate_for(session, actor, report.lat, report.lon)
    if code is None:
        raise IntakeError("jurisdiction_code", "give a jurisdiction code or a position (lat/lon) inside a known jurisdiction")
    if not _covers(actor, code):
        raise IntakeError("jurisdiction_code", f"上报地点所在辖区 {code} 不在 {actor.username} 的管辖范围 "
                                              f"{actor.jurisdiction_code} 内（{code} is outside {actor.username}'s jurisdiction）")
    suffixes = [_photo_suffix(data) for data in photos]
    for index, data in enumerate(photos):
        if len(data) > MAX_PHOTO_BYTES:
            raise IntakeError("photos", f"photo {index + 1} is larger than {MAX_PHOTO_BYTES // 1_000_000} MB")
    if photos and media_dir is None:
        raise IntakeError("photos", "media_dir is required to store photos")
    ref = report.ref or uuid.uuid4().hex
    scope = ref_scope(code)
    existing = session.scalar(select(IncidentSource).where(
        IncidentSource.kind == report.source, IncidentSource.ref == ref, IncidentSource.scope_code == scope))
    if existing is not None:
        return IntakeResult(existing.incident, created=False, duplicate=True, source=existing)
    stored = ([store_photo(media_dir, data, suffix) for data, suffix in zip(photos, suffixes, strict=True)]
              if photos and media_dir is not None else [])
    payload: dict[str, Any] = report.model_dump(mode="json", exclude={"ref", "source"}, exclude_none=True)
    if stored:
        payload["photos"] = stored
    place_key = _place_key(report)
    reported_at = report.reported_at or now
    target = find_merge_target(session, place_key, category.code, reported_at, window) if place_key and category else None
    if target is not None and not (target.jurisdiction_code.startswith(scope) and _covers(actor, target.jurisdiction_code)):
        target = None  # another township's incident at the same address is not the reporter's to add to
    if target is not None:
        src = merge_source(session, target, actor=actor, kind=report.source, ref=ref, now=now, reported_at=reported_at,
                           summary=report.title, snapshot_path=stored[0] if stored else None, payload=payload)
        src.scope_code = scope
        session.flush()
        return IntakeResult(target, created=False, source=src)
    row = incident_row(
        source=report.source, title=report.title, jurisdiction_code=code, category=category, now=now,
        description=report.description, severity=report.severity, colour=report.colour, place_key=place_key,
        reported_at=reported_at, snapshot_path=stored[0] if stored else None, lat=report.lat, lon=report.lon,
        address=report.address, reporter_name=report.reporter_name, reporter_phone=report.reporter_phone,
    )
    incident = new_incident(session, row, actor=actor, ref=ref, now=now, source_summary=report.title, source_payload=payload)
    incident.sources[0].scope_code = scope
    session.flush()
    return IntakeResult(incident, created=True, source=incident.sources[0])


def _locate_for(session: Session, actor: Actor, lat: float, lon: float) -> str | None:
    """The jurisdiction of a reported position, as the reporter's own scope sees it.

    Inside the reporter's own area first (a grid worker's position → their grid). A point in
    the reporter's village that no grid polygon covers exactly (a boundary, GPS drift) belongs
    to the reporter's own grid rather than to the village above it, which is outside a grid
    worker's scope. Elsewhere, the deepest jurisdiction containing it.
    """
    own = actor.jurisdiction_code if actor.role != SYSTEM_ROLE else ""
    if own:
        inside = jurisdictions.locate(session, lat, lon, within=own)
        if inside is not None:
            return inside
    code = jurisdictions.locate(session, lat, lon)
    if code is not None and own and len(own) > len(code) and own.startswith(code) and len(own) - len(code) <= 3:
        return own
    return code


def ref_scope(jurisdiction_code: str) -> str:
    """The scope a person-report's ref is unique in: the township of the place (the county for county-level codes)."""
    return jurisdiction_code[:9]


def _covers(actor: Actor, code: str) -> bool:
    # Administrators too: a township's admin is scoped to its township like its operators.
    return actor.role == SYSTEM_ROLE or not actor.jurisdiction_code or code.startswith(actor.jurisdiction_code)


# ---- bulk import of 12345 work orders -----------------------------------------------------------

HEADER_ALIASES = {
    "工单编号": "ref", "工单号": "ref", "标题": "title", "诉求标题": "title", "内容": "description",
    "诉求内容": "description", "类别": "category_code", "分类": "category_code", "category": "category_code",
    "区划代码": "jurisdiction_code", "纬度": "lat", "经度": "lon", "地址": "address", "事发地址": "address",
    "来电人": "reporter_name", "联系人": "reporter_name", "联系电话": "reporter_phone", "电话": "reporter_phone",
    "来电时间": "reported_at", "紧急程度": "severity",
}


@dataclass
class ImportProblem:
    line: int  # CSV line (header = 1) or JSON item number (1-based)
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportResult:
    created: int = 0
    merged: int = 0
    duplicates: int = 0
    incident_ids: list[int] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.created + self.merged + self.duplicates


def _rows(data: str | bytes, fmt: str) -> list[tuple[int, dict[str, Any]]]:
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        rows = []
        try:
            if not reader.fieldnames:
                raise IntakeError("file", "empty CSV: the first line must name the columns (ref,title,description,category_code,...)")
            for row in reader:
                clean = {HEADER_ALIASES.get(k.strip(), k.strip()): (v.strip() if isinstance(v, str) else v)
                         for k, v in row.items() if k is not None}
                rows.append((reader.line_num, {k: v for k, v in clean.items() if v not in ("", None)}))
        except csv.Error as exc:  # a field over csv.field_size_limit() (128 KiB), a NUL byte, a stray quote
            # line_num counts the lines completed before the failing one
            raise IntakeError("file",
                              f"CSV 第 {reader.line_num + 1} 行无法读取（单个字段不能超过 {csv.field_size_limit() // 1024} KiB，"
                              f"引号须成对）：{exc}") from exc
        return rows
    if fmt == "json":
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IntakeError("file", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
        items = parsed.get("orders") if isinstance(parsed, dict) else parsed
        if not isinstance(items, list):
            raise IntakeError("file", "JSON must be a list of work orders or {\"orders\": [...]}")
        return [(i + 1, {HEADER_ALIASES.get(str(k), str(k)): v for k, v in item.items()} if isinstance(item, dict) else {"_": item})
                for i, item in enumerate(items)]
    raise IntakeError("format", f"format must be csv or json, got {fmt!r}")


def import_work_orders(
    session: Session, data: str | bytes, fmt: str, actor: Actor, *, source: PersonSource = "hotline_12345",
    now: datetime | None = None,
) -> ImportResult:
    """Import many 12345 work orders. Bad rows are reported (line, field, message) and skipped;
    good rows are imported — all in the caller's one transaction, so rolling it back (a refused
    import) leaves nothing behind. Re-importing the same file creates nothing new (idempotent by ref)."""
    now = now or utcnow()
    result = ImportResult()
    for line, row in _rows(data, fmt):
        if "_" in row:
            result.problems.append(ImportProblem(line, "row", f"each work order must be an object, got {row['_']!r}"))
            continue
        row.setdefault("source", source)
        if isinstance(row.get("reported_at"), str) and row["reported_at"] and "T" not in row["reported_at"]:
            row["reported_at"] = row["reported_at"].replace(" ", "T") + ("" if "+" in row["reported_at"] else "+08:00")
        try:
            report = ReportIn.model_validate(row)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                result.problems.append(ImportProblem(line, ".".join(str(p) for p in error["loc"]) or "row", error["msg"]))
            continue
        try:
            # No savepoint: submit_report refuses before writing. (pysqlite's SAVEPOINTs would need
            # SQLAlchemy's documented workaround, or each RELEASE commits and a final rollback — the
            # web refusing an import — undoes nothing.) The caller's transaction is the whole import.
            intake = submit_report(session, report, actor, now=now)
        except IntakeError as exc:
            result.problems.append(ImportProblem(line, exc.field, exc.message))
            continue
        if intake.duplicate:
            result.duplicates += 1
        elif intake.created:
            result.created += 1
        else:
            result.merged += 1
        result.incident_ids.append(intake.incident.id)
    return result
