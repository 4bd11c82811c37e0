"""Actions serialised by the incident version (compare-and-set), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from command import (
    Actor,
    Assignment,
    AuditEvent,
    Incident,
    TransitionRefused,
    intake_alerts,
    run_timers,
)
from command.lifecycle import acknowledge, close, dispatch, evaluate, resolve, revisit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T101 = Actor("t101", "township_operator", "330381101")


def _incident(db, make_alert) -> int:
    with db.session() as s:
        [r] = intake_alerts(s, [(make_alert(ts=T0), None)], now=T0)
        return r.incident.id


def _count(db, model, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_two_sessions_that_read_the_same_version_give_one_dispatch(seeded, make_alert) -> None:
    incident_id = _incident(seeded, make_alert)
    first, second = seeded.sessionmaker(), seeded.sessionmaker()
    try:
        seen = [first.get(Incident, incident_id), second.get(Incident, incident_id)]  # held: the identity map is weak
        assert [i.version for i in seen] == [0, 0]
        dispatch(first, incident_id, T101, auto=True, now=T0)
        first.commit()
        with pytest.raises(TransitionRefused) as refused:
            dispatch(second, incident_id, T101, auto=True, now=T0)
        assert refused.value.kind == "conflict" and refused.value.reason == "已被他人处理"
        second.rollback()
    finally:
        first.close()
        second.close()
    assert _count(seeded, Assignment, Assignment.incident_id == incident_id) == 1
    assert _count(seeded, AuditEvent, AuditEvent.incident_id == incident_id, AuditEvent.action == "dispatch") == 1


def test_concurrent_closes_in_threads_give_one_close(seeded, make_alert) -> None:
    incident_id = _incident(seeded, make_alert)
    with seeded.session() as s:
        dispatch(s, incident_id, T101, auto=True, now=T0)
        acknowledge(s, incident_id, T101, now=T0 + timedelta(minutes=1))
        resolve(s, incident_id, T101, result="已劝离", now=T0 + timedelta(minutes=5))
        evaluate(s, incident_id, T101, satisfaction=5, now=T0 + timedelta(minutes=6))
        revisit(s, incident_id, T101, outcome="群众满意", satisfied=True, now=T0 + timedelta(minutes=6))
    sessions = [seeded.sessionmaker() for _ in range(4)]
    seen = [s.get(Incident, incident_id) for s in sessions]  # every session has read it before any acts (held)
    assert len({i.version for i in seen}) == 1
    barrier = threading.Barrier(len(sessions))
    outcomes: list[str] = []

    def act(s) -> None:
        barrier.wait()
        try:
            close(s, incident_id, T101, now=T0 + timedelta(minutes=7))
            s.commit()
            outcomes.append("closed")
        except TransitionRefused as exc:
            s.rollback()
            outcomes.append(exc.kind)
        finally:
            s.close()

    threads = [threading.Thread(target=act, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["closed", "conflict", "conflict", "conflict"]
    assert _count(seeded, AuditEvent, AuditEvent.incident_id == incident_id, AuditEvent.action == "close") == 1


def test_ack_timer_escalates_through_the_transition_table(seeded, make_alert) -> None:
    incident_id = _incident(seeded, make_alert)
    with seeded.session() as s:
        dispatch(s, incident_id, T101, auto=True, now=T0)
        for minutes in (16, 32, 48):
            run_timers(s, now=T0 + timedelta(minutes=minutes))
        incident = s.get(Incident, incident_id)
        assert incident.status == "escalated" and incident.escalation_count == 1 and incident.handling_level == "county"
        escalations = [e for e in s.scalars(select(AuditEvent).where(AuditEvent.incident_id == incident_id,
                                                                     AuditEvent.action == "escalate"))]
        assert [(e.from_status, e.to_status, e.detail["automatic"]) for e in escalations] == [("dispatched", "escalated", True)]
