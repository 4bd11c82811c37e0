"""Device-fault work orders from ``device.status`` events, against real Valkey and a real database."""

import signal
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import delete, func, select

from command import EVENTS_STREAM, decode_event
from command.device_faults import DEVICE_FAULT_GROUP, STATE_KEY, DeviceFaultConsumer
from command.models import AuditEvent, Category, Incident, IncidentSource
from command.worker import AlertConsumer
from devices import HealthReport, publish_status

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
VILLAGE = "330381101201"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, seconds: float) -> None:
        self.at = T0 + timedelta(seconds=seconds)


def report(status: str, since_s: float, *, camera_id: str = "cam01", reason: str | None = None,
           last_frame_s: float | None = None) -> HealthReport:
    return HealthReport(
        camera_id=camera_id, camera_name="东门路口", jurisdiction_code=VILLAGE, status=status,
        reason=reason if reason is not None else {"offline": "30 s 无画面", "online": "画面正常"}.get(status, status),
        since=T0 + timedelta(seconds=since_s),
        last_frame_at=None if last_frame_s is None else T0 + timedelta(seconds=last_frame_s),
        checked_at=T0 + timedelta(seconds=since_s),
    )


@pytest.fixture()
def setup(seeded, redis_url):
    client = redis.Redis.from_url(redis_url)
    clock = Clock(T0)
    consumer = DeviceFaultConsumer(seeded, client, consumer_name="t1", clock=clock)
    consumer.ensure_group()
    yield seeded, client, clock, consumer
    client.close()


def publish(client, clock: Clock, at_s: float, rep: HealthReport, consumer: DeviceFaultConsumer) -> None:
    clock.set(at_s)
    publish_status(client, rep)
    while consumer.step():
        pass


def device_incidents(database) -> list[Incident]:
    with database.session() as s:
        return list(s.scalars(select(Incident).where(Incident.category_code == "device_fault").order_by(Incident.id)))


def incident_events(client) -> list[dict]:
    return [e for e in (decode_event(f) for _, f in client.xrange(EVENTS_STREAM)) if e["type"].startswith("incident.")]


def test_fault_shorter_than_grace_opens_nothing(setup):
    database, client, clock, consumer = setup
    publish(client, clock, 5, report("offline", 0), consumer)
    clock.set(299)
    assert consumer.tick() == 0
    publish(client, clock, 299.5, report("online", 299), consumer)
    clock.set(5000)
    assert consumer.tick() == 0
    assert device_incidents(database) == [] and incident_events(client) == []
    assert client.xpending(EVENTS_STREAM, DEVICE_FAULT_GROUP)["pending"] == 0


def test_fault_reaching_grace_opens_one_routed_work_order_and_redelivery_adds_nothing(setup):
    database, client, clock, consumer = setup
    publish(client, clock, 10, report("offline", 0), consumer)
    assert device_incidents(database) == []
    # Still faulty (another fault status) when the grace runs out: the episode began at 0.
    publish(client, clock, 320, report("degraded", 310, reason="画面冻结", last_frame_s=318), consumer)
    [incident] = device_incidents(database)
    assert incident.source == "device" and incident.status == "classified" and incident.is_open
    assert (incident.queue, incident.department, incident.severity) == ("department", "雪亮运维中心", "normal")
    assert incident.jurisdiction_code == VILLAGE and incident.camera_id == "cam01" and incident.camera_name == "东门路口"
    assert incident.title == "设备故障 · 东门路口: 图像异常: 画面冻结"
    assert T0.isoformat() in incident.description and "画面冻结" in incident.description
    with database.session() as s:
        category = s.get(Category, "device_fault")
        assert (category.name, category.police, category.skills) == ("设备故障", False, ["运维"])
        [source] = s.scalars(select(IncidentSource).where(IncidentSource.incident_id == incident.id)).all()
        assert source.kind == "device" and source.payload["reason"] == "画面冻结"
        assert source.payload["fault_since"] == T0.isoformat()
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.incident_id == incident.id).order_by(AuditEvent.id)).all()
        assert actions == ["receive", "classify"]
    [created] = incident_events(client)
    assert created["type"] == "incident.created" and created["payload"]["id"] == incident.id
    assert created["jurisdiction_code"] == VILLAGE and created["payload"]["category"] == "设备故障"

    # The producer sends the same event again, and a restarted consumer that lost its state
    # (and its acknowledgements) replays the whole stream: still one work order, one source.
    entries = client.xrange(EVENTS_STREAM)
    device_entries = [f for _, f in entries if decode_event(f)["type"] == "device.status"]
    client.xadd(EVENTS_STREAM, device_entries[-1])
    while consumer.step():
        pass
    assert consumer.stats.duplicates == 1 and len(incident_events(client)) == 1
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(IncidentSource).where(IncidentSource.kind == "device")) == 1
    client.delete(STATE_KEY)
    client.xgroup_setid(EVENTS_STREAM, DEVICE_FAULT_GROUP, "0")
    again = DeviceFaultConsumer(database, client, consumer_name="t2", clock=clock)
    while again.step():
        pass
    again.tick()
    assert len(device_incidents(database)) == 1 and again.stats.opened == 0 and again.stats.duplicates >= 1


def test_silent_camera_gets_its_work_order_from_the_tick_once_across_restarts(setup):
    database, client, clock, consumer = setup
    publish(client, clock, 1, report("auth_failed", 0, reason="401 Unauthorized"), consumer)
    clock.set(299)
    assert consumer.tick() == 0
    clock.set(300)
    assert consumer.tick() == 1
    [incident] = device_incidents(database)
    assert incident.title == "设备故障 · 东门路口: 认证失败: 401 Unauthorized"
    clock.set(900)
    assert consumer.tick() == 0
    restarted = DeviceFaultConsumer(database, client, consumer_name="t1", clock=clock)  # state from Redis
    assert restarted.tick() == 0
    assert len(device_incidents(database)) == 1


def test_recovery_is_on_the_timeline_and_a_new_fault_merges_into_the_open_work_order(setup):
    database, client, clock, consumer = setup
    publish(client, clock, 1, report("offline", 0), consumer)
    clock.set(300)
    consumer.tick()
    [incident] = device_incidents(database)
    # In the same episode, after the work order exists: merged at once.
    publish(client, clock, 350, report("no_signal", 350, reason="黑屏"), consumer)
    publish(client, clock, 400, report("online", 400, last_frame_s=400), consumer)
    online = [f for _, f in client.xrange(EVENTS_STREAM) if decode_event(f)["type"] == "device.status"][-1]
    client.xadd(EVENTS_STREAM, online)  # redelivered recovery: one timeline row
    while consumer.step():
        pass
    [after] = device_incidents(database)
    assert after.id == incident.id and after.status == "classified" and after.is_open, "recovery must not close it"
    assert after.source_count == 2
    with database.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.incident_id == incident.id).order_by(AuditEvent.id)).all()
    assert [r.action for r in rows] == ["receive", "classify", "merge", "device_online"]
    recovered = rows[-1]
    assert (recovered.actor, recovered.actor_role) == ("system", "system")
    assert recovered.detail["note"] == "设备恢复在线" and recovered.detail["since"] == (T0 + timedelta(seconds=400)).isoformat()
    kinds = [e["type"] for e in incident_events(client)]
    assert kinds == ["incident.created", "incident.updated", "incident.updated"]

    # A new fault episode while the work order still needs work: after the grace, merged, not a second one.
    publish(client, clock, 500, report("offline", 500), consumer)
    clock.set(799)
    consumer.tick()
    assert device_incidents(database)[0].source_count == 2
    clock.set(800)
    consumer.tick()
    [merged] = device_incidents(database)
    assert merged.id == incident.id and merged.source_count == 3


def test_resolved_work_order_is_not_reused(setup):
    database, client, clock, consumer = setup
    publish(client, clock, 400, report("offline", 0), consumer)
    [first] = device_incidents(database)
    with database.session() as s:
        s.get(Incident, first.id).status = "resolved"  # a maintainer repaired it (办结)
    publish(client, clock, 500, report("online", 500), consumer)
    publish(client, clock, 1000, report("offline", 600), consumer)
    second = device_incidents(database)[-1]
    assert len(device_incidents(database)) == 2 and second.id != first.id
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.incident_id == first.id,
                                                                            AuditEvent.action == "device_online")) == 0


def test_unknown_status_never_opens_a_work_order(setup):
    database, client, clock, consumer = setup
    publish(client, clock, 10, report("unknown", -100_000, reason="未巡检"), consumer)
    publish(client, clock, 20, report("offline", 20, camera_id="cam02"), consumer)
    publish(client, clock, 200, report("unknown", 200, camera_id="cam02", reason="分析已停止"), consumer)
    clock.set(100_000)
    assert consumer.tick() == 0
    assert device_incidents(database) == []


def test_database_without_the_category_gets_it(setup):
    database, client, clock, consumer = setup
    with database.session() as s:
        s.execute(delete(Category).where(Category.code == "device_fault"))  # a database from before this feature
    publish(client, clock, 301, report("offline", 0), consumer)
    [incident] = device_incidents(database)
    with database.session() as s:
        assert s.get(Category, "device_fault").department == "雪亮运维中心"


def test_malformed_status_event_is_skipped_and_acknowledged(setup):
    database, client, clock, consumer = setup
    client.xadd(EVENTS_STREAM, {"event": '{"id": "x", "type": "device.status", "payload": {"camera_id": "cam09"}}'})
    publish(client, clock, 301, report("offline", 0), consumer)
    assert consumer.stats.rejected == 1 and len(device_incidents(database)) == 1
    assert client.xpending(EVENTS_STREAM, DEVICE_FAULT_GROUP)["pending"] == 0


def test_worker_loop_serves_alerts_and_device_faults(setup, tmp_path, make_alert, jpeg):
    from command import publish_alert

    database, client, clock, faults = setup
    worker = AlertConsumer(database, client, tmp_path / "media", consumer_name="w", device_faults=faults,
                           device_poll_s=0.0, device_tick_s=0.0)
    worker.ensure_group()
    publish_alert(client, make_alert(), jpeg)
    clock.set(1)
    publish_status(client, report("offline", 0))
    worker.run_device_faults(time.monotonic())
    worker.step(block_ms=10)
    clock.set(301)
    worker.run_device_faults(time.monotonic())  # the tick
    assert worker.stats.created == 1 and len(device_incidents(database)) == 1
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 2


def test_command_run_opens_a_device_fault_work_order(seeded, redis_url, tmp_path):
    """Through the real ``xueliang command run`` process: devices' own publisher in, incident out."""
    from xueliang.runtime import spawn, stop

    client = redis.Redis.from_url(redis_url)
    log = tmp_path / "worker.log"
    proc = spawn([sys.executable, "-m", "xueliang.cli", "command", "run", "--database-url", seeded.url,
                  "--redis-url", redis_url, "--consumer", "w1", "--media-dir", str(tmp_path / "media"),
                  "--device-fault-grace", "2"], log_path=log)
    try:
        from command.models import Lease

        started_by = time.monotonic() + 120  # interpreter start-up takes seconds to a minute on a loaded box
        while True:  # the clock starts once the worker runs (it holds the timer lease, so it consumes device events)
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < started_by, "worker did not start within 120 s\n" + log.read_text()
            with seeded.session() as s:
                if s.scalar(select(Lease.holder).where(Lease.name == "sla-timers")) == "w1":
                    break
            time.sleep(0.2)
        now = datetime.now(UTC)
        publish_status(client, HealthReport(camera_id="cam03", camera_name="南站广场", jurisdiction_code=VILLAGE,
                                            status="no_signal", reason="蓝屏", since=now, checked_at=now))
        deadline = time.monotonic() + 15
        incident = None
        while incident is None:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no device-fault work order within 15 s\n" + log.read_text()
            time.sleep(0.2)
            with seeded.session() as s:
                incident = s.scalar(select(Incident).where(Incident.category_code == "device_fault"))
        assert incident.camera_id == "cam03" and incident.title == "设备故障 · 南站广场: 无信号: 蓝屏"
        assert incident.department == "雪亮运维中心"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()
    finally:
        stop(proc)
        client.close()
