"""Dispatch recommendations and SLA timers, driven by an explicit clock."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from command import Actor, acknowledge, dispatch, intake_alerts, recommend_responders, run_timers, timeline, update_responder_position
from command.db import open_database
from command.intake import ReportIn, submit_report
from command.models import Assignment, Incident, Responder

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
T101 = Actor("t101", "township_operator", "330381101")


def test_police_incident_recommends_nearest_available_police(seeded, make_alert):
    with seeded.session() as s:
        [r] = intake_alerts(s, [(make_alert(ts=T0, lat=None, lon=None), None)], now=T0)
        recs = recommend_responders(s, r.incident, limit=3)
        assert all(rec.responder.kind == "police" for rec in recs)
        assert recs[0].responder.jurisdiction_code == "330381101"  # the township's own station
        # the far unit moves right next to the incident: it becomes the first choice
        far = s.scalars(select(Responder).where(Responder.kind == "police", Responder.jurisdiction_code == "330381113")).first()
        village = s.get(__import__("command").Jurisdiction, "330381101201")
        update_responder_position(s, far.id, village.center_lat, village.center_lon, now=T0)
        recs = recommend_responders(s, r.incident, limit=20)
        # the incident's own chain comes first: the township's station, then (county view) the stranger at the scene
        assert [rec.responder.jurisdiction_code for rec in recs[:2]] == ["330381101", "330381101"]
        stranger = next(rec for rec in recs if rec.responder.id == far.id)
        assert recs.index(stranger) == 2 and "其他乡镇" in stranger.reasons and stranger.distance_m < 1
        # a township operator's list holds only its own units
        assert {rec.responder.jurisdiction_code for rec in recommend_responders(s, r.incident, limit=20, scope="330381101")} == {"330381101"}
        update_responder_position(s, far.id, 27.99, 120.88, now=T0)  # back home, far away
        near = recommend_responders(s, r.incident, limit=1)[0].responder
        assert near.jurisdiction_code == "330381101"
        update_responder_position(s, near.id, near.lat, near.lon, status="busy", now=T0)
        assert recommend_responders(s, r.incident, limit=1)[0].responder.id != near.id
        assert "忙碌" in [x for rec in recommend_responders(s, r.incident, limit=10) if rec.responder.id == near.id for x in rec.reasons]


def test_non_police_categories_route_to_department_or_grid(seeded):
    with seeded.session() as s:
        road = submit_report(s, ReportIn(source="hotline_12345", title="路面塌陷", category_code="road_damage",
                                         jurisdiction_code="330381105201"), T101.__class__.system(), now=T0).incident
        assert (road.queue, road.department) == ("department", "交通运输局")
        assert recommend_responders(s, road)[0].responder.department == "交通运输局"
        noise = submit_report(s, ReportIn(source="citizen", title="邻居装修", category_code="consultation",
                                          jurisdiction_code="330381105201"), Actor.system(), now=T0).incident
        assert noise.queue == "grid"
        recs = recommend_responders(s, noise)
        assert recs and all(rec.responder.kind == "grid_worker" and rec.responder.jurisdiction_code.startswith("330381105") for rec in recs)
        assert recs[0].responder.jurisdiction_code.startswith("330381105201")  # the village's own grid worker


def test_unacknowledged_dispatch_is_reassigned_then_escalated(seeded, make_alert):
    with seeded.session() as s:
        [r] = intake_alerts(s, [(make_alert(ts=T0), None)], now=T0)  # high severity: 15 min to acknowledge
        incident = dispatch(s, r.incident.id, T101, auto=True, now=T0)
        first = incident.assignments[0].responder_id
        assert run_timers(s, now=T0 + timedelta(minutes=14)) == []
        assert run_timers(s, now=T0 + timedelta(minutes=16)) == [incident]
        statuses = [(a.responder_id, a.status) for a in incident.assignments]
        assert statuses[0] == (first, "expired") and statuses[1][1] == "pending" and statuses[1][0] != first
        run_timers(s, now=T0 + timedelta(minutes=32))
        run_timers(s, now=T0 + timedelta(minutes=48))
        assert [a.status for a in incident.assignments] == ["expired", "expired", "expired"]
        assert incident.status == "escalated" and incident.supervised and incident.handling_level == "county"
        actions = [row.action for row in timeline(s, incident.id)]
        assert actions.count("ack_timeout") == 3 and actions.count("reassign") == 2 and "supervise" in actions


def test_overdue_is_supervised_and_escalates_village_township_county(seeded):
    with seeded.session() as s:
        incident = submit_report(s, ReportIn(source="grid", title="污水外溢", category_code="environment",
                                             jurisdiction_code="330381101201001"), Actor.system(), now=T0).incident
        assert incident.handling_level == "village" and incident.resolve_deadline == T0 + timedelta(days=3)
        acknowledge_free = run_timers(s, now=T0 + timedelta(days=2))
        assert acknowledge_free == []
        run_timers(s, now=T0 + timedelta(days=3, minutes=1))
        assert incident.overdue and incident.supervised and incident.handling_level == "township"
        assert incident.status == "classified" and incident.escalation_count == 1  # 督办 raises the level, the status stays
        run_timers(s, now=T0 + timedelta(days=6, minutes=2))
        assert incident.handling_level == "county" and incident.resolve_deadline is None
        assert run_timers(s, now=T0 + timedelta(days=30)) == []  # nothing above the county
        levels = [(row.detail["from_level"], row.detail["to_level"]) for row in timeline(s, incident.id) if row.action == "escalate"]
        assert levels == [("village", "township"), ("township", "county")]


def test_deadlines_survive_a_restart(seeded, make_alert):
    with seeded.session() as s:
        [r] = intake_alerts(s, [(make_alert(ts=T0), None)], now=T0)
        dispatch(s, r.incident.id, T101, auto=True, now=T0)
        incident_id = r.incident.id
    seeded.dispose()
    reopened = open_database(seeded.url)  # a new process would see exactly this
    with reopened.session() as s:
        changed = run_timers(s, now=T0 + timedelta(minutes=20))
        assert [i.id for i in changed] == [incident_id]
        assert s.scalar(select(Assignment.status).where(Assignment.incident_id == incident_id).order_by(Assignment.id)) == "expired"
    reopened.dispose()


def test_acknowledged_assignment_stops_the_timer(seeded, make_alert):
    with seeded.session() as s:
        [r] = intake_alerts(s, [(make_alert(ts=T0), None)], now=T0)
        dispatch(s, r.incident.id, T101, auto=True, now=T0)
        acknowledge(s, r.incident.id, T101, now=T0 + timedelta(minutes=5))
        assert run_timers(s, now=T0 + timedelta(minutes=30)) == []
        assert s.get(Incident, r.incident.id).ack_deadline is None
