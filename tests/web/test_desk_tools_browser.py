"""The desk's tools in real headless Chromium, acting only through the page: search and filters
among 1,200 incidents, the 12345 诉求信息 panel, the labelled intake form, and 交接班 given by one
county operator and acknowledged by the next. Every page visited is scanned for English.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.web.conftest import PASSWORD, ServerThread, logged_in_page, seeded_database
from web.english_scan import record_toasts, scan
from xueliang.runtime import free_port
from xueliang.settings import Settings

CORPUS = 1200

from tests.web.conftest import CHROMIUM  # the browser fixture lives there too

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server):
    from command import create_user, fill_search_corpus
    from web import create_app, hash_password

    data_dir = tmp_path_factory.mktemp("desk-tools")
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/5"
    settings = Settings(data_dir=data_dir, cameras_file=data_dir / "cameras.yaml", database_url=f"sqlite:///{data_dir / 'web.db'}",
                        redis_url=redis_url, secret_key="desk-tools-secret-0123456789abcdef-xyz", web_port=free_port())
    database = seeded_database(settings.resolved_database_url())
    needles = fill_search_corpus(database, CORPUS)
    with database.session() as session:
        for name, display in (("duty_out", "张值班"), ("duty_in", "李接班"), ("desk_county", "王处置")):
            create_user(session, name, hash_password(PASSWORD), "county_operator", "330381", display_name=display)
    server = ServerThread(create_app(settings), settings.web_port)
    server.start()
    try:
        yield {"url": f"http://127.0.0.1:{settings.web_port}", "database": database, "needles": needles}
    finally:
        server.stop()
        database.dispose()


def open_desk(browser, stack, username: str):
    context, page = logged_in_page(browser, stack["url"], username, viewport={"width": 1440, "height": 900})
    page.goto(stack["url"] + "/desk")
    page.wait_for_selector("#desk-search")
    record_toasts(page)
    return context, page


def test_search_filter_and_hotline_fields_on_the_desk(browser, stack, shots):
    needles = stack["needles"]
    planted = needles["incident_id"]
    context, page = open_desk(browser, stack, "desk_county")
    try:
        # 1. a caller's name typed into the search box finds the one case among 1,200
        page.fill("#search-q", needles["caller"])
        page.click("#search-submit")
        try:
            page.wait_for_selector(f"#search-results li[data-id='{planted}']", timeout=10000)
        except Exception:
            page.screenshot(path="/tmp/h15_fail.png")
            print("ERRORS", page.errors, page.inner_text("body")[:2000])
            raise
        assert page.inner_text("#search-total") == "共 1 条"
        # 2. filters alone (no words) find it too: category + source + township + date range + colour
        page.click("#search-clear")
        page.click("#search-toggle")
        with stack["database"].session() as session:
            from command import Incident

            row = session.get(Incident, planted)
            township, colour, day = row.township_code, row.colour, row.created_at
        page.select_option("#search-category", "noise")
        page.select_option("#search-source", "hotline_12345")
        page.select_option("#search-township", township)
        page.select_option("#search-colour", colour)
        local_day = (day + timedelta(hours=8)).date()
        page.fill("#search-since", local_day.isoformat())
        page.fill("#search-until", local_day.isoformat())
        page.click("#search-submit")
        try:
            page.wait_for_selector(f"#search-results li[data-id='{planted}']", timeout=8000)
        except Exception:
            page.screenshot(path="/tmp/h15_fail.png")
            print("ERRORS", page.errors, page.inner_text("#desk-search")[:3000])
            raise
        listed = page.eval_on_selector_all("#search-results li", "els => els.length")
        assert 1 <= listed <= 50
        # every listed row really is a noise complaint from 12345 (labels as the operator reads them)
        metas = page.eval_on_selector_all("#search-results li .q-meta:not(.muted)", "els => els.map(e => e.textContent)")
        assert all("12345热线" in m and "噪音扰民" in m for m in metas), metas
        # 3. open it: 诉求内容, 地址, 来电人, 电话, 来电时间 are on screen
        page.click(f"#search-results li[data-id='{planted}']")
        page.wait_for_selector("#case-fields")
        assert needles["address"] in page.inner_text("#case-description")
        assert page.inner_text("#case-address") == needles["address"]
        assert page.inner_text("#case-reporter") == needles["caller"]
        assert page.inner_text("#case-phone") == needles["phone"]
        assert page.inner_text("#case-ref") == needles["work_order"]
        assert page.inner_text("#case-reported-at").startswith(str(local_day.year))
        page.screenshot(path=str(shots / "desk-search.png"))
        # 4. paging past 200: newest first, 50 a page, five pages
        page.click("#search-clear")
        page.click("#search-toggle")  # filters were reset with the search
        page.click("#search-submit")
        page.wait_for_selector("#search-results li")
        for expected in (100, 150, 200, 250):
            page.click("#search-more")
            deadline = time.monotonic() + 15
            while page.eval_on_selector_all("#search-results li", "els => els.length") < expected:
                assert time.monotonic() < deadline, f"page never reached {expected} rows"
                time.sleep(0.1)
        ids = page.eval_on_selector_all("#search-results li", "els => els.map(e => Number(e.dataset.id))")
        assert len(ids) == len(set(ids)) == 250 and ids == sorted(ids, reverse=True)
        english = scan(page)
        assert english == [], english
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()


def test_labelled_intake_form_registers_a_call(browser, stack, shots):
    context, page = open_desk(browser, stack, "desk_county")
    try:
        page.click("#new-report")
        page.wait_for_selector("#intake-title")
        labels = page.eval_on_selector_all("#report-form label .form-label", "els => els.map(e => e.textContent.replace(' *', ''))")
        for label in ("来源渠道", "来电时间", "事件标题", "诉求内容", "事件类别", "所属区划", "事发地址", "来电人", "联系电话"):
            assert label in labels, labels
        # the categories arrive from the API after the form opens: wait for them as a person would
        page.wait_for_selector("#report-category optgroup option", state="attached")
        options = page.eval_on_selector_all("#report-category option", "els => els.map(e => e.textContent)")
        assert "噪音扰民" in options and "区域入侵" not in options and "设备故障" not in options
        groups = page.eval_on_selector_all("#report-category optgroup", "els => els.map(e => e.label)")
        assert groups == ["民生诉求", "治安类（转公安）"]
        page.select_option("#intake-source", "police_110")
        groups = page.eval_on_selector_all("#report-category optgroup", "els => els.map(e => e.label)")
        assert groups == ["治安类（转公安）", "民生诉求"]  # a 110 transfer lists police categories first
        page.select_option("#intake-source", "hotline_12345")
        tag = uuid.uuid4().hex[:6]
        page.fill("#intake-reported_at", "2026-11-19T21:15")
        page.fill("#intake-title", f"楼道堆放杂物 {tag}")
        page.fill("#intake-description", f"来电反映幸福小区3幢楼道堆放杂物，存在消防隐患 {tag}")
        page.select_option("#report-category", "environment")
        page.select_option("#report-jurisdiction", "330381101201")
        page.fill("#intake-address", "幸福小区3幢")
        page.fill("#intake-reporter_name", "陈女士")
        page.fill("#intake-reporter_phone", "13600001111")
        page.screenshot(path=str(shots / "desk-intake-form.png"))
        page.click("#intake-submit")
        page.wait_for_selector("#case-fields")
        assert page.inner_text("#case-reporter") == "陈女士"
        assert page.inner_text("#case-phone") == "13600001111"
        assert page.inner_text("#case-reported-at") == "2026-11-19 21:15"
        english = scan(page)
        assert english == [], english
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()


def test_handover_given_by_one_operator_and_acknowledged_by_the_next(browser, stack, shots):
    now = datetime.now(UTC)
    out_ctx, out = open_desk(browser, stack, "duty_out")
    try:
        # the outgoing operator puts both shifts on the roster through the page
        out.click("#roster-toggle")
        for user, start, end in (("duty_out", now - timedelta(hours=8), now + timedelta(minutes=2)),
                                 ("duty_in", now + timedelta(minutes=2), now + timedelta(hours=8))):
            out.fill("#roster-user", user)
            out.fill("#roster-start", (start + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M"))
            out.fill("#roster-end", (end + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M"))
            out.click("#roster-add")
            out.wait_for_selector(f"#roster-list li:has-text('{'张值班' if user == 'duty_out' else '李接班'}')")
        assert "张值班" in out.inner_text("#on-duty")
        out.click("#handover-give")
        out.wait_for_selector("#handover-panel")
        assert "李接班" in out.inner_text("#handover-panel")
        first = out.get_attribute("#handover-items li", "data-id")
        overdue_rows = out.eval_on_selector_all("#handover-items li .deadline.overdue", "els => els.length")
        assert first and overdue_rows > 0
        out.fill(f"#handover-items li[data-id='{first}'] .handover-item-note", "已电话联系属地，明早回访")
        out.fill("#handover-note", "夜间注意城关镇两起红色警情")
        out.screenshot(path=str(shots / "handover-give.png"))
        out.click("#handover-submit")
        out.wait_for_selector("#handover-panel", state="detached")
        assert scan(out) == []
        assert out.errors == []  # type: ignore[attr-defined]
    finally:
        out_ctx.close()
    in_ctx, incoming = open_desk(browser, stack, "duty_in")
    try:
        incoming.wait_for_selector("#handover-pending")
        assert "张值班" in incoming.inner_text("#handover-pending")
        incoming.click("#handover-pending")
        incoming.wait_for_selector("#handover-pending-panel")
        assert "夜间注意城关镇两起红色警情" in incoming.inner_text("#handover-general-note")
        note_row = incoming.inner_text(f"#handover-pending-items li[data-id='{first}']")
        assert "已电话联系属地，明早回访" in note_row
        assert incoming.eval_on_selector_all("#handover-pending-items li .deadline.overdue", "els => els.length") > 0
        incoming.screenshot(path=str(shots / "handover-acknowledge.png"))
        incoming.fill("#handover-ack-note", "已接班")
        incoming.click("#handover-ack")
        incoming.wait_for_selector("#handover-pending", state="detached")
        assert scan(incoming) == []
        assert incoming.errors == []  # type: ignore[attr-defined]
    finally:
        in_ctx.close()
    from sqlalchemy import select

    from command import AuditEvent

    with stack["database"].session() as session:
        actions = session.execute(select(AuditEvent.action, AuditEvent.actor).where(
            AuditEvent.subject_type.in_(("handover", "duty_shift"))).order_by(AuditEvent.id)).all()
    assert [tuple(a) for a in actions] == [("duty_shift_added", "duty_out"), ("duty_shift_added", "duty_out"),
                                          ("handover_given", "duty_out"), ("handover_acknowledged", "duty_in")]
