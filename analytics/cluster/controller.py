"""The placement controller: which shard analyses which camera, kept in Redis, reacting to nodes and leases.

Every ``tick_s`` it compares what exists (Ray nodes offering the ``xl_analytics``
resource, shards holding a lease, the cameras of the registry) with the persisted
assignment, places what changed (:func:`analytics.cluster.placement.place`, node level
by CPU capacity, then shard level within each node), writes the changes in one Redis
transaction with fresh epochs for every moved or new camera, and nudges the shards
whose set changed. It holds no state that is not in Redis: a restarted controller
continues from the persisted assignment.

The registry is the one ``xueliang analytics run`` reads: ``cameras.yaml`` on the central tier
(the head node), plus the GB/T 28181 channels from the database when the driver ran with
``XUELIANG_GB28181_ENABLED=1`` (:attr:`ControllerConfig.registry_env`); edits of either are picked
up live. Nodes never read a registry of their own: each shard gets its cameras' configuration
from the assignment in Redis.

The central tier also stores what the shards ship: :func:`store_media` writes their evidence
clips under the central media directory.

The Ray side (creating actors, listing nodes) is behind :class:`ClusterOps` so the
decisions can be read, and tested, apart from Ray.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from analytics.cluster.placement import CostModel, node_capacity, place
from analytics.cluster.store import Assigned, AssignmentStore

if TYPE_CHECKING:
    import redis

    from devices import Camera
    from devices.registry.sources import RegistrySource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControllerConfig:
    cameras_file: str
    redis_url: str
    media_dir: str
    model_path: str
    modes: tuple[str, ...] = ("continuous", "patrol")
    shards_per_node: int = 2
    lease_s: float = 6.0
    tick_s: float = 1.0
    startup_grace_s: float = 60.0  # a new shard counts as live this long before its first lease
    tolerance: float = 1.1
    units_per_cpu: float = 60.0
    imgsz: int = 0
    backend: str = "onnxruntime"
    max_batch: int = 8
    max_wait_ms: float = 60.0
    gate: bool = True
    clips: bool = True
    health_sample_s: float = 5.0
    # GB/T 28181 channels in the registry: the database and the driver's XUELIANG_GB28181_* variables
    database_url: str | None = None
    registry_env: dict[str, str] = field(default_factory=dict)


class ClusterOps(Protocol):
    """What the controller needs from Ray."""

    def analytics_nodes(self) -> dict[str, float]:
        """Alive nodes offering analytics: node id -> CPUs."""

    def ensure_node(self, node_id: str, shard_ids: list[str]) -> None:
        """The node's detector and these shards exist (created, pinned to the node, if not)."""

    def nudge(self, shard_ids: list[str]) -> None:
        """Ask these shards to re-read their assignment now."""

    def drop(self, shard_ids: list[str]) -> None:
        """Forget shards of a vanished node (kill them if somehow still there)."""


@dataclass
class ControllerStats:
    ticks: int = 0
    last_tick_s: float = 0.0
    moves: int = 0
    placements: int = 0
    lost_shards: int = 0
    last_moves: dict[str, list[str]] = field(default_factory=dict)  # reason -> cameras


def shard_ids_for(node_id: str, n: int) -> list[str]:
    return [f"{node_id[:12]}-{i}" for i in range(n)]


def registry_sources(config: ControllerConfig) -> Sequence[RegistrySource]:
    """The registry's sources beside ``cameras.yaml``, as ``xueliang analytics run`` has them."""
    if not config.database_url:
        return []
    from devices.gb28181 import registry_sources as gb_sources

    return gb_sources(config.database_url, env=config.registry_env)


MEDIA_KINDS = ("clips/",)


def store_media(media_dir: Path, relative: str, data: bytes) -> Path:
    """Write a file a shard shipped (``clips/<camera>/<day>/<alert>.mp4`` or its ``.failed`` marker) under
    ``media_dir``, atomically; anything else, or a path leaving ``media_dir``, is refused (ValueError)."""
    from command import resolve_media_path

    if not relative.startswith(MEDIA_KINDS) or not relative.endswith((".mp4", ".mp4.failed")):
        raise ValueError(f"refused media path {relative!r}")
    target = resolve_media_path(media_dir, relative)
    assert target is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


class Controller:
    def __init__(self, config: ControllerConfig, ops: ClusterOps, redis_client: redis.Redis,
                 sources: Sequence[RegistrySource] | None = None) -> None:
        from devices import RegistryWatcher

        self.config = config
        self.ops = ops
        self.store = AssignmentStore(redis_client)
        self.cost_model = CostModel()
        self.watcher = RegistryWatcher(config.cameras_file, sources=registry_sources(config) if sources is None else sources,
                                       on_error=lambda exc: log.error("cameras file not reloaded: %s", exc))
        self.assignment: dict[str, Assigned] = self.store.load()
        self.shards: dict[str, str] = self.store.shards()  # shard -> node
        # A shard counts as live before its first lease only for a grace period after its creation; shards
        # found in Redis by a restarted controller get one lease period (alive ones renew within it).
        self.created_at: dict[str, float] = dict.fromkeys(
            self.shards, time.monotonic() - config.startup_grace_s + config.lease_s)
        self.seen_leased: set[str] = set()
        self._json: dict[str, str] = {}
        self._costs: dict[str, float] = {}
        self._load_cameras(set(self.watcher.current.cameras))
        self.stats = ControllerStats()
        self._lock = threading.Lock()
        if self.assignment:
            log.info("controller: continuing with %d persisted assignments over %d shards", len(self.assignment),
                     len(self.shards))

    def _wanted(self, cam: Camera) -> bool:
        return bool(cam.enabled and str(cam.analysis.mode.value) in self.config.modes)

    def _load_cameras(self, ids: set[str]) -> None:
        cams = self.watcher.current.cameras
        for cid in ids:
            cam = cams.get(cid)
            if cam is None or not self._wanted(cam):
                self._json.pop(cid, None)
                self._costs.pop(cid, None)
            else:
                self._json[cid] = cam.model_dump_json()
                self._costs[cid] = self.cost_model.camera_cost(cam)

    def tick(self) -> None:
        with self._lock:
            t0 = time.perf_counter()
            self._tick()
            self.stats.ticks += 1
            self.stats.last_tick_s = time.perf_counter() - t0

    def _tick(self) -> None:
        cfg = self.config
        diff = self.watcher.check()
        changed_config: set[str] = set()
        if diff is not None and not diff.empty:
            touched = set(diff.added | diff.removed | diff.changed)
            self._load_cameras(touched)
            changed_config = set(diff.changed) & set(self._json)
            log.info("controller: registry reloaded (%s)", diff.as_dict())

        nodes = self.ops.analytics_nodes()
        gone = [s for s, n in self.shards.items() if n not in nodes]
        if gone:
            self.ops.drop(gone)
            self.store.remove_shards(gone)
            for s in gone:
                self.shards.pop(s, None)
                self.created_at.pop(s, None)
                self.seen_leased.discard(s)
            log.warning("controller: %d shards gone with their node(s)", len(gone))
        for node in nodes:
            wanted = shard_ids_for(node, cfg.shards_per_node)
            missing = [s for s in wanted if s not in self.shards]
            if missing:
                self.ops.ensure_node(node, wanted)
                now = time.monotonic()
                for s in missing:
                    self.shards[s] = node
                    self.created_at[s] = now
                self.store.add_shards({s: node for s in missing})

        leased = self.store.live_leases(self.shards)
        now = time.monotonic()
        live = {s for s in self.shards if s in leased or (
            s not in self.seen_leased and now - self.created_at.get(s, 0) < cfg.startup_grace_s)}
        self.seen_leased |= leased
        lost = {s for s in self.shards if s not in live}
        newly_lost = {a.shard for a in self.assignment.values() if a.shard in lost}
        if newly_lost:
            self.stats.lost_shards += len(newly_lost)
            log.warning("controller: shards without a lease: %s; moving their cameras", ", ".join(sorted(newly_lost)))

        shards_of: dict[str, list[str]] = {}
        for s in sorted(live):
            shards_of.setdefault(self.shards[s], []).append(s)
        capacity = {n: node_capacity(nodes[n], cfg.units_per_cpu) for n in shards_of}
        prev_node = {c: a.node for c, a in self.assignment.items() if a.shard in live}
        placement = place(self._costs, capacity, prev_node, tolerance=cfg.tolerance)

        target: dict[str, str] = {}
        per_node: dict[str, dict[str, float]] = {}
        for c, n in placement.assignment.items():
            per_node.setdefault(n, {})[c] = self._costs[c]
        for n, costs in per_node.items():
            shard_cap = dict.fromkeys(shards_of[n], 1.0)
            prev_shard = {c: self.assignment[c].shard for c in costs
                          if c in self.assignment and self.assignment[c].shard in shard_cap}
            target.update(place(costs, shard_cap, prev_shard, tolerance=cfg.tolerance).assignment)

        upserts: dict[str, tuple[str, str, str]] = {}
        new_epoch: set[str] = set()
        for c, s in target.items():
            old = self.assignment.get(c)
            if old is None or old.shard != s:
                new_epoch.add(c)
            if old is None or old.shard != s or c in changed_config or old.camera_json != self._json[c]:
                upserts[c] = (s, self.shards[s], self._json[c])
        removals = [c for c in self.assignment if c not in self._costs]
        # Cameras with no live shard anywhere keep their old entry (and epoch) until one appears.
        if not upserts and not removals:
            return
        moved = [c for c in new_epoch if c in self.assignment]
        written = self.store.apply(upserts, removals, self.assignment, new_epoch)
        touched = {self.assignment[c].shard for c in moved + removals if c in self.assignment}
        touched |= {a.shard for a in written.values()}
        for c in removals:
            self.assignment.pop(c, None)
        self.assignment.update(written)
        self.stats.moves += len(moved)
        self.stats.placements += len(new_epoch) - len(moved)
        if moved:
            self.stats.last_moves = {"moved": sorted(moved)}
            log.info("controller: moved %d cameras, placed %d new, removed %d", len(moved),
                     len(new_epoch) - len(moved), len(removals))
        self.ops.nudge(sorted(touched & set(self.shards)))

    def status(self) -> dict[str, Any]:
        with self._lock:
            by_shard: dict[str, list[str]] = {}
            for c, a in self.assignment.items():
                by_shard.setdefault(a.shard, []).append(c)
            return {
                "shards": {s: {"node": n, "cameras": sorted(by_shard.get(s, []))} for s, n in self.shards.items()},
                "assignment": {c: {"shard": a.shard, "node": a.node, "epoch": a.epoch} for c, a in self.assignment.items()},
                "unassigned": sorted(set(self._costs) - set(self.assignment)),
                "stats": {"ticks": self.stats.ticks, "last_tick_s": round(self.stats.last_tick_s, 4),
                          "moves": self.stats.moves, "placements": self.stats.placements,
                          "lost_shards": self.stats.lost_shards, "last_moves": self.stats.last_moves},
            }


def costs_by_node(assignment: Mapping[str, Assigned], costs: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for c, a in assignment.items():
        out[a.node] = out.get(a.node, 0.0) + costs.get(c, 0.0)
    return out
