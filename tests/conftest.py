"""Shared fixtures: real servers started for the test session, on free loopback ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
