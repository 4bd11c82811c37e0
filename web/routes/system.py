"""Health (public) — for load balancers and the launcher; Prometheus metrics (administrators)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from web.deps import require
from web.scope import Permission, Principal

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health", summary="Liveness and dependency check (public)")
async def health(request: Request) -> dict:
    ctx = request.app.state.ctx
    try:
        redis_ok = bool(await ctx.redis.ping())
    except Exception:  # health reports, it does not raise
        redis_ok = False
    return {"status": "ok" if redis_ok else "degraded", "redis": redis_ok, "ws_clients": ctx.hub.subscriber_count}


metrics_router = APIRouter(tags=["system"])


@metrics_router.get("/metrics", summary="Prometheus metrics of the web process (administrators)",
                    response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request, _admin: Principal = Depends(require(Permission.ADMINISTER))) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
