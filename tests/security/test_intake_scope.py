"""Issue #13 items 2-4: a bulk import is one transaction (a refusal leaves nothing, on SQLite and
PostgreSQL); work-order refs are unique per township, not county-wide; evidence never overwrites."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select

from command import Actor, AuditEvent, Incident, IncidentSource, get_incident
from command.intake import ReportIn, import_work_orders, submit_report
from tests.security.conftest import TOWNSHIP_A, TOWNSHIP_B, report

T0 = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
ADMIN_A = Actor("admin_a", "admin", TOWNSHIP_A, origin="import:a.csv")
OPERATOR_B = Actor("op_b", "township_operator", TOWNSHIP_B, origin="import:b.csv")


def _counts(session) -> tuple[int, int, int]:
    return (session.scalar(select(func.count(Incident.id))), session.scalar(select(func.count(IncidentSource.id))),
            session.scalar(select(func.count(AuditEvent.id))))


def test_a_rolled_back_import_leaves_nothing(seeded) -> None:
    """What the web does when it refuses an import: roll the session back. Every row must go."""
    with seeded.session() as s:
        before = _counts(s)
    csv = ("ref,title,category_code,jurisdiction_code,address\n"
           f"R-1,井盖缺失,road_damage,{TOWNSHIP_B}201,塘下镇 一号路\n"
           f"R-2,停水,water_supply,{TOWNSHIP_B}202,塘下镇 二号路\n"
           f"R-3,噪音,noise,{TOWNSHIP_B}203,塘下镇 三号路\n")
    session = seeded.sessionmaker()
    try:
        result = import_work_orders(session, csv, "csv", OPERATOR_B, now=T0)
        assert result.created == 3 and not result.problems
        session.rollback()
    finally:
        session.close()
    with seeded.session() as s:
        assert _counts(s) == before  # before the fix, SQLite kept every row (each RELEASE committed)


def test_another_townships_incident_is_neither_merged_into_nor_written(seeded) -> None:
    with seeded.session() as s:
        b_incident = submit_report(s, ReportIn(source="hotline_12345", ref="B-5", title="路面塌陷",
                                               category_code="road_damage", jurisdiction_code=f"{TOWNSHIP_B}201",
                                               address="塘下镇 五号路"), OPERATOR_B, now=T0).incident.id
    csv = ("ref,title,category_code,jurisdiction_code,address\n"
           f"A-1,路面塌陷（A 的文字）,road_damage,{TOWNSHIP_A}201,塘下镇 五号路\n"
           f"A-2,越界工单,road_damage,{TOWNSHIP_B}201,塘下镇 五号路\n")
    with seeded.session() as s:
        result = import_work_orders(s, csv, "csv", ADMIN_A, now=T0)
        # A township's own administrator is scoped like its operators: B's place is a problem row ...
        assert [(p.line, p.field) for p in result.problems] == [(3, "jurisdiction_code")]
        # ... and the same address in A is A's own new incident, not a merge into B's.
        assert result.created == 1 and result.merged == 0
        incident = get_incident(s, b_incident)
        assert incident.source_count == 1
        assert not s.scalars(select(AuditEvent).where(AuditEvent.incident_id == b_incident,
                                                      AuditEvent.actor == "admin_a")).all()


def test_refs_are_unique_per_township_over_http(web_process) -> None:
    ref2, ref3 = f"WO-B-{uuid.uuid4().hex[:6]}", f"WO-B-{uuid.uuid4().hex[:6]}"
    with web_process.client("op_a") as a:
        squatted = report(a, township=TOWNSHIP_A, address="城关镇 一号路", ref=ref2)
        report(a, township=TOWNSHIP_A, address="城关镇 二号路", ref=ref3)
        assert squatted["created"]
    with web_process.client("op_b") as b:
        real = report(b, township=TOWNSHIP_B, address="塘下镇 一号路", ref=ref2)
        assert real["created"] and not real["duplicate"]  # before: 403 (A's incident) — and it told A's ref exists
        assert real["incident"]["jurisdiction_code"].startswith(TOWNSHIP_B)
        again = report(b, township=TOWNSHIP_B, address="塘下镇 一号路", ref=ref2)
        assert again["duplicate"] and again["incident"]["id"] == real["incident"]["id"]  # idempotent inside B
    with web_process.client("county_t") as county:
        csv = f"ref,title,category_code,jurisdiction_code,address\n{ref3},停水,water_supply,{TOWNSHIP_B}202,塘下镇 二号路\n"
        r = county.post("/api/intake/import?format=csv", files={"file": ("county.csv", csv.encode(), "text/csv")})
        assert r.status_code == 200, r.text
        assert (r.json()["created"], r.json()["duplicates"]) == (1, 0)  # before: counted as A's duplicate, never created


def test_evidence_photos_never_overwrite(web_process) -> None:
    photo_a = b"\x89PNG\r\n\x1a\n" + b"A" * 256
    photo_b = b"\x89PNG\r\n\x1a\n" + b"B" * 256

    def file(http, township: str, ref: str, photo: bytes) -> int:
        body = {"source": "hotline_12345", "ref": ref, "title": "现场照片", "jurisdiction_code": f"{township}201",
                "address": f"照片路 {uuid.uuid4().hex[:6]}", "category_code": "environment"}
        r = http.post("/api/intake/reports/with-photos", data={"report": json.dumps(body)},
                      files=[("photos", ("p.png", photo, "image/png"))])
        assert r.status_code == 200, r.text
        return r.json()["incident"]["id"]

    suffix = uuid.uuid4().hex[:6]
    with web_process.client("op_b") as b:
        b_incident = file(b, TOWNSHIP_B, f"a.b{suffix}", photo_b)
    with web_process.client("op_a") as a:
        file(a, TOWNSHIP_A, f"ab{suffix}", photo_a)  # sanitised to the same name as B's ref before the fix
    with web_process.client("op_b") as b:
        snapshot = b.get(f"/api/incidents/{b_incident}/snapshot")
        assert snapshot.status_code == 200 and snapshot.content == photo_b
