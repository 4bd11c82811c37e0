"""``xueliang analytics cluster``: the analytics tier on a Ray cluster (docs/cluster.md)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger("analytics.cluster")


def add_parser(analytics_sub: argparse._SubParsersAction) -> None:
    p = analytics_sub.add_parser(
        "cluster", help="the analytics tier as Ray actors over many machines (needs the extra xueliang[cluster])")
    p.add_argument("--address", default="auto",
                   help="Ray cluster to join (host:port of `ray start --head`; default: the local one)")
    p.add_argument("--cameras", type=Path, default=None,
                   help="default: XUELIANG_CAMERAS_FILE (read by the controller on the head node; nodes get their "
                        "cameras from it; GB/T 28181 channels too when XUELIANG_GB28181_ENABLED=1)")
    p.add_argument("--shards-per-node", type=int, default=2, help="shard actors per analytics node (default 2)")
    p.add_argument("--lease-s", type=float, default=6.0,
                   help="a shard that cannot renew its lease this long stops; its cameras move (default 6 s)")
    p.add_argument("--no-patrol", action="store_true", help="analyse continuous cameras only")
    p.add_argument("--no-clips", action="store_true",
                   help="do not write evidence clips (by default each node writes them and ships them to the head's media dir)")
    p.add_argument("--health-sample-s", type=float, default=5.0,
                   help="device health: diagnose one frame per camera this often (default 5 s); 0 = no device.status")
    p.add_argument("--int8", action="store_true", help="INT8 model from `xueliang models quantize` (present on every node)")
    p.add_argument("--detach", action="store_true", help="start the tier and return; it keeps running in the cluster")
    p.add_argument("--status", action="store_true", help="print the assignment and each shard's counters as JSON")
    p.add_argument("--stop", action="store_true", help="stop the analytics tier (controller, shards, detectors)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import ray
    except ImportError:
        print("error: the cluster mode needs Ray: pip install 'xueliang[cluster]' (scripts/setup.sh installs it)",
              file=sys.stderr)
        return 2
    import redis

    from analytics.cluster import actors
    from analytics.cluster.controller import ControllerConfig
    from devices import RegistryError, load_registry
    from analytics.cli import resolve_model
    from xueliang.runtime import stop_requested_by_signals
    from xueliang.settings import Settings

    settings = Settings()
    if not settings.redis_url:
        print("error: REDIS_URL is not set; the cluster keeps its assignment and publishes alerts there "
              "(export REDIS_URL=redis://central-host:6379/0, reachable from every Ray node)", file=sys.stderr)
        return 2
    cameras_file = (args.cameras or settings.cameras_file).resolve()
    if not (args.stop or args.status):
        try:  # checked here, where the operator reads the error, not first inside the controller actor
            load_registry(cameras_file)
        except (RegistryError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        ray.init(address=args.address, namespace=actors.NAMESPACE, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError) as exc:
        print(f"error: cannot join the Ray cluster at {args.address!r}: {exc}; start one with `ray start --head`",
              file=sys.stderr)
        return 2
    client = redis.Redis.from_url(settings.redis_url)
    try:
        if args.stop:
            print(f"stopped {actors.stop(client)} actors of the analytics tier")
            return 0
        if args.status:
            ctl = actors.controller()
            print(json.dumps({"controller": ray.get(ctl.status.remote()), "shards": ray.get(ctl.shard_status.remote())},
                             ensure_ascii=False, indent=2, default=str))
            return 0
        try:
            model = resolve_model(settings.models_dir, args.int8)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        # The GB/T 28181 channels of the registry, as `analytics run` merges them (the controller reads the database).
        gb_env = {k: v for k, v in os.environ.items() if k.startswith("XUELIANG_GB28181_")}
        gb = gb_env.get("XUELIANG_GB28181_ENABLED", "").lower() in ("1", "true", "yes")
        config = ControllerConfig(
            cameras_file=str(cameras_file), redis_url=settings.redis_url, media_dir=str(settings.media_dir.resolve()),
            model_path=str(model), modes=("continuous",) if args.no_patrol else ("continuous", "patrol"),
            shards_per_node=args.shards_per_node, lease_s=args.lease_s, clips=not args.no_clips,
            health_sample_s=args.health_sample_s, database_url=settings.resolved_database_url() if gb else None,
            registry_env=gb_env if gb else {})
        ctl = actors.start(config)
        status = ray.get(ctl.status.remote())
        if not any(n["Alive"] and n["Resources"].get(actors.ANALYTICS_RESOURCE) for n in ray.nodes()):
            log.warning("no node offers the %s resource yet: start analytics nodes with "
                        "`ray start --address %s --resources '{\"%s\": 1}'`", actors.ANALYTICS_RESOURCE,
                        args.address, actors.ANALYTICS_RESOURCE)
        log.info("analytics tier running: %d cameras assigned", len(status["assignment"]))
        if args.detach:
            return 0
        stop = stop_requested_by_signals(log)
        last = 0.0
        while not stop.wait(1.0):
            if time.monotonic() - last >= 30:
                last = time.monotonic()
                st = ray.get(ctl.status.remote())
                log.info("cluster: %d cameras on %d shards, %d unassigned, %d moves so far", len(st["assignment"]),
                         len(st["shards"]), len(st["unassigned"]), st["stats"]["moves"])
        log.info("stopping the analytics tier")
        actors.stop(client)
        return 0
    finally:
        client.close()
        ray.shutdown()
