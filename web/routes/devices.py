"""Device health: every camera in scope with its latest reported status."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from devices import LAST_FRAME_KEY, AnalysisMode, Camera

from web.cameras import camera_view
from web.context import AppContext
from web.deps import current_user, get_ctx
from web.scope import Principal

router = APIRouter(prefix="/api/devices", tags=["device health"])
FRESH_S = 15.0  # 在线 = a frame within this long (device health samples one frame per camera every 5 s)


def _last_frames(ctx: AppContext) -> dict[str, float]:
    """The analytics worker's heartbeat (camera_id -> wall time of the newest sampled frame); {} if unreachable."""
    try:
        raw = ctx.redis_sync.hgetall(LAST_FRAME_KEY)
    except Exception:  # Redis down: the statuses alone, as before
        return {}
    return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}


def _fresh(status: dict[str, Any], camera: Camera, last_frame: float | None, now: float) -> dict[str, Any]:
    """A continuously watched camera is 在线 only with a frame in the last ``FRESH_S`` seconds: the
    status event was published when it came online, maybe long ago, and a stopped worker sends nothing."""
    out = dict(status)
    if last_frame is not None:
        out["last_frame_at"] = datetime.fromtimestamp(last_frame, UTC).isoformat()
        out["last_frame_age_s"] = round(now - last_frame, 1)
    if out.get("status") == "online" and camera.analysis.mode == AnalysisMode.continuous:
        if last_frame is None or now - last_frame > FRESH_S:
            age = f"{now - last_frame:.0f} 秒前" if last_frame is not None else "未知"
            out["status"] = "offline"
            out["reason"] = f"超过 {FRESH_S:.0f} 秒没有画面（最后一帧 {age}）"
    return out


@router.get("/health", summary="Status (online/offline/auth_failed/no_signal/degraded/unknown) of cameras in scope")
def device_health(request: Request, user: Principal = Depends(current_user)) -> dict:
    ctx = get_ctx(request)
    board = ctx.device_status
    last_frames = _last_frames(ctx)
    now = time.time()
    items = []
    for camera in ctx.cameras.in_scope(user.jurisdiction_code):
        status = _fresh(board.get(camera.id) or {}, camera, last_frames.get(camera.id), now)
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
            "last_frame_age_s": status.get("last_frame_age_s"),
        })
    counts = Counter(i["status"] for i in items)
    return {"items": items, "counts": dict(counts), "count": len(items)}
