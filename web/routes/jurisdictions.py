"""Jurisdictions (tree and GeoJSON boundaries) and incident categories."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import select

from command import Category

from web.deps import current_user, get_ctx
from web.scope import Principal

router = APIRouter(prefix="/api", tags=["jurisdictions"])

Level = Literal["county", "township", "village", "grid"]


def _visible_code(user: Principal, code: str) -> bool:
    # A user sees their subtree and the names of their ancestors (for breadcrumbs), nothing sideways.
    return user.covers(code) or user.jurisdiction_code.startswith(code)


@router.get("/jurisdictions", summary="Jurisdictions in the caller's subtree (optionally down to a level)")
def list_jurisdictions(
    request: Request,
    user: Principal = Depends(current_user),
    max_level: Level = "village",
) -> dict:
    items = get_ctx(request).store.list_jurisdictions(user.jurisdiction_code, max_level=max_level)
    return {"items": items, "count": len(items)}


@router.get("/jurisdictions/geojson", summary="Boundaries of the caller's subtree as a GeoJSON FeatureCollection")
def jurisdictions_geojson(
    request: Request,
    user: Principal = Depends(current_user),
    max_level: Level = "township",
) -> dict:
    items = get_ctx(request).store.list_jurisdictions(user.jurisdiction_code, with_boundary=True, max_level=max_level)
    features = []
    for j in items:
        boundary = j.pop("boundary", None)
        geometry = {"type": "Polygon", "coordinates": [boundary]} if boundary else None
        features.append({"type": "Feature", "id": j["code"], "properties": j, "geometry": geometry})
    return {"type": "FeatureCollection", "features": features}


@router.get("/jurisdictions/{code}", summary="One jurisdiction with its boundary")
def get_jurisdiction(code: str, request: Request, user: Principal = Depends(current_user)) -> dict:
    item = get_ctx(request).store.get_jurisdiction(code) if code.isdigit() else None
    if item is None or not _visible_code(user, code):
        raise HTTPException(404, "jurisdiction not found in your scope")
    return item


@router.get("/categories", summary="Incident categories (police-type, department, default severity and colour)")
def list_categories(request: Request, user: Principal = Depends(current_user)) -> dict:
    with get_ctx(request).database.session() as session:
        items = [
            {"code": c.code, "name": c.name, "police": c.police, "department": c.department,
             "default_severity": c.default_severity, "default_colour": c.default_colour}
            for c in session.scalars(select(Category).order_by(Category.code))
        ]
    return {"items": items}
