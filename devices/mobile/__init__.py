"""Mobile units (drones, 4G terminals): telemetry, tracks, and 'what is near this point'.

Telemetry arrives over HTTP (:func:`ingest_telemetry`, :func:`make_router`) or MQTT
(:class:`devices.mobile.mqtt.MqttTelemetryBridge`, imported on demand).
"""

from devices.mobile.http import IngestResult, ingest_telemetry, make_router
from devices.mobile.telemetry import MobileTracker, Nearby, Telemetry, UnknownUnitError

__all__ = ["IngestResult", "MobileTracker", "Nearby", "Telemetry", "UnknownUnitError", "ingest_telemetry", "make_router"]
