"""Intake from people (one door in): 12345 work orders, 110 transfers, grid-worker and citizen
reports — single, with photos, or a bulk CSV/JSON import of work orders. Delegates to command's
intake (idempotent by source + ref, merges duplicates) and pushes the result on ``xl:events``."""

from __future__ import annotations

import json
import logging
from typing import Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from command import relay_after_commit, stage_events
from command import Incident, incident_payload
from command import IntakeError, ReportIn, import_work_orders, submit_report

from web.deps import current_user, get_ctx, require
from web.errors import api_error
from web.routes.auth import client_ip
from web.scope import Permission, Principal, Role
from web.workflow import actor_for

log = logging.getLogger("web.intake")
router = APIRouter(prefix="/api/intake", tags=["intake"])

MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_IMPORT_BYTES = 8 * 1024 * 1024


def _may_report(user: Principal, report: ReportIn) -> None:
    if user.can(Permission.HANDLE_INCIDENTS):
        return
    if user.role == Role.RESPONDER and report.source == "grid":
        return  # grid workers report what they find on their rounds
    raise HTTPException(403, f"role {user.role.value} may not submit {report.source} reports")




def _submit(request: Request, user: Principal, report: ReportIn, photos: list[bytes]) -> dict:
    ctx = get_ctx(request)
    with ctx.database.session() as session:
        try:
            result = submit_report(session, report, actor_for(user, client_ip(request)), photos=photos,
                                   media_dir=ctx.settings.media_dir)
        except IntakeError as exc:
            raise HTTPException(422, {"field": f"body.{exc.field}", "message": exc.message}) from exc
        if not user.covers(result.incident.jurisdiction_code):
            session.rollback()
            raise HTTPException(403, "the reported place is outside your jurisdiction")
        payload = incident_payload(session, result.incident)
        staged = [] if result.duplicate else stage_events(
            session, [("incident.created" if result.created else "incident.updated", payload)])  # outbox
    relay_after_commit(ctx.database, ctx.redis_sync, staged)
    return {"incident": payload, "created": result.created, "duplicate": result.duplicate}


@router.post("/reports", summary="One report (12345 / 110 / grid worker / citizen): new incident or merged")
def submit(body: ReportIn, request: Request, user: Principal = Depends(current_user)) -> dict:
    _may_report(user, body)
    return _submit(request, user, body, [])


@router.post("/reports/with-photos", summary="A report with scene photos (multipart: `report` JSON + `photos`)")
async def submit_with_photos(
    request: Request,
    report: str = Form(..., max_length=20_000, description="the ReportIn JSON"),
    photos: list[UploadFile] = File(default=[]),
    user: Principal = Depends(current_user),
) -> dict:
    if not (user.can(Permission.HANDLE_INCIDENTS) or user.can(Permission.RESPOND)):
        raise HTTPException(403, f"role {user.role.value} may not submit reports")
    try:
        parsed = ReportIn.model_validate(json.loads(report))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise HTTPException(422, {"field": "body.report", "message": str(exc)[:500]}) from exc
    _may_report(user, parsed)
    if len(photos) > MAX_PHOTOS:
        raise HTTPException(422, {"field": "body.photos", "message": f"at most {MAX_PHOTOS} photos"})
    data = []
    for photo in photos:
        content = await photo.read(MAX_PHOTO_BYTES + 1)
        if len(content) > MAX_PHOTO_BYTES:
            raise HTTPException(413, f"photo {photo.filename!r} is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
        data.append(content)
    return await run_in_threadpool(_submit, request, user, parsed, data)


@router.post("/import", summary="Bulk import of 12345 work orders (CSV with a header row, or JSON list)")
async def import_orders(
    request: Request,
    file: UploadFile = File(...),
    format: Literal["csv", "json"] = Query("csv"),
    source: Literal["hotline_12345", "police_110"] = Query("hotline_12345"),
    user: Principal = Depends(require(Permission.HANDLE_INCIDENTS)),
) -> dict:
    data = await file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise HTTPException(413, f"import file larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split it")
    text = _decode(data)
    ctx = get_ctx(request)

    def run() -> dict:
        with ctx.database.session() as session:
            before = session.scalar(select(func.max(Incident.id))) or 0
            try:
                result = import_work_orders(session, text, format, actor_for(user, f"import:{file.filename}"), source=source)
            except IntakeError as exc:
                raise api_error(422, exc.message, field=exc.field, detail=f"{file.filename}: {exc}") from exc
            incidents = [session.get_one(Incident, i) for i in dict.fromkeys(result.incident_ids)]
            if any(not user.covers(i.jurisdiction_code) for i in incidents):
                session.rollback()
                raise api_error(403, "导入文件含有本辖区以外的地点，未导入任何工单。",
                                detail="the import contains places outside your jurisdiction; nothing was imported")
            payloads = [("incident.created" if i.id > before else "incident.updated", incident_payload(session, i))
                        for i in incidents]
            staged = stage_events(session, payloads)  # committed with the import (outbox)
        relay_after_commit(ctx.database, ctx.redis_sync, staged)
        return {"created": result.created, "merged": result.merged, "duplicates": result.duplicates,
                "incident_ids": result.incident_ids,
                "problems": [{"line": p.line, "field": p.field, "message": p.message} for p in result.problems]}

    return await run_in_threadpool(run)


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 — what 12345 platforms export from Excel."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise HTTPException(422, {"field": "body.file", "message": "the file is neither UTF-8 nor GB18030 text; export it as CSV (UTF-8) or JSON"})
