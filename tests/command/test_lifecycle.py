"""The state machine through the service functions, with roles, scope and refusal reasons."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from command import (
    Actor,
    TransitionRefused,
    acknowledge,
    allowed_actions,
    arrive,
    close,
    dispatch,
    escalate,
    escalate_mediation,
    evaluate,
    get_user,
    intake_alerts,
    mark_false_alarm,
    reject,
    reopen,
    resolve,
    revisit,
    set_colour,
    timeline,
)
from command.intake import ReportIn, submit_report
from command.models import Assignment, Evaluation, Responder

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
COUNTY = Actor("county", "county_operator", "330381")
T101 = Actor("t101", "township_operator", "330381101")
T102 = Actor("t102", "township_operator", "330381102")
VIEWER = Actor("viewer", "viewer", "330381")


def responder_actor(session, username):
    user = get_user(session, username)
    return Actor(user.username, user.role, user.jurisdiction_code, user.responder_id)


def video_incident(session, make_alert, **over):
    [result] = intake_alerts(session, [(make_alert(ts=T0, **over), None)], now=T0)
    return result.incident


def test_full_closed_loop(seeded, make_alert):
    with seeded.session() as s:
        incident = video_incident(s, make_alert)
        assert incident.status == "classified" and incident.queue == "police"
        r1 = responder_actor(s, "r1")
        dispatch(s, incident.id, T101, responder_ids=[r1.responder_id], now=T0 + timedelta(minutes=1))
        assert incident.status == "dispatched" and s.get(Responder, r1.responder_id).status == "busy"
        assert allowed_actions("dispatched", r1, incident.jurisdiction_code) == ["acknowledge", "reject"]
        acknowledge(s, incident.id, r1, now=T0 + timedelta(minutes=3))
        arrive(s, incident.id, r1, now=T0 + timedelta(minutes=9))
        resolve(s, incident.id, r1, result="劝离闯入人员", now=T0 + timedelta(minutes=20))
        assert s.get(Responder, r1.responder_id).status == "available"
        evaluate(s, incident.id, T101, satisfaction=5, comment="满意", now=T0 + timedelta(hours=2))
        revisit(s, incident.id, T101, outcome="电话回访，无复发", satisfied=True, now=T0 + timedelta(days=1))
        close(s, incident.id, T101, now=T0 + timedelta(days=1, minutes=1))
        assert incident.status == "closed" and not incident.is_open and incident.satisfaction == 5
        rows = timeline(s, incident.id)
        assert [r.action for r in rows] == ["receive", "classify", "dispatch", "acknowledge", "arrive", "resolve", "evaluate", "revisit", "close"]
        assert rows[3].actor == "r1" and rows[3].actor_role == "responder" and rows[3].at == T0 + timedelta(minutes=3)
        assert rows[2].from_status == "classified" and rows[2].to_status == "dispatched"
        assert s.scalar(select(Evaluation.satisfaction)) == 5


@pytest.mark.parametrize(
    ("action", "actor", "kind", "message"),
    [
        ("close", T101, "state", "cannot close"),
        ("resolve", VIEWER, "state", "cannot resolve"),
        ("dispatch", VIEWER, "role", "role 'viewer' may not dispatch"),
        ("dispatch", T102, "scope", "outside t102's jurisdiction"),
    ],
)
def test_refusals_name_the_reason(seeded, make_alert, action, actor, kind, message):
    with seeded.session() as s:
        incident = video_incident(s, make_alert)
        fn = {"close": lambda: close(s, incident.id, actor, now=T0),
              "resolve": lambda: resolve(s, incident.id, actor, result="x", now=T0),
              "dispatch": lambda: dispatch(s, incident.id, actor, auto=True, now=T0)}[action]
        with pytest.raises(TransitionRefused) as info:
            fn()
        assert info.value.kind == kind and message in info.value.reason
        assert info.value.to_dict()["status"] == "classified"
        assert incident.status == "classified"  # nothing changed


def test_responder_may_only_touch_own_assignment(seeded, make_alert):
    with seeded.session() as s:
        incident = video_incident(s, make_alert)
        dispatch(s, incident.id, T101, auto=True, now=T0)
        r2 = responder_actor(s, "r2")  # the grid worker, not assigned
        with pytest.raises(TransitionRefused, match="not assigned to r2"):
            acknowledge(s, incident.id, r2, now=T0)


def test_reject_back_to_dispatcher_and_redispatch(seeded, make_alert):
    with seeded.session() as s:
        incident = video_incident(s, make_alert)
        r1 = responder_actor(s, "r1")
        dispatch(s, incident.id, T101, responder_ids=[r1.responder_id], now=T0)
        with pytest.raises(TransitionRefused, match="reason is required"):
            reject(s, incident.id, r1, reason=" ", now=T0)
        reject(s, incident.id, r1, reason="不属于本所辖区", now=T0 + timedelta(minutes=2))
        assert incident.status == "rejected" and s.get(Responder, r1.responder_id).status == "available"
        dispatch(s, incident.id, T101, auto=True, now=T0 + timedelta(minutes=3))
        assert incident.status == "dispatched"
        statuses = [a.status for a in s.scalars(select(Assignment).where(Assignment.incident_id == incident.id).order_by(Assignment.id))]
        assert statuses == ["rejected", "pending"]


def test_false_alarm_reopen_and_escalate_to_the_top(seeded, make_alert):
    with seeded.session() as s:
        incident = video_incident(s, make_alert)
        mark_false_alarm(s, incident.id, T101, reason="树影误报", now=T0)
        assert incident.status == "false_alarm" and not incident.is_open
        with pytest.raises(TransitionRefused, match="role 'village_operator' may not reopen"):
            reopen(s, incident.id, Actor("v", "village_operator", "330381101201"), reason="x", now=T0)
        reopen(s, incident.id, T101, reason="复核为真实入侵", now=T0 + timedelta(hours=1))
        assert incident.status == "reopened" and incident.is_open and incident.handling_level == "township"
        escalate(s, incident.id, T101, reason="需要县级协调", now=T0 + timedelta(hours=2))
        assert incident.status == "escalated" and incident.handling_level == "county"
        with pytest.raises(TransitionRefused, match="no higher level"):
            escalate(s, incident.id, COUNTY, reason="again", now=T0 + timedelta(hours=3))


def test_orange_incident_needs_revisit_before_close(seeded, make_alert):
    with seeded.session() as s:
        incident = video_incident(s, make_alert)  # zone intrusion: high → orange
        assert incident.colour == "orange"
        dispatch(s, incident.id, T101, auto=True, now=T0)
        acknowledge(s, incident.id, T101, now=T0)
        resolve(s, incident.id, T101, result="done", now=T0)
        with pytest.raises(TransitionRefused, match="satisfaction must be 1..5"):
            evaluate(s, incident.id, T101, satisfaction=9, now=T0)
        evaluate(s, incident.id, T101, satisfaction=3, now=T0)
        with pytest.raises(TransitionRefused, match="must be revisited"):
            close(s, incident.id, T101, now=T0)


def test_colour_change_is_audited_and_raises_level(seeded, make_alert):
    with seeded.session() as s:
        incident = video_incident(s, make_alert)
        set_colour(s, incident.id, T101, colour="red", reason="多次入侵", now=T0)
        assert incident.colour == "red" and incident.handling_level == "county"
        [row] = [r for r in timeline(s, incident.id) if r.action == "set_colour"]
        assert row.detail == {"from": "orange", "to": "red", "reason": "多次入侵", "handling_level": "county"}
        with pytest.raises(TransitionRefused, match="viewer"):
            set_colour(s, incident.id, VIEWER, colour="blue", reason="x", now=T0)


def test_dispute_mediation_has_three_levels(seeded):
    with seeded.session() as s:
        result = submit_report(s, ReportIn(source="grid", title="邻里宅基地纠纷", category_code="dispute",
                                           jurisdiction_code="330381101201"), T101, now=T0)
        incident = result.incident
        assert incident.queue == "grid" and incident.mediation_level == 1
        escalate_mediation(s, incident.id, T101, reason="村调解未果", now=T0)
        escalate_mediation(s, incident.id, T101, reason="镇调解未果", now=T0)
        assert incident.mediation_level == 3 and incident.handling_level == "county"
        with pytest.raises(TransitionRefused, match="exhausted"):
            escalate_mediation(s, incident.id, T101, reason="x", now=T0)
