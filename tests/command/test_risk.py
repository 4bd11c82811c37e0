from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from command import Actor, TransitionRefused
from command.models import AuditEvent
from command.risk import create_risk_subject, due_revisits, record_risk_revisit, set_risk_colour

T0 = datetime(2026, 11, 24, 8, tzinfo=UTC)
V = Actor("v101201", "village_operator", "330381101201")


def test_colour_sets_revisit_frequency_and_level_and_is_audited(seeded):
    with seeded.session() as s:
        pond = create_risk_subject(s, V, kind="place", name="前山水库", jurisdiction_code="330381101201", now=T0)
        person = create_risk_subject(s, V, kind="person", name="某重点人员", jurisdiction_code="330381101201",
                                     colour="yellow", now=T0)
        assert pond.next_revisit_at == T0 + timedelta(days=30) and pond.handling_level == "village"
        set_risk_colour(s, person.id, V, colour="red", reason="扬言报复", now=T0 + timedelta(hours=1))
        assert person.handling_level == "county" and person.next_revisit_at == T0 + timedelta(hours=1, days=1)
        with pytest.raises(TransitionRefused, match="reason is required"):
            set_risk_colour(s, pond.id, V, colour="orange", reason="", now=T0)
        with pytest.raises(TransitionRefused, match="outside"):
            set_risk_colour(s, pond.id, Actor("t102", "township_operator", "330381102"), colour="orange", reason="x", now=T0)
        assert due_revisits(s, "330381101", now=T0 + timedelta(days=2)) == [person]
        assert due_revisits(s, "330381101", now=T0 + timedelta(days=31)) == [person, pond]  # red first
        record_risk_revisit(s, person.id, V, outcome="情绪稳定", now=T0 + timedelta(days=2))
        assert due_revisits(s, "330381101", now=T0 + timedelta(days=2)) == []
        change = s.scalars(select(AuditEvent).where(AuditEvent.action == "set_colour")).one()
        assert (change.actor, change.subject_type, change.detail["from"], change.detail["to"]) == ("v101201", "risk_subject", "yellow", "red")
