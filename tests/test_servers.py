"""The test session's own PostgreSQL and Mosquitto (used on a machine that runs neither) really start and serve."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from sqlalchemy import create_engine, text

from tests.servers import private_mosquitto, private_postgres


def test_private_postgres_serves_sql() -> None:
    with private_postgres() as url:
        engine = create_engine(url)
        with engine.connect() as connection:
            assert connection.execute(text("select current_setting('server_version_num')::int")).scalar() >= 150000
        engine.dispose()


def test_private_mosquitto_accepts_a_client(tmp_path) -> None:
    with private_mosquitto(tmp_path) as (host, port):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        assert client.connect(host, port) == mqtt.MQTT_ERR_SUCCESS
        client.disconnect()
