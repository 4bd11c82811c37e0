"""Configurable policy tables: categories, SLA by severity, four-colour policy, sources.

The defaults here seed the ``categories`` table; operators can change the rows
(police-type or not, owning department, default severity, SLA overrides).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from command.models import Category

SOURCES = {
    "video": "视频智能分析",
    "hotline_12345": "12345热线",
    "police_110": "110转警",
    "grid": "网格员上报",
    "citizen": "群众上报",
    "device": "设备监测",  # device.status events of the analytics worker (command/device_faults.py)
}

SEVERITIES = ("low", "normal", "high", "critical")


@dataclass(frozen=True)
class Sla:
    ack: timedelta  # dispatch → acknowledged
    resolve: timedelta  # created → resolved


SEVERITY_SLA = {
    "critical": Sla(timedelta(minutes=5), timedelta(hours=1)),
    "high": Sla(timedelta(minutes=15), timedelta(hours=4)),
    "normal": Sla(timedelta(minutes=30), timedelta(days=1)),
    "low": Sla(timedelta(hours=2), timedelta(days=3)),
}

COLOURS = ("blue", "yellow", "orange", "red")
COLOUR_NAMES = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
COLOUR_HEX = {"blue": "#1e6fd9", "yellow": "#e6b800", "orange": "#f07c00", "red": "#d9241e"}


@dataclass(frozen=True)
class ColourPolicy:
    handling_level: str  # the lowest centre allowed to handle it
    revisit_every: timedelta  # follow-up frequency


COLOUR_POLICY = {
    "blue": ColourPolicy("village", timedelta(days=30)),
    "yellow": ColourPolicy("village", timedelta(days=14)),
    "orange": ColourPolicy("township", timedelta(days=7)),
    "red": ColourPolicy("county", timedelta(days=1)),
}

SEVERITY_COLOUR = {"low": "blue", "normal": "yellow", "high": "orange", "critical": "red"}


@dataclass(frozen=True)
class CategorySpec:
    code: str
    name: str
    police: bool
    department: str | None
    severity: str
    skills: tuple[str, ...] = ()


DEFAULT_CATEGORIES = (
    # video analytics rule kinds
    CategorySpec("zone_intrusion", "区域入侵", True, "公安局", "high", ("治安",)),
    CategorySpec("tripwire", "越线告警", True, "公安局", "high", ("治安",)),
    CategorySpec("loitering", "可疑徘徊", True, "公安局", "normal", ("治安",)),
    CategorySpec("crowd", "人员聚集", True, "公安局", "high", ("治安",)),
    CategorySpec("fall", "人员倒地", False, "卫生健康局", "critical", ("急救",)),
    CategorySpec("abandoned_object", "遗留物品", True, "公安局", "normal", ("治安",)),
    CategorySpec("illegal_parking", "违章停车", False, "综合行政执法局", "low", ("城管",)),
    CategorySpec("onvif_event", "设备告警", False, "雪亮运维中心", "normal", ("运维",)),
    CategorySpec("gb28181_alarm", "国标设备报警", True, "公安局", "high", ("治安",)),
    # other sources
    CategorySpec("theft", "盗窃", True, "公安局", "high", ("治安",)),
    CategorySpec("fight", "打架斗殴", True, "公安局", "critical", ("治安",)),
    CategorySpec("traffic_accident", "交通事故", True, "公安局", "high", ("交通",)),
    CategorySpec("forest_fire", "森林火情", False, "应急管理局", "critical", ("消防",)),
    CategorySpec("dispute", "矛盾纠纷", False, None, "normal", ("调解",)),
    CategorySpec("noise", "噪音扰民", False, "生态环境局", "low", ()),
    CategorySpec("environment", "环境卫生", False, "综合行政执法局", "low", ("城管",)),
    CategorySpec("road_damage", "道路损坏", False, "交通运输局", "normal", ()),
    CategorySpec("water_supply", "供水问题", False, "水利局", "normal", ()),
    CategorySpec("consultation", "政策咨询", False, None, "low", ()),
    CategorySpec("other", "其他", False, None, "low", ()),
    # device health (device.status events): a channel offline / refusing credentials / no picture
    CategorySpec("device_fault", "设备故障", False, "雪亮运维中心", "normal", ("运维",)),
)

RULE_KIND_CATEGORY = {spec.code: spec.code for spec in DEFAULT_CATEGORIES[:9]}


def _default_row(spec: CategorySpec) -> Category:
    return Category(code=spec.code, name=spec.name, police=spec.police, department=spec.department,
                    default_severity=spec.severity, default_colour=SEVERITY_COLOUR[spec.severity],
                    skills=list(spec.skills))


def ensure_categories(session: Session) -> int:
    """Insert the default categories that are missing; returns how many were added."""
    added = 0
    for spec in DEFAULT_CATEGORIES:
        if session.get(Category, spec.code) is None:
            session.add(_default_row(spec))
            added += 1
    session.flush()
    return added


def ensure_category(session: Session, code: str) -> Category:
    """The category ``code``, inserting its default row when this database predates it.

    Only that one row: an operator who removed another default category keeps it removed.
    """
    category = session.get(Category, code)
    if category is not None:
        return category
    spec = next((s for s in DEFAULT_CATEGORIES if s.code == code), None)
    if spec is None:
        raise LookupError(f"no category {code!r} in the database and none among the defaults in command/catalog.py")
    category = _default_row(spec)
    session.add(category)
    session.flush()
    return category


def category_for_rule_kind(session: Session, rule_kind: str) -> Category:
    """The category of an analytics rule kind (unknown kinds become 'other' rather than being lost)."""
    code = RULE_KIND_CATEGORY.get(rule_kind, "other")
    category = session.get(Category, code)
    if category is None:
        ensure_categories(session)
        category = session.get(Category, code)
    assert category is not None
    return category


def sla_for(category: Category, severity: str) -> Sla:
    base = SEVERITY_SLA.get(severity, SEVERITY_SLA["normal"])
    return Sla(
        timedelta(minutes=category.ack_minutes) if category.ack_minutes else base.ack,
        timedelta(minutes=category.resolve_minutes) if category.resolve_minutes else base.resolve,
    )
