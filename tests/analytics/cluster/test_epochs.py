"""Epochs and the persisted assignment against real Valkey; the intake's stale-epoch rejection on real SQLite."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import redis
from sqlalchemy import select

from analytics.cluster.store import AssignmentStore
from command import EPOCHS_KEY, AlertIn, parse_epochs, publish_alert, stale_alerts
from command.db import open_database
from command.models import IncidentSource
from command.worker import DEAD_LETTER_STREAM, AlertConsumer


def _alert(camera: str, epoch: int | None, ts: float) -> AlertIn:
    return AlertIn(alert_id=uuid.uuid4().hex, camera_id=camera, camera_name=camera, jurisdiction_code="330381101201",
                   rule_id="walkway", rule_kind="zone_intrusion", object_class="person", confidence=0.8,
                   ts=datetime.fromtimestamp(ts, UTC), frame_width=480, frame_height=360,
                   dedup_key=f"{camera}:{uuid.uuid4().hex[:6]}", epoch=epoch)


def test_store_gives_fresh_epochs_only_to_moved_cameras_and_keeps_their_history(redis_url):
    client = redis.Redis.from_url(redis_url)
    store = AssignmentStore(client)
    first = store.apply({"a": ("s1", "n1", "{}"), "b": ("s1", "n1", "{}"), "c": ("s2", "n2", "{}")}, [], {}, {"a", "b", "c"})
    assert sorted(x.epoch for x in first.values()) == [1, 2, 3]
    assert store.version("s1") == 1 and store.version("s2") == 1
    current = store.load()
    assert {c: (a.shard, a.epoch) for c, a in current.items()} == {c: (a.shard, a.epoch) for c, a in first.items()}
    # c moves to s1 (new epoch); b only changes its camera config (same epoch); a is removed from the registry.
    second = store.apply({"c": ("s1", "n1", "{}"), "b": ("s1", "n1", '{"x": 1}')}, ["a"], current, {"c"})
    assert second["c"].epoch == 4 and second["b"].epoch == first["b"].epoch
    assert set(store.shard_cameras("s1")) == {"b", "c"} and store.shard_cameras("s2") == {}
    assert store.version("s2") == 2
    history = parse_epochs(client.hget(EPOCHS_KEY, "c"))
    assert [e for e, _ in history] == [first["c"].epoch, 4] and history[0][1] <= history[1][1]
    assert client.hget(EPOCHS_KEY, "a") is not None  # a removed camera's epoch still fences its last analyser
    client.close()


def test_intake_rejects_an_alert_raised_under_a_superseded_epoch(redis_url, tmp_path):
    client = redis.Redis.from_url(redis_url)
    moved_at = time.time() - 10
    client.hset(EPOCHS_KEY, "cam1", json.dumps([[3, moved_at - 100], [7, moved_at]]))
    stale = _alert("cam1", 3, moved_at + 5)  # old shard, after the move: refused
    late = _alert("cam1", 3, moved_at - 5)  # old shard, before the move, read late: counts
    current = _alert("cam1", 7, moved_at + 5)
    single_box = _alert("cam1", None, moved_at + 5)  # no epoch: the single-box worker
    unmanaged = _alert("cam9", 1, moved_at + 5)  # a camera the cluster does not manage
    assert stale_alerts(client, [stale, late, current, single_box, unmanaged]) == {stale.alert_id: 7}

    database = open_database(f"sqlite:///{tmp_path / 'c.db'}", upgrade=True)
    consumer = AlertConsumer(database, client, tmp_path / "media", consumer_name="t")
    consumer.ensure_group()
    for a in (stale, late, current, single_box, unmanaged):
        publish_alert(client, a, b"")
    while consumer.step(block_ms=100):
        pass
    with database.session() as s:
        refs = set(s.scalars(select(IncidentSource.ref)))
    assert refs == {late.alert_id, current.alert_id, single_box.alert_id, unmanaged.alert_id}
    (_, dead), = client.xrange(DEAD_LETTER_STREAM)
    assert json.loads(dead[b"alert"])["alert_id"] == stale.alert_id
    assert dead[b"reason"].decode().startswith("stale epoch 3 < 7: camera cam1")
    database.dispose()
    client.close()
