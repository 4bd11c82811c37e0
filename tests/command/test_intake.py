"""Intake from people: 12345 work orders (single, CSV, JSON), 110, grid reports with photos, citizens."""

from datetime import UTC, datetime, timedelta

import pytest

from command import Actor, get_incident, resolve_media_path, timeline
from command.intake import IntakeError, ReportIn, import_work_orders, submit_report

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
HOTLINE = Actor("county", "county_operator", "330381", origin="12345 import")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_single_work_order_is_routed_and_idempotent(seeded):
    report = ReportIn(source="hotline_12345", ref="GD20261124-0001", title="小区噪音扰民", category_code="噪音扰民",
                      jurisdiction_code="330381103202", reporter_name="张女士", reporter_phone="13800000000",
                      address="清溪路 18 号")
    with seeded.session() as s:
        first = submit_report(s, report, HOTLINE, now=T0)
        assert first.created and first.incident.category_code == "noise" and first.incident.queue == "department"
        again = submit_report(s, report, HOTLINE, now=T0 + timedelta(minutes=1))
        assert again.duplicate and again.incident.id == first.incident.id and first.incident.source_count == 1


def test_same_place_and_category_merge_across_sources(seeded):
    with seeded.session() as s:
        a = submit_report(s, ReportIn(source="hotline_12345", title="路面塌陷", category_code="road_damage",
                                      jurisdiction_code="330381101203", address="东山路 5号"), HOTLINE, now=T0)
        b = submit_report(s, ReportIn(source="citizen", title="东山路有坑", category_code="road_damage",
                                      jurisdiction_code="330381101203", address="东山路5号"), HOTLINE, now=T0 + timedelta(minutes=5))
        c = submit_report(s, ReportIn(source="citizen", title="东山路有坑", category_code="road_damage",
                                      jurisdiction_code="330381101203", address="东山路5号"), HOTLINE, now=T0 + timedelta(hours=2))
        assert b.incident.id == a.incident.id and not b.created
        assert sorted(src.kind for src in a.incident.sources) == ["citizen", "hotline_12345"]
        assert c.created and c.incident.id != a.incident.id  # outside the merge window


def test_110_transfer_and_position_only_report(seeded):
    with seeded.session() as s:
        from command.models import Jurisdiction

        village = s.get(Jurisdiction, "330381104205")
        r = submit_report(s, ReportIn(source="police_110", ref="110-778", title="两人打架", category_code="fight",
                                      lat=village.center_lat, lon=village.center_lon), HOTLINE, now=T0)
        assert r.incident.jurisdiction_code.startswith("330381104205") and len(r.incident.jurisdiction_code) == 15
        assert r.incident.queue == "police" and r.incident.colour == "red" and r.incident.handling_level == "county"
        with pytest.raises(IntakeError, match="jurisdiction_code"):
            submit_report(s, ReportIn(source="citizen", title="?", lat=10.0, lon=10.0), HOTLINE, now=T0)


def test_grid_report_with_photos_and_scope(seeded, tmp_path, jpeg):
    worker = Actor("r2", "responder", "330381101201001", responder_id=1)
    with seeded.session() as s:
        r = submit_report(s, ReportIn(source="grid", title="河道垃圾", category_code="environment",
                                      jurisdiction_code="330381101201001"), worker,
                          photos=[jpeg, PNG], media_dir=tmp_path, now=T0)
        photos = r.source.payload["photos"]
        assert len(photos) == 2 and photos[1].endswith(".png")
        assert resolve_media_path(tmp_path, photos[0]).read_bytes() == jpeg
        assert r.incident.snapshot_path == photos[0]
        with pytest.raises(IntakeError, match="JPEG or PNG"):
            submit_report(s, ReportIn(source="grid", title="x", jurisdiction_code="330381101201001"), worker,
                          photos=[b"GIF89a"], media_dir=tmp_path, now=T0)
        with pytest.raises(IntakeError, match="outside r2's jurisdiction"):
            submit_report(s, ReportIn(source="grid", title="x", jurisdiction_code="330381102201"), worker, now=T0)
        with pytest.raises(ValueError, match="escapes"):
            resolve_media_path(tmp_path, "../../etc/passwd")


CSV = """工单编号,标题,诉求内容,类别,区划代码,事发地址,来电人,联系电话,来电时间
GD-1,路灯不亮,村口路灯坏了三天,道路损坏,330381101201,前山村村口,李先生,139,2026-11-24 07:30:00
GD-2,自来水停水,整村停水,供水问题,330381102204,,王女士,138,2026-11-24 07:40:00
GD-3,,没有标题,噪音扰民,330381101201,,,,
GD-4,外星人,不知道,不存在的类别,330381101201,,,,
GD-5,咨询医保,医保政策咨询,,330381,,,,
"""


def test_bulk_csv_import_reports_bad_rows_and_keeps_good_ones(seeded):
    with seeded.session() as s:
        result = import_work_orders(s, CSV.encode("utf-8-sig"), "csv", HOTLINE, now=T0)
        assert (result.created, result.merged, result.duplicates) == (3, 0, 0)
        assert [str(p) for p in result.problems] == [
            "line 4: title: Field required",
            "line 5: category_code: unknown category '不存在的类别'",
        ]
        unclassified = get_incident(s, result.incident_ids[-1])
        assert unclassified.status == "received" and unclassified.category_code == "other"
        first = get_incident(s, result.incident_ids[0])
        assert first.sources[0].reported_at == datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # +08:00 by default
        assert [row.actor for row in timeline(s, first.id)][:1] == ["county"]
        again = import_work_orders(s, CSV, "csv", HOTLINE, now=T0)
        assert again.created == 0 and again.duplicates == 3


def test_bulk_json_import(seeded):
    data = '{"orders": [{"ref": "J-1", "title": "占道经营", "category_code": "environment", "jurisdiction_code": "330381106201"},' \
           ' {"ref": "J-2", "title": "x", "jurisdiction_code": "12"}, 5]}'
    with seeded.session() as s:
        result = import_work_orders(s, data, "json", HOTLINE, now=T0)
        assert result.created == 1
        assert [(p.line, p.field) for p in result.problems] == [(2, "jurisdiction_code"), (3, "row")]
        with pytest.raises(IntakeError, match="invalid JSON at line 1"):
            import_work_orders(s, "{", "json", HOTLINE, now=T0)
