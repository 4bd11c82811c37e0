"""Shared fixtures: real servers started for the test session, on free loopback ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import port_open, private_mosquitto, private_postgres

from xueliang.runtime import EmbeddedRedis, RtspSampleServer, SampleMount
from xueliang.settings import REPO_ROOT

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")

SAMPLES = REPO_ROOT / "samples"
SAMPLE_H264 = SAMPLES / "vtest_480x360_g10.h264"
SAMPLE_H264_640 = SAMPLES / "vtest_640x360_g10.h264"
SAMPLE_CAMERAS = ("cam01", "cam02", "cam03", "cam04")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def rtsp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspSampleServer]:
    """A real GStreamer RTSP server serving the sample footage as cam01..cam04 at 10 fps."""
    server = RtspSampleServer(
        mounts=[SampleMount(name, SAMPLE_H264, fps=10) for name in SAMPLE_CAMERAS],
        log_path=tmp_path_factory.mktemp("rtsp") / "rtsp.log",
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A real Valkey server (Redis protocol) on a free port, without persistence."""
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False) as server:
        yield server


@pytest.fixture()
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    """The session Redis server, flushed before each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture()
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite database per test, or ``XUELIANG_TEST_DATABASE_URL`` (e.g. PostgreSQL) when set."""
    return os.environ.get("XUELIANG_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'test.db'}"


LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for this session: ``XUELIANG_TEST_DATABASE_URL`` when it names one, else a
    scratch database on a local server (127.0.0.1:5432, user postgres), else on a server of the
    session's own (tests/servers.py); dropped afterwards (the product itself never needs PostgreSQL)."""
    configured = os.environ.get("XUELIANG_TEST_DATABASE_URL", "")
    if configured.startswith("postgresql"):
        yield configured
        return
    from contextlib import ExitStack

    with ExitStack() as stack:
        admin_url = os.environ.get("XUELIANG_TEST_POSTGRES_ADMIN_URL", LOCAL_POSTGRES)
        if "XUELIANG_TEST_POSTGRES_ADMIN_URL" not in os.environ and not port_open("127.0.0.1", 5432):
            admin_url = stack.enter_context(private_postgres())
        yield from _scratch_database(admin_url)


def _scratch_database(admin_url: str) -> Iterator[str]:
    import uuid

    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"xueliang_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(host, port) of an MQTT broker: the local Mosquitto on 1883 when it runs, else one of the session's own."""
    if port_open("127.0.0.1", 1883):
        yield "127.0.0.1", 1883
        return
    with private_mosquitto(tmp_path_factory.mktemp("mosquitto")) as address:
        yield address
