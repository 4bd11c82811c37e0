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
    for camera, code in [("cam01", "330381101201"), ("cam02", "330381101201"), ("cam03", "330381101202")]:
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
        assert county.by_status == {"已评价": 2, "已分类": 1, "误报": 1}
        assert county.hot_spots[0] == {"code": "330381101", "name": "东城街道", "count": 3, "share": 0.75,
                                       "resolved": 2, "closure_rate": pytest.approx(2 / 3, abs=1e-4)}
        assert [i["title"] for i in county.overdue_items] == ["区域入侵 · cam03"]
        assert county.overdue_items[0]["place"] and county.overdue_items[0]["status"] == "已分类"
        # one point per hour of the day, zeros included; the created count is where it happened (09:00)
        assert len(county.trend) == 24 and dict(county.trend)["09:00"] == 4 and sum(v for _, v in county.trend) == 4
        assert dict(county.trend_resolved) == {**{f"{h:02d}:00": 0 for h in range(24)}, "10:00": 1, "12:00": 1}
        township = build_report(s, "330381101", "daily", DAY)
        assert township.total == 3 and [h["code"] for h in township.hot_spots] == ["330381101201", "330381101202"]
        assert build_report(s, "330381", "monthly", DAY).total == 5

        rows = list(csv.reader(io.StringIO(report_csv(county))))
        assert rows[0] == ["分组", "项目", "数值"]
        assert ["概况", "事件总数", "4"] in rows and ["按类别", "区域入侵", "3"] in rows
        assert ["热点区域", "东城街道", "3"] in rows
        # Beijing time, not UTC: the day starts at 00:00 local
        assert ["概况", "统计起", "2026-11-24 00:00"] in rows and ["概况", "统计止", "2026-11-24 23:59"] in rows
        assert not any(cell.isascii() and cell.isalpha() for row in rows for cell in row[:2]), "English in the CSV"


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
    assert (tmp_path / "report-330381101-monthly-2026-11.csv").read_text(encoding="utf-8-sig").startswith("分组,项目,数值")
    assert "东城街道" in out.stdout and "办结率" in out.stdout


def _hotline(session, title: str, at: datetime, code: str = "330381101201", category: str = "noise"):
    return submit_report(session, ReportIn(source="hotline_12345", title=title, category_code=category, jurisdiction_code=code),
                         Actor.system(), now=at).incident


def test_weekly_trend_month_on_month_year_on_year_and_mediation(seeded):
    week_start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 Beijing, ISO week 48
    with seeded.session() as s:
        for n in range(4):  # this week: 4 on Monday, 2 on Thursday, two disputes of which one is settled
            _hotline(s, f"本周{n}", week_start + timedelta(minutes=n))
        for n in range(2):
            _hotline(s, f"周四{n}", week_start + timedelta(days=3, minutes=n))
        settled = _hotline(s, "邻里纠纷", week_start + timedelta(days=1), category="dispute")
        _hotline(s, "工资纠纷", week_start + timedelta(days=1, hours=1), category="dispute")
        dispatch(s, settled.id, T101, auto=True, now=week_start + timedelta(days=1))
        acknowledge(s, settled.id, T101, now=week_start + timedelta(days=1))
        resolve(s, settled.id, T101, result="调解成功", now=week_start + timedelta(days=1, hours=2))
        for n in range(5):  # the week before: 5
            _hotline(s, f"上周{n}", week_start - timedelta(days=6, minutes=n))
        report = build_report(s, "330381", "weekly", DAY)
        no_year_ago = report.year_ago
        for n in range(2):  # the same ISO week a year earlier: 2
            _hotline(s, f"去年{n}", datetime(2025, 11, 25, 1, 0, tzinfo=UTC) + timedelta(minutes=n))
        with_year_ago = build_report(s, "330381", "weekly", DAY)
    assert report.total == 8
    assert [k for k, _ in report.trend] == [f"2026-11-{d}" for d in range(23, 30)]
    assert [v for _, v in report.trend] == [4, 2, 0, 2, 0, 0, 0]
    assert report.previous is not None and report.previous.label == "2026-W47" and report.previous.total == 5
    assert report.previous.total_change == pytest.approx((8 - 5) / 5)
    assert no_year_ago is None  # no data a year ago: no 同比 rather than a made-up figure
    assert with_year_ago.year_ago is not None and with_year_ago.year_ago.total == 2
    assert with_year_ago.year_ago.total_change == pytest.approx(3.0)
    assert (report.disputes, report.disputes_resolved, report.mediation_rate) == (2, 1, 0.5)
    noise = next(c for c in report.top_categories if c["name"] == "噪音扰民")
    assert (noise["count"], noise["previous"], noise["change"]) == (6, 5, pytest.approx(0.2))


def test_pdf_has_pages_with_tables_and_a_trend_of_seven_points(seeded, tmp_path):
    """Rendered to PNG with pdftoppm; the tables are found by pdftotext, the trend's markers are counted in the image."""
    import shutil

    import cv2
    import numpy as np

    if not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils (pdftoppm) is not installed: scripts/setup.sh installs it")
    week_start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    with seeded.session() as s:
        for day, n in enumerate((3, 1, 4, 1, 5, 2, 6)):  # a non-zero, distinct value every day
            for k in range(n):
                _hotline(s, f"第{day}天{k}", week_start + timedelta(days=day, minutes=k), code=f"33038110{1 + k % 3}201")
        report = build_report(s, "330381", "weekly", DAY)
    pdf = render_report(report, tmp_path / "weekly.pdf")
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    text = ["".join(page.split()) for page in text.split("\f")]  # pdftotext spaces CJK glyphs apart
    assert "事件类别前十" in text[1] and "热点区域前十" in text[1]
    assert "类别件数占比上期环比" in text[1] and "区域件数占比已办结办结率" in text[1]
    assert "东城街道" in text[1] and "噪音扰民" in text[1]
    assert "办结率" in text[0] and "化解率" in text[0] and "环比" in text[0] and "同比" in text[0]
    assert "每日趋势" in text[0] and len(report.trend) == 7
    # the trend's red round markers on page 1: one connected blob per day
    image = cv2.imread(str(pages[0]))
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    red = cv2.inRange(hsv, np.array([0, 150, 120]), np.array([8, 255, 255])) | cv2.inRange(hsv, np.array([172, 150, 120]), np.array([180, 255, 255]))
    lower_half = red[image.shape[0] // 2:, :]
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(cv2.morphologyEx(lower_half, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)))
    blobs = [s for s in stats[1:] if s[cv2.CC_STAT_AREA] >= 6]
    assert len(blobs) >= 7, f"{len(blobs)} trend markers found"
