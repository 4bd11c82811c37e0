"""交接班 (command.handover) on SQLite and PostgreSQL: roster, handover with open and overdue cases, acknowledgement, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from command import Actor, AuditEvent, HandoverError, ReportIn, create_user, handover, submit_report

NOW = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # 08:00 in Beijing
COUNTY = "330381"


@pytest.fixture()
def centre(seeded):
    """The county centre with three operators on the roster and a few cases of every kind."""
    with seeded.session() as session:
        for name in ("day_op", "night_op", "late_op"):
            create_user(session, name, "plain$x", "county_operator", COUNTY, display_name=name)
        create_user(session, "town_op", "plain$x", "township_operator", "330381101", display_name="town_op")
    return seeded


def _actor(name: str, code: str = COUNTY, role: str = "county_operator") -> Actor:
    return Actor(name, role, code, None, "test")


def _report(session, title: str, code: str, at: datetime, **kw):
    body = ReportIn(source="hotline_12345", title=title, category_code=kw.pop("category", "noise"), jurisdiction_code=code,
                    description=f"{title} 诉求", **kw)
    return submit_report(session, body, _actor("day_op"), now=at).incident


def test_roster_handover_and_acknowledgement(centre):
    with centre.session() as session:
        handover.add_shift(session, _actor("admin_like"), COUNTY, "day_op", NOW, NOW + timedelta(hours=12))
        handover.add_shift(session, _actor("day_op"), COUNTY, "night_op", NOW + timedelta(hours=12), NOW + timedelta(hours=24))
        # A county-level case (red → county), an overdue village case, a fresh village case (not the county's),
        # and a closed-looking one elsewhere.
        red = _report(session, "危化品车辆侧翻", "330381101201", NOW + timedelta(hours=11, minutes=30), colour="red", category="traffic_accident")
        late = _report(session, "小区停水三天", "330381102201", NOW - timedelta(days=5), category="water_supply")
        fresh = _report(session, "广场舞噪音", "330381103201", NOW + timedelta(hours=11), category="noise")
        late_id, red_id, fresh_id = late.id, red.id, fresh.id
    at = NOW + timedelta(hours=11, minutes=50)
    with centre.session() as session:
        draft = handover.draft(session, COUNTY, now=at)
        listed = {i.incident_id: i for i in draft.open_items}
        assert red_id in listed and late_id in listed
        assert fresh_id not in listed  # handled by its village, not overdue: not the county's to hand over
        assert listed[late_id].overdue and not listed[red_id].overdue
        assert draft.open_total >= 3 and draft.overdue_count >= 1
        given = handover.give(session, _actor("day_op"), note="夜班注意危化品车辆现场", item_notes={red_id: "消防已到场，等待吊车"}, now=at)
        given_id = given.id
        assert given.to_user == "night_op"  # the next on the roster
    with centre.session() as session:
        with pytest.raises(HandoverError) as err:
            handover.acknowledge(session, _actor("late_op"), given_id, now=at)
        assert err.value.code == "handover.not_yours" and "night_op" in err.value.message
    with centre.session() as session:
        with pytest.raises(HandoverError) as err:
            handover.acknowledge(session, _actor("day_op"), given_id, now=at)
        assert err.value.code == "handover.self"
    with centre.session() as session:
        done = handover.acknowledge(session, _actor("night_op"), given_id, note="已接班", now=at + timedelta(minutes=12))
        data = handover.handover_dict(done)
        assert data["status"] == "acknowledged" and data["acknowledged_by"] == "night_op"
        notes = {i["incident_id"]: i["note"] for i in data["items"]}
        assert notes[red_id] == "消防已到场，等待吊车"
        assert any(i["overdue"] and i["incident_id"] == late_id for i in data["items"])
    with centre.session() as session:
        with pytest.raises(HandoverError) as err:
            handover.acknowledge(session, _actor("night_op"), given_id, now=at)
        assert err.value.code == "handover.done"
        actions = [(a.action, a.actor) for a in session.scalars(
            select(AuditEvent).where(AuditEvent.subject_type.in_(("handover", "duty_shift"))).order_by(AuditEvent.id))]
    assert actions == [("duty_shift_added", "admin_like"), ("duty_shift_added", "day_op"),
                       ("handover_given", "day_op"), ("handover_acknowledged", "night_op")]


def test_roster_refuses_overlap_strangers_and_bad_times(centre):
    with centre.session() as session:
        handover.add_shift(session, _actor("day_op"), COUNTY, "day_op", NOW, NOW + timedelta(hours=8))
        cases = [
            (dict(username="day_op", starts_at=NOW + timedelta(hours=4), ends_at=NOW + timedelta(hours=10)), "handover.overlap"),
            (dict(username="town_op", starts_at=NOW, ends_at=NOW + timedelta(hours=8)), "handover.bad_user"),
            (dict(username="night_op", starts_at=NOW, ends_at=NOW - timedelta(hours=1)), "handover.bad_shift"),
            (dict(username="night_op", starts_at=NOW, ends_at=NOW + timedelta(hours=30)), "handover.bad_shift"),
        ]
        for kwargs, code in cases:
            with pytest.raises(HandoverError) as err:
                handover.add_shift(session, _actor("day_op"), COUNTY, **kwargs)
            assert err.value.code == code, kwargs
            assert any("\u4e00" <= ch <= "\u9fff" for ch in err.value.message)
        # a township operator cannot put people on the county's roster
        with pytest.raises(HandoverError) as err:
            handover.add_shift(session, _actor("town_op", "330381101", "township_operator"), COUNTY, "night_op",
                               NOW + timedelta(hours=9), NOW + timedelta(hours=12))
        assert err.value.status == 404


def test_handover_without_roster_is_for_any_other_operator_of_the_centre_and_one_at_a_time(centre):
    with centre.session() as session:
        given = handover.give(session, _actor("day_op"), note="无值班表", now=NOW)
        given_id = given.id
        assert given.to_user is None
        with pytest.raises(HandoverError) as err:
            handover.give(session, _actor("day_op"), now=NOW)
        assert err.value.code == "handover.pending"
    with centre.session() as session:
        pending = handover.list_handovers(session, COUNTY, pending_for="late_op")
        assert [h.id for h in pending] == [given_id]
        assert handover.list_handovers(session, COUNTY, pending_for="day_op") == []
        # a township operator neither sees nor acknowledges the county's handover
        assert handover.list_handovers(session, "330381101") == []
        with pytest.raises(HandoverError) as err:
            handover.acknowledge(session, _actor("town_op", "330381101", "township_operator"), given_id, now=NOW)
        assert err.value.status == 404
        assert handover.acknowledge(session, _actor("late_op"), given_id, now=NOW).acknowledged_by == "late_op"


def test_notes_only_on_listed_cases(centre):
    with centre.session() as session:
        with pytest.raises(HandoverError) as err:
            handover.give(session, _actor("day_op"), item_notes={999999: "不存在"}, now=NOW)
        assert err.value.code == "handover.note_not_listed"
