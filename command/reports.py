"""Daily / weekly / monthly / quarterly reports per jurisdiction, as data, CSV and a printable
multi-page PDF (PNG: its first page) with tables and charts (matplotlib). Periods, times and
labels are as an operator reads them: Beijing time (Asia/Shanghai), zh-CN names from the one
glossary (``command.workflow.STATE_LABELS``, ``command.catalog.SOURCES`` / ``COLOUR_NAMES``, the
same words web/static/i18n/zh-CN.json gives the desk), jurisdiction names instead of codes.

What a report holds: totals by category, source, status and colour; resolved, false alarms,
办结率 (resolved ÷ non-false-alarm) and 化解率 (矛盾纠纷 resolved ÷ disputes); handling time;
overdue and escalated counts and the overdue list; satisfaction; the top categories and hot
spots as tables; a trend with one point per day of the period (per hour for a daily report);
环比 (against the previous period) and 同比 (against the same period a year before) where that
period holds data.

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
from types import ModuleType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from command import jurisdictions
from command.catalog import COLOUR_HEX, COLOUR_NAMES, SOURCES
from command.jurisdictions import scope_filter
from command.models import Category, Incident
from command.workflow import STATE_LABELS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
PERIODS = ("daily", "weekly", "monthly", "quarterly")
PERIOD_NAMES = {"daily": "日报", "weekly": "周报", "monthly": "月报", "quarterly": "季报"}
PREVIOUS_NAMES = {"daily": "前一日", "weekly": "上周", "monthly": "上月", "quarterly": "上季度"}
RESOLVED_STATES = ("resolved", "evaluated", "revisited", "closed")
DISPUTE_CATEGORIES = ("dispute",)  # 矛盾纠纷: 化解率 is their resolved share
OVERDUE_LIST = 30
CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "SimHei")


def period_bounds(period: str, day: date) -> tuple[datetime, datetime, str]:
    """[start, end) in UTC of the ``period`` containing local ``day``, and its label."""
    start, end, label = _local_bounds(period, day)

    def utc(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=LOCAL_TZ).astimezone(UTC)

    return utc(start), utc(end), label


def _local_bounds(period: str, day: date) -> tuple[date, date, str]:
    if period == "daily":
        return day, day + timedelta(days=1), day.isoformat()
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        return start, start + timedelta(days=7), f"{year}-W{week:02d}"
    if period == "monthly":
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1), f"{start:%Y-%m}"
    if period == "quarterly":
        q = (day.month - 1) // 3
        start = date(day.year, 3 * q + 1, 1)
        return start, date(day.year + (q == 3), (3 * q + 3) % 12 + 1, 1), f"{day.year}-Q{q + 1}"
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")


def previous_day(period: str, day: date) -> date:
    """A day inside the period before the one holding ``day`` (环比)."""
    start, _end, _ = _local_bounds(period, day)
    return start - timedelta(days=1)


def year_ago_day(day: date) -> date:
    """The same day a year before (29 February → 28 February), for 同比."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


@dataclass
class Comparison:
    """The figures of another period for 环比 / 同比; ``None`` changes where that period holds no data."""

    label: str
    total: int
    resolved: int
    closure_rate: float | None
    total_change: float | None  # (this − that) ÷ that
    closure_change_pt: float | None  # percentage points


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
    disputes: int = 0
    disputes_resolved: int = 0
    mediation_rate: float | None = None  # 化解率
    mean_handling_h: float | None = None
    p90_handling_h: float | None = None
    overdue: int = 0
    escalated: int = 0
    satisfaction_mean: float | None = None
    satisfaction_count: int = 0
    satisfied_rate: float | None = None
    top_categories: list[dict[str, Any]] = field(default_factory=list)
    hot_spots: list[dict[str, Any]] = field(default_factory=list)
    hot_cameras: list[dict[str, Any]] = field(default_factory=list)
    overdue_items: list[dict[str, Any]] = field(default_factory=list)
    trend: list[tuple[str, int]] = field(default_factory=list)
    trend_resolved: list[tuple[str, int]] = field(default_factory=list)
    previous: Comparison | None = None  # 环比
    year_ago: Comparison | None = None  # 同比

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("start", "end", "generated_at"):
            data[key] = getattr(self, key).isoformat()
        data["start_local"] = _local(self.start)
        data["end_local"] = _local(self.end - timedelta(seconds=1))
        data["period_name"] = PERIOD_NAMES[self.period]
        data["previous_name"] = PREVIOUS_NAMES[self.period]
        return data


def _local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(LOCAL_TZ).strftime(fmt) if moment else ""


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _counts(session: Session, scope: str, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(total, resolved, false alarms) of incidents created in [start, end) inside ``scope``."""
    rows = session.execute(select(Incident.status, func.count()).where(
        scope_filter(Incident.jurisdiction_code, scope), Incident.created_at >= start, Incident.created_at < end,
    ).group_by(Incident.status)).all()
    statuses = {str(k): int(v) for k, v in rows}
    return sum(statuses.values()), sum(statuses.get(s, 0) for s in RESOLVED_STATES), statuses.get("false_alarm", 0)


def _comparison(session: Session, report: Report, scope: str, period: str, day: date) -> Comparison | None:
    start, end, label = period_bounds(period, day)
    total, resolved, false_alarms = _counts(session, scope, start, end)
    if total == 0:
        return None  # no data: no 环比/同比 rather than a made-up 100 %
    closure = _rate(resolved, total - false_alarms)
    return Comparison(
        label=label, total=total, resolved=resolved, closure_rate=closure,
        total_change=round((report.total - total) / total, 4),
        closure_change_pt=(round((report.closure_rate - closure) * 100, 1)
                           if report.closure_rate is not None and closure is not None else None),
    )


def _buckets(period: str, start: datetime, end: datetime) -> list[str]:
    """Every hour (daily) or day of the period, in local time, so the trend has a point per bucket."""
    if period == "daily":
        return [f"{h:02d}:00" for h in range(24)]
    first = start.astimezone(LOCAL_TZ).date()
    days = (end.astimezone(LOCAL_TZ).date() - first).days
    return [(first + timedelta(days=n)).isoformat() for n in range(days)]


def _bucket_of(period: str, moment: datetime) -> str:
    local = moment.astimezone(LOCAL_TZ)
    return f"{local:%H}:00" if period == "daily" else local.date().isoformat()


def build_report(session: Session, scope: str, period: str, day: date, *, now: datetime | None = None) -> Report:
    """Everything the centre reports for incidents created in the period inside ``scope``."""
    jurisdictions.validate_code(scope)
    start, end, label = period_bounds(period, day)
    now = now or datetime.now(UTC)
    report = Report(scope=scope, scope_name=jurisdictions.full_name(session, scope), period=period, label=label,
                    start=start, end=end, generated_at=now)
    where = (scope_filter(Incident.jurisdiction_code, scope), Incident.created_at >= start, Incident.created_at < end)

    def grouped(column: InstrumentedAttribute[str]) -> dict[str, int]:
        rows = session.execute(select(column, func.count()).where(*where).group_by(column)).all()
        return {str(k): int(v) for k, v in sorted(rows, key=lambda r: (-r[1], str(r[0])))}

    names = {c.code: c.name for c in session.scalars(select(Category))}
    categories = grouped(Incident.category_code)
    report.by_category = {names.get(k, k): v for k, v in categories.items()}
    report.by_source = {SOURCES.get(k, k): v for k, v in grouped(Incident.source).items()}
    statuses = grouped(Incident.status)
    report.by_status = {STATE_LABELS.get(k, k): v for k, v in statuses.items()}
    report.by_colour = {COLOUR_NAMES.get(k, k): v for k, v in grouped(Incident.colour).items()}
    report.total = sum(statuses.values())
    report.resolved = sum(statuses.get(s, 0) for s in RESOLVED_STATES)
    report.false_alarms = statuses.get("false_alarm", 0)
    report.closure_rate = _rate(report.resolved, report.total - report.false_alarms)
    disputes = dict(session.execute(select(Incident.status, func.count()).where(
        *where, Incident.category_code.in_(DISPUTE_CATEGORIES)).group_by(Incident.status)).all())
    report.disputes = sum(int(v) for k, v in disputes.items() if k != "false_alarm")
    report.disputes_resolved = sum(int(disputes.get(s, 0)) for s in RESOLVED_STATES)
    report.mediation_rate = _rate(report.disputes_resolved, report.disputes)
    report.overdue = session.scalar(select(func.count()).where(*where, Incident.overdue.is_(True))) or 0
    report.escalated = session.scalar(select(func.count()).where(*where, Incident.escalation_count > 0)) or 0
    hours = [
        (resolved - created).total_seconds() / 3600
        for created, resolved in session.execute(
            select(Incident.created_at, Incident.resolved_at).where(*where, Incident.resolved_at.is_not(None))
        ) if resolved is not None
    ]
    if hours:
        report.mean_handling_h = round(statistics.fmean(hours), 2)
        report.p90_handling_h = round(_p90(hours) or 0.0, 2)
    ratings = [r for (r,) in session.execute(select(Incident.satisfaction).where(*where, Incident.satisfaction.is_not(None)))
               if r is not None]
    if ratings:
        report.satisfaction_count = len(ratings)
        report.satisfaction_mean = round(statistics.fmean(ratings), 2)
        report.satisfied_rate = round(sum(1 for r in ratings if r >= 4) / len(ratings), 4)

    report.previous = _comparison(session, report, scope, period, previous_day(period, day))
    report.year_ago = _comparison(session, report, scope, period, year_ago_day(day))
    previous_categories: dict[str, int] = {}
    if report.previous is not None:
        p_start, p_end, _ = period_bounds(period, previous_day(period, day))
        previous_categories = {str(k): int(v) for k, v in session.execute(
            select(Incident.category_code, func.count()).where(
                scope_filter(Incident.jurisdiction_code, scope), Incident.created_at >= p_start, Incident.created_at < p_end,
            ).group_by(Incident.category_code)).all()}
    report.top_categories = [
        {"code": code, "name": names.get(code, code), "count": n, "share": _rate(n, report.total),
         "previous": previous_categories.get(code, 0) if report.previous else None,
         "change": (round((n - previous_categories[code]) / previous_categories[code], 4)
                    if report.previous and previous_categories.get(code) else None)}
        for code, n in list(categories.items())[:10]
    ]

    # Hot spots one level below the scope (county → townships, township → villages, ...).
    depth = min(len(scope) + 3, 15)
    code_col = func.substr(Incident.jurisdiction_code, 1, depth).label("code")
    resolved_col = func.sum(case((Incident.status.in_(RESOLVED_STATES), 1), else_=0))
    false_col = func.sum(case((Incident.status == "false_alarm", 1), else_=0))
    spots = session.execute(
        select(code_col, func.count(), resolved_col, false_col)
        .where(*where).group_by("code").order_by(func.count().desc(), code_col).limit(10)
    ).all()
    report.hot_spots = [{"code": code, "name": jurisdictions.name_of(session, code), "count": int(n),
                         "share": _rate(int(n), report.total), "resolved": int(r or 0),
                         "closure_rate": _rate(int(r or 0), int(n) - int(f or 0))} for code, n, r, f in spots]
    cameras = session.execute(
        select(Incident.camera_id, Incident.camera_name, func.count())
        .where(*where, Incident.camera_id.is_not(None)).group_by(Incident.camera_id, Incident.camera_name)
        .order_by(func.count().desc()).limit(10)
    ).all()
    report.hot_cameras = [{"camera_id": c, "camera_name": n or c, "count": int(k)} for c, n, k in cameras]

    # flagged by the SLA timers, or past the deadline: unresolved at the report's cut-off, or resolved late
    cutoff = min(now, end)
    late = (Incident.overdue.is_(True)) | (
        Incident.resolved_at.is_(None) & (Incident.status != "false_alarm") & (Incident.resolve_deadline < cutoff)
    ) | (Incident.resolved_at > Incident.resolve_deadline)
    overdue_rows = session.scalars(select(Incident).where(*where, late)
                                   .order_by(Incident.resolve_deadline, Incident.id).limit(OVERDUE_LIST)).all()
    report.overdue_items = [{
        "id": i.id, "title": i.title, "category": names.get(i.category_code, i.category_code),
        "place": jurisdictions.name_of(session, i.jurisdiction_code), "status": STATE_LABELS.get(i.status, i.status),
        "deadline": _local(i.resolve_deadline),
        "overdue_h": round(((i.resolved_at or now) - i.resolve_deadline).total_seconds() / 3600, 1) if i.resolve_deadline else None,
    } for i in overdue_rows]

    buckets = _buckets(period, start, end)
    created = Counter(_bucket_of(period, c) for (c,) in session.execute(select(Incident.created_at).where(*where)))
    done = Counter(_bucket_of(period, r) for (r,) in session.execute(
        select(Incident.resolved_at).where(*where, Incident.resolved_at.is_not(None))) if r is not None and start <= r < end)
    report.trend = [(b, created.get(b, 0)) for b in buckets]
    report.trend_resolved = [(b, done.get(b, 0)) for b in buckets]
    return report


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value * 100:+.1f}%" if signed else f"{value * 100:.1f}%"


def summary_rows(report: Report) -> list[tuple[str, str]]:
    """The report's headline figures as (指标, 数值), as printed in the CSV and the PDF."""
    hours = (lambda v: "—" if v is None else f"{v} 小时")  # noqa: E731
    rows = [
        ("辖区", report.scope_name), ("报表", f"{PERIOD_NAMES[report.period]} {report.label}"),
        ("统计起", _local(report.start)), ("统计止", _local(report.end - timedelta(seconds=1))),
        ("事件总数", str(report.total)), ("已办结", str(report.resolved)), ("误报", str(report.false_alarms)),
        ("办结率", _pct(report.closure_rate)),
        ("矛盾纠纷", str(report.disputes)), ("已化解", str(report.disputes_resolved)), ("化解率", _pct(report.mediation_rate)),
        ("平均处置时长", hours(report.mean_handling_h)), ("处置时长P90", hours(report.p90_handling_h)),
        ("超期", str(report.overdue)), ("上报升级", str(report.escalated)),
        ("群众满意度", "—" if report.satisfaction_mean is None else f"{report.satisfaction_mean} / 5"),
        ("评价条数", str(report.satisfaction_count)), ("满意率", _pct(report.satisfied_rate)),
    ]
    for name, cmp in ((f"环比（{PREVIOUS_NAMES[report.period]}）", report.previous), ("同比（去年同期）", report.year_ago)):
        if cmp is None:
            rows.append((name, "无可比数据"))
        else:
            rows.append((name, f"{cmp.label} 共 {cmp.total} 件，总数 {_pct(cmp.total_change, True)}，"
                               f"办结率 {'—' if cmp.closure_change_pt is None else f'{cmp.closure_change_pt:+.1f} 个百分点'}"))
    return rows


CSV_HEADER = ("分组", "项目", "数值")


def report_csv(report: Report) -> str:
    """A flat CSV in Chinese (分组, 项目, 数值), times in Beijing time (UTF-8 with BOM added by the writer)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for key, value in summary_rows(report):
        writer.writerow(["概况", key, value])
    sections = (("按类别", report.by_category), ("按来源", report.by_source), ("按状态", report.by_status),
                ("按风险等级", report.by_colour))
    for section, data in sections:
        for name, count in data.items():
            writer.writerow([section, name, count])
    for spot in report.hot_spots:
        writer.writerow(["热点区域", spot["name"], spot["count"]])
    for cam in report.hot_cameras:
        writer.writerow(["热点摄像机", cam["camera_name"], cam["count"]])
    for item in report.overdue_items:
        late = "" if item["overdue_h"] is None else f"超期 {item['overdue_h']} 小时"
        writer.writerow(["超期清单", f"#{item['id']} {item['title']}（{item['place']}，{item['status']}，时限 {item['deadline']}）", late])
    for bucket, created in report.trend:
        writer.writerow(["趋势", bucket, created])
    return out.getvalue()


# ---- the printable report ------------------------------------------------------------------


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in available), None)


def _table(ax: Axes, title: str, header: list[str], rows: list[list[str]], widths: list[float] | None = None) -> None:
    ax.axis("off")
    ax.set_title(title, fontsize=11, loc="left")
    if not rows:
        ax.text(0.0, 0.8, "无数据", fontsize=9, transform=ax.transAxes)
        return
    table = ax.table(cellText=rows, colLabels=header, loc="upper left", cellLoc="left", colLoc="left", colWidths=widths)
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.25)
    for (row, _col), cell in table.get_celld().items():
        cell.set_edgecolor("#c8d0da")
        if row == 0:
            cell.set_facecolor("#e8eef6")


def _footer(fig: Figure, report: Report, page: int, pages: int) -> None:
    fig.text(0.06, 0.02, f"{report.scope_name} 综治中心{PERIOD_NAMES[report.period]} {report.label}    "
                         f"生成时间 {_local(report.generated_at)}（北京时间）", fontsize=7.5, color="#666")
    fig.text(0.94, 0.02, f"第 {page} 页 / 共 {pages} 页", fontsize=7.5, color="#666", ha="right")


def _page_summary(plt: ModuleType, report: Report) -> Figure:
    fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
    fig.suptitle(f"{report.scope_name} 综治中心{PERIOD_NAMES[report.period]}  {report.label}", fontsize=15, y=0.97)
    head = fig.add_axes([0.06, 0.56, 0.88, 0.37])
    rows = summary_rows(report)
    half = (len(rows) + 1) // 2
    left, right = rows[:half], rows[half:] + [("", "")] * (2 * half - len(rows))
    _table(head, "概况", ["指标", "数值", "指标", "数值"],
           [[a, b, c, d] for (a, b), (c, d) in zip(left, right)], [0.16, 0.34, 0.16, 0.34])
    ax = fig.add_axes([0.09, 0.1, 0.85, 0.4])
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    labels = [k for k, _ in report.trend]
    ax.plot(range(len(labels)), [v for _, v in report.trend], marker="o", color="#d9241e", label="新增")
    ax.plot(range(len(labels)), [v for _, v in report.trend_resolved], marker="s", color="#30a46c", label="办结")
    step = max(1, len(labels) // 16)
    ax.set_xticks(range(0, len(labels), step))
    ax.set_xticklabels([lab[5:] if len(lab) == 10 else lab for lab in labels[::step]], rotation=60, fontsize=7)
    ax.set_title(f"每{'小时' if report.period == 'daily' else '日'}趋势（{len(labels)} 个点）", fontsize=11, loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _page_tables(plt: ModuleType, report: Report) -> Figure:
    fig = plt.figure(figsize=(8.27, 11.69))
    fig.suptitle("类别与热点", fontsize=14, y=0.97)
    change = (lambda v: "—" if v is None else f"{v * 100:+.1f}%")  # noqa: E731
    _table(fig.add_axes([0.06, 0.55, 0.88, 0.38]), f"事件类别前十（环比：{PREVIOUS_NAMES[report.period]}）",
           ["类别", "件数", "占比", "上期", "环比"],
           [[c["name"], str(c["count"]), _pct(c["share"]), "—" if c["previous"] is None else str(c["previous"]), change(c["change"])]
            for c in report.top_categories], [0.34, 0.14, 0.16, 0.16, 0.2])
    _table(fig.add_axes([0.06, 0.12, 0.88, 0.38]), "热点区域前十", ["区域", "件数", "占比", "已办结", "办结率"],
           [[s["name"], str(s["count"]), _pct(s["share"]), str(s["resolved"]), _pct(s["closure_rate"])] for s in report.hot_spots],
           [0.34, 0.14, 0.16, 0.16, 0.2])
    return fig


def _page_overdue(plt: ModuleType, report: Report) -> Figure:
    fig = plt.figure(figsize=(8.27, 11.69))
    fig.suptitle("超期清单与分布", fontsize=14, y=0.97)
    _table(fig.add_axes([0.04, 0.45, 0.92, 0.48]), f"超期清单（前 {OVERDUE_LIST} 件，共 {report.overdue} 件超期）",
           ["编号", "事件", "类别", "区域", "状态", "办结时限", "超期(小时)"],
           [[f"#{i['id']}", i["title"][:16], i["category"], i["place"], i["status"], i["deadline"],
             "—" if i["overdue_h"] is None else str(i["overdue_h"])] for i in report.overdue_items],
           [0.08, 0.28, 0.12, 0.12, 0.1, 0.18, 0.12])
    colour_by_name = {name: COLOUR_HEX[code] for code, name in COLOUR_NAMES.items()}
    for n, (title, data) in enumerate((("按来源", report.by_source), ("按状态", report.by_status), ("按风险等级", report.by_colour))):
        ax = fig.add_axes([0.08 + n * 0.31, 0.1, 0.24, 0.28])
        items = list(data.items())[:10][::-1]
        colours = [colour_by_name.get(k, "#3b6fb6") for k, _ in items] if title == "按风险等级" else "#3b6fb6"
        ax.barh([k for k, _ in items], [v for _, v in items], color=colours)
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=7)
        if not items:
            ax.text(0.5, 0.5, "无数据", ha="center", va="center", transform=ax.transAxes)
    return fig


PAGES = (_page_summary, _page_tables, _page_overdue)


def render_report(report: Report, path: Path) -> Path:
    """The printable report: a multi-page A4 PDF, or (``.png``) its first page as an image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    if path.suffix not in (".pdf", ".png"):
        raise ValueError(f"report file must end in .pdf or .png, got {path.name}")
    font = _cjk_font()
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context({"font.family": [font, "DejaVu Sans"], "axes.unicode_minus": False} if font else None):
        if path.suffix == ".png":
            fig = PAGES[0](plt, report)
            _footer(fig, report, 1, len(PAGES))
            fig.savefig(path, dpi=110)
            plt.close(fig)
            return path
        with PdfPages(path, metadata={"Title": f"{report.scope_name} {PERIOD_NAMES[report.period]} {report.label}",
                                      "Creator": "Xueliang"}) as pdf:
            for number, page in enumerate(PAGES, start=1):
                fig = page(plt, report)
                _footer(fig, report, number, len(PAGES))
                pdf.savefig(fig)
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
    print(f"{report.scope_name} {PERIOD_NAMES[report.period]} {report.label}：共 {report.total} 件，"
          f"办结率 {_pct(report.closure_rate)}，超期 {report.overdue} 件")
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
