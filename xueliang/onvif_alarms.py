"""``xueliang alarms run``: camera-side alarms (ONVIF PullPoint events) become alerts in ``xl:alerts``.

One event link per registry camera that has an ``onvif:`` section; motion, tamper and
line-crossing notifications are published like the analytics worker's alerts, so the
command worker turns them into incidents. The registry file is watched: cameras added,
removed or changed get their links started, stopped or restarted without touching the
others. A camera whose credentials are not in the environment is reported once and
skipped until the registry changes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from command import AlertIn, publish_alert
from devices import Camera, Registry, RegistryWatcher, SecretError
from devices.onvif import OnvifCamera, OnvifEvent, camera_alert, watch_alarms
from xueliang.runtime import stop_requested_by_signals
from xueliang.settings import Settings

log = logging.getLogger("xueliang.alarms")

AlarmSink = Callable[[Camera, OnvifEvent, bytes], None]


@dataclass
class _Link:
    camera: Camera
    client: OnvifCamera
    stop: threading.Event
    thread: threading.Thread


def redis_alarm_sink(client: redis.Redis) -> AlarmSink:
    """Publish one camera alarm (with the camera's snapshot, when it has one) to ``xl:alerts``."""

    def publish(camera: Camera, event: OnvifEvent, snapshot: bytes) -> None:
        alert = AlertIn(**camera_alert(event, camera))
        publish_alert(client, alert, snapshot)
        log.info("%s: %s alarm published (%s)", camera.id, event.kind, event.topic)

    return publish


class OnvifAlarmWorker:
    """Keeps one PullPoint event link per ONVIF camera of the registry; alarms go to ``sink``."""

    def __init__(self, sink: AlarmSink, *, pull_timeout: dt.timedelta = dt.timedelta(seconds=5),
                 client_timeout_s: float = 5.0) -> None:
        self._sink = sink
        self._pull_timeout = pull_timeout
        self._client_timeout_s = client_timeout_s
        self._links: dict[str, _Link] = {}

    @property
    def camera_ids(self) -> list[str]:
        return sorted(self._links)

    def sync(self, registry: Registry) -> None:
        """Start links for new ONVIF cameras, stop removed ones, restart changed ones."""
        wanted = {cam.id: cam for cam in registry.cameras.values() if cam.onvif is not None}
        for camera_id in list(self._links):
            if camera_id not in wanted or wanted[camera_id] != self._links[camera_id].camera:
                self._stop_link(camera_id)
        for camera_id, camera in wanted.items():
            if camera_id not in self._links:
                self._start_link(camera)
        log.info("event links: %d ONVIF camera(s) watched", len(self._links))

    def stop(self) -> None:
        for camera_id in list(self._links):
            self._stop_link(camera_id)

    def _start_link(self, camera: Camera) -> None:
        try:
            client = OnvifCamera.from_registry(camera, timeout=self._client_timeout_s)
        except SecretError as exc:
            log.warning("%s: 事件订阅未启动 — %s", camera.id, exc)
            return
        stop = threading.Event()

        def on_alarm(event: OnvifEvent) -> None:
            self._sink(camera, event, client.try_snapshot())

        thread = threading.Thread(
            target=watch_alarms, args=(client, on_alarm, stop),
            kwargs={"pull_timeout": self._pull_timeout}, name=f"onvif-events-{camera.id}", daemon=True,
        )
        self._links[camera.id] = _Link(camera, client, stop, thread)
        thread.start()

    def _stop_link(self, camera_id: str) -> None:
        link = self._links.pop(camera_id)
        link.stop.set()
        link.thread.join(timeout=self._pull_timeout.total_seconds() + 5)
        link.client.close()


def run_alarms(args: argparse.Namespace) -> int:
    settings = Settings()
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set: the alarm worker publishes to the Redis that carries xl:alerts")
    cameras_file = Path(args.cameras or settings.cameras_file)
    client = redis.Redis.from_url(settings.redis_url)
    worker = OnvifAlarmWorker(redis_alarm_sink(client))
    stop_event = stop_requested_by_signals(log)
    watcher = RegistryWatcher(cameras_file, interval_s=args.reload_interval,
                              on_change=lambda registry, _diff: worker.sync(registry))
    worker.sync(watcher.current)
    try:
        while not stop_event.wait(args.reload_interval):
            watcher.check()
    finally:
        worker.stop()
        client.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    alarms = sub.add_parser("alarms", help="camera-side alarms (ONVIF events) → xl:alerts")
    alarms_sub = alarms.add_subparsers(dest="alarms_command", required=True)
    run = alarms_sub.add_parser("run", help="watch every ONVIF camera of the registry and publish its alarms")
    run.add_argument("--cameras", help="registry file (default: XUELIANG_CAMERAS_FILE or configs/cameras.yaml)")
    run.add_argument("--reload-interval", type=float, default=2.0, help="seconds between registry file checks")
    run.set_defaults(func=run_alarms)
