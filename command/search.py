"""Incident search for the desk: text / number / address, filters, sort and keyset paging.

One query builder for every shape the desk asks for. Paging is by keyset (an opaque cursor
holding the last row's sort key), so page 50 costs what page 1 costs and a row inserted
meanwhile never shifts the pages. The scope is an equality on the denormalised ancestor
columns (migration 0003/0004), so every filter combination stays an index walk plus a
bounded scan on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from command.catalog import COLOURS, SOURCES
from command.incidents import where_incident_fields
from command.models import Incident, IncidentSource, incident_in_scope
from command.workflow import STATES

Sort = Literal["newest", "oldest", "deadline", "urgency"]
SORTS: tuple[Sort, ...] = ("newest", "oldest", "deadline", "urgency")
MAX_LIMIT = 200
MAX_TERMS = 5
# Counting stops here ("1000+"): past it an exact figure helps nobody and costs a full scan.
COUNT_CAP = 1000
# Columns a text term is looked for in (诉求内容 is the description of a 12345 case).
TEXT_COLUMNS = (Incident.title, Incident.description, Incident.address, Incident.reporter_name,
                Incident.camera_name, Incident.reporter_phone)
COLOUR_RANK = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}
# Open incidents without a deadline sort after every dated one.
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


class SearchError(ValueError):
    """A search request that cannot be answered; ``code`` is stable, ``message`` is for the operator (zh-CN)."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class SearchQuery:
    """What the desk's search bar and filters ask for. ``scope`` is the caller's jurisdiction."""

    scope: str
    text: str = ""
    status: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    colour: tuple[str, ...] = ()
    jurisdiction: str | None = None  # a township / village / grid inside the scope
    since: datetime | None = None
    until: datetime | None = None
    open_only: bool = False
    overdue_only: bool = False
    sort: Sort = "newest"
    cursor: str | None = None
    limit: int = 50


@dataclass
class SearchPage:
    items: list[Incident]
    next_cursor: str | None
    sort: Sort
    total: int | None = None
    terms: list[str] = field(default_factory=list)
    total_capped: bool = False  # total is COUNT_CAP and there are more


def split_terms(text: str) -> list[str]:
    """Whitespace-separated terms (all must match), at most :data:`MAX_TERMS`."""
    terms = [t for t in re.split(r"\s+", text.strip()) if t]
    if len(terms) > MAX_TERMS:
        raise SearchError("search.too_many_terms", f"搜索词最多 {MAX_TERMS} 个，请精简后再试", "q")
    for term in terms:
        if len(term) > 64:
            raise SearchError("search.term_too_long", "单个搜索词不能超过 64 个字符", "q")
    return terms


def _term_condition(term: str, case_insensitive_like: bool) -> ColumnElement[bool]:
    """A term matches any text column; a number also matches the incident id and work-order numbers.

    SQLite's LIKE already ignores ASCII case (and lower() on six columns per row costs more than
    the scan); PostgreSQL needs ILIKE.
    """
    pattern = f"%{_escape(term)}%"
    has_digit = any(ch.isdigit() for ch in term)
    columns = TEXT_COLUMNS if has_digit else TEXT_COLUMNS[:-1]  # a phone number holds digits
    if case_insensitive_like:
        conditions: list[ColumnElement[bool]] = [column.like(pattern, escape="\\") for column in columns]
    else:
        conditions = [column.ilike(pattern, escape="\\") for column in columns]
    number = term.lstrip("#")
    if number.isdigit() and int(number) < 2**31:  # ids are 32-bit integers on PostgreSQL
        conditions.append(Incident.id == int(number))
    if has_digit:
        # A work-order / 110 transfer number is looked up exactly (indexed, migration 0006).
        conditions.append(Incident.id.in_(select(IncidentSource.incident_id).where(IncidentSource.ref == term)))
    return or_(*conditions)


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _validate(q: SearchQuery) -> None:
    checks = (("status", q.status, STATES, "状态"), ("source", q.source, tuple(SOURCES), "来源"),
              ("colour", q.colour, COLOURS, "风险等级"))
    for name, values, allowed, label in checks:
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise SearchError(f"search.bad_{name}", f"未知的{label}：{'、'.join(unknown)}", name)
    if q.sort not in SORTS:
        raise SearchError("search.bad_sort", "排序方式只能是 最新、最早、时限 或 紧急程度", "sort")
    if q.jurisdiction and not q.jurisdiction.startswith(q.scope):
        raise SearchError("search.out_of_scope", "所选辖区不在您的管辖范围内", "jurisdiction_code")
    if q.since and q.until and q.since >= q.until:
        raise SearchError("search.bad_range", "开始时间须早于结束时间", "since")


def _urgency() -> ColumnElement[int]:
    return case(COLOUR_RANK, value=Incident.colour, else_=9)


def _deadline() -> ColumnElement[datetime]:
    return func.coalesce(Incident.resolve_deadline, _FAR_FUTURE)


def _sort_key(sort: Sort) -> list[ColumnElement]:
    """The ORDER BY, most significant first; the id always ends it so the order is total."""
    if sort == "oldest":
        return [Incident.id.asc()]
    if sort == "deadline":
        return [_deadline().asc(), Incident.id.asc()]
    if sort == "urgency":
        return [_urgency().asc(), _deadline().asc(), Incident.id.asc()]
    return [Incident.id.desc()]


def _key_of(incident: Incident, sort: Sort) -> list[object]:
    deadline = (incident.resolve_deadline or _FAR_FUTURE).astimezone(UTC).replace(tzinfo=None).isoformat()
    if sort == "deadline":
        return [deadline, incident.id]
    if sort == "urgency":
        return [COLOUR_RANK.get(incident.colour, 9), deadline, incident.id]
    return [incident.id]


def encode_cursor(incident: Incident, sort: Sort) -> str:
    raw = json.dumps([sort, *_key_of(incident, sort)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: Sort) -> list[object]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
        if not isinstance(value, list) or value[0] != sort:
            raise ValueError("cursor of another sort")
        key = value[1:]
        expected = {"newest": 1, "oldest": 1, "deadline": 2, "urgency": 3}[sort]
        if len(key) != expected or not isinstance(key[-1], int):
            raise ValueError("bad cursor shape")
        if sort in ("deadline", "urgency"):
            datetime.fromisoformat(str(key[-2]))
        if sort == "urgency" and not isinstance(key[0], int):
            raise ValueError("bad urgency rank")
        return key
    except (ValueError, TypeError, IndexError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SearchError("search.bad_cursor", "翻页标记无效或已过期，请从第一页重新查询", "cursor") from exc


def _after(sort: Sort, key: list[object]) -> ColumnElement[bool]:
    """Rows strictly after ``key`` in the sort order (keyset paging)."""
    if sort == "newest":
        return Incident.id < key[0]
    if sort == "oldest":
        return Incident.id > key[0]
    deadline = datetime.fromisoformat(str(key[-2])).replace(tzinfo=UTC)
    by_deadline = or_(_deadline() > deadline, and_(_deadline() == deadline, Incident.id > key[-1]))
    if sort == "deadline":
        return by_deadline
    rank = int(key[0])  # type: ignore[call-overload]
    return or_(_urgency() > rank, and_(_urgency() == rank, by_deadline))


def _filtered(q: SearchQuery, terms: list[str], sqlite: bool) -> Select[Incident]:
    query = select(Incident).where(incident_in_scope(q.scope))
    if q.jurisdiction and q.jurisdiction != q.scope:
        query = query.where(incident_in_scope(q.jurisdiction))
    query = where_incident_fields(query, status=q.status, category=q.category, source=q.source, colour=q.colour,
                                  open_only=q.open_only, overdue_only=q.overdue_only, since=q.since, until=q.until)
    for term in terms:
        query = query.where(_term_condition(term, sqlite))
    return query


def search_incidents(session: Session, q: SearchQuery, *, with_total: bool = False) -> SearchPage:
    """One page of incidents matching ``q`` inside ``q.scope``, in ``q.sort`` order.

    ``next_cursor`` is None on the last page. ``with_total`` adds the number of matches
    (one COUNT over the same filters, stopping at :data:`COUNT_CAP`: ``total_capped``).
    """
    if not q.scope:
        raise SearchError("search.no_scope", "缺少管辖范围", "scope")
    _validate(q)
    terms = split_terms(q.text)
    limit = max(1, min(q.limit, MAX_LIMIT))
    query = _filtered(q, terms, session.get_bind().dialect.name == "sqlite")
    page_query = query
    if q.cursor:
        page_query = page_query.where(_after(q.sort, _decode_cursor(q.cursor, q.sort)))
    rows = list(session.scalars(
        page_query.order_by(*_sort_key(q.sort)).limit(limit + 1).options(selectinload(Incident.assignments))
    ))
    more = len(rows) > limit
    rows = rows[:limit]
    total = None
    if with_total:
        # A first page that is not full is the whole answer: no second scan to count it.
        if not q.cursor and not more:
            total = len(rows)
        else:
            capped = query.with_only_columns(Incident.id).order_by(None).limit(COUNT_CAP + 1).subquery()
            total = session.scalar(select(func.count()).select_from(capped)) or 0
    capped_total = total is not None and total > COUNT_CAP
    return SearchPage(items=rows, next_cursor=encode_cursor(rows[-1], q.sort) if more and rows else None,
                      sort=q.sort, total=min(total, COUNT_CAP) if total is not None else None, terms=terms,
                      total_capped=capped_total)


__all__ = ["COUNT_CAP", "MAX_LIMIT", "SORTS", "SearchError", "SearchPage", "SearchQuery", "Sort", "encode_cursor",
           "search_incidents", "split_terms"]
