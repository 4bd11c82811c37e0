"""``xueliang mobile run``: drone / 4G-terminal telemetry from an MQTT broker becomes ``device.position`` events.

The bridge subscribes to ``<prefix>/<unit_id>``, validates each report against the registry
(followed on disk), stores every accepted one in the database (``mobile_positions``, where web
reads positions and tracks) and publishes it on ``xl:events``, from where web pushes it to the
map. ``xueliang demo`` runs it when ``XUELIANG_MQTT_URL`` is set.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from urllib.parse import urlsplit

import redis

from command import open_database
from devices import Camera, MobileTracker, RegistryWatcher, Telemetry, publish_position
from devices.mobile import PositionStore
from devices.mobile.mqtt import TOPIC_PREFIX, MqttTelemetryBridge
from xueliang.runtime import stop_requested_by_signals
from xueliang.settings import Settings

log = logging.getLogger("xueliang.mobile")


def broker_address(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` → (host, port); a sentence for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise SystemExit(f"XUELIANG_MQTT_URL must look like mqtt://127.0.0.1:1883, not {url!r}")
    return parts.hostname, parts.port or 1883


def run_mobile(args: argparse.Namespace) -> int:
    settings = Settings()
    mqtt_url = args.mqtt or settings.mqtt_url
    if not mqtt_url or not settings.redis_url:
        raise SystemExit("xueliang mobile run needs XUELIANG_MQTT_URL (or --mqtt) and REDIS_URL")
    host, port = broker_address(mqtt_url)
    watcher = RegistryWatcher(Path(args.cameras or settings.cameras_file), interval_s=2.0,
                              on_error=lambda exc: log.error("cameras file not reloaded: %s", exc))
    database = open_database(settings.resolved_database_url())
    store = PositionStore(database.engine)
    try:
        store.check()
    except RuntimeError as exc:
        database.dispose()
        watcher.stop()
        raise SystemExit(str(exc)) from None
    client = redis.Redis.from_url(settings.redis_url)

    def publish(report: Telemetry, unit: Camera) -> None:
        publish_position(client, report, unit, stored=True)

    bridge = MqttTelemetryBridge(MobileTracker(lambda: watcher.current, store=store), host=host, port=port,
                                 topic_prefix=args.topic_prefix, on_accept=publish)
    stop_event = stop_requested_by_signals(log)
    watcher.start()
    try:
        bridge.start()
        log.info("telemetry from mqtt://%s:%d/%s/+ → xl:events device.position", host, port, args.topic_prefix)
        stop_event.wait()
    except ConnectionError as exc:
        log.error("%s; retrying is the supervisor's job", exc)
        return 1
    finally:
        bridge.stop()
        watcher.stop()
        log.info("mobile bridge stopped: %s", bridge.stats)
        client.close()
        database.dispose()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    mobile = sub.add_parser("mobile", help="drone / 4G-terminal telemetry over MQTT → the database and device.position events")
    mobile_sub = mobile.add_subparsers(dest="mobile_command", required=True)
    run = mobile_sub.add_parser("run", help="bridge an MQTT broker's telemetry topics to xl:events")
    run.add_argument("--mqtt", help="broker URL, mqtt://host:port (default: XUELIANG_MQTT_URL)")
    run.add_argument("--topic-prefix", default=TOPIC_PREFIX, help=f"topics <prefix>/<unit_id> (default {TOPIC_PREFIX})")
    run.add_argument("--cameras", help="registry file (default: XUELIANG_CAMERAS_FILE)")
    run.set_defaults(func=run_mobile)
