"""The transactional outbox (no commit without its push, no push twice), the timer lease (one runner,
taken over after expiry) and the atomic source counter — real Valkey, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import redis
from sqlalchemy import func, select

from command import EVENTS_STREAM, decode_event, intake_alerts
from command.incidents import merge_source
from command.lease import Lease
from command.models import Incident, OutboxEvent, utcnow
from command.outbox import Outbox, stage
from command.streams import event_entry
from command.workflow import Actor


def _stream_events(client) -> list[dict]:
    return [decode_event(f) for _, f in client.xrange(EVENTS_STREAM)]


def test_events_committed_but_never_pushed_are_relayed_by_the_sweep_exactly_once(seeded, redis_url, make_alert):
    client = redis.Redis.from_url(redis_url)
    outbox = Outbox(seeded, client, sweep_after=timedelta(0))
    with seeded.session() as s:
        [result] = intake_alerts(s, [(make_alert(), None)])
        entry = event_entry("incident.created", result.incident.jurisdiction_code, {"id": result.incident.id})
        rows = stage(s, [entry])
    # the writer "crashed" here: committed, nothing on the stream yet
    assert _stream_events(client) == []
    assert outbox.sweep() == 1
    assert outbox.sweep() == 0  # marked sent
    outbox.push(client, rows)  # the crashed writer's late push (or a second sweeper) is dropped by event id
    events = _stream_events(client)
    assert [e["id"] for e in events] == [rows[0].event_id] and events[0]["payload"] == {"id": result.incident.id}
    with seeded.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.sent_at.is_(None))) == 0
    client.close()


def test_a_rolled_back_transaction_pushes_nothing(seeded, redis_url, make_alert):
    client = redis.Redis.from_url(redis_url)
    try:
        with seeded.session() as s:
            [result] = intake_alerts(s, [(make_alert(), None)])
            stage(s, [event_entry("incident.created", result.incident.jurisdiction_code, {"id": result.incident.id})])
            raise RuntimeError("the transaction fails after staging")
    except RuntimeError:
        pass
    assert Outbox(seeded, client, sweep_after=timedelta(0)).sweep() == 0
    assert _stream_events(client) == []
    client.close()


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


def test_one_lease_holder_at_a_time_and_takeover_after_expiry(seeded):
    clock = Clock()
    a = Lease(seeded, "sla-timers", "worker-a", ttl=timedelta(seconds=4), clock=clock)
    b = Lease(seeded, "sla-timers", "worker-b", ttl=timedelta(seconds=4), clock=clock)
    assert a.try_hold() and not b.try_hold()
    clock.now += timedelta(seconds=3)
    assert a.try_hold() and not b.try_hold()  # renewed: still a's
    clock.now += timedelta(seconds=4.5)  # a stopped renewing (killed)
    assert b.try_hold() and b.held
    with seeded.session() as s:  # the fence: a stalled former holder cannot run guarded work any more
        assert not a.renew_in(s)
    assert not a.try_hold()
    b.release()
    assert a.try_hold()  # a clean stop hands over at once


def test_two_workers_merging_into_one_incident_both_count(seeded, make_alert):
    alert = make_alert()
    with seeded.session() as s:
        [result] = intake_alerts(s, [(alert, None)])
        incident_id = result.incident.id
    actor = Actor.system("t")
    first, second = seeded.sessionmaker(), seeded.sessionmaker()
    try:
        one, two = first.get(Incident, incident_id), second.get(Incident, incident_id)
        assert one.source_count == two.source_count == 1  # both read 1 before either writes
        now = utcnow()
        merge_source(first, one, actor=actor, kind="video", ref="extra-1", now=now)
        first.commit()
        merge_source(second, two, actor=actor, kind="video", ref="extra-2", now=now)
        second.commit()
    finally:
        first.close()
        second.close()
    with seeded.session() as s:
        assert s.get(Incident, incident_id).source_count == 3


def test_several_merges_in_one_batch_add_up(seeded, make_alert):
    first = make_alert()
    with seeded.session() as s:
        intake_alerts(s, [(first, None)])
    later = [make_alert(ts=first.ts + timedelta(seconds=i)) for i in range(1, 5)]
    with seeded.session() as s:
        results = intake_alerts(s, [(a, None) for a in later])
        assert {r.incident.id for r in results} == {1} and results[-1].incident.source_count == 5


def test_pushed_events_are_marked_sent_once_redis_confirms_them_on_disk(seeded, tmp_path, make_alert):
    from xueliang.runtime import EmbeddedRedis

    with EmbeddedRedis(tmp_path / "redis", appendfsync="everysec") as server:  # with its AOF: WAITAOF really waits
        client = redis.Redis.from_url(server.url)
        outbox = Outbox(seeded, client)
        with seeded.session() as s:
            [result] = intake_alerts(s, [(make_alert(), None)])
            rows = stage(s, [event_entry("incident.created", result.incident.jurisdiction_code, {"id": result.incident.id})])
        assert outbox.relay(rows) == 1
        with seeded.session() as s:
            assert s.get(OutboxEvent, rows[0].id).sent_at is None  # pushed, not yet known to be on disk
        assert outbox.confirm() == 1 and outbox.confirm() == 0
        with seeded.session() as s:
            assert s.get(OutboxEvent, rows[0].id).sent_at is not None
        client.close()
