"""Mobile units (drones, 4G terminals): telemetry, tracks, and 'what is near this point'.

Telemetry arrives over HTTP (web's ``/api/mobile/telemetry`` through :func:`ingest_telemetry`) or
MQTT (:class:`devices.mobile.mqtt.MqttTelemetryBridge`, imported on demand, run by
``xueliang mobile run``); accepted reports travel as ``device.position`` events.
"""

from devices.mobile.events import DEVICE_POSITION, position_event, publish_position, telemetry_from_event
from devices.mobile.http import IngestResult, ingest_telemetry
from devices.mobile.telemetry import MobileTracker, Nearby, Telemetry, UnknownUnitError

__all__ = ["DEVICE_POSITION", "IngestResult", "MobileTracker", "Nearby", "Telemetry", "UnknownUnitError", "ingest_telemetry",
           "position_event", "publish_position", "telemetry_from_event"]
