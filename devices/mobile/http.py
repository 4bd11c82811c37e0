"""HTTP ingestion of telemetry: a plain function, and a FastAPI router web/ can mount.

``POST /telemetry`` takes one message or a list (see :mod:`devices.mobile.telemetry`)
and answers ``{"accepted": n, "rejected": [{"index", "unit_id", "error"}]}`` — a bad
message is rejected with its reason, the good ones in the same batch are kept.
Authentication is web/'s job: pass its token dependency in ``dependencies``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ValidationError

from devices.mobile.telemetry import MobileTracker, Telemetry, UnknownUnitError

MAX_BATCH = 1000


class Rejected(BaseModel):
    index: int
    unit_id: str | None
    error: str


class IngestResult(BaseModel):
    accepted: int
    rejected: list[Rejected]


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(message)'}: {e['msg']}" for e in exc.errors(include_url=False))


def ingest_telemetry(tracker: MobileTracker, payload: bytes | str | dict[str, Any] | list[Any]) -> IngestResult:
    """Validate and record telemetry; raises ValueError only when the body is not JSON at all or too big."""
    if isinstance(payload, (bytes, str)):
        try:
            payload = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"telemetry body is not JSON: {exc}") from None
    items = payload if isinstance(payload, list) else [payload]
    if len(items) > MAX_BATCH:
        raise ValueError(f"batch of {len(items)} messages; send at most {MAX_BATCH} per request")
    accepted, rejected = 0, []
    for i, item in enumerate(items):
        unit = item.get("unit_id") if isinstance(item, dict) else None
        unit = unit if isinstance(unit, str) else None
        try:
            tracker.update(Telemetry.model_validate(item))
        except ValidationError as exc:
            rejected.append(Rejected(index=i, unit_id=unit, error=_describe(exc)))
        except UnknownUnitError as exc:
            rejected.append(Rejected(index=i, unit_id=unit, error=str(exc)))
        else:
            accepted += 1
    return IngestResult(accepted=accepted, rejected=rejected)


def make_router(tracker: MobileTracker, *, dependencies: Sequence[Any] = ()) -> APIRouter:
    """A FastAPI ``APIRouter``: POST /telemetry, GET /units, GET /units/{id}/track, GET /nearby."""
    router = APIRouter(dependencies=list(dependencies), tags=["mobile"])

    @router.post("/telemetry", response_model=IngestResult)
    async def post_telemetry(request: Request) -> IngestResult:
        body = await request.body()
        if len(body) > 1_000_000:
            raise HTTPException(413, "telemetry body over 1 MB; send smaller batches")
        try:
            result = ingest_telemetry(tracker, body)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        if not result.accepted and result.rejected:
            raise HTTPException(422, result.model_dump())
        return result

    @router.get("/units")
    def units() -> list[dict[str, Any]]:
        return tracker.units()

    @router.get("/units/{unit_id}/track")
    def track(unit_id: str, limit: int = Query(500, ge=1, le=10000)) -> list[dict[str, Any]]:
        if tracker.registry.get(unit_id) is None:
            raise HTTPException(404, f"no unit {unit_id!r}")
        return [p.model_dump(mode="json") for p in tracker.history(unit_id)[-limit:]]

    @router.get("/nearby")
    def nearby(lat: float = Query(ge=-90, le=90), lon: float = Query(ge=-180, le=180),
               radius_m: float = Query(500, gt=0, le=50_000)) -> list[dict[str, Any]]:
        return [h.as_dict() for h in tracker.within_radius(lat, lon, radius_m)]

    return router
