"""Alerts survive a Redis outage and a crash of the analytics worker: the spool on local disk
keeps them, in order, and they reach ``xl:alerts`` once Redis is back (real Valkey, killed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from analytics.alerts import AlertPublisher
from analytics.spool import HEADER, AlertSpool, SpoolInUse
from command import AlertIn
from xueliang.runtime import EmbeddedRedis


def _alert(n: int) -> AlertIn:
    return AlertIn(alert_id=f"a{n:05d}-{uuid.uuid4().hex[:6]}", camera_id="c1", camera_name="测试",
                   jurisdiction_code="330381101", rule_id="r1", rule_kind="zone_intrusion", object_class="person",
                   confidence=0.9, ts=datetime.now(UTC), boxes=[[1, 2, 3, 4]], frame_width=480, frame_height=360, dedup_key="c1:r1:1")


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


def _published_ids(url: str) -> list[str]:
    client = redis.Redis.from_url(url)
    try:
        return [json.loads(f[b"alert"])["alert_id"] for _, f in client.xrange("xl:alerts")]
    finally:
        client.close()


def test_redis_outage_spools_alerts_to_disk_and_replays_them_in_order(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    spool = AlertSpool(tmp_path / "spool")
    publisher = AlertPublisher(_client(server.url), max_pending=50, spool=spool)
    try:
        alerts = [_alert(i) for i in range(400)]
        for alert in alerts[:100]:
            publisher.submit(alert, b"\xff\xd8before")
        assert publisher.flush(10)
        port = server.port
        server.kill()
        t = time.monotonic()
        for alert in alerts[100:]:
            publisher.submit(alert, b"\xff\xd8during")
        assert time.monotonic() - t < 2.0, "submit must not wait for Redis"
        time.sleep(1.0)
        assert publisher.pending == 300 and len(spool) == 300
        assert spool.path.stat().st_size > 300 * HEADER.size  # on disk, not in memory
        server = EmbeddedRedis(tmp_path / "redis", port=port, persist=False).start()  # empty: a restart without AOF
        assert publisher.flush(40), f"{publisher.pending} alerts still waiting"
        assert spool.path.stat().st_size == 0
        ids = _published_ids(server.url)
        assert ids == [a.alert_id for a in alerts[100:]], "lost, duplicated or reordered during the replay"
        entry = redis.Redis.from_url(server.url).xrange("xl:alerts", count=1)[0][1]
        assert entry[b"snapshot"] == b"\xff\xd8during"
        assert publisher.dropped == 0
    finally:
        publisher.close(timeout=1)
        server.stop()


CRASHING_WORKER = textwrap.dedent("""
    import os, sys, time, uuid
    from datetime import UTC, datetime
    from pathlib import Path
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from analytics.alerts import AlertPublisher
    from analytics.spool import AlertSpool
    from command import AlertIn

    down = redis.Redis(host="127.0.0.1", port=int(sys.argv[2]), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    publisher = AlertPublisher(down, spool=AlertSpool(Path(sys.argv[1])))
    for n in range(120):
        publisher.submit(AlertIn(alert_id=f"crash-{n:04d}", camera_id="c1", camera_name="x", jurisdiction_code="330381101",
                                 rule_id="r", rule_kind="loitering", object_class="person", confidence=0.5,
                                 ts=datetime.now(UTC), boxes=[], frame_width=480, frame_height=360, dedup_key="c1:r"), b"jpeg")
    while publisher.spooled < 120:
        time.sleep(0.05)
    print("spooled", flush=True)
    time.sleep(60)  # killed here
""")


def test_alerts_spooled_by_a_worker_killed_during_the_outage_are_published_by_the_next_one(tmp_path: Path, redis_url: str) -> None:
    from xueliang.runtime import free_port

    proc = subprocess.Popen([sys.executable, "-c", CRASHING_WORKER, str(tmp_path / "spool"), str(free_port())],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout.readline().strip() == "spooled"
        try:  # the dead worker still holds the spool: a second one is refused, not interleaved
            AlertSpool(tmp_path / "spool")
        except SpoolInUse as exc:
            assert "another process" in str(exc)
        else:
            raise AssertionError("two processes must not share a spool")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with open(tmp_path / "spool" / "alerts.spool", "ab") as torn:  # a record cut short by the crash
        torn.write(HEADER.pack(b"XLA1", 500, 0) + b"{partial")
    publisher = AlertPublisher(_client(redis_url), spool=AlertSpool(tmp_path / "spool"))
    try:
        assert publisher.flush(20)
    finally:
        publisher.close(timeout=1)
    assert _published_ids(redis_url) == [f"crash-{n:04d}" for n in range(120)]
