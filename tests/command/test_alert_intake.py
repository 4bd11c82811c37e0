"""Video alert intake in batches (``intake_alerts``): what the bulk path stores and returns."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from command import intake_alerts, timeline
from command.models import Incident, IncidentSource

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
COLUMNS = [c.key for c in Incident.__table__.columns]


def test_returned_incidents_equal_what_the_database_holds(seeded, make_alert):
    alerts = [(make_alert(camera_id=f"cam{i}", camera_name=f"路口{i}", ts=T0 + timedelta(seconds=i),
                          rule_kind=("zone_intrusion", "fall", "no-such-kind")[i % 3]), f"snapshots/20261124/a{i}.jpg")
              for i in range(6)]
    with seeded.session() as s:
        results = intake_alerts(s, alerts, now=T0 + timedelta(minutes=1))
        assert all(r.created for r in results) and len({r.incident.id for r in results}) == 6
        assert not s.dirty and not s.new  # nothing left to write: the objects are clean and persistent
        returned = {r.incident.id: {k: getattr(r.incident, k) for k in COLUMNS} for r in results}
        assert all(r.incident.assignments == [] for r in results)
    with seeded.session() as s:
        stored = {i.id: {k: getattr(i, k) for k in COLUMNS} for i in s.scalars(select(Incident))}
    assert returned == stored
    assert {row["category_code"] for row in stored.values()} == {"zone_intrusion", "fall", "other"}
    assert all(row["created_at"].tzinfo is UTC and row["resolve_deadline"] > row["created_at"] for row in stored.values())


def test_a_later_batch_merges_into_the_stored_incident_and_its_timeline(seeded, make_alert):
    first = make_alert(ts=T0)
    with seeded.session() as s:
        [opened] = intake_alerts(s, [(first, None)], now=T0)
        incident = opened.incident
        assert [src.ref for src in incident.sources] == [first.alert_id]  # loaded before the merge
        second, third = make_alert(ts=T0 + timedelta(minutes=2)), make_alert(ts=T0 + timedelta(minutes=4))
        results = intake_alerts(s, [(second, "snapshots/20261124/b.jpg"), (third, None), (first, None)],
                                now=T0 + timedelta(minutes=5))
        assert [(r.incident.id, r.created, r.duplicate) for r in results] == [
            (incident.id, False, False), (incident.id, False, False), (incident.id, False, True)]
        assert incident.source_count == 3 and incident.last_source_at == third.ts
        assert incident.snapshot_path == "snapshots/20261124/b.jpg"  # the first snapshot the incident gets
        assert [src.ref for src in incident.sources] == [first.alert_id, second.alert_id, third.alert_id]
    with seeded.session() as s:
        stored = s.get(Incident, incident.id)
        assert (stored.source_count, stored.updated_at) == (3, T0 + timedelta(minutes=5))
        assert s.scalars(select(IncidentSource.ref).where(IncidentSource.incident_id == incident.id)
                         .order_by(IncidentSource.id)).all() == [first.alert_id, second.alert_id, third.alert_id]
        rows = timeline(s, incident.id)
        assert [r.action for r in rows] == ["receive", "classify", "merge", "merge"]
        assert [r.detail["ref"] for r in rows[2:]] == [second.alert_id, third.alert_id]
        assert all((r.from_status, r.to_status, r.actor) == ("classified", "classified", "system") for r in rows[2:])


def test_snapshots_are_written_once_and_a_leftover_is_replaced_whole(tmp_path, jpeg):
    from command.media import snapshot_relpath, store_snapshots

    new = snapshot_relpath("a1", T0, jpeg)
    left = snapshot_relpath("a2", T0, jpeg)
    (tmp_path / left).parent.mkdir(parents=True)
    (tmp_path / left).write_bytes(jpeg[:10])  # what a crash mid-write leaves behind
    store_snapshots(tmp_path, [(new, jpeg), (left, jpeg), (new, jpeg)])  # a1 twice: redelivered in one batch
    assert (tmp_path / new).read_bytes() == jpeg and (tmp_path / left).read_bytes() == jpeg
    assert sorted(p.name for p in (tmp_path / new).parent.iterdir()) == ["a1.jpg", "a2.jpg"]  # no temporary files left
