"""Drones and 4G terminals: telemetry in (stored, then pushed), positions and tracks out of the database — all inside
the caller's jurisdiction."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from devices import Camera, IngestResult, MobileTracker, Telemetry, ingest_telemetry, publish_position
from web.context import AppContext
from web.deps import current_user, get_ctx, not_found
from web.errors import ApiError
from web.scope import Permission, Principal

router = APIRouter(prefix="/api/mobile", tags=["mobile"])

UnitId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


def _tracker(ctx: AppContext) -> MobileTracker:
    return ctx.mobile


def _visible_unit(tracker: MobileTracker, user: Principal, unit_id: str) -> Camera:
    unit = tracker.registry.get(unit_id)
    if unit is None or not unit.is_mobile or not user.covers(unit.jurisdiction):
        raise not_found(f"移动设备 {unit_id}")
    return unit


@router.post("/telemetry", response_model=IngestResult, summary="Position reports of drones / 4G terminals in scope",
             responses={403: {"description": "查看账号不能上报位置"}, 422: {"description": "没有一条位置被接受"}})
async def post_telemetry(request: Request, user: Principal = Depends(current_user),
                         ctx: AppContext = Depends(get_ctx)) -> IngestResult:
    if not (user.can(Permission.RESPOND) or user.can(Permission.HANDLE_INCIDENTS)):
        raise ApiError(403, "forbidden", "此账号不能上报设备位置。")
    tracker = _tracker(ctx)
    accepted: list[tuple[Telemetry, Camera]] = []

    def admit(report: Telemetry) -> str | None:
        unit = tracker.registry.get(report.unit_id)
        if unit is None or not user.covers(unit.jurisdiction):
            return f"移动设备 {report.unit_id} 不存在，或不在您的管辖范围内。"
        return None

    body = await request.body()
    try:  # stored in the database (off the event loop), then published as stored
        result = await asyncio.to_thread(ingest_telemetry, tracker, body, admit=admit,
                                         on_accept=lambda report, unit: accepted.append((report, unit)))
    except ValueError as exc:
        raise ApiError(422, "invalid_body", "位置数据不是有效的 JSON，或一次上报过多。", detail=str(exc)) from None
    if accepted:
        await asyncio.to_thread(_publish, ctx, accepted)
    if not result.accepted and result.rejected:
        raise ApiError(422, "telemetry_rejected", "没有一条位置被接受。", detail=result.model_dump())
    return result


def _publish(ctx: AppContext, accepted: list[tuple[Telemetry, Camera]]) -> None:
    for report, unit in accepted:
        publish_position(ctx.redis_sync, report, unit, stored=True)


@router.get("/units", summary="Mobile units in scope with their latest position")
def units(user: Principal = Depends(current_user), ctx: AppContext = Depends(get_ctx)) -> list[dict[str, Any]]:
    return [u for u in _tracker(ctx).units() if user.covers(str(u["jurisdiction_code"]))]


@router.get("/units/{unit_id}/track", summary="A unit's recent track (oldest first)")
def track(unit_id: UnitId, limit: int = Query(500, ge=1, le=10000), user: Principal = Depends(current_user),
          ctx: AppContext = Depends(get_ctx)) -> list[dict[str, Any]]:
    tracker = _tracker(ctx)
    _visible_unit(tracker, user, unit_id)
    return [p.model_dump(mode="json") for p in tracker.history(unit_id)[-limit:]]


@router.get("/nearby", summary="Cameras and fresh mobile units in scope within radius_m of a point, nearest first")
def nearby(lat: float = Query(ge=-90, le=90), lon: float = Query(ge=-180, le=180),
           radius_m: float = Query(500, gt=0, le=50_000), user: Principal = Depends(current_user),
           ctx: AppContext = Depends(get_ctx)) -> list[dict[str, Any]]:
    return [h.as_dict() for h in _tracker(ctx).within_radius(lat, lon, radius_m) if user.covers(h.jurisdiction_code)]
