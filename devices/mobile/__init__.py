"""Mobile units (drones, 4G terminals): telemetry, tracks kept in the database, and 'what is near this point'.

Telemetry arrives over HTTP (web's ``/api/mobile/telemetry`` through :func:`ingest_telemetry`) or
MQTT (:class:`devices.mobile.mqtt.MqttTelemetryBridge`, imported on demand, run by
``xueliang mobile run``); the receiver stores each accepted report (:class:`PositionStore`, table
``mobile_positions``) and publishes it as a ``device.position`` event for the live map.
"""

from devices.mobile.events import DEVICE_POSITION, position_event, publish_position, stored_by_publisher, telemetry_from_event
from devices.mobile.http import IngestResult, ingest_telemetry
from devices.mobile.store import PositionStore
from devices.mobile.telemetry import MobileTracker, Nearby, Telemetry, UnknownUnitError

__all__ = ["DEVICE_POSITION", "IngestResult", "MobileTracker", "Nearby", "PositionStore", "Telemetry", "UnknownUnitError",
           "ingest_telemetry", "position_event", "publish_position", "stored_by_publisher", "telemetry_from_event"]
