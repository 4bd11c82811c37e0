"""Daily / weekly / monthly / quarterly reports per jurisdiction, as data, CSV and a printable
PDF/PNG with charts (matplotlib). Periods follow China local time (UTC+8).

``xueliang report daily|weekly|monthly|quarterly --scope CODE --date YYYY-MM-DD --out DIR``
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from command import jurisdictions
from command.catalog import COLOUR_HEX, COLOUR_NAMES, SOURCES
from command.jurisdictions import scope_filter
from command.models import Category, Incident
from command.workflow import STATE_LABELS

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
PERIODS = ("daily", "weekly", "monthly", "quarterly")
PERIOD_NAMES = {"daily": "日报", "weekly": "周报", "monthly": "月报", "quarterly": "季报"}
RESOLVED_STATES = ("resolved", "evaluated", "revisited", "closed")
CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "SimHei")


def period_bounds(period: str, day: date) -> tuple[datetime, datetime, str]:
    """[start, end) in UTC of the ``period`` containing local ``day``, and its label."""
    if period == "daily":
        start, end, label = day, day + timedelta(days=1), day.isoformat()
    elif period == "weekly":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
        year, week, _ = start.isocalendar()
        label = f"{year}-W{week:02d}"
    elif period == "monthly":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        label = f"{start:%Y-%m}"
    elif period == "quarterly":
        q = (day.month - 1) // 3
        start = date(day.year, 3 * q + 1, 1)
        end = date(day.year + (q == 3), (3 * q + 3) % 12 + 1, 1)
        label = f"{day.year}-Q{q + 1}"
    else:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")

    def utc(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=LOCAL_TZ).astimezone(UTC)

    return utc(start), utc(end), label


@dataclass
class Report:
    scope: str
    scope_name: str
    period: str
    label: str
    start: datetime
    end: datetime
    generated_at: datetime
    total: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    by_colour: dict[str, int] = field(default_factory=dict)
    resolved: int = 0
    false_alarms: int = 0
    closure_rate: float | None = None
    mean_handling_h: float | None = None
    p90_handling_h: float | None = None
    overdue: int = 0
    escalated: int = 0
    satisfaction_mean: float | None = None
    satisfaction_count: int = 0
    satisfied_rate: float | None = None
    hot_spots: list[dict[str, Any]] = field(default_factory=list)
    hot_cameras: list[dict[str, Any]] = field(default_factory=list)
    trend: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("start", "end", "generated_at"):
            data[key] = getattr(self, key).isoformat()
        return data


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def build_report(session: Session, scope: str, period: str, day: date, *, now: datetime | None = None) -> Report:
    """Everything the centre reports for incidents created in the period inside ``scope``."""
    jurisdictions.validate_code(scope)
    start, end, label = period_bounds(period, day)
    report = Report(scope=scope, scope_name=jurisdictions.full_name(session, scope), period=period, label=label,
                    start=start, end=end, generated_at=now or datetime.now(UTC))
    where = (scope_filter(Incident.jurisdiction_code, scope), Incident.created_at >= start, Incident.created_at < end)

    def grouped(column: Any) -> dict[str, int]:
        rows = session.execute(select(column, func.count()).where(*where).group_by(column)).all()
        return {str(k): int(v) for k, v in sorted(rows, key=lambda r: -r[1])}

    names = {c.code: c.name for c in session.scalars(select(Category))}
    report.by_category = {names.get(k, k): v for k, v in grouped(Incident.category_code).items()}
    report.by_source = {SOURCES.get(k, k): v for k, v in grouped(Incident.source).items()}
    report.by_status = {STATE_LABELS.get(k, k): v for k, v in grouped(Incident.status).items()}
    report.by_colour = {COLOUR_NAMES.get(k, k): v for k, v in grouped(Incident.colour).items()}
    report.total = sum(report.by_status.values())
    statuses = grouped(Incident.status)
    report.resolved = sum(statuses.get(s, 0) for s in RESOLVED_STATES)
    report.false_alarms = statuses.get("false_alarm", 0)
    genuine = report.total - report.false_alarms
    report.closure_rate = round(report.resolved / genuine, 4) if genuine else None
    report.overdue = session.scalar(select(func.count()).where(*where, Incident.overdue.is_(True))) or 0
    report.escalated = session.scalar(select(func.count()).where(*where, Incident.escalation_count > 0)) or 0
    hours = [
        (resolved - created).total_seconds() / 3600
        for created, resolved in session.execute(
            select(Incident.created_at, Incident.resolved_at).where(*where, Incident.resolved_at.is_not(None))
        )
    ]
    if hours:
        report.mean_handling_h = round(statistics.fmean(hours), 2)
        report.p90_handling_h = round(_p90(hours) or 0.0, 2)
    ratings = [r for (r,) in session.execute(select(Incident.satisfaction).where(*where, Incident.satisfaction.is_not(None)))]
    if ratings:
        report.satisfaction_count = len(ratings)
        report.satisfaction_mean = round(statistics.fmean(ratings), 2)
        report.satisfied_rate = round(sum(1 for r in ratings if r >= 4) / len(ratings), 4)
    # Hot spots one level below the scope (county → townships, township → villages, ...).
    depth = min(len(scope) + 3, 15)
    spots = session.execute(
        select(func.substr(Incident.jurisdiction_code, 1, depth).label("code"), func.count())
        .where(*where).group_by("code").order_by(func.count().desc()).limit(10)
    ).all()
    report.hot_spots = [{"code": code, "name": jurisdictions.name_of(session, code), "count": int(n)} for code, n in spots]
    cameras = session.execute(
        select(Incident.camera_id, Incident.camera_name, func.count())
        .where(*where, Incident.camera_id.is_not(None)).group_by(Incident.camera_id, Incident.camera_name)
        .order_by(func.count().desc()).limit(10)
    ).all()
    report.hot_cameras = [{"camera_id": c, "camera_name": n, "count": int(k)} for c, n, k in cameras]
    days = Counter(
        created.astimezone(LOCAL_TZ).date().isoformat() if period != "daily" else f"{created.astimezone(LOCAL_TZ):%H}:00"
        for (created,) in session.execute(select(Incident.created_at).where(*where))
    )
    report.trend = sorted(days.items())
    return report


def report_csv(report: Report) -> str:
    """A flat CSV: section,key,value rows (opens in Excel/WPS; UTF-8 with BOM added by the writer)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "key", "value"])
    summary = {
        "scope": report.scope, "scope_name": report.scope_name, "period": report.period, "label": report.label,
        "start": report.start.isoformat(), "end": report.end.isoformat(), "total": report.total,
        "resolved": report.resolved, "false_alarms": report.false_alarms, "closure_rate": report.closure_rate,
        "mean_handling_h": report.mean_handling_h, "p90_handling_h": report.p90_handling_h, "overdue": report.overdue,
        "escalated": report.escalated, "satisfaction_mean": report.satisfaction_mean,
        "satisfaction_count": report.satisfaction_count, "satisfied_rate": report.satisfied_rate,
    }
    for key, value in summary.items():
        writer.writerow(["summary", key, "" if value is None else value])
    for section in ("by_category", "by_source", "by_status", "by_colour"):
        for key, value in getattr(report, section).items():
            writer.writerow([section, key, value])
    for spot in report.hot_spots:
        writer.writerow(["hot_spot", f"{spot['code']} {spot['name']}", spot["count"]])
    for cam in report.hot_cameras:
        writer.writerow(["hot_camera", f"{cam['camera_id']} {cam['camera_name'] or ''}".strip(), cam["count"]])
    for key, value in report.trend:
        writer.writerow(["trend", key, value])
    return out.getvalue()


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in available), None)


def render_report(report: Report, path: Path) -> Path:
    """A one-page printable report with charts; the format follows the suffix (.pdf or .png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if path.suffix not in (".pdf", ".png"):
        raise ValueError(f"report file must end in .pdf or .png, got {path.name}")
    font = _cjk_font()
    rc = {"font.family": [font, "DejaVu Sans"]} if font else {}
    fmt = (lambda v, suffix="": "—" if v is None else f"{v}{suffix}")  # noqa: E731
    with plt.rc_context(rc):
        fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
        fig.suptitle(f"{report.scope_name} 综治中心{PERIOD_NAMES[report.period]}  {report.label}", fontsize=15)
        lines = [
            f"事件总数 {report.total}    办结 {report.resolved}    误报 {report.false_alarms}    "
            f"办结率 {fmt(None if report.closure_rate is None else round(report.closure_rate * 100, 1), '%')}",
            f"平均处置时长 {fmt(report.mean_handling_h, ' h')}    P90 {fmt(report.p90_handling_h, ' h')}    "
            f"超期督办 {report.overdue}    上报升级 {report.escalated}",
            f"群众满意度 {fmt(report.satisfaction_mean)} / 5（{report.satisfaction_count} 条评价，满意率 "
            f"{fmt(None if report.satisfied_rate is None else round(report.satisfied_rate * 100, 1), '%')}）",
        ]
        fig.text(0.06, 0.93, "\n".join(lines), va="top", fontsize=10, linespacing=1.7)
        grid = fig.add_gridspec(3, 2, top=0.84, bottom=0.09, hspace=0.45, wspace=0.35)

        def barh(ax: Any, data: dict[str, int], title: str, colour_of: Any = None) -> None:
            items = list(data.items())[:10][::-1]
            colours = [colour_of(k) for k, _ in items] if colour_of else "#3b6fb6"
            ax.barh([k for k, _ in items], [v for _, v in items], color=colours)
            ax.set_title(title, fontsize=11)
            ax.tick_params(labelsize=8)
            if not items:
                ax.text(0.5, 0.5, "无数据", ha="center", va="center", transform=ax.transAxes)

        barh(fig.add_subplot(grid[0, 0]), report.by_category, "按类别")
        barh(fig.add_subplot(grid[0, 1]), report.by_source, "按来源")
        barh(fig.add_subplot(grid[1, 0]), report.by_status, "按状态")
        colour_by_name = {name: COLOUR_HEX[code] for code, name in COLOUR_NAMES.items()}
        barh(fig.add_subplot(grid[1, 1]), report.by_colour, "四色风险", lambda k: colour_by_name.get(k, "#888888"))
        barh(fig.add_subplot(grid[2, 0]), {f"{s['name']}": s["count"] for s in report.hot_spots}, "热点区域")
        ax = fig.add_subplot(grid[2, 1])
        if report.trend:
            ax.plot([k for k, _ in report.trend], [v for _, v in report.trend], marker="o", color="#d9241e")
            ax.tick_params(axis="x", labelrotation=60, labelsize=7)
        ax.set_title("趋势", fontsize=11)
        fig.text(0.06, 0.015, f"生成时间 {report.generated_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}（北京时间）  范围 {report.scope}",
                 fontsize=8, color="#666")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110 if path.suffix == ".png" else None)
        plt.close(fig)
    return path


def write_report_files(report: Report, out_dir: Path, formats: list[str]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"report-{report.scope}-{report.period}-{report.label}"
    written = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        if fmt == "csv":
            path.write_text(report_csv(report), encoding="utf-8-sig")
        elif fmt == "json":
            import json

            path.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
        elif fmt in ("pdf", "png"):
            render_report(report, path)
        else:
            raise ValueError(f"unknown report format {fmt!r} (csv, json, pdf, png)")
        written.append(path)
    return written


def _report_cli(args: argparse.Namespace) -> int:
    from command.db import open_database

    day = date.fromisoformat(args.date) if args.date else datetime.now(LOCAL_TZ).date()
    database = open_database(args.database_url)
    try:
        with database.session() as session:
            report = build_report(session, args.scope, args.period, day)
    finally:
        database.dispose()
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    for path in write_report_files(report, Path(args.out), formats):
        print(path)
    print(f"{report.scope_name} {PERIOD_NAMES[report.period]} {report.label}: {report.total} incidents, "
          f"closure rate {report.closure_rate}, overdue {report.overdue}")
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="daily/weekly/monthly/quarterly report per jurisdiction (CSV, PDF, PNG)")
    parser.add_argument("period", choices=PERIODS)
    parser.add_argument("--scope", default="330381", help="jurisdiction code (default: the demo county 330381)")
    parser.add_argument("--date", default=None, help="any day inside the period, YYYY-MM-DD (default: today, UTC+8)")
    parser.add_argument("--out", default="reports", help="output directory")
    parser.add_argument("--format", default="csv,pdf", help="comma list of csv,json,pdf,png")
    parser.add_argument("--database-url", default=None)
    parser.set_defaults(func=_report_cli)
