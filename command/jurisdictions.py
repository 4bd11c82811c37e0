"""The jurisdiction tree: county (6 digits) → township (9) → village (12) → grid (15).

"X is inside Y" is ``X.startswith(Y)``; range queries use ``[code, code + ':')``
(':' sorts right after '9') so they hit the B-tree index on both databases.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from command.models import Jurisdiction

LEVELS = {6: "county", 9: "township", 12: "village", 15: "grid"}
LEVEL_ORDER = ("grid", "village", "township", "county")
HANDLING_LEVELS = ("village", "township", "county")


class JurisdictionError(ValueError):
    pass


def validate_code(code: str) -> str:
    if not isinstance(code, str) or not code.isdigit() or len(code) not in LEVELS:
        raise JurisdictionError(
            f"jurisdiction code {code!r} must be 6 (county), 9 (township), 12 (village) or 15 (grid) digits"
        )
    return code


def level_of(code: str) -> str:
    return LEVELS[len(validate_code(code))]


def ancestors(code: str) -> list[str]:
    """Codes of ``code`` and its ancestors, nearest first."""
    validate_code(code)
    return [code[:n] for n in (15, 12, 9, 6) if n <= len(code)]


def code_at_level(code: str, level: str) -> str:
    """The ancestor of ``code`` at ``level`` (village/township/county), or ``code`` if it is above."""
    digits = {"county": 6, "township": 9, "village": 12, "grid": 15}[level]
    return code[:digits] if len(code) >= digits else code


def in_scope(code: str, scope: str) -> bool:
    return code.startswith(scope)


def scope_filter(column: InstrumentedAttribute[str], scope: str) -> ColumnElement[bool]:
    """SQL for "column lies inside scope" that uses the index (a range, not LIKE)."""
    return (column >= scope) & (column < scope + ":")


def get(session: Session, code: str) -> Jurisdiction | None:
    return session.get(Jurisdiction, code)


def name_of(session: Session, code: str) -> str:
    """The nearest known name of ``code`` (a grid with no row reports its village's name)."""
    for candidate in ancestors(code):
        row = session.get(Jurisdiction, candidate)
        if row is not None:
            return row.name
    return code


def full_name(session: Session, code: str) -> str:
    """"雪亮县 东城镇 东一村" from county down to ``code``."""
    names = [row.name for c in reversed(ancestors(code)) if (row := session.get(Jurisdiction, c)) is not None]
    return " ".join(names) or code


def children(session: Session, code: str) -> list[Jurisdiction]:
    return list(session.scalars(select(Jurisdiction).where(Jurisdiction.parent_code == code).order_by(Jurisdiction.code)))


def tree(session: Session, root: str) -> dict[str, Any]:
    """The subtree under ``root`` as nested dicts (code, name, level, children)."""
    rows = list(session.scalars(select(Jurisdiction).where(scope_filter(Jurisdiction.code, root))))
    by_parent: dict[str | None, list[Jurisdiction]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_code, []).append(row)

    def build(row: Jurisdiction) -> dict[str, Any]:
        return {
            "code": row.code,
            "name": row.name,
            "level": row.level,
            "children": [build(c) for c in sorted(by_parent.get(row.code, []), key=lambda r: r.code)],
        }

    root_row = next((r for r in rows if r.code == root), None)
    if root_row is None:
        raise JurisdictionError(f"no jurisdiction {root}")
    return build(root_row)


def locate(session: Session, lat: float, lon: float, within: str | None = None) -> str | None:
    """The deepest jurisdiction whose boundary contains (lat, lon), or None."""
    query = select(Jurisdiction).where(Jurisdiction.boundary.is_not(None))
    if within:
        query = query.where(scope_filter(Jurisdiction.code, within))
    best: str | None = None
    for row in session.scalars(query):
        if row.boundary and point_in_polygon(lon, lat, row.boundary) and (best is None or len(row.code) > len(best)):
            best = row.code
    return best


def point_in_polygon(x: float, y: float, ring: list[Any]) -> bool:
    inside = False
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
