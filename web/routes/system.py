"""Health (public) — for load balancers and the launcher."""

from __future__ import annotations

from fastapi import APIRouter, Request

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health", summary="Liveness and dependency check (public)")
async def health(request: Request) -> dict:
    ctx = request.app.state.ctx
    try:
        redis_ok = bool(await ctx.redis.ping())
    except Exception:  # health reports, it does not raise
        redis_ok = False
    return {"status": "ok" if redis_ok else "degraded", "redis": redis_ok, "ws_clients": ctx.hub.subscriber_count}
