"""Demo data shaped like the source documents: 1 county, 13 townships, 138 villages, grids,
categories, responders and demo users. All names are invented."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from command import accounts
from command.catalog import DEFAULT_CATEGORIES, ensure_categories
from command.jurisdictions import full_name, point_in_polygon
from command.models import Jurisdiction, Responder, User

COUNTY_CODE = "330381"
COUNTY_NAME = "雪亮县"
COUNTY_CENTER = (27.78, 120.63)  # an invented place; only distances matter
TOWNSHIP_NAMES = (
    "东城街道", "西城街道", "南滨街道", "北麓镇", "青山镇", "白云镇", "清溪镇",
    "桃源乡", "梅林镇", "石门镇", "龙泉镇", "凤凰乡", "云岭乡",
)
VILLAGE_STEMS = ("前山", "后岙", "上林", "下洋", "新桥", "大坪", "小溪", "林垟", "沙岗", "塘头", "岭下", "田心")
VILLAGES_TOTAL = 138
GRIDS_PER_VILLAGE = 3


@dataclass
class SeedSummary:
    townships: int
    villages: int
    grids: int
    categories: int
    responders: int
    users: int
    created_users: list[str]


def _subdivide(rect: tuple[float, float, float, float], n: int) -> list[tuple[float, float, float, float]]:
    """Split (lat0, lon0, lat1, lon1) into n cells row by row that tile it completely (the last row's
    cells are wider): every point of a county lies in a township, of a township in a village, and of
    a village in a grid — a position always locates to the deepest level."""
    lat0, lon0, lat1, lon1 = rect
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    dlat = (lat1 - lat0) / rows
    cells = []
    for r in range(rows):
        in_row = min(cols, n - r * cols)
        dlon = (lon1 - lon0) / in_row
        for c in range(in_row):
            cells.append((lat0 + r * dlat, lon0 + c * dlon, lat0 + (r + 1) * dlat, lon0 + (c + 1) * dlon))
    return cells


def _ring(rect: tuple[float, float, float, float]) -> list[list[float]]:
    lat0, lon0, lat1, lon1 = rect
    return [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]


def _centre(rect: tuple[float, float, float, float]) -> tuple[float, float]:
    return (round((rect[0] + rect[2]) / 2, 6), round((rect[1] + rect[3]) / 2, 6))


def village_counts() -> list[int]:
    """138 villages over 13 townships: 11 each for the first 8, 10 for the rest."""
    base, extra = divmod(VILLAGES_TOTAL, len(TOWNSHIP_NAMES))
    return [base + (1 if i < extra else 0) for i in range(len(TOWNSHIP_NAMES))]


def _add_place(session: Session, code: str, name: str, level: str, parent: str | None, rect: tuple) -> None:
    lat, lon = _centre(rect)
    session.add(Jurisdiction(code=code, name=name, level=level, parent_code=parent, boundary=_ring(rect), center_lat=lat, center_lon=lon))


def _seed_tree(session: Session) -> None:
    lat, lon = COUNTY_CENTER
    county_rect = (lat - 0.2, lon - 0.25, lat + 0.2, lon + 0.25)
    _add_place(session, COUNTY_CODE, COUNTY_NAME, "county", None, county_rect)
    session.flush()
    for t_index, (t_name, t_rect, n_villages) in enumerate(
        zip(TOWNSHIP_NAMES, _subdivide(county_rect, len(TOWNSHIP_NAMES)), village_counts(), strict=True)
    ):
        t_code = f"{COUNTY_CODE}{101 + t_index}"
        _add_place(session, t_code, t_name, "township", COUNTY_CODE, t_rect)
        for v_index, v_rect in enumerate(_subdivide(t_rect, n_villages)):
            v_code = f"{t_code}{201 + v_index}"
            stem = VILLAGE_STEMS[(v_index + t_index) % len(VILLAGE_STEMS)]
            v_name = f"{stem}村" if v_index < len(VILLAGE_STEMS) else f"{stem}{v_index}村"
            _add_place(session, v_code, v_name, "village", t_code, v_rect)
            for g_index, g_rect in enumerate(_subdivide(v_rect, GRIDS_PER_VILLAGE)):
                _add_place(session, f"{v_code}{g_index + 1:03d}", f"{v_name}第{g_index + 1}网格", "grid", v_code, g_rect)
        session.flush()


def _seed_responders(session: Session) -> None:
    county = session.get(Jurisdiction, COUNTY_CODE)
    assert county is not None
    departments = sorted({spec.department for spec in DEFAULT_CATEGORIES if spec.department and spec.department != "公安局"})
    for dept in departments:
        skills = sorted({s for spec in DEFAULT_CATEGORIES if spec.department == dept for s in spec.skills})
        session.add(Responder(name=f"{dept}值班席", kind="department", department=dept, jurisdiction_code=COUNTY_CODE,
                              skills=skills, lat=county.center_lat, lon=county.center_lon, phone=None))
    townships = session.scalars(select(Jurisdiction).where(Jurisdiction.level == "township").order_by(Jurisdiction.code))
    for township in townships:
        short = township.name.removesuffix("街道").removesuffix("镇").removesuffix("乡")
        for unit in ("值班警组", "巡逻一组"):
            session.add(Responder(name=f"{short}派出所{unit}", kind="police", department="公安局",
                                  jurisdiction_code=township.code, skills=["治安", "交通"],
                                  lat=township.center_lat, lon=township.center_lon))
    villages = session.scalars(select(Jurisdiction).where(Jurisdiction.level == "village").order_by(Jurisdiction.code))
    for village in villages:
        session.add(Responder(name=f"{village.name}网格员", kind="grid_worker", department=None,
                              jurisdiction_code=f"{village.code}001", skills=["巡查", "调解"],
                              lat=village.center_lat, lon=village.center_lon))
    session.flush()


def _default_hasher() -> Callable[[str], str]:
    from argon2 import PasswordHasher

    return PasswordHasher().hash


def demo_users(session: Session) -> list[dict]:
    """The demo accounts: admin, county operator, one operator per township, a village operator, responders."""
    users: list[dict] = [
        dict(username="admin", role="admin", jurisdiction_code=COUNTY_CODE, display_name="系统管理员"),
        dict(username="county", role="county_operator", jurisdiction_code=COUNTY_CODE, display_name=f"{COUNTY_NAME}综治中心值班员"),
        dict(username="viewer", role="viewer", jurisdiction_code=COUNTY_CODE, display_name="领导查看"),
    ]
    for township in session.scalars(select(Jurisdiction).where(Jurisdiction.level == "township").order_by(Jurisdiction.code)):
        users.append(dict(username=f"t{township.code[6:]}", role="township_operator", jurisdiction_code=township.code,
                          display_name=f"{township.name}综治中心值班员"))
    users.append(dict(username="v101201", role="village_operator", jurisdiction_code=f"{COUNTY_CODE}101201",
                      display_name="村级综治站"))
    police = session.scalar(select(Responder).where(Responder.kind == "police", Responder.jurisdiction_code == f"{COUNTY_CODE}101").order_by(Responder.id))
    grid = session.scalar(select(Responder).where(Responder.kind == "grid_worker", Responder.jurisdiction_code == f"{COUNTY_CODE}101201001"))
    if police is not None:
        users.append(dict(username="r1", role="responder", jurisdiction_code=police.jurisdiction_code,
                          display_name=police.name, responder_id=police.id))
    if grid is not None:
        users.append(dict(username="r2", role="responder", jurisdiction_code=grid.jurisdiction_code,
                          display_name=grid.name, responder_id=grid.id))
    return users


def seed_demo(
    session: Session,
    *,
    password: str | None = None,
    password_hasher: Callable[[str], str] | None = None,
) -> SeedSummary:
    """Seed the demo county (idempotent: existing rows and users are kept).

    Users get ``password`` (default: env ``XUELIANG_DEMO_PASSWORD``), hashed with
    ``password_hasher`` (default: argon2id, as the web verifies). Without a password
    the tree, categories and responders are seeded and users are skipped.
    """
    ensure_categories(session)
    if session.get(Jurisdiction, COUNTY_CODE) is None:
        _seed_tree(session)
    if session.scalar(select(func.count()).select_from(Responder)) == 0:
        _seed_responders(session)
    password = password if password is not None else os.environ.get("XUELIANG_DEMO_PASSWORD")
    created: list[str] = []
    if password:
        hasher = password_hasher or _default_hasher()
        for spec in demo_users(session):
            if accounts.get_user(session, spec["username"]) is None:
                accounts.create_user(session, password_hash=hasher(password), **spec)
                created.append(spec["username"])
    session.flush()

    def count(model: type, *where) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    from command.models import Category

    return SeedSummary(
        townships=count(Jurisdiction, Jurisdiction.level == "township"),
        villages=count(Jurisdiction, Jurisdiction.level == "village"),
        grids=count(Jurisdiction, Jurisdiction.level == "grid"),
        categories=count(Category),
        responders=count(Responder),
        users=count(User),
        created_users=created,
    )


@dataclass(frozen=True)
class PlacedCamera:
    """What the seed check needs of a camera (the composition root builds these from cameras.yaml)."""

    camera_id: str
    name: str
    jurisdiction_code: str
    lat: float | None
    lon: float | None


def camera_position_problems(session: Session, cameras: list[PlacedCamera]) -> list[str]:
    """zh-CN sentences for every camera whose jurisdiction is unknown or whose position lies outside
    that jurisdiction's boundary (dispatch distances and "本辖区" recommendations rely on both)."""
    problems = []
    for cam in cameras:
        place = session.get(Jurisdiction, cam.jurisdiction_code)
        if place is None:
            problems.append(f"摄像机 {cam.camera_id}（{cam.name}）的辖区 {cam.jurisdiction_code} 不存在于区划树中")
            continue
        if cam.lat is None or cam.lon is None or not place.boundary:
            continue
        if not point_in_polygon(cam.lon, cam.lat, place.boundary):
            problems.append(
                f"摄像机 {cam.camera_id}（{cam.name}）的位置 ({cam.lat}, {cam.lon}) 不在其辖区 {place.name}"
                f"（{cam.jurisdiction_code}）的边界内；辖区中心为 ({place.center_lat}, {place.center_lon})")
        elif not cam.name.startswith(_township_name(session, cam.jurisdiction_code)):
            problems.append(f"摄像机 {cam.camera_id} 的名称“{cam.name}”与其辖区 {full_name(session, cam.jurisdiction_code)} 不一致")
    return problems


def _township_name(session: Session, code: str) -> str:
    if len(code) < 9:
        place = session.get(Jurisdiction, code)
        return place.name if place else ""
    township = session.get(Jurisdiction, code[:9])
    return township.name if township else ""

