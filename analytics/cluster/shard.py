"""A shard: the single-box :class:`analytics.worker.AnalyticsWorker` for the cameras assigned to it.

The worker is reused as is: its detector is the node's shared detector (a
:class:`~analytics.cluster.batching.RemoteDetector`), its registry watcher is
:class:`AssignedCameras` (the shard's persisted assignment instead of cameras.yaml),
and its alert publisher stamps each alert with the camera's assignment epoch.

Evidence and device health, as in the single-box worker: the worker writes its clips into a
node-local spool (``clip_path`` in the alerts names the file's place in the central media
directory instead), and a :class:`ClipShipper` hands every finished clip (and the marker of a
clip that could not be written) to the central tier, which writes it under its media directory
where web serves it; ``device.status`` and the last-frame heartbeat of the shard's cameras go to
Redis like the single-box worker's (``analytics.health.HealthFeed``; the shard claims only its
own cameras).

Lease: every ``lease_s / 3`` the shard renews its lease in Redis and reads its version;
when the version moved it re-reads its cameras (added, removed, changed ones flow into
the worker as a registry diff; the other cameras are untouched). When it cannot renew
for ``lease_s`` (partitioned from the central tier, or paused) it stops analysing all
its cameras and drops their alerts until it can renew again, by which time the
controller has given them to another shard with a newer epoch.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics.alerts import AlertPublisher
from analytics.cluster.store import Assigned, AssignmentStore
from analytics.worker import AnalyticsWorker, WorkerConfig

if TYPE_CHECKING:
    import redis

    from analytics.detector import FrameDetector
    from analytics.health import HealthFeed
    from command import AlertIn
    from devices import Camera, Registry, RegistryDiff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardConfig:
    shard_id: str
    node_id: str
    redis_url: str
    media_dir: str
    lease_s: float = 6.0
    max_batch: int = 8
    max_wait_ms: float = 60.0
    gate: bool = True
    clips: bool = True  # written into the node's spool, shipped to the central media_dir
    patrol_workers: int = 4
    health_sample_s: float = 5.0  # device health: one frame per camera diagnosed this often; 0 = no device.status
    node_dir: str = ""  # node-local state (clip spool, VQD references); "" = $TMPDIR/xueliang-<uid>/shards/<id>


MediaSink = Callable[[str, bytes], None]
"""Stores ``data`` at a path relative to the central media directory (the controller's ``store_media``)."""

SHIPPED_SUFFIXES = (".mp4", ".mp4.failed")


def node_dir_for(shard_id: str) -> Path:
    from analytics.cluster.batching import socket_dir

    path = socket_dir() / "shards" / shard_id
    path.mkdir(parents=True, exist_ok=True)
    return path


class ClipShipper:
    """Sends every finished clip of the spool (``*.mp4``, never a ``.part`` being written) and every
    clip-failure marker to ``sink`` under its path relative to the spool, then deletes it locally.
    A failed send (central tier away, controller restarting) leaves the file for the next pass."""

    def __init__(self, spool: Path, sink: MediaSink, every_s: float = 1.0) -> None:
        self.spool = spool
        self.sink = sink
        self.every_s = every_s
        self.shipped = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="clip-shipper", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.ship()

    def ready(self) -> list[Path]:
        root = self.spool / "clips"
        if not root.is_dir():
            return []
        return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(SHIPPED_SUFFIXES)
                      and not p.name.endswith(".part.mp4"))

    def ship(self) -> int:
        sent = 0
        for path in self.ready():
            relative = path.relative_to(self.spool).as_posix()
            try:
                self.sink(relative, path.read_bytes())
            except Exception as exc:  # noqa: BLE001 (anything from Ray or the central disk: retried next pass)
                self.failures += 1
                log.warning("clip %s not shipped yet (%s: %s); retrying", relative, type(exc).__name__, exc)
                return sent
            path.unlink(missing_ok=True)
            sent += 1
        self.shipped += sent
        return sent

    def close(self, timeout: float = 30.0) -> None:
        """Stop after one last pass (clips the stopping worker just wrote), within ``timeout``."""
        self._stop.set()
        self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while self.ready() and time.monotonic() < deadline and self.ship():
            pass


class AssignedCameras:
    """The worker's ``watcher``: ``current`` registry of the shard's cameras, ``check()`` the pending diff."""

    def __init__(self) -> None:
        from devices import Registry

        self._lock = threading.Lock()
        self.current = Registry([])
        self._pending: RegistryDiff | None = None

    def replace(self, cameras: list[Camera]) -> RegistryDiff:
        """Swap in ``cameras`` (devices.Camera); the diff is applied by the worker's loop thread."""
        from devices import Registry, diff_registries

        with self._lock:
            new = Registry(cameras)
            diff = diff_registries(self.current, new)
            if diff.empty:
                return diff
            self.current = new
            self._pending = diff if self._pending is None else _merge(self._pending, diff, new)
            return diff

    def check(self) -> RegistryDiff | None:
        with self._lock:
            diff, self._pending = self._pending, None
            return diff


def _merge(a: RegistryDiff, b: RegistryDiff, registry: Registry) -> RegistryDiff:
    """Two diffs not yet applied as one: whatever either touched is restarted from the newest registry."""
    from devices import RegistryDiff

    touched = a.added | a.removed | a.changed | b.added | b.removed | b.changed
    present = set(registry.cameras)
    return RegistryDiff(added=frozenset(touched & present), removed=frozenset(touched - present),
                        changed=frozenset(), restart_ingest=frozenset())


class EpochPublisher(AlertPublisher):
    """Stamps each alert with its camera's epoch; drops alerts of cameras the shard no longer holds; names
    the clip by its place in the central media directory (``media_dir``), not in the node's ``spool``."""

    def __init__(self, redis_client: redis.Redis, epochs: dict[str, int], spool: Path, media_dir: Path) -> None:
        super().__init__(redis_client)
        self.epochs = epochs
        self.clip_spool = spool
        self.media_dir = media_dir
        self.fenced = 0

    def submit(self, alert: AlertIn, snapshot_jpeg: bytes) -> None:
        epoch = self.epochs.get(alert.camera_id)
        if epoch is None:
            self.fenced += 1
            log.warning("camera %s: alert dropped, this shard no longer holds the camera", alert.camera_id)
            return
        update: dict[str, object] = {"epoch": epoch}
        if alert.clip_path and Path(alert.clip_path).is_relative_to(self.clip_spool):
            update["clip_path"] = str(self.media_dir / Path(alert.clip_path).relative_to(self.clip_spool))
        super().submit(alert.model_copy(update=update), snapshot_jpeg)


class ShardRuntime:
    """Runs the worker for the shard's assignment and keeps the lease; ``close()`` stops everything."""

    def __init__(self, config: ShardConfig, detector: FrameDetector, redis_client: redis.Redis,
                 media_sink: MediaSink | None = None) -> None:
        from devices import Camera

        self._camera_cls = Camera
        self.config = config
        self.store = AssignmentStore(redis_client)
        self.epochs: dict[str, int] = {}
        self.cameras = AssignedCameras()
        self.token = uuid.uuid4().hex
        self.version = -1
        self.fenced = False
        self.last_renewal = time.monotonic()
        self.started_at = time.time()
        node_dir = Path(config.node_dir) if config.node_dir else node_dir_for(config.shard_id)
        spool = node_dir / "media"
        self.publisher = EpochPublisher(redis_client, self.epochs, spool, Path(config.media_dir))
        clips = config.clips and media_sink is not None
        self.shipper = ClipShipper(spool, media_sink) if clips and media_sink is not None else None
        worker_cfg = WorkerConfig(model_path=Path("node-detector"), media_dir=spool,
                                  max_batch=config.max_batch, max_wait_ms=config.max_wait_ms, gate=config.gate,
                                  clips=clips, patrol_workers=config.patrol_workers)
        self.worker = AnalyticsWorker([], worker_cfg, self.publisher, detector=detector, watcher=self.cameras,
                                      health=self._health(config, redis_client, node_dir))
        self.worker.wanted = lambda camera: True  # the controller already chose
        self._stop = threading.Event()
        self._sync_lock = threading.Lock()
        self._renew_now = threading.Event()
        self.last_renewal = time.monotonic()  # construction (imports, tracker preload) is not a lapse
        self.renew()  # take the lease and the persisted cameras before the first frame
        self._worker_thread = threading.Thread(target=self.worker.run, args=(self._stop,), name="shard-worker", daemon=True)
        self._worker_thread.start()
        self._lease_thread = threading.Thread(target=self._lease_loop, name="shard-lease", daemon=True)
        self._lease_thread.start()

    @staticmethod
    def _health(config: ShardConfig, redis_client: redis.Redis, node_dir: Path) -> HealthFeed | None:
        """``device.status`` of the shard's cameras, as ``xueliang analytics run`` publishes it."""
        if config.health_sample_s <= 0:
            return None
        from analytics.health import HealthConfig, HealthFeed
        from devices import LAST_FRAME_KEY, Registry, publish_status

        return HealthFeed(Registry([]), lambda report: publish_status(redis_client, report),
                          HealthConfig(sample_every_s=config.health_sample_s, claim_unwatched=False,
                                       reference_dir=node_dir / "vqd"),
                          patrol_enabled=True,
                          heartbeat=lambda seen: redis_client.hset(LAST_FRAME_KEY, mapping=dict(seen.items())))

    # -- lease ----------------------------------------------------------------------------------------------------
    def _lease_loop(self) -> None:
        period = self.config.lease_s / 3
        while not self._stop.is_set():
            self._renew_now.wait(period)
            self._renew_now.clear()
            if self._stop.is_set():
                return
            try:
                self.renew()
            except Exception as exc:  # Redis unreachable: keep going until the lease runs out
                if time.monotonic() - self.last_renewal > self.config.lease_s and not self.fenced:
                    self._fence(f"lease not renewed for {self.config.lease_s:.0f} s ({exc})")

    def renew(self) -> None:
        with self._sync_lock:
            now = time.monotonic()
            if now - self.last_renewal > self.config.lease_s and not self.fenced:
                # Paused or partitioned past the lease: the controller may have moved every camera.
                self._fence(f"lease expired ({now - self.last_renewal:.1f} s since the last renewal)")
            version = self.store.renew(self.config.shard_id, self.token, int(self.config.lease_s * 1000))
            self.last_renewal = time.monotonic()
            if version != self.version or self.fenced:
                self._sync(version)

    def refresh(self) -> None:
        """Re-read the assignment now (the controller calls this after a change; otherwise within lease_s/3)."""
        self._renew_now.set()

    def _sync(self, version: int) -> None:
        assigned: dict[str, Assigned] = self.store.shard_cameras(self.config.shard_id)
        cameras = [self._camera_cls.model_validate_json(a.camera_json) for a in assigned.values()]
        old = dict(self.epochs)
        # Epochs first: alerts of a camera that left are dropped from this moment.
        for cid in list(self.epochs):
            if cid not in assigned:
                del self.epochs[cid]
        moved_back = {cid for cid, a in assigned.items() if cid in old and old[cid] != a.epoch}
        for cid, a in assigned.items():
            self.epochs[cid] = a.epoch
        if moved_back:  # away and back again: a fresh start (tracks of the old tenure are stale)
            self.cameras.replace([c for c in cameras if c.id not in moved_back])
        diff = self.cameras.replace(cameras)
        self.version = version
        if self.fenced:
            self.fenced = False
            log.info("shard %s: lease renewed, %d cameras held", self.config.shard_id, len(assigned))
        if not diff.empty or moved_back:
            self.worker.request_reload()
            log.info("shard %s: assignment v%d: %d cameras (+%d −%d ~%d)", self.config.shard_id, version,
                     len(assigned), len(diff.added), len(diff.removed), len(diff.changed))

    def _fence(self, why: str) -> None:
        log.warning("shard %s: %s; stopping all %d cameras until the lease is renewed", self.config.shard_id, why,
                    len(self.epochs))
        self.fenced = True
        self.epochs.clear()
        self.cameras.replace([])
        self.worker.request_reload()

    # -- status ---------------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        channels = dict(self.worker.channels)
        return {
            "shard": self.config.shard_id,
            "node": self.config.node_id,
            "epochs": dict(self.epochs),
            "frames": {cid: ch.counters.frames for cid, ch in channels.items()},
            "alerts": {cid: ch.counters.alerts for cid, ch in channels.items()},
            "fenced": self.fenced,
            "published": self.publisher.published,
            "dropped_fenced": self.publisher.fenced,
            "clips_shipped": self.shipper.shipped if self.shipper is not None else 0,
            "health_published": self.worker.health.published if self.worker.health is not None else 0,
            "started_at": self.started_at,
        }

    def close(self) -> None:
        self._stop.set()
        self._renew_now.set()
        self._worker_thread.join(10)
        self._lease_thread.join(2)
        if self.shipper is not None:
            self.shipper.close()
