"""Reports for the caller's jurisdiction (or a sub-jurisdiction of it), built by command's report
builder: JSON for the charts page, CSV for spreadsheets, PDF/PNG with charts for printing."""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from command import LOCAL_TZ, Report, build_report, render_report, report_csv

from web.deps import current_user, get_ctx
from web.scope import Principal

router = APIRouter(prefix="/api/reports", tags=["reports"])

Period = Literal["daily", "weekly", "monthly", "quarterly"]


def _scope(user: Principal, jurisdiction_code: str | None) -> str:
    code = jurisdiction_code or user.jurisdiction_code
    if not user.covers(code):
        raise HTTPException(404, "jurisdiction not found in your scope")
    return code


def _report(request: Request, user: Principal, period: str, day: date | None, jurisdiction_code: str | None) -> Report:
    scope = _scope(user, jurisdiction_code)
    with get_ctx(request).database.session() as session:
        try:
            return build_report(session, scope, period, day or datetime.now(LOCAL_TZ).date())
        except ValueError as exc:
            raise HTTPException(422, {"field": "query.jurisdiction_code", "message": str(exc)}) from exc


def _params(period: Period = "weekly",
            day: date | None = Query(None, description="a day inside the period (local time); default today"),
            jurisdiction_code: str | None = Query(None, pattern=r"^\d{6}(\d{3}){0,3}$")) -> dict:
    return {"period": period, "day": day, "jurisdiction_code": jurisdiction_code}


@router.get("/summary", summary="Counts, closure rate, handling time, overdue, satisfaction, hot spots, trend")
def summary(request: Request, user: Principal = Depends(current_user), q: dict = Depends(_params)) -> dict:
    return _report(request, user, **q).to_dict()


@router.get("/summary.csv", summary="The same report as CSV", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def summary_csv(request: Request, user: Principal = Depends(current_user), q: dict = Depends(_params)) -> Response:
    report = _report(request, user, **q)
    # BOM so Excel/WPS open the Chinese text as UTF-8
    return Response("\ufeff" + report_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="report-{report.scope}-{report.period}-{report.label}.csv"'})


def _rendered(request: Request, user: Principal, q: dict, suffix: str) -> Response:
    report = _report(request, user, **q)
    with tempfile.TemporaryDirectory() as tmp:
        path = render_report(report, Path(tmp) / f"report{suffix}")
        data = path.read_bytes()
    media = "application/pdf" if suffix == ".pdf" else "image/png"
    name = f"report-{report.scope}-{report.period}-{report.label}{suffix}"
    return Response(data, media_type=media, headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/summary.pdf", summary="Printable A4 report with charts (PDF)", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def summary_pdf(request: Request, user: Principal = Depends(current_user), q: dict = Depends(_params)) -> Response:
    return _rendered(request, user, q, ".pdf")


@router.get("/summary.png", summary="The printable report as an image (PNG)", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def summary_png(request: Request, user: Principal = Depends(current_user), q: dict = Depends(_params)) -> Response:
    return _rendered(request, user, q, ".png")
