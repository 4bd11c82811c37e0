"""Reports computed from real incidents with known times; files rendered with matplotlib."""

import csv
import io
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from command import Actor, acknowledge, dispatch, evaluate, intake_alerts, mark_false_alarm, resolve, run_timers
from command.intake import ReportIn, submit_report
from command.reports import build_report, period_bounds, render_report, report_csv

T101 = Actor("t101", "township_operator", "330381101")
DAY = date(2026, 11, 24)
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 Beijing time


def test_period_bounds_follow_beijing_time():
    assert period_bounds("daily", DAY)[:2] == (datetime(2026, 11, 23, 16, tzinfo=UTC), datetime(2026, 11, 24, 16, tzinfo=UTC))
    start, end, label = period_bounds("weekly", DAY)
    assert label == "2026-W48" and (end - start) == timedelta(days=7) and start.astimezone().weekday() in (0, 6)
    assert period_bounds("monthly", DAY)[2] == "2026-11"
    start, end, label = period_bounds("quarterly", DAY)
    assert label == "2026-Q4" and end == datetime(2026, 12, 31, 16, tzinfo=UTC)
    with pytest.raises(ValueError, match="period must be"):
        period_bounds("yearly", DAY)


def _fill(session, make_alert):
    # 3 video incidents in village 101201 (two resolved in 1 h and 3 h), one false alarm in 102
    incidents = []
    for i, (camera, code) in enumerate([("cam01", "330381101201"), ("cam02", "330381101201"), ("cam03", "330381101202")]):
        [r] = intake_alerts(session, [(make_alert(camera_id=camera, camera_name=camera, jurisdiction_code=code, ts=T0), None)], now=T0)
        incidents.append(r.incident)
    for incident, hours, rating in ((incidents[0], 1, 5), (incidents[1], 3, 2)):
        dispatch(session, incident.id, T101, auto=True, now=T0)
        acknowledge(session, incident.id, T101, now=T0)
        resolve(session, incident.id, T101, result="ok", now=T0 + timedelta(hours=hours))
        evaluate(session, incident.id, T101, satisfaction=rating, now=T0 + timedelta(hours=hours + 1))
    fa = submit_report(session, ReportIn(source="hotline_12345", title="噪音", category_code="noise",
                                         jurisdiction_code="330381102201"), Actor.system(), now=T0).incident
    mark_false_alarm(session, fa.id, Actor("t102", "township_operator", "330381102"), reason="重复来电", now=T0)
    run_timers(session, now=T0 + timedelta(hours=5))  # incident 3 (high, 4 h) becomes overdue
    # outside the day and outside the scope
    submit_report(session, ReportIn(source="citizen", title="昨天", category_code="noise", jurisdiction_code="330381101201"),
                  Actor.system(), now=T0 - timedelta(days=1))


def test_daily_report_numbers(seeded, make_alert):
    with seeded.session() as s:
        _fill(s, make_alert)
        county = build_report(s, "330381", "daily", DAY)
        assert county.total == 4 and county.false_alarms == 1 and county.resolved == 2
        assert county.closure_rate == pytest.approx(2 / 3, abs=1e-4)
        assert county.mean_handling_h == 2.0 and county.p90_handling_h == pytest.approx(2.8)
        assert county.overdue == 1 and county.escalated == 1
        assert county.satisfaction_mean == 3.5 and county.satisfied_rate == 0.5
        assert county.by_category == {"区域入侵": 3, "噪音扰民": 1}
        assert county.by_source == {"视频智能分析": 3, "12345热线": 1}
        assert county.by_status == {"群众评价": 2, "分类登记": 1, "误报": 1}
        assert county.hot_spots[0] == {"code": "330381101", "name": "东城街道", "count": 3}
        township = build_report(s, "330381101", "daily", DAY)
        assert township.total == 3 and [h["code"] for h in township.hot_spots] == ["330381101201", "330381101202"]
        assert build_report(s, "330381", "monthly", DAY).total == 5

        rows = list(csv.reader(io.StringIO(report_csv(county))))
        assert ["summary", "total", "4"] in rows and ["by_category", "区域入侵", "3"] in rows
        assert ["hot_spot", "330381101 东城街道", "3"] in rows


def test_printable_report_files(seeded, make_alert, tmp_path):
    with seeded.session() as s:
        _fill(s, make_alert)
        report = build_report(s, "330381", "weekly", DAY)
    pdf = render_report(report, tmp_path / "r.pdf")
    png = render_report(report, tmp_path / "r.png")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_cli(seeded, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "xueliang.cli", "report", "monthly", "--scope", "330381101", "--date", "2026-11-24",
         "--out", str(tmp_path), "--format", "csv,json", "--database-url", seeded.url],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "report-330381101-monthly-2026-11.csv").read_text(encoding="utf-8-sig").startswith("section,key,value")
    assert "东城街道" in out.stdout
