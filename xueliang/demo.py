"""``xueliang demo``: a whole single-machine deployment on embedded defaults.

Starts, in order: the sample-camera RTSP server (GStreamer), an embedded Valkey
when no ``REDIS_URL`` is set, the database migrations and demo seed, then the
three long-running workers as child processes — ``command run`` (alert intake,
SLA timers), ``analytics run`` (ingest + detection + rules) and ``web run``
(FastAPI). A worker that dies is restarted with back-off. SIGINT/SIGTERM stops
everything in reverse order; children also die with this process
(``PR_SET_PDEATHSIG``), so nothing is left behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from xueliang.runtime import EmbeddedRedis, RtspSampleServer, SampleMount, free_port, spawn, stop_all, stop_requested_by_signals, wait_for_port
from xueliang.settings import Settings

log = logging.getLogger("xueliang.demo")

SAMPLE_VIDEO = "vtest_480x360_g10.h264"
SAMPLE_FPS = 10


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="start the demo deployment (sample cameras, Redis, database, workers, web)")
    parser.add_argument("--web-port", type=int, default=None, help="default: XUELIANG_WEB_PORT or 8000")
    parser.add_argument("--rtsp-port", type=int, default=None, help="default: XUELIANG_RTSP_PORT or 8554")
    parser.add_argument("--cluster", metavar="ADDRESS", default=None,
                        help="analyse on this Ray cluster (`ray start --head`) instead of one local worker (docs/cluster.md)")
    parser.set_defaults(func=run_demo)


class DemoError(RuntimeError):
    """The demo cannot start; the message is a sentence that says what to do."""


LOCAL_RTSP = re.compile(r"(rtsp://(?:[^@/\s]+@)?127\.0\.0\.1:)(\d+)(/[\w\-/]+)")


def cameras_for_port(cameras_file: Path, rtsp_port: int, data_dir: Path) -> Path:
    """The cameras file whose local sample-camera URLs use ``rtsp_port``: the file itself when they
    already do, else a copy under ``data_dir`` with the port rewritten (cameras.yaml says 8554)."""
    text = cameras_file.read_text(encoding="utf-8")
    ports = {int(m.group(2)) for m in LOCAL_RTSP.finditer(text)}
    if ports <= {rtsp_port}:
        return cameras_file
    derived = data_dir / "cameras.demo.yaml"
    derived.parent.mkdir(parents=True, exist_ok=True)
    derived.write_text(LOCAL_RTSP.sub(lambda m: f"{m.group(1)}{rtsp_port}{m.group(3)}", text), encoding="utf-8")
    log.info("sample cameras moved to port %d: using %s (from %s; edit that file, then restart)",
             rtsp_port, derived, cameras_file)
    return derived


def require_free_port(host: str, port: int, what: str, option: str) -> None:
    """Fail with a sentence when ``port`` is taken (a newcomer's 8554 or 8000 often is)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise DemoError(f"{what}端口 {port} 已被占用（{exc.strerror}）。请用 {option} 选择一个空闲端口，"
                            f"例如 {option} {port + 100}。") from None


def camera_position_problems(settings: Settings) -> list[str]:
    """Cameras of the registry whose jurisdiction the seeded tree lacks or whose position lies outside
    its boundary (zh-CN sentences; empty for the shipped demo: tests/xueliang/test_demo_county.py)."""
    from command import open_database
    from command.seed import PlacedCamera
    from command.seed import camera_position_problems as check
    from devices import load_registry

    registry = load_registry(settings.cameras_file)
    placed = [PlacedCamera(c.id, c.name, str(c.jurisdiction), getattr(c.position, "lat", None),
                           getattr(c.position, "lon", None)) for c in registry.cameras.values()]
    database = open_database(settings.resolved_database_url())
    try:
        with database.session() as session:
            return check(session, placed)
    finally:
        database.dispose()


def sample_mount_names(cameras_file: Path, rtsp_port: int) -> list[str]:
    """RTSP paths the cameras file expects on the local sample server (``rtsp://127.0.0.1:PORT/NAME``)."""
    pattern = re.compile(rf"rtsp://(?:[^@/\s]+@)?127\.0\.0\.1:{rtsp_port}/([\w\-/]+)")
    return sorted(set(pattern.findall(cameras_file.read_text(encoding="utf-8"))))


@dataclass
class Worker:
    """A supervised child: restarted with back-off when it exits on its own."""

    name: str
    argv: list[str]
    env: dict[str, str | None]
    log_path: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0

    def start(self) -> None:
        self.proc = spawn(self.argv, env=self.env, log_path=self.log_path)
        log.info("started %s (pid %s), log %s", self.name, self.proc.pid, self.log_path)

    def check(self, now: float) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.proc is not None:
            code = self.proc.returncode
            self.proc = None
            self.restarts += 1
            delay = min(30.0, 2.0 ** min(self.restarts, 5))
            self.next_start = now + delay
            log.warning("%s exited with code %s; restarting in %.0fs (see %s)", self.name, code, delay, self.log_path)
        if now >= self.next_start:
            self.start()


@dataclass
class DemoDeployment:
    settings: Settings
    rtsp_port: int
    web_port: int
    demo_password: str
    workers: list[Worker] = field(default_factory=list)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    cluster: str | None = None  # Ray address: the analytics tier runs there (`analytics cluster`)
    _rtsp: RtspSampleServer | None = None
    _redis: EmbeddedRedis | None = None

    def start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        logs = s.data_dir / "logs"
        s.cameras_file = cameras_for_port(s.cameras_file, self.rtsp_port, s.data_dir)
        names = sample_mount_names(s.cameras_file, self.rtsp_port)
        require_free_port(s.web_host, self.web_port, "网页服务", "--web-port")
        if names:
            require_free_port("127.0.0.1", self.rtsp_port, "示例摄像机 RTSP ", "--rtsp-port")
            video = s.samples_dir / SAMPLE_VIDEO
            self._rtsp = RtspSampleServer(
                [SampleMount(n, video, SAMPLE_FPS) for n in names], port=self.rtsp_port, log_path=logs / "rtsp.log"
            ).start()
            log.info("sample cameras on rtsp://127.0.0.1:%d/{%s}", self.rtsp_port, ",".join(names))
        redis_url = s.redis_url
        if not redis_url:
            self._redis = EmbeddedRedis(s.data_dir / "redis", appendfsync=s.redis_appendfsync).start()
            redis_url = self._redis.url
            log.info("embedded Valkey on %s (append-only file, appendfsync %s)", redis_url, s.redis_appendfsync)
        env: dict[str, str | None] = {
            "REDIS_URL": redis_url,
            "DATABASE_URL": s.resolved_database_url(),
            "XUELIANG_DATA_DIR": str(s.data_dir),
            "XUELIANG_CAMERAS_FILE": str(s.cameras_file),
            "XUELIANG_SECRET_KEY": s.demo_secret_key(),
            "XUELIANG_WEB_HOST": s.web_host,
            "XUELIANG_WEB_PORT": str(self.web_port),
            "XUELIANG_DEMO_PASSWORD": self.demo_password,
            "YOLO_OFFLINE": "1",
            "YOLO_AUTOINSTALL": "0",
            "YOLO_CONFIG_DIR": str(s.data_dir / "ultralytics"),
            # the GB worker's PS/control endpoint token, shared by web and analytics (docs/gb28181.md)
            "XUELIANG_GB28181_MEDIA_TOKEN": os.environ.get("XUELIANG_GB28181_MEDIA_TOKEN") or secrets.token_urlsafe(24),
        }
        xl = [sys.executable, "-m", "xueliang.cli"]
        for step in (["db", "upgrade"], ["db", "seed-demo"]):
            done = subprocess.run([*xl, *step], env={**os.environ, **{k: v for k, v in env.items() if v}}, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"`xueliang {' '.join(step)}` failed with code {done.returncode}")
        for problem in camera_position_problems(s):
            log.warning("%s", problem)
        self.metrics_ports = {"command": s.command_metrics_port or free_port(),
                              "analytics": s.analytics_metrics_port or free_port()}
        for name, args in (
            ("command", ["command", "run", "--metrics-port", str(self.metrics_ports["command"])]),
            ("analytics", ["analytics", "cluster", "--address", self.cluster] if self.cluster else
             ["analytics", "run", "--patrol", "--metrics-port", str(self.metrics_ports["analytics"])]),
            ("alarms", ["alarms", "run"]),
            *([("mobile", ["mobile", "run"])] if s.mqtt_url else []),
            # GB/T 28181 platform (SIP 5060 by default) when XUELIANG_GB28181_ENABLED=1: docs/gb28181.md
            *([("gb28181", ["gb28181", "run"])] if os.environ.get("XUELIANG_GB28181_ENABLED", "").lower() in ("1", "true", "yes") else []),
            ("web", ["web", "run"]),
        ):
            worker = Worker(name, [*xl, *args], env, logs / f"{name}.log")
            worker.start()
            self.workers.append(worker)
        wait_for_port(s.web_host, self.web_port, 60, self.workers[-1].proc)

    def supervise(self, stop_event: threading.Event) -> None:
        while not stop_event.wait(1.0):
            now = time.monotonic()
            for worker in self.workers:
                worker.check(now)

    def stop(self) -> None:
        # All workers at once, one shared grace period: the web process stops taking requests
        # while the workers flush, and Ctrl-C returns within ~10 s, not the sum of their shutdowns.
        stop_all([w.proc for w in self.workers if w.proc is not None], timeout=10)
        for worker in self.workers:
            worker.proc = None
        if self._redis is not None:
            self._redis.stop()
        if self._rtsp is not None:
            self._rtsp.stop()


def run_demo(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.web_port:
        settings.web_port = args.web_port
    if args.rtsp_port:
        settings.rtsp_port = args.rtsp_port
    password = os.environ.get("XUELIANG_DEMO_PASSWORD") or secrets.token_urlsafe(9)
    deployment = DemoDeployment(settings, settings.rtsp_port, settings.web_port, password, cluster=args.cluster)
    stop_event = stop_requested_by_signals(log)
    try:
        try:
            deployment.start()
        except DemoError as exc:
            print(f"xueliang demo: {exc}", file=sys.stderr, flush=True)
            return 2
        print(
            f"\n雪亮 demo is up: http://{settings.web_host}:{settings.web_port}/\n"
            f"  accounts: admin, county, t101…t113 (township operators), r1/r2 (responders)\n"
            f"  password: {password}   (set XUELIANG_DEMO_PASSWORD to choose it)\n"
            f"  metrics: " + ", ".join(f"{name} http://127.0.0.1:{port}/metrics" for name, port in deployment.metrics_ports.items())
            + f", web http://{settings.web_host}:{settings.web_port}/metrics (admin token)\n"
            f"  logs: {settings.data_dir / 'logs'}   stop: Ctrl-C\n",
            flush=True,
        )
        deployment.supervise(stop_event)
    finally:
        deployment.stop()
        log.info("demo stopped")
    return 0
