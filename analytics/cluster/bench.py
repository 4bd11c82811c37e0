"""``xueliang bench cluster [--json] [--quick]``: the analytics tier on Ray versus the single-box worker.

All from one run on this box:

- ``placement_30000_channels_s`` (CPU time; ``_wall`` alongside), ``load_spread``, ``moved_on_node_loss`` (with ``lost_node_channels``:
  equal when only the lost node's channels moved), ``moved_on_node_add`` (with ``fair_share_on_add``):
  :func:`~analytics.cluster.placement.place` on 30,000 simulated channels (10 % continuous, 90 % patrol)
  over 300 simulated 8-core nodes.
- ``overhead_vs_standalone``: channels per core (frames analysed ÷ fps ÷ CPU-seconds used) of the
  tier on a local Ray analytics node (every process of the node: raylet, its agents, the shard and the
  node's detector) divided by the same for ``xueliang analytics run`` in its own process, on the same
  live RTSP cameras in the same run: Ray and standalone windows alternate (the idle side has no
  cameras), the median of the per-round ratios; ``overhead_ratios`` lists them all.
- ``failover_s``: ``remove_node`` of the second analytics node → the first frame of every one of its
  cameras analysed again on the survivor (``live_moved_only_lost_nodes``: nothing else moved).
- ``ray_rss_mb_per_node``: resident memory of Ray's own processes on an analytics node (raylet and its
  agents and idle workers, not the shard and detector actors); ``ray_head_rss_mb`` the same on the head.
- ``int8_vs_float_raw_fps`` / ``int8_box_agreement``: from :mod:`analytics.quantize` when an INT8 model
  is present (``xueliang models quantize``), else ``null``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from analytics.cluster.placement import CostModel, moves_between, node_capacity, place
from xueliang.settings import REPO_ROOT

SAMPLE = REPO_ROOT / "samples" / "vtest_480x360_g10.h264"
FPS = 5.0
BATCH_WAIT_MS = 250.0  # > one frame interval at FPS: every batch holds a frame of each camera


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("cluster", help="analytics on Ray: overhead vs standalone, failover, placement at 30,000 channels")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="reduced run, the CI-sized check (≤ 2 min here)")
    parser.set_defaults(func=_run)


@dataclass(frozen=True)
class Plan:
    cameras: int
    warm_s: float
    window_s: float
    rounds: int


QUICK = Plan(cameras=4, warm_s=2.5, window_s=6.0, rounds=1)
FULL = Plan(cameras=6, warm_s=5.0, window_s=20.0, rounds=5)


# -- placement at county scale (pure) ---------------------------------------------------------------------------
def county_channels(n: int, seed: int = 7) -> dict[str, float]:
    rnd = random.Random(seed)
    m = CostModel()
    out = {}
    for i in range(n):
        r = rnd.random()
        if r < 0.05:
            out[f"ch{i:05d}"] = m.channel_cost("continuous", 5, 640, 360)
        elif r < 0.10:
            out[f"ch{i:05d}"] = m.channel_cost("continuous", 5, 480, 360)
        else:
            out[f"ch{i:05d}"] = m.channel_cost("patrol", 1)
    return out


def measure_placement(channels: int = 30_000, nodes: int = 300) -> dict[str, Any]:
    costs = county_channels(channels)
    cap = {f"node{i:03d}": node_capacity(8) for i in range(nodes)}
    # CPU time of this thread (the box is shared: wall time includes waiting for a core), wall alongside.
    c0, t0 = time.thread_time(), time.perf_counter()
    p = place(costs, cap)
    elapsed, elapsed_wall = time.thread_time() - c0, time.perf_counter() - t0
    lost = "node042"
    on_lost = {c for c, n in p.assignment.items() if n == lost}
    survivors = {n: c for n, c in cap.items() if n != lost}
    after_loss = place(costs, survivors, p.assignment)
    moved_loss = moves_between(p.assignment, after_loss.assignment)
    grown = {**cap, f"node{nodes:03d}": node_capacity(8)}
    c1 = time.thread_time()
    after_add = place(costs, grown, p.assignment)
    add_s = time.thread_time() - c1
    moved_add = moves_between(p.assignment, after_add.assignment)
    return {
        "placement_30000_channels_s": round(elapsed, 3),
        "placement_30000_channels_s_wall": round(elapsed_wall, 3),
        "placement_node_add_s": round(add_s, 3),
        "load_spread": round(p.spread(cap), 3),
        "moved_on_node_loss": len(moved_loss),
        "lost_node_channels": len(on_lost),
        "moved_only_lost_nodes_channels": moved_loss == on_lost,
        "moved_on_node_add": len(moved_add),
        "fair_share_on_add": round(channels / (nodes + 1), 1),
        "load_spread_after_add": round(after_add.spread(grown), 3),
    }


# -- live: standalone worker vs the tier on Ray ------------------------------------------------------------------
def _cameras_yaml(path: Path, urls: dict[str, str]) -> Path:
    body = "version: 1\ncameras:\n" + "".join(f"""
  - id: {cid}
    name: 基准 {cid}
    jurisdiction: "330381101201"
    position: {{lat: 27.78, lon: 120.65}}
    streams: {{main: "{url}"}}
    analysis: {{mode: continuous, fps: {FPS:g}, detector_classes: [person]}}
    zones:
      - id: walkway
        polygon: [[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0.0, 1.0]]
    rules:
      - {{id: walkway-intrusion, kind: zone_intrusion, zone: walkway, classes: [person], cooldown_s: 30}}
""" for cid, url in urls.items())
    path.write_text(body, encoding="utf-8")
    return path


def _cpu_s(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _tree_rss_mb(root_pid: int, exclude: set[int]) -> float:
    import psutil

    try:
        root = psutil.Process(root_pid)
        procs = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        if p.pid in exclude:
            continue
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


class Standalone:
    """The single-box product, ``xueliang analytics run`` in its own process (device health included), on the
    bench's cameras; its ``cameras.yaml`` is emptied and refilled (SIGHUP applies it at once) to idle it."""

    def __init__(self, cameras_file: Path, redis_url: str, data_dir: Path, cameras: int) -> None:
        import subprocess

        from xueliang.runtime.processes import free_port

        self.cameras_file = cameras_file
        self.port = free_port()
        env = {**os.environ, "REDIS_URL": redis_url, "XUELIANG_DATA_DIR": str(data_dir), "YOLO_OFFLINE": "1",
               "YOLO_AUTOINSTALL": "0", "XUELIANG_LOG_LEVEL": "WARNING"}
        env.pop("DATABASE_URL", None)
        self.log = open(data_dir / "standalone.log", "wb")  # noqa: SIM115 (closed in close())
        # Batches of one frame per camera on both sides (max_batch = cameras, a wait longer than a frame
        # interval): the per-frame cost then does not depend on how loaded the shared box happens to be.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xueliang.cli", "analytics", "run", "--cameras", str(cameras_file), "--no-clips",
             "--max-batch", str(cameras), "--max-wait-ms", str(BATCH_WAIT_MS), "--metrics-port", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)

    def frames(self) -> int:
        """Frames analysed so far (the worker's own Prometheus counter, summed over cameras)."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("xueliang_analytics_frames_total{")))

    def cpu_s(self) -> float:
        return _cpu_s([self.proc.pid])

    def cameras(self, text: str) -> None:
        import signal

        self.cameras_file.write_text(text, encoding="utf-8")
        self.proc.send_signal(signal.SIGHUP)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except Exception:  # noqa: BLE001 (a stuck worker: kill it)
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


def _window(frames, cpu, seconds: float) -> tuple[float, float, float]:
    f0, c0, t0 = frames(), cpu(), time.monotonic()
    time.sleep(seconds)
    return frames() - f0, cpu() - c0, time.monotonic() - t0


def _tree(pid: int) -> list[int]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root.pid] + [c.pid for c in root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


EMPTY = "version: 1\ncameras: []\n"


def run_live(plan: Plan) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster

    from analytics.cluster import actors
    from analytics.cluster.controller import ControllerConfig
    from analytics.models import ensure_onnx
    from xueliang.runtime import EmbeddedRedis, RtspSampleServer, SampleMount
    from xueliang.settings import Settings

    model = ensure_onnx(Settings().models_dir)
    node_args: dict[str, Any] = {"object_store_memory": 100 * 2**20}  # keyword arguments of Ray's Cluster.add_node
    phases: dict[str, float] = {}
    t_phase = time.monotonic()

    def phase(name: str) -> None:
        nonlocal t_phase
        phases[name] = round(time.monotonic() - t_phase, 1)
        t_phase = time.monotonic()

    with tempfile.TemporaryDirectory() as tmp_s, ExitStack() as stack:
        tmp = Path(tmp_s)
        names = [f"cam{i + 1:02d}" for i in range(plan.cameras)]
        server = stack.enter_context(RtspSampleServer([SampleMount(n, SAMPLE, fps=10) for n in names],
                                                      log_path=tmp / "rtsp.log"))
        rds = stack.enter_context(EmbeddedRedis(tmp / "redis", persist=False))
        cameras_file = _cameras_yaml(tmp / "cameras.yaml", {n: server.url(n) for n in names})
        full_text = cameras_file.read_text(encoding="utf-8")
        # The standalone worker starts idle (no cameras) while Ray starts: both start-ups overlap, untimed.
        alone_dir = tmp / "standalone"
        alone_dir.mkdir()
        alone_file = alone_dir / "cameras.yaml"
        alone_file.write_text(EMPTY, encoding="utf-8")
        alone = Standalone(alone_file, rds.url, alone_dir, plan.cameras)
        stack.callback(alone.close)

        # Ray: a head (no analytics; the central tier) and two analytics nodes, A with the box's cores and B
        # with one; B is removed to measure failover, then A alone is compared with the standalone worker.
        cores = os.cpu_count() or 1
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, **node_args, "include_dashboard": False,
            "_system_config": {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}})
        stack.callback(cluster.shutdown)
        node_a = cluster.add_node(num_cpus=cores, resources={"xl_analytics": 1}, **node_args)
        node_b = cluster.add_node(num_cpus=1, resources={"xl_analytics": 1}, **node_args)
        ray.init(address=cluster.address, namespace=actors.NAMESPACE, logging_level=logging.ERROR, log_to_driver=False)
        stack.callback(ray.shutdown)
        stack.callback(actors.stop)
        cfg = ControllerConfig(cameras_file=str(cameras_file), redis_url=rds.url, media_dir=str(tmp / "media"),
                               model_path=str(model), shards_per_node=1, lease_s=6.0, tick_s=0.5,
                               max_batch=plan.cameras, max_wait_ms=BATCH_WAIT_MS, clips=False)  # as the standalone
        ctl = actors.start(cfg)
        phase("cluster_start_s")

        def views() -> dict[str, dict]:
            return ray.get(ctl.shard_status.remote())

        def ray_frames(node: str | None = None) -> dict[str, int]:
            out: dict[str, int] = {}
            for v in views().values():
                if node is None or v.get("node") == node:
                    out.update(v.get("frames", {}))
            return out

        def all_analysed() -> bool:
            return len([c for c, n in ray_frames().items() if n > 0]) == plan.cameras

        def on_both() -> bool:
            nodes = {a["node"] for a in ray.get(ctl.status.remote())["assignment"].values()}
            return nodes == {node_a.node_id, node_b.node_id} and all_analysed()

        actors.wait_for(on_both, 180)
        phase("first_frames_s")

        # Failover: B (holding its share of the cameras) is removed; its cameras resume on A.
        status = ray.get(ctl.status.remote())
        on_b = {c for c, a in status["assignment"].items() if a["node"] == node_b.node_id}
        before = ray_frames(node_a.node_id)
        t_loss = time.monotonic()
        cluster.remove_node(node_b)
        resumed = actors.wait_for(lambda: all(ray_frames(node_a.node_id).get(c, 0) > before.get(c, 0) for c in on_b),
                                  60, interval=0.2)
        failover_s = time.monotonic() - t_loss if resumed else None
        after = ray.get(ctl.status.remote())["assignment"]
        moved_on_loss = {c for c in after if after[c]["shard"] != status["assignment"][c]["shard"]}
        phase("failover_phase_s")

        # Overhead: node A (every process of it: raylet, its agents, the shard and the detector) against the
        # standalone worker process, in alternating windows on the same cameras.
        det = cast("dict[str, Any]", ray.get(ray.get_actor(actors.detector_actor_name(node_a.node_id), namespace=actors.NAMESPACE).stats.remote()))  # the actor handle is untyped
        shard_pids = [v["pid"] for v in views().values() if "pid" in v]
        raylet_a = node_a.all_processes["raylet"][0].process.pid

        def node_cpu() -> float:
            return _cpu_s(_tree(raylet_a))

        per_core: dict[str, list[float]] = {"standalone": [], "ray": []}
        cpu_parts = dict.fromkeys(("shards", "detector", "ray"), 0.0)
        for _ in range(plan.rounds):
            time.sleep(plan.warm_s)
            parts0 = (_cpu_s(shard_pids), _cpu_s([det["pid"]]), node_cpu())
            f, c, _ = _window(lambda: sum(ray_frames().values()), node_cpu, plan.window_s)
            parts1 = (_cpu_s(shard_pids), _cpu_s([det["pid"]]), node_cpu())
            cpu_parts["shards"] += parts1[0] - parts0[0]
            cpu_parts["detector"] += parts1[1] - parts0[1]
            cpu_parts["ray"] += (parts1[2] - parts0[2]) - (parts1[0] - parts0[0]) - (parts1[1] - parts0[1])
            per_core["ray"].append(f / FPS / max(c, 1e-6))
            # the tier idles (no cameras) while the standalone worker runs, and the other way round
            cameras_file.write_text(EMPTY, encoding="utf-8")
            alone.cameras(full_text)
            actors.wait_for(lambda: not ray_frames(), 30)
            actors.wait_for(lambda: alone.frames() >= plan.cameras, 60)
            time.sleep(plan.warm_s)
            f, c, _ = _window(alone.frames, alone.cpu_s, plan.window_s)
            per_core["standalone"].append(f / FPS / max(c, 1e-6))
            alone.cameras(EMPTY)
            cameras_file.write_text(full_text, encoding="utf-8")
            actors.wait_for(all_analysed, 60)
        phase("overhead_phase_s")
        ratios = [r / a for r, a in zip(per_core["ray"], per_core["standalone"]) if a]
        overhead = statistics.median(ratios)
        det = cast("dict[str, Any]", ray.get(ray.get_actor(actors.detector_actor_name(node_a.node_id), namespace=actors.NAMESPACE).stats.remote()))

        rss_node = _tree_rss_mb(raylet_a, set(shard_pids) | {det["pid"]})
        head_raylet = cluster.head_node.all_processes["raylet"][0].process.pid
        gcs = cluster.head_node.all_processes["gcs_server"][0].process.pid
        ctl_pid = ray.get(ctl.status.remote())["pid"]
        rss_head = _tree_rss_mb(head_raylet, {ctl_pid}) + _tree_rss_mb(gcs, set())
    phase("shutdown_s")
    return {
        "overhead_vs_standalone": round(overhead, 3),
        "overhead_ratios": [round(x, 3) for x in ratios],
        "channels_per_core_ray": [round(x, 2) for x in per_core["ray"]],
        "channels_per_core_standalone": [round(x, 2) for x in per_core["standalone"]],
        "ray_cpu_share": {k: round(v / max(sum(cpu_parts.values()), 1e-6), 3) for k, v in cpu_parts.items()},
        "failover_s": round(failover_s, 2) if failover_s is not None else None,
        "live_lost_node_cameras": len(on_b),
        "live_moved_on_node_loss": len(moved_on_loss),
        "live_moved_only_lost_nodes": moved_on_loss == on_b,
        "live_cameras": plan.cameras,
        "ray_rss_mb_per_node": round(rss_node, 1),
        "ray_head_rss_mb": round(rss_head, 1),
        "detector_mean_batch": det.get("mean_batch"),
        "phases_s": phases,
    }


def measure_int8() -> dict[str, Any]:
    try:
        from analytics.quantize import compare_saved
    except ImportError:
        return {"int8_vs_float_raw_fps": None, "int8_box_agreement": None}
    return compare_saved()


def run_bench(quick: bool) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    load_start = os.getloadavg()[0]
    out: dict[str, Any] = {**measure_placement()}
    try:
        import ray  # noqa: F401
    except ImportError:
        out["ray"] = "not installed: pip install 'xueliang[cluster]'"
    else:
        out.update(run_live(plan))
    out.update(measure_int8())
    out.update({"cpu_count": os.cpu_count(), "loadavg_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],
                "quick": quick})
    return out


def _run(args: argparse.Namespace) -> int:
    result = run_bench(args.quick)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value}")
    return 0 if result.get("failover_s") is not None or "ray" in result else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_run(argparse.Namespace(json=True, quick=True)))
