"""The Ray actors: placement controller (detached, restartable), shard, node detector; start and stop.

Names (namespace ``xueliang``): ``xl-placement``, ``xl-shard-<shard id>``, ``xl-detector-<node id>``.
Shards and detectors are pinned to their node (hard node affinity) and take no CPU
resource from Ray's scheduler: the controller's cost model decides the load, Ray only
where it runs. Only nodes started with the ``xl_analytics`` resource run analytics
(``ray start --address … --resources '{"xl_analytics": 1}'``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from dataclasses import asdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from analytics.cluster.batching import BatchingDetector, DetectorServer, RemoteDetector, SocketDetectCall, detector_socket_path
from analytics.cluster.controller import Controller, ControllerConfig, store_media
from analytics.cluster.shard import ShardConfig, ShardRuntime

if TYPE_CHECKING:
    import redis

T = TypeVar("T")

NAMESPACE = "xueliang"
CONTROLLER_NAME = "xl-placement"
ANALYTICS_RESOURCE = "xl_analytics"
ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0"}

log = logging.getLogger(__name__)

# _ACTOR_TYPING: Ray's stubs type ``@ray.remote(...)`` without the actor-only ``max_concurrency``, and
# mypy keeps a decorated class's own type, so ``Cls.options(...)`` is unknown to it as well. The
# ``type: ignore`` comments below mark exactly those spots; the actor handles are dynamic anyway.


def shard_actor_name(shard_id: str) -> str:
    return f"xl-shard-{shard_id}"


def detector_actor_name(node_id: str) -> str:
    return f"xl-detector-{node_id[:12]}"


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=32)  # type: ignore[call-overload]  # see _ACTOR_TYPING
class NodeDetector:
    """The node's one model, served to the node's shards on a Unix socket (frames do not travel through Ray);
    concurrent requests of its shards are merged into batches."""

    def __init__(self, model_path: str, imgsz: int, backend: str, threads: int, max_batch: int) -> None:
        _logging()
        from analytics.detector import Detector

        self.detector = Detector(model_path, imgsz=imgsz, backend=backend, threads=threads)
        self.batcher = BatchingDetector(self.detector, max_batch=max_batch)
        self.server = DetectorServer(self.batcher, detector_socket_path(ray.get_runtime_context().get_node_id()))

    def names(self) -> dict[int, str]:
        return self.detector.names

    def endpoint(self) -> str:
        """The socket the node's shards send their frames to."""
        return str(self.server.path)

    def stats(self) -> dict[str, Any]:
        return {**self.batcher.stats(), "pid": os.getpid()}


@ray.remote(num_cpus=0, max_restarts=3, max_concurrency=8)  # type: ignore[call-overload]  # see _ACTOR_TYPING
class Shard:
    """One shard: :class:`ShardRuntime` with the node's detector. A restart re-reads the persisted cameras."""

    def __init__(self, config: dict[str, Any], detector_name: str) -> None:
        _logging()
        import redis

        detector = ray.get_actor(detector_name, namespace=NAMESPACE)
        names = cast("dict[int, str]", ray.get(detector.names.remote()))  # actor handles are untyped

        def endpoint() -> str:  # waits for a restarting detector (max_restarts=-1) to be back
            return cast(str, ray.get(detector.endpoint.remote(), timeout=60))

        controller_handle: list[Any] = []

        def media_sink(relative: str, data: bytes) -> None:
            """Clips go to the central tier through the controller (on the head node, beside web)."""
            if not controller_handle:
                controller_handle.append(ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE))
            ray.get(controller_handle[0].store_media.remote(relative, data), timeout=60)

        cfg = ShardConfig(**config)
        self.runtime: ShardRuntime = ShardRuntime(cfg, RemoteDetector(SocketDetectCall(endpoint), names),
                                                  redis.Redis.from_url(cfg.redis_url), media_sink=media_sink)

    def refresh(self) -> None:
        self.runtime.refresh()

    def status(self) -> dict[str, Any]:
        return {**self.runtime.status(), "pid": os.getpid()}

    def crash(self) -> None:
        """Exit the process abruptly (used to check that a crashed shard is restarted and resumes)."""
        os._exit(1)

    def close(self) -> None:
        self.runtime.close()


class RayOps:
    """:class:`~analytics.cluster.controller.ClusterOps` on the live Ray cluster."""

    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self._handles: dict[str, Any] = {}

    def analytics_nodes(self) -> dict[str, float]:
        return {n["NodeID"]: float(n["Resources"].get("CPU", 1.0)) for n in ray.nodes()
                if n["Alive"] and n["Resources"].get(ANALYTICS_RESOURCE, 0) > 0}

    def _shard_config(self, shard_id: str, node_id: str) -> dict[str, Any]:
        c = self.config
        return asdict(ShardConfig(shard_id=shard_id, node_id=node_id, redis_url=c.redis_url, media_dir=c.media_dir,
                                  lease_s=c.lease_s, max_batch=c.max_batch, max_wait_ms=c.max_wait_ms, gate=c.gate,
                                  clips=c.clips, health_sample_s=c.health_sample_s))

    def ensure_node(self, node_id: str, shard_ids: list[str]) -> None:
        c = self.config
        pin = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
        cpus = int(self.analytics_nodes().get(node_id, 1)) or 1
        det_name = detector_actor_name(node_id)
        NodeDetector.options(name=det_name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,  # type: ignore[attr-defined]
                             scheduling_strategy=pin, runtime_env={"env_vars": ENV}).remote(
            c.model_path, c.imgsz, c.backend, cpus, max(16, c.max_batch))
        for sid in shard_ids:
            self._handles[sid] = Shard.options(  # type: ignore[attr-defined]  # see _ACTOR_TYPING
                name=shard_actor_name(sid), namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                scheduling_strategy=pin, runtime_env={"env_vars": ENV}).remote(self._shard_config(sid, node_id), det_name)

    def _handle(self, shard_id: str) -> Any:
        h = self._handles.get(shard_id)
        if h is None:
            try:
                h = self._handles[shard_id] = ray.get_actor(shard_actor_name(shard_id), namespace=NAMESPACE)
            except ValueError:
                return None
        return h

    def nudge(self, shard_ids: list[str]) -> None:
        for sid in shard_ids:
            h = self._handle(sid)
            if h is not None:
                h.refresh.remote()  # fire and forget: the shard polls anyway

    def drop(self, shard_ids: list[str]) -> None:
        for sid in shard_ids:
            h = self._handles.pop(sid, None)
            try:
                h = h or ray.get_actor(shard_actor_name(sid), namespace=NAMESPACE)
                ray.kill(h, no_restart=True)
            except Exception:  # noqa: BLE001 (already gone with its node: nothing to do)
                pass


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=4)  # type: ignore[call-overload]  # see _ACTOR_TYPING
class PlacementController:
    """Detached and restartable: a restart reloads the assignment from Redis and carries on."""

    def __init__(self, config: dict[str, Any]) -> None:
        _logging()
        import threading

        import redis

        cfg = ControllerConfig(**config)
        self._ops = RayOps(cfg)
        self.controller = Controller(cfg, self._ops, redis.Redis.from_url(cfg.redis_url))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="placement", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.controller.tick()
            except Exception:  # one failed tick (Redis hiccup, Ray call): log, try again next tick
                log.exception("placement tick failed")
            self._stop.wait(self.controller.config.tick_s)

    def status(self) -> dict[str, Any]:
        return {**self.controller.status(), "pid": os.getpid()}

    def shard_status(self) -> dict[str, Any]:
        """Each shard's own view (cameras it analyses, frames, alerts), asked in parallel."""
        refs = {}
        for sid in list(self.controller.shards):
            h = self._ops._handle(sid)
            if h is not None:
                refs[sid] = h.status.remote()
        out = {}
        for sid, ref in refs.items():
            try:
                out[sid] = ray.get(ref, timeout=5)
            except Exception as exc:  # noqa: BLE001 (a dead or paused shard: say so)
                out[sid] = {"error": f"{type(exc).__name__}"}
        return out

    def tick_now(self) -> None:
        self.controller.tick()

    def store_media(self, relative: str, data: bytes) -> str:
        """A clip (or its failure marker) shipped by a shard, written under the central media directory."""
        return str(store_media(Path(self.controller.config.media_dir), relative, data))

    def stop(self) -> None:
        self._stop.set()


def start(config: ControllerConfig) -> Any:
    """Start (or find) the detached controller on the head node; ``ray.init`` must have been called."""
    head = {"node:__internal_head__": 0.001}
    return PlacementController.options(  # type: ignore[attr-defined]  # see _ACTOR_TYPING
        name=CONTROLLER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True, resources=head,
        runtime_env={"env_vars": ENV}).remote(asdict(config))


def controller() -> Any:
    return ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)


def stop(redis_client: redis.Redis | None = None) -> int:
    """Kill the controller, every shard and detector of the analytics tier; forget the assignment."""
    killed = 0
    names = sorted((a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                    if a.get("namespace") == NAMESPACE and a["name"].startswith("xl-")),
                   key=lambda n: n != CONTROLLER_NAME)  # the controller first: it must not recreate shards
    for name in names:
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            killed += 1
        except ValueError:  # gone meanwhile
            pass
    if redis_client is not None:
        from analytics.cluster.store import AssignmentStore

        AssignmentStore(redis_client).clear()
    return killed


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.5) -> T:
    """Poll ``predicate()`` until it returns something truthy or ``timeout`` passes; returns the last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
