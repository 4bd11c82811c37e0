from datetime import UTC, datetime, timedelta

from command import IncidentFilter, NotFound, get_incident, incident_payload, intake_alerts, list_incidents
from command.intake import ReportIn, submit_report
from command.workflow import Actor

T0 = datetime(2026, 11, 24, 8, tzinfo=UTC)


def test_scoped_lists_and_keyset_pages(seeded, make_alert):
    codes = ["330381101201", "330381101201002", "330381101202", "330381102201", "330381101"]
    with seeded.session() as s:
        for i, code in enumerate(codes):
            intake_alerts(s, [(make_alert(camera_id=f"c{i}", jurisdiction_code=code, ts=T0), None)], now=T0 + timedelta(seconds=i))
        submit_report(s, ReportIn(source="citizen", title="噪音", category_code="noise", jurisdiction_code="330381101201"),
                      Actor.system(), now=T0)

        def ids(**kw):
            return [i.jurisdiction_code for i in list_incidents(s, IncidentFilter(**kw), limit=50)]

        assert len(ids(scope="330381")) == 6 and len(ids()) == 6
        assert sorted(ids(scope="330381101")) == sorted(["330381101201", "330381101201", "330381101201002", "330381101202", "330381101"])
        assert sorted(ids(scope="330381101201")) == ["330381101201", "330381101201", "330381101201002"]
        assert ids(scope="330381101201002") == ["330381101201002"]
        assert ids(scope="330381102") == ["330381102201"]
        assert sorted(ids(scope="330381", jurisdiction_code="330381101201")) == ["330381101201", "330381101201", "330381101201002"]
        assert ids(scope="330381102", jurisdiction_code="330381101201") == []  # a subtree outside the scope: nothing
        assert len(ids(scope="330381", colour="orange", open_only=True)) == 5
        assert len(ids(scope="330381", status="classified")) == 6 and ids(status="dispatched") == []
        assert ids(camera_id="c3") == ["330381102201"]
        assert ids(assigned_to=1) == []  # nothing dispatched yet
        first = list_incidents(s, IncidentFilter(scope="330381"), limit=4)
        rest = list_incidents(s, IncidentFilter(scope="330381"), limit=4, before_id=first[-1].id)
        assert [i.id for i in first + rest] == sorted((i.id for i in first + rest), reverse=True) and len(rest) == 2
        incident = first[0]
        assert get_incident(s, incident.id, scope=incident.jurisdiction_code[:9]).id == incident.id
        try:
            get_incident(s, incident.id, scope="330381113")
            raise AssertionError("out-of-scope incident returned")
        except NotFound as exc:
            assert "330381113" in str(exc)
        payload = incident_payload(s, incident)
        assert payload["jurisdiction_name"] and payload["status_label"]
