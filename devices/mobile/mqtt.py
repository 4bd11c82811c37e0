"""MQTT ingestion of telemetry (what drone docks and 4G terminals commonly speak).

Subscribes to ``xueliang/telemetry/+`` (QoS 0: a lost position is superseded by the
next one a second later). The last topic level is the unit id; the payload is the
JSON message of :mod:`devices.mobile.telemetry` (one object or a list), and
``unit_id`` may be omitted from it. A payload whose ``unit_id`` contradicts its
topic is rejected, so one terminal cannot report positions for another.

The broker is the deployment's (e.g. Mosquitto); credentials come from the
environment (``password_env``), never from a file.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.exc import SQLAlchemyError

from devices.mobile.http import Accepted, IngestResult, ingest_telemetry
from devices.mobile.telemetry import MobileTracker

log = logging.getLogger(__name__)

TOPIC_PREFIX = "xueliang/telemetry"


@dataclass
class BridgeStats:
    messages: int = 0
    accepted: int = 0
    rejected: int = 0
    last_errors: list[str] = field(default_factory=list)


class MqttTelemetryBridge:
    """Feeds a :class:`MobileTracker` from an MQTT broker; ``start()``/``stop()`` or use as a context manager."""

    def __init__(self, tracker: MobileTracker, *, host: str = "127.0.0.1", port: int = 1883,
                 topic_prefix: str = TOPIC_PREFIX, username: str | None = None, password_env: str | None = None,
                 client_id: str = "xueliang-devices", connect_timeout_s: float = 5.0,
                 on_accept: Accepted | None = None) -> None:
        self.tracker = tracker
        self._on_accept = on_accept
        self.host, self.port = host, port
        self.topic_prefix = topic_prefix.rstrip("/")
        self.stats = BridgeStats()
        self._connected = threading.Event()
        self._timeout = connect_timeout_s
        self._lock = threading.Lock()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if username is not None:
            password = None
            if password_env is not None:
                if password_env not in os.environ:
                    raise LookupError(f"MQTT password variable {password_env} is not set; export it before starting the bridge")
                password = os.environ[password_env]
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT broker %s:%s refused the connection: %s", self.host, self.port, reason)
            return
        client.subscribe(f"{self.topic_prefix}/+", qos=0)
        self._connected.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        unit = msg.topic.rsplit("/", 1)[-1]
        with self._lock:
            self.stats.messages += 1
        try:
            body = json.loads(msg.payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._reject(f"{msg.topic}: payload is not JSON ({exc})")
            return
        items = body if isinstance(body, list) else [body]
        fixed: list[Any] = []
        for item in items:
            if isinstance(item, dict):
                claimed = item.setdefault("unit_id", unit)
                if claimed != unit:
                    self._reject(f"{msg.topic}: unit_id {claimed!r} does not match the topic's unit {unit!r}")
                    continue
            fixed.append(item)
        if not fixed:
            return
        try:
            result: IngestResult = ingest_telemetry(self.tracker, fixed, on_accept=self._on_accept)
        except ValueError as exc:
            self._reject(f"{msg.topic}: {exc}")
            return
        except SQLAlchemyError as exc:  # the database is away: these reports are lost, the bridge keeps running
            self._reject(f"{msg.topic}: not stored ({type(exc).__name__}: {exc})")
            return
        with self._lock:
            self.stats.accepted += result.accepted
        for r in result.rejected:
            self._reject(f"{msg.topic}: {r.error}")

    def _reject(self, error: str) -> None:
        log.warning("telemetry rejected: %s", error)
        with self._lock:
            self.stats.rejected += 1
            self.stats.last_errors = (self.stats.last_errors + [error])[-20:]

    def start(self) -> MqttTelemetryBridge:
        """Connect and subscribe; raises ConnectionError if the broker does not answer in time."""
        try:
            self._client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise ConnectionError(f"cannot reach MQTT broker {self.host}:{self.port}: {exc}") from None
        self._client.loop_start()
        if not self._connected.wait(self._timeout):
            self.stop()
            raise ConnectionError(f"MQTT broker {self.host}:{self.port} did not accept the connection within {self._timeout} s")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttTelemetryBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
