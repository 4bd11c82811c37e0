"""Incident search for the desk: text, number, address, filters, sort and keyset paging.

``GET /api/search/incidents`` answers only inside the caller's jurisdiction subtree
(command's ``search_incidents`` takes the scope; a ``jurisdiction_code`` outside it is
refused like any other bad filter). Items have the shape of the desk's incident list.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from command import LOCAL_TZ, NameCache, SearchError, SearchQuery, incident_payload, search_incidents

from web.deps import current_user, get_ctx
from web.errors import ApiError
from web.scope import Principal

router = APIRouter(prefix="/api/search", tags=["search"])

Sort = Literal["newest", "oldest", "deadline", "urgency"]
HOTLINE_FIELDS = ("description", "address", "reporter_name", "reporter_phone")
_ONE_DAY, _ZERO = timedelta(days=1), timedelta(0)


def _csv(values: list[str] | None) -> tuple[str, ...]:
    """Accept ``?status=a&status=b`` and ``?status=a,b`` alike."""
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return tuple(out)


def _bound(text: str | None, end: bool, field: str) -> datetime | None:
    """A local (Beijing) day or an aware/naive datetime → aware UTC; a day's end bound is the next midnight."""
    if not text:
        return None
    try:
        value: date | datetime = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError as exc:
        message = "时间格式应为 年-月-日 或 年-月-日T时:分"
        raise ApiError(422, "search.bad_time", message,
                       errors=[{"field": f"query.{field}", "message": message, "type": "search.bad_time"}]) from exc
    if not isinstance(value, datetime):
        moment = datetime.combine(value, time.min, tzinfo=LOCAL_TZ)
        return (moment + (_ONE_DAY if end else _ZERO)).astimezone(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)  # what the operator typed is Beijing time
    return value.astimezone(UTC)




@router.get("/incidents", summary="Search incidents in scope: text/number/address, filters, sort, keyset paging")
def search(
    request: Request,
    user: Principal = Depends(current_user),
    q: str = Query("", max_length=200, description="words (all must match) or a number: id, phone, work-order no."),
    status: list[str] | None = Query(None, description="comma list or repeated"),
    category: list[str] | None = Query(None),
    source: list[str] | None = Query(None),
    colour: list[str] | None = Query(None),
    jurisdiction_code: str | None = Query(None, pattern=r"^\d{6}(\d{3}){0,3}$", description="township/village in scope"),
    since: str | None = Query(None, max_length=40, description="created at or after: YYYY-MM-DD or ISO datetime (Beijing time if no offset)"),
    until: str | None = Query(None, max_length=40, description="created before; a bare date includes that day"),
    open_only: bool = False,
    overdue_only: bool = False,
    sort: Sort = "newest",
    cursor: str | None = Query(None, max_length=200, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=200),
    with_total: bool = True,
) -> dict:
    query = SearchQuery(
        scope=user.jurisdiction_code, text=q, status=_csv(status), category=_csv(category), source=_csv(source),
        colour=_csv(colour), jurisdiction=jurisdiction_code, since=_bound(since, False, "since"), until=_bound(until, True, "until"),
        open_only=open_only, overdue_only=overdue_only, sort=sort, cursor=cursor, limit=limit,
    )
    names = NameCache()
    with get_ctx(request).database.session() as session:
        try:
            page = search_incidents(session, query, with_total=with_total and cursor is None)
        except SearchError as exc:
            raise ApiError(422, exc.code, exc.message,
                           errors=[{"field": f"query.{exc.field}", "message": exc.message, "type": exc.code}]) from exc
        items = []
        for incident in page.items:
            item = incident_payload(session, incident, names)
            for key in HOTLINE_FIELDS:
                item[key] = getattr(incident, key)
            items.append(item)
    return {"items": items, "count": len(items), "total": page.total, "total_capped": page.total_capped,
            "next_cursor": page.next_cursor, "sort": page.sort, "terms": page.terms}
