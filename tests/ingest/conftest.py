"""Ingest fixtures: a GStreamer RTSP server with camera-like mounts (see tests/ingest/cameras.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ingest.cameras import camera_server
from xueliang.runtime import RtspSampleServer


@pytest.fixture(scope="session")
def cameras(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspSampleServer]:
    with camera_server(tmp_path_factory.mktemp("cameras")) as server:
        yield server
