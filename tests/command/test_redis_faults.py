"""Consumers survive Redis losing its data (a restart without the append-only file): NOGROUP
recreates the group and intake goes on, for every consumer (alerts and device faults)."""

from __future__ import annotations

import time

import redis
from sqlalchemy import func, select

from command import ALERTS_STREAM, CONSUMER_GROUP, publish_alert
from command.device_faults import DEVICE_FAULT_GROUP, DeviceFaultConsumer
from command.models import IncidentSource
from command.streams import ConsumerGroup, EVENTS_STREAM, is_missing_group
from command.worker import AlertConsumer


def _groups(client, stream: str) -> set[str]:
    return {g["name"].decode() for g in client.xinfo_groups(stream)}


def test_alert_and_device_consumers_recreate_their_groups_after_redis_lost_everything(seeded, redis_url, tmp_path,
                                                                                      make_alert, jpeg):
    client = redis.Redis.from_url(redis_url)
    faults = DeviceFaultConsumer(seeded, client, consumer_name="w-device-faults")
    worker = AlertConsumer(seeded, client, tmp_path / "media", consumer_name="w", device_faults=faults,
                           device_poll_s=0.0, device_tick_s=3600)
    worker.ensure_group()
    faults.ensure_group()
    before = [make_alert(camera_id=f"cam{i}") for i in range(3)]
    for alert in before:
        publish_alert(client, alert, jpeg)
    while worker.step(block_ms=10):
        pass
    client.flushall()  # what a Redis restarted without its data looks like to the consumers
    after = [make_alert(camera_id=f"cam{i}") for i in range(3, 8)]
    for alert in after:
        publish_alert(client, alert, jpeg)
    for _ in range(5):  # the worker's own calls, in its loop's order: reclaim/trim, device poll, intake
        worker.reclaim()
        worker.trim()
        worker.run_device_faults(time.monotonic())
        worker.step(block_ms=10)
    assert _groups(client, ALERTS_STREAM) == {CONSUMER_GROUP}
    assert DEVICE_FAULT_GROUP in _groups(client, EVENTS_STREAM)
    assert client.xpending(ALERTS_STREAM, CONSUMER_GROUP)["pending"] == 0
    with seeded.session() as s:
        refs = s.scalars(select(IncidentSource.ref)).all()
        assert sorted(refs) == sorted(a.alert_id for a in before + after)
        assert s.scalar(select(func.count()).select_from(IncidentSource)) == 8
    client.close()


def test_consumer_group_call_recreates_only_on_nogroup(redis_url):
    client = redis.Redis.from_url(redis_url)
    group = ConsumerGroup("s", "g")
    client.xadd("s", {"k": "v"})
    calls = []

    def read():
        calls.append(1)
        return client.xreadgroup("g", "c", {"s": ">"}, count=10)

    got = group.call(client, read)
    assert len(calls) == 2 and got[0][1][0][1] == {b"k": b"v"}  # NOGROUP, recreated from "0", read again
    try:
        group.call(client, lambda: client.execute_command("XADD", "s", "not-an-id", "k", "v"))
    except redis.ResponseError as exc:
        assert not is_missing_group(exc)
    else:
        raise AssertionError("a non-NOGROUP error must propagate")
    client.close()
