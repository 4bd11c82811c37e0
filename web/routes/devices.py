"""Device health: every camera in scope with its latest reported status."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Depends, Request

from web.cameras import camera_view
from web.deps import current_user, get_ctx
from web.scope import Principal

router = APIRouter(prefix="/api/devices", tags=["device health"])


@router.get("/health", summary="Status (online/offline/auth_failed/no_signal/degraded/unknown) of cameras in scope")
def device_health(request: Request, user: Principal = Depends(current_user)) -> dict:
    ctx = get_ctx(request)
    board = ctx.extras["device_status"]
    items = []
    for camera in ctx.extras["cameras"].in_scope(user.jurisdiction_code):
        status = board.get(camera.id) or {}
        view = camera_view(camera)
        items.append({
            "camera_id": camera.id,
            "name": camera.name,
            "kind": view["kind"],
            "jurisdiction_code": camera.jurisdiction,
            "position": view.get("position"),
            "status": status.get("status", "unknown"),
            "reason": status.get("reason"),
            "since": status.get("since"),
            "last_frame_at": status.get("last_frame_at"),
            "quality": status.get("quality") or status.get("vqd"),
            "metrics": status.get("metrics") or {},  # the VQD figures behind the status (luma mean/std, sharpness, ...)
            "checked_at": status.get("checked_at"),
        })
    counts = Counter(i["status"] for i in items)
    return {"items": items, "counts": dict(counts), "count": len(items)}
