"""``xueliang gb28181 run``: the GB/T 28181 platform process.

Wires the SIP platform (:mod:`devices.gb28181`) to the rest of the product:
devices and catalogs persisted (the registry then serves the channels beside
``cameras.yaml``), device Alarms published to ``xl:alerts`` (rule_kind
``gb28181_alarm``, so they become incidents), keepalive-based device status as
``device.status`` events for each of the device's channels, and the PS endpoint
(:mod:`ingest.ps`) through which readers and live view pull a channel's video.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devices import Registry
from devices.gb28181 import ChannelMapping, GbAlarm, GbChannelSource, GbConfig, GbDevice, GbEvents, GbPlatform, persist
from devices.gb28181.alerts import alarm_to_alert
from devices.gb28181.manscdp import CatalogItem
from devices.gb28181.store import Position

log = logging.getLogger("xueliang.gb28181")


@dataclass
class GbSinks:
    """Where the worker's events go (Redis client may be None: then alerts and status are only logged)."""

    engine: Any
    redis: Any | None
    registry: Any  # Callable[[], Registry]
    mapping: ChannelMapping = field(default_factory=ChannelMapping)
    positions: dict[str, Position] = field(default_factory=dict)


class GbWorker:
    def __init__(self, config: GbConfig, sinks: GbSinks, *, media_host: str = "127.0.0.1", media_bind: str = "127.0.0.1",
                 media_port: int = 15080, media_mode: str = "udp", rtp_bind: str = "0.0.0.0", media_token: str) -> None:
        self.config, self.sinks = config, sinks
        self.platform = GbPlatform(config, GbEvents(on_device=self._on_device, on_catalog=self._on_catalog,
                                                    on_alarm=self._on_alarm, on_position=self._on_position))
        from ingest.ps import GbMediaHub, PsHttpServer

        self.hub = GbMediaHub(self.platform, media_host=media_host, bind_host=rtp_bind, mode=media_mode)  # type: ignore[arg-type]
        self.platform.on_remote_bye = self.hub.on_remote_bye
        for device_id, kind in sinks.mapping.device_kinds.items():  # drones and 4G terminals report positions:
            if kind in ("drone", "4g_terminal"):  # subscribed on each registration, refreshed before expiry
                self.platform.position_subs.want(device_id)
        self.http = PsHttpServer(self.hub, media_bind, media_port, control=self.control, token=media_token)
        self._bg: set[asyncio.Future[Any]] = set()

        self.cascade: Any = None

    async def start(self, upper: Any = None, scope: str = "") -> GbWorker:
        self._loop = asyncio.get_running_loop()  # alarms are published from worker threads
        await self.platform.start()
        await self.http.start()
        if upper is not None:
            await self.start_cascade(upper, scope)
        return self

    async def start_cascade(self, upper: Any, scope: str) -> None:
        """Report up to the city: channels of the registry under *scope* whose id is a 20-digit GB code."""
        from devices.gb28181 import is_id
        from devices.gb28181.cascade import CascadeChannel, CascadeClient
        from ingest.ps.cascade import hub_starter, remux_starter

        def channels() -> list[CascadeChannel]:
            reg: Registry = self.sinks.registry()
            cams = reg.in_jurisdiction(scope) if scope else reg
            return [CascadeChannel(c.id, c.name, c.jurisdiction[:6], c.vendor or "Xueliang", c.position.lat, c.position.lon)
                    for c in cams if is_id(c.id)]
        from_gb, from_camera = hub_starter(self.hub), remux_starter(
            lambda cid: self.sinks.registry()[cid].stream_url("main", resolve_secrets=True), realtime=False)

        async def media(channel_id: str, offer: Any) -> Any:
            if channel_id in self.platform.store.channels:  # a GB channel: pass its PS through
                return await from_gb(channel_id, offer)
            return await from_camera(channel_id, offer)  # an RTSP camera: re-mux, no re-encode
        self.cascade = await CascadeClient(upper, channels, media).start()

    async def stop(self) -> None:
        if self.cascade is not None:
            await self.cascade.stop()
        await self.hub.close()
        await self.http.stop()
        await self.platform.stop()
        if self._bg:
            await asyncio.gather(*self._bg, return_exceptions=True)

    def _later(self, fn: Any, *args: Any) -> None:
        """Database/Redis writes off the event loop, in order of submission per call site."""
        fut = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        self._bg.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: asyncio.Future[Any]) -> None:
        self._bg.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            log.error("GB28181 worker: background write failed: %s", fut.exception())

    # -- platform events ---------------------------------------------------------------------
    def _on_device(self, dev: GbDevice, event: str) -> None:
        self._later(persist.save_device, self.sinks.engine, dev)
        if event in ("offline", "online", "unregistered", "auth_failed"):
            self._later(self._publish_status, dev, event)

    def _publish_status(self, dev: GbDevice, event: str) -> None:
        if self.sinks.redis is None:
            return
        from devices.health import DeviceStatus, publish_status
        from devices.health.status import HealthReport

        registry: Registry = self.sinks.registry()
        status = {"online": DeviceStatus.online, "auth_failed": DeviceStatus.auth_failed}.get(event, DeviceStatus.offline)
        now = dt.datetime.now(dt.UTC)
        for cam in registry.with_tag(f"gb:{dev.device_id}"):
            publish_status(self.sinks.redis, HealthReport(
                camera_id=cam.id, camera_name=cam.name, jurisdiction_code=cam.jurisdiction, status=status,
                reason=dev.offline_reason or {"online": "设备心跳恢复", "auth_failed": "设备注册认证失败"}.get(event, event),
                since=now, checked_at=now))

    def _on_catalog(self, device_id: str, items: list[CatalogItem], complete: bool) -> None:
        self._later(persist.save_catalog, self.sinks.engine, device_id, items)

    def _on_alarm(self, alarm: GbAlarm) -> None:
        self._later(self._publish_alarm, alarm)

    def _publish_alarm(self, alarm: GbAlarm) -> None:
        camera = self._camera_for(alarm.device_id, alarm.from_device)
        if camera is None:
            log.warning("GB28181: alarm from %s (channel %s) dropped: no registry channel for it yet (catalog not received?)",
                        alarm.from_device, alarm.device_id)
            return
        from command import AlertIn, publish_alert

        alert = AlertIn(**alarm_to_alert(alarm, camera))
        if self.sinks.redis is not None:
            publish_alert(self.sinks.redis, alert, b"")
        if self.cascade is not None and self.cascade.registered:  # forward to the upper platform
            asyncio.run_coroutine_threadsafe(self.cascade.forward_alarm(alarm), self._loop)
        log.info("GB28181: alarm of %s published as alert %s", camera.id, alert.alert_id)

    def _camera_for(self, channel_id: str, device_id: str) -> Any:
        """The registry camera of a channel. An alarm or position naming the device itself stands for the
        device's first channel in catalog order. Before the registry caught up with a fresh catalog, the
        same camera is built from the platform's own catalog (an alarm must not wait for a reload)."""
        store = self.platform.store
        if channel_id not in store.channels:
            first = next((cid for cid, (d, _) in store.channels.items() if d == device_id), None)
            if first is not None:
                channel_id = first
        registry: Registry = self.sinks.registry()
        camera = registry.get(channel_id)
        if camera is not None:
            return camera
        owner = store.channels.get(channel_id)
        if owner is None:
            cams = registry.with_tag(f"gb:{device_id}")  # the platform restarted and has no catalog yet
            return cams[0] if len(cams) else None
        from devices.gb28181.cameras import channel_cameras
        from devices.gb28181.persist import ChannelRow

        dev, it = owner
        built = channel_cameras([ChannelRow(channel_id=it.device_id, device_id=dev, name=it.name, civil_code=it.civil_code,
                                            manufacturer=it.manufacturer, model=it.model, lat=it.latitude, lon=it.longitude,
                                            ptz_type=it.ptz_type)], self.sinks.mapping)
        return built[0] if built else None

    async def control(self, channel_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """What the web process asks of a GB channel: ``ptz`` (the web's PtzIn body) and ``records``."""
        from devices.gb28181 import ptz

        if action == "ptz":
            kind = body.get("action")
            if kind == "move":
                def speed(name: str, top: int) -> int:
                    v = float(body.get(name, 0.0))
                    if not -1 <= v <= 1:
                        raise ValueError(f"{name} {v} outside -1..1")
                    return round(v * top)
                cmd = ptz.PtzMove(pan=speed("pan", 255), tilt=speed("tilt", 255), zoom=speed("zoom", 15)).command()
                await self.platform.ptz(channel_id, cmd)
                timeout_s = min(max(float(body.get("timeout_s", 1.0)), 0.1), 10.0)
                asyncio.get_running_loop().call_later(timeout_s, lambda: asyncio.ensure_future(self._stop_ptz(channel_id)))
                return {"ptz_cmd": cmd}
            if kind == "stop":
                await self.platform.ptz(channel_id, ptz.STOP)
                return {"ptz_cmd": ptz.STOP}
            if kind in ("goto_preset", "set_preset"):
                raw = str(body.get("preset", ""))
                if not raw.isdigit():
                    raise ValueError(f"国标预置位为 1–255 的编号，收到 {raw!r}")
                cmd = ptz.preset(ptz.PRESET_CALL if kind == "goto_preset" else ptz.PRESET_SET, int(raw))
                await self.platform.ptz(channel_id, cmd)
                return {"ptz_cmd": cmd, "preset": raw}
            raise ValueError(f"unknown PTZ action {kind!r}")
        if action == "records":
            items = await self.platform.query_record_info(channel_id, str(body.get("start", "")), str(body.get("end", "")))
            return {"items": items}
        raise LookupError(f"unknown action {action!r}")

    async def _stop_ptz(self, channel_id: str) -> None:
        from devices.gb28181 import ptz

        try:
            await self.platform.ptz(channel_id, ptz.STOP)
        except (LookupError, TimeoutError) as exc:
            log.warning("GB28181: PTZ stop of %s after the move's timeout failed: %s", channel_id, exc)

    def _on_position(self, pos: Position) -> None:
        self.sinks.positions[pos.device_id] = pos
        self._later(self._publish_position, pos)

    def _publish_position(self, pos: Position) -> None:
        """MobilePosition → ``device.position`` (the map and "who is within R m" follow those events)."""
        camera = self._camera_for(pos.device_id, pos.device_id)
        if camera is None or self.sinks.redis is None:
            log.info("GB28181: position of %s not published (no channel in the registry yet or no Redis)", pos.device_id)
            return
        from devices import Telemetry
        from devices.mobile.events import publish_position

        try:
            ts = dt.datetime.fromisoformat(pos.time) if pos.time else dt.datetime.fromtimestamp(pos.received_at)
        except ValueError:
            ts = dt.datetime.fromtimestamp(pos.received_at)
        if ts.tzinfo is None:  # devices send local time without an offset (GB/T 28181 times are local)
            ts = ts.astimezone()
        try:
            report = Telemetry(unit_id=camera.id, ts=ts, lat=pos.lat, lon=pos.lon,
                               heading_deg=pos.direction if pos.direction is not None and 0 <= pos.direction <= 360 else None,
                               speed_mps=round(pos.speed / 3.6, 3) if pos.speed is not None and 0 <= pos.speed < 720 else None)
        except ValueError as exc:
            log.warning("GB28181: MobilePosition of %s not usable: %s", pos.device_id, exc)
            return
        publish_position(self.sinks.redis, report, camera)


def upper_from_env(env: dict[str, str] | None = None) -> Any:
    """``XUELIANG_GB28181_UPPER=<upper id>@<host>:<port>``, ``_UPPER_PASSWORD``, ``_UPPER_LOCAL_ID`` (default: ours)."""
    from devices.gb28181.cascade import UpperPlatform

    env = dict(os.environ) if env is None else env
    spec = env.get("XUELIANG_GB28181_UPPER", "")
    if not spec:
        return None
    upper_id, _, hostport = spec.partition("@")
    host, _, port = hostport.rpartition(":")
    if not (host and port.isdigit()):
        raise SystemExit(f"XUELIANG_GB28181_UPPER={spec!r}: write <20-digit id>@<host>:<port>")
    password = env.get("XUELIANG_GB28181_UPPER_PASSWORD")
    if not password:
        raise SystemExit("XUELIANG_GB28181_UPPER_PASSWORD is not set (the upper platform's password for us)")
    local = env.get("XUELIANG_GB28181_UPPER_LOCAL_ID") or env.get("XUELIANG_GB28181_ID") or GbConfig().platform_id
    return UpperPlatform(upper_id, host, int(port), local, password,
                         local_host=env.get("XUELIANG_GB28181_ADVERTISED_HOST", "127.0.0.1"))


def run_worker(args: argparse.Namespace) -> int:
    import redis

    from command.db import open_database
    from devices import RegistryWatcher
    from xueliang.runtime import stop_requested_by_signals
    from xueliang.settings import Settings

    from devices.gb28181.config import token_from_env

    settings = Settings()
    try:  # every route of the PS/control endpoint but /health needs it: no token, no worker
        media_token = token_from_env()
    except ValueError as exc:
        raise SystemExit(f"xueliang gb28181 run: {exc}") from None
    overrides: dict[str, Any] = {}
    if args.port is not None:
        overrides["port"] = args.port
    config = GbConfig.from_env(**overrides)
    db = open_database(settings.resolved_database_url(), upgrade=True)
    client = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    if client is None:
        log.warning("REDIS_URL not set: GB28181 alarms and device status are logged only")
    # Other processes (web, analytics) build the same URLs from XUELIANG_GB28181_MEDIA_URL: keep them equal.
    mapping = replace(ChannelMapping.from_env(), media_url=f"http://{args.media_host}:{args.media_port}")
    watcher = RegistryWatcher(Path(args.cameras or settings.cameras_file), sources=[GbChannelSource(db.engine, mapping)])
    stop_event = stop_requested_by_signals(log)
    upper = upper_from_env()

    async def main() -> None:
        worker = await GbWorker(config, GbSinks(db.engine, client, lambda: watcher.current, mapping), media_host=args.media_host,
                                media_bind=args.media_host, media_port=args.media_port, media_mode=args.media_mode,
                                media_token=media_token).start(upper, os.environ.get("XUELIANG_GB28181_UPPER_SCOPE", ""))
        log.info("GB28181 platform %s (domain %s) on %s:%d; PS endpoint http://%s:%d", config.platform_id, config.domain,
                 config.host, worker.platform.port, args.media_host, args.media_port)
        try:
            while not stop_event.is_set():
                await asyncio.sleep(1.0)
                await asyncio.to_thread(watcher.check)
        finally:
            await worker.stop()

    asyncio.run(main())
    db.dispose()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    gb = sub.add_parser("gb28181", help="GB/T 28181 platform: devices register over SIP, channels join the registry")
    gb_sub = gb.add_subparsers(dest="gb_command", required=True)
    run = gb_sub.add_parser("run", help="SIP server (UDP+TCP), catalog/alarm/keepalive handling, PS endpoint for readers")
    run.add_argument("--port", type=int, default=None, help="SIP port (default XUELIANG_GB28181_PORT or 5060)")
    run.add_argument("--cameras", help="registry file (default: XUELIANG_CAMERAS_FILE or configs/cameras.yaml)")
    run.add_argument("--media-host", default="127.0.0.1", help="address offered to devices in the SDP and serving the PS endpoint")
    run.add_argument("--media-port", type=int, default=15080, help="PS endpoint port (readers open http://HOST:PORT/gb28181/<id>.ps)")
    run.add_argument("--media-mode", choices=("udp", "tcp-passive", "tcp-active"), default="udp", help="RTP transport asked in INVITEs")
    run.set_defaults(func=run_worker)
