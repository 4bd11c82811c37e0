"""The analytics tier on a real local multi-node Ray cluster (head + 2 analytics nodes, later a third)
against the real GStreamer RTSP sample server, real Valkey and the real command intake on SQLite.

One scenario (a cluster takes ~10 s to start on this box): 12 cameras analysed by exactly one
shard each; people walking in the sample become incidents; ``remove_node`` of the node holding
6 of them → those 6 (and only those) resume on the survivor and raise alerts again within the
bound; a new node → rebalanced by moving about its fair share; a shard paused past its lease
(SIGSTOP, as a partitioned or stalled process) loses its cameras to a newer epoch, and an alert
carrying its stale epoch is dead-lettered by the intake while the current epoch's is accepted.
As the single-box worker does, the shards publish ``device.status`` of their cameras, and their
evidence clips (written on the node) reach the central media directory, named so by the alerts.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

ray = pytest.importorskip("ray", reason="Ray is the optional extra xueliang[cluster] (scripts/setup.sh installs it)")

from analytics.cluster import actors  # noqa: E402
from analytics.cluster.controller import ControllerConfig  # noqa: E402
from command import AlertIn, publish_alert  # noqa: E402
from command.db import open_database  # noqa: E402
from command.models import IncidentSource  # noqa: E402
from command.worker import DEAD_LETTER_STREAM, AlertConsumer  # noqa: E402
from tests.analytics.test_worker import FACADE, device_statuses, write_cameras  # noqa: E402
from xueliang.settings import REPO_ROOT  # noqa: E402

FAILOVER_BOUND_S = 30.0
LEASE_S = 4.0
NODE_ARGS = {"num_cpus": 1, "object_store_memory": 100 * 1024**2}


@pytest.fixture()
def ray_cluster():
    from ray.cluster_utils import Cluster

    try:
        cluster = Cluster(initialize_head=True, head_node_args={
            **NODE_ARGS, "include_dashboard": False,
            # A killed raylet is declared dead after ~3 s instead of the default ~15 s (docs/cluster.md).
            "_system_config": {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}})
        workers = [cluster.add_node(**NODE_ARGS, resources={"xl_analytics": 1}) for _ in range(2)]
        ray.init(address=cluster.address, namespace=actors.NAMESPACE, logging_level="warning", log_to_driver=False)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Ray cannot start a local cluster here: {exc}")
    try:
        yield cluster, workers
    finally:
        try:
            actors.stop()
        finally:
            ray.shutdown()
            cluster.shutdown()


def _poll(predicate, timeout: float, what: str, interval: float = 0.5):
    value = actors.wait_for(predicate, timeout, interval)
    assert value, f"not within {timeout:.0f} s: {what}"
    return value


def _alerts(client: redis.Redis) -> list[dict]:
    return [json.loads(f[b"alert"]) for _, f in client.xrange("xl:alerts")]


def test_cluster_failover_rebalance_and_stale_epoch(ray_cluster, rtsp_server, redis_url, tmp_path: Path):
    cluster, (n1, n2) = ray_cluster
    cams = {f"c{i:02d}": rtsp_server.url(f"cam{i % 4 + 1:02d}") for i in range(12)}
    cameras_file = write_cameras(tmp_path / "cameras.yaml", cams)
    cameras_file.write_text(cameras_file.read_text().replace("fps: 5", "fps: 2"), encoding="utf-8")
    client = redis.Redis.from_url(redis_url)
    database = open_database(f"sqlite:///{tmp_path / 'command.db'}", upgrade=True)
    consumer = AlertConsumer(database, client, tmp_path / "media", consumer_name="t")
    consumer.ensure_group()
    config = ControllerConfig(cameras_file=str(cameras_file), redis_url=redis_url, media_dir=str(tmp_path / "media"),
                              model_path=str(REPO_ROOT / "models" / "yolov8n.onnx"), lease_s=LEASE_S, tick_s=0.5)
    ctl = actors.start(config)

    def views() -> dict[str, dict]:
        return ray.get(ctl.shard_status.remote())

    def holders() -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for sid, v in views().items():
            for cid in v.get("epochs", {}):
                out.setdefault(cid, []).append(sid)
        return out

    def analysing(cids, on_node: str | None = None, after: dict[str, int] | None = None) -> bool:
        """Every camera of ``cids`` analysed (frames counted) by a shard (on ``on_node``), beyond ``after``."""
        seen = {}
        for v in views().values():
            if on_node is not None and v.get("node") != on_node:
                continue
            seen.update({c: n for c, n in v.get("frames", {}).items() if n > (after or {}).get(c, 0)})
        return all(c in seen for c in cids)

    # 1. Every camera analysed by exactly one shard, split 6/6 over the two analytics nodes.
    t0 = time.monotonic()
    _poll(lambda: analysing(cams), 120, "all 12 cameras analysed")
    started_s = time.monotonic() - t0
    held = holders()
    assert sorted(held) == sorted(cams) and all(len(s) == 1 for s in held.values()), held
    status = ray.get(ctl.status.remote())
    by_node: dict[str, set[str]] = {}
    for cid, a in status["assignment"].items():
        by_node.setdefault(a["node"], set()).add(cid)
    assert sorted(len(v) for v in by_node.values()) == [6, 6], by_node
    assert set(by_node) == {n1.node_id, n2.node_id}

    # 2. People walking in the sample → alerts stamped with the camera's epoch → incidents.
    def incidents() -> int:
        consumer.step(block_ms=200)
        with database.session() as s:
            return s.scalar(select(func.count()).select_from(IncidentSource))

    _poll(incidents, 60, "an incident from a person walking in front of a camera")
    first = _alerts(client)
    assert first and all(a["epoch"] == status["assignment"][a["camera_id"]]["epoch"] for a in first
                         if a["camera_id"] in status["assignment"])

    # 2b. Device health from the shards: every camera online (as `analytics run` publishes it).
    _poll(lambda: {c for c, p in device_statuses(client).items() if p["status"] == "online"} >= set(cams), 60,
          "device.status online for every camera")

    # 3. Node loss: the 6 cameras of n2 (and only they) resume on n1 and raise alerts again.
    lost = by_node[n2.node_id]
    before = status["assignment"]
    removed_at, removed_wall = time.monotonic(), time.time()
    cluster.remove_node(n2)
    _poll(lambda: analysing(lost, on_node=n1.node_id), FAILOVER_BOUND_S, "the lost node's cameras analysed on n1")
    resumed_s = time.monotonic() - removed_at
    after = ray.get(ctl.status.remote())["assignment"]
    moved = {c for c in cams if after[c]["shard"] != before[c]["shard"]}
    assert moved == lost, (moved, lost)
    assert all(after[c]["epoch"] > before[c]["epoch"] for c in lost)
    assert all(after[c]["epoch"] == before[c]["epoch"] for c in set(cams) - lost)

    def realerted() -> set[str]:
        return {a["camera_id"] for a in _alerts(client) if a["camera_id"] in lost
                and a["epoch"] == after[a["camera_id"]]["epoch"] and _ts(a) >= removed_wall}

    _poll(lambda: realerted() == lost, FAILOVER_BOUND_S - (time.monotonic() - removed_at) + 1,
          "alerts again from every camera of the lost node")
    realerted_s = time.monotonic() - removed_at
    held = holders()
    assert all(len(held.get(c, [])) == 1 for c in cams), held

    # 4. A new node: about its fair share (6 of 12) moves to it, nothing moves between the old ones' shards' nodes.
    n3 = cluster.add_node(**NODE_ARGS, resources={"xl_analytics": 1})

    def on_n3() -> set[str]:
        return {c for c, a in ray.get(ctl.status.remote())["assignment"].items() if a["node"] == n3.node_id}

    _poll(lambda: len(on_n3()) >= 5, 90, "cameras placed on the new node")
    time.sleep(2 * config.tick_s)
    grown = ray.get(ctl.status.remote())["assignment"]
    node_moves = {c for c in cams if grown[c]["node"] != after[c]["node"]}
    assert node_moves == on_n3() and 5 <= len(node_moves) <= 6, node_moves
    _poll(lambda: analysing(node_moves, on_node=n3.node_id), 60, "moved cameras analysed on the new node")

    # 4b. A registry edit reaches only the owning shards: c00's zone moves (rules swapped in place, same
    # epoch), c11 is removed, c12 added; no other camera is restarted (frame counters keep counting).
    frames0 = {c: n for v in views().values() for c, n in v.get("frames", {}).items()}
    epochs0 = ray.get(ctl.status.remote())["assignment"]
    cams = {**{k: v for k, v in cams.items() if k != "c11"}, "c12": rtsp_server.url("cam01")}
    write_cameras(cameras_file, cams, {"c00": FACADE})
    cameras_file.write_text(cameras_file.read_text().replace("fps: 5", "fps: 2"), encoding="utf-8")
    _poll(lambda: analysing({"c12"}) and "c11" not in holders(), 30, "c12 analysed and c11 dropped")
    frames1 = {c: n for v in views().values() for c, n in v.get("frames", {}).items()}
    assert all(frames1[c] >= frames0[c] for c in cams if c != "c12"), (frames0, frames1)
    epochs1 = ray.get(ctl.status.remote())["assignment"]
    assert "c11" not in epochs1 and epochs1["c00"]["epoch"] == epochs0["c00"]["epoch"]
    assert all(epochs1[c] == epochs0[c] for c in cams if c != "c12")

    # 5. A shard paused past its lease (SIGSTOP: a stalled or partitioned process) loses its cameras.
    victim_id, victim = next((s, v) for s, v in views().items() if v.get("node") == n1.node_id and v.get("epochs"))
    taken = dict(victim["epochs"])
    old_alert = next((a for a in reversed(_alerts(client)) if a["camera_id"] in taken
                      and a["epoch"] == taken[a["camera_id"]]), None)
    paused_wall = time.time()
    os.kill(victim["pid"], signal.SIGSTOP)
    try:
        def reassigned() -> bool:
            now = ray.get(ctl.status.remote())["assignment"]
            return all(now[c]["shard"] != victim_id and now[c]["epoch"] > e for c, e in taken.items())

        _poll(reassigned, LEASE_S + 20, "the paused shard's cameras given to another shard with a newer epoch")
    finally:
        os.kill(victim["pid"], signal.SIGCONT)

    def fenced_consistently() -> bool:
        v = views().get(victim_id, {})
        now = ray.get(ctl.status.remote())["assignment"]
        return "epochs" in v and all(now[c]["shard"] == victim_id and now[c]["epoch"] == e for c, e in v["epochs"].items())

    _poll(fenced_consistently, 20, "the resumed shard holds no camera under its stale epoch")
    time.sleep(2 * config.tick_s)  # the resumed shard has a lease again: the node's shards may rebalance first
    current = ray.get(ctl.status.remote())["assignment"]
    # Its stale alert (as a partitioned shard would flush it from its queue) is refused; the current epoch's passes.
    cid = next(iter(taken))
    template = old_alert or {**first[0], "camera_id": cid}
    now = datetime.now(UTC)
    stale = AlertIn.model_validate({**template, "alert_id": uuid.uuid4().hex, "camera_id": cid, "epoch": taken[cid],
                                    "dedup_key": f"{cid}:stale", "ts": now.isoformat()})
    fresh = stale.model_copy(update={"alert_id": uuid.uuid4().hex, "epoch": current[cid]["epoch"],
                                     "dedup_key": f"{cid}:fresh"})
    # Raised under the old epoch before the move, read by the intake only now: still counts.
    late = stale.model_copy(update={"alert_id": uuid.uuid4().hex, "dedup_key": f"{cid}:late",
                                    "ts": datetime.fromtimestamp(paused_wall - 1, UTC)})
    for alert in (stale, fresh, late):
        publish_alert(client, alert, b"")
    dead_before = client.xlen(DEAD_LETTER_STREAM)

    def settled() -> bool:
        consumer.step(block_ms=200)
        with database.session() as s:
            refs = set(s.scalars(select(IncidentSource.ref)))
        return {fresh.alert_id, late.alert_id} <= refs and client.xlen(DEAD_LETTER_STREAM) > dead_before

    _poll(settled, 30, "the fresh alert stored and the stale one dead-lettered")
    dead = [f for _, f in client.xrange(DEAD_LETTER_STREAM)]
    reasons = {json.loads(f[b"alert"])["alert_id"]: f[b"reason"].decode() for f in dead}
    assert "stale epoch" in reasons[stale.alert_id], reasons
    assert fresh.alert_id not in reasons and late.alert_id not in reasons
    with database.session() as s:
        assert stale.alert_id not in set(s.scalars(select(IncidentSource.ref)))
    held = holders()
    assert all(len(held.get(c, [])) == 1 for c in cams), held

    # 6. A crashed shard process is restarted by Ray (max_restarts) and resumes its persisted cameras.
    crashed_id, crashed = next((s, v) for s, v in views().items() if v.get("epochs"))
    handle = ray.get_actor(actors.shard_actor_name(crashed_id), namespace=actors.NAMESPACE)
    handle.crash.remote()

    def resumed() -> bool:
        ok = set()
        for sid, v in views().items():
            if sid == crashed_id and v.get("pid") in (None, crashed["pid"]):
                return False  # not restarted yet
            ok |= {c for c in v.get("epochs", {}) if c in crashed["epochs"] and v["frames"].get(c, 0) > 0}
        return ok == set(crashed["epochs"])

    # Restarted within the lease it keeps its cameras (same epochs); slower, they moved and it gets others.
    _poll(resumed, 60, "the crashed shard restarted and its cameras analysed again")

    # 7. The controller restarted (a crash of its process): it continues from the persisted assignment.
    before_restart = ray.get(ctl.status.remote())
    ray.kill(ctl, no_restart=False)
    after_restart = _poll(lambda: _restarted(_status_or_none(ctl), before_restart["pid"]), 60,
                          "the placement controller back (another process) after a restart")
    assert {c: (a["shard"], a["epoch"]) for c, a in after_restart["assignment"].items()} == \
        {c: (a["shard"], a["epoch"]) for c, a in before_restart["assignment"].items()}
    held = holders()
    assert all(len(held.get(c, [])) == 1 for c in cams), held
    # 8. Evidence clips written on the nodes are in the central media directory, where the alerts name them.
    media = tmp_path / "media"
    named = {a["clip_path"] for a in _alerts(client) if a.get("clip_path")}
    assert named and all(Path(p).is_relative_to(media) for p in named), named
    ready = _poll(lambda: [p for p in named if Path(p).is_file()], 90, "a clip shipped to the central media dir")
    import av

    with av.open(ready[0]) as clip:
        assert clip.streams.video and clip.duration and clip.duration > 0
    print(f"\ncluster: all analysed after {started_s:.1f} s; node loss → analysed again after {resumed_s:.1f} s, "
          f"alerts again after {realerted_s:.1f} s; node add moved {len(node_moves)}")
    database.dispose()
    client.close()


def _status_or_none(ctl) -> dict | None:
    try:
        return ray.get(ctl.status.remote(), timeout=5)
    except Exception:  # noqa: BLE001 (restarting)
        return None


def _restarted(status: dict | None, old_pid: int) -> dict | None:
    return status if status is not None and status["pid"] != old_pid else None


def _ts(alert: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(alert["ts"]).timestamp()
