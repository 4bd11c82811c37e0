"""A synthetic incident corpus for the search benchmark and tests: Chinese titles, 诉求内容,
addresses, callers, phone numbers and work-order numbers, bulk-inserted.

One planted 12345 case has a caller, phone, address and work-order number that occur
nowhere else, so a benchmark can check that search finds it among N rows.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from command.db import Database
from command.models import Category, Incident, IncidentSource, Jurisdiction

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "霞", "平")
ROADS = ("人民路", "解放路", "建设路", "中山路", "新华街", "文化路", "滨江路", "学府路", "工业大道", "环城北路")
PLACES = ("小区", "菜市场", "学校门口", "公交站", "加油站", "卫生院", "村委会", "广场", "桥头", "工地")
TOPICS = {
    "noise": ("夜间施工噪音扰民", "广场舞音响声音过大", "商铺外放音乐扰民"),
    "environment": ("垃圾堆放未清运", "污水外溢", "焚烧秸秆烟雾"),
    "road_damage": ("路面塌陷", "井盖缺失", "路灯不亮"),
    "water_supply": ("小区停水", "自来水浑浊", "水管爆裂"),
    "dispute": ("邻里宅基地纠纷", "拖欠工资纠纷", "物业费纠纷"),
    "theft": ("电动车被盗", "店铺夜间被盗", "手机被偷"),
    "fight": ("酒后打架", "停车纠纷引发斗殴",),
    "traffic_accident": ("两车追尾", "电动车与行人相撞"),
    "consultation": ("咨询社保政策", "咨询低保申请"),
}
SOURCE_OF = {"hotline_12345": 0.3, "police_110": 0.1, "grid": 0.1, "citizen": 0.05, "video": 0.45}
NEEDLES = {"caller": "欧阳明远", "phone": "13957712345", "work_order": "GD20261115-88123", "address": "杏花巷17号"}


def fill_search_corpus(database: Database, rows: int, seed: int = 7, now: datetime | None = None) -> dict[str, Any]:
    """Insert ``rows`` incidents (and a source row per hotline/110 case) with bulk INSERTs.

    Returns the planted needles: a caller, a phone number, a work-order number and an address
    that occur exactly once, and the id of the incident holding them.
    """
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    with database.session() as session:
        places = list(session.execute(select(Jurisdiction.code, Jurisdiction.name).where(Jurisdiction.level == "village")))
        categories = set(session.scalars(select(Category.code)))
        first_id = (session.scalar(select(func.max(Incident.id))) or 0) + 1
    topic_codes = [c for c in TOPICS if c in categories]
    video_codes = [c for c in ("zone_intrusion", "tripwire", "loitering", "crowd") if c in categories]
    statuses = ["classified"] * 2 + ["dispatched", "acknowledged", "on_scene", "resolved", "evaluated", "closed", "closed", "false_alarm"]
    colours = ["blue", "blue", "yellow", "yellow", "orange", "red"]
    sources, weights = zip(*SOURCE_OF.items())
    needle_at = rows // 3
    needles = NEEDLES
    incident_rows: list[dict[str, Any]] = []
    source_rows: list[dict[str, Any]] = []
    chunk = 10_000

    def flush() -> None:
        with database.session() as session:
            session.execute(insert(Incident), incident_rows)
            if source_rows:
                session.execute(insert(IncidentSource), source_rows)
        incident_rows.clear()
        source_rows.clear()

    for n in range(rows):
        incident_id = first_id + n
        code, village = rng.choice(places)
        source = rng.choices(sources, weights)[0]
        status = rng.choice(statuses)
        created = now - timedelta(seconds=rng.randrange(120 * 86400))
        category: str
        if source == "video":
            category = rng.choice(video_codes)
            title, description, address, caller, phone = f"视频告警 · {village}{rng.randrange(1, 9)}号探头", "", None, None, None
        else:
            category = rng.choice(topic_codes)
            topic = rng.choice(TOPICS[category])
            address = f"{village}{rng.choice(ROADS)}{rng.randrange(1, 300)}号{rng.choice(PLACES)}"
            caller = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randrange(1, 3)))
            phone = f"13{rng.randrange(10**9):09d}"
            title = f"{topic}（{village}）"
            description = f"来电人反映{address}{topic}，已持续{rng.randrange(1, 30)}天，请尽快处理。"
        if n == needle_at:
            source, category, caller, phone, address = "hotline_12345", "noise", needles["caller"], needles["phone"], needles["address"]
            title, description = "夜间施工噪音扰民（杏花巷）", f"来电人反映{address}夜间施工噪音扰民。"
        resolve_deadline = created + timedelta(hours=rng.choice((1, 4, 24, 72)))
        incident_rows.append({
            "id": incident_id, "title": title, "description": description, "category_code": category,
            "source": source, "status": status, "is_open": status not in ("closed", "false_alarm"),
            "severity": "normal", "colour": rng.choice(colours), "queue": "department",
            "jurisdiction_code": code, "county_code": code[:6], "township_code": code[:9], "village_code": code[:12],
            "handling_level": "village", "escalation_count": 0, "mediation_level": 0, "boxes": [],
            "address": address, "reporter_name": caller, "reporter_phone": phone,
            "camera_id": f"cam{rng.randrange(3000)}" if source == "video" else None,
            "camera_name": f"{village}{rng.randrange(1, 9)}号探头" if source == "video" else None,
            "source_count": 1, "supervised": False, "overdue": resolve_deadline < now and rng.random() < 0.3,
            "created_at": created, "updated_at": created, "last_source_at": created, "resolve_deadline": resolve_deadline,
        })
        if source in ("hotline_12345", "police_110"):
            ref = needles["work_order"] if n == needle_at else f"{'GD' if source == 'hotline_12345' else 'JJ'}{created:%Y%m%d}-{incident_id:07d}"
            source_rows.append({"incident_id": incident_id, "kind": source, "ref": ref, "received_at": created,
                                "reported_at": created, "summary": title, "payload": {}})
        if len(incident_rows) >= chunk:
            flush()
    if incident_rows:
        flush()
    if database.engine.dialect.name == "postgresql":
        with database.engine.begin() as connection:
            # the fill gave explicit ids: move the sequence past them
            connection.exec_driver_sql("SELECT setval(pg_get_serial_sequence('incidents', 'id'), (SELECT max(id) FROM incidents))")
            connection.exec_driver_sql("ANALYZE incidents")
            connection.exec_driver_sql("ANALYZE incident_sources")
    else:
        with database.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return {**needles, "incident_id": first_id + needle_at}
