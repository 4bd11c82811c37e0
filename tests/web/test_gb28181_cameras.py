"""The web's camera directory serves GB/T 28181 channels beside cameras.yaml (XUELIANG_GB28181_ENABLED=1)."""

from __future__ import annotations

import time

from command.db import open_database
from devices.gb28181 import persist
from devices.gb28181.manscdp import CatalogItem
from web.cameras import camera_view, load_cameras

YAML = """version: 1
cameras:
  - id: cam-yaml-1
    name: 塘下镇政府
    jurisdiction: "330381101"
    position: {lat: 27.80, lon: 120.60}
    streams: {main: "rtsp://127.0.0.1:8554/cam1"}
"""
DEV, CH = "34020000001180000001", "34020000001320000001"


def test_directory_lists_gb_channels_in_scope_and_follows_new_catalogs(tmp_path, database_url, monkeypatch) -> None:
    monkeypatch.setenv("XUELIANG_GB28181_ENABLED", "1")
    db = open_database(database_url, upgrade=True)
    persist.save_catalog(db.engine, DEV, [CatalogItem(device_id=CH, name="中心路口", civil_code="330381101")])
    path = tmp_path / "cameras.yaml"
    path.write_text(YAML)
    directory = load_cameras(path, database_url)
    assert {c.id for c in directory.in_scope("330381101")} == {"cam-yaml-1", CH}
    assert directory.in_scope("330381102") == []
    view = camera_view(directory.get(CH))
    assert view["name"] == "中心路口" and "streams" not in view and "gb28181" in view["tags"]
    persist.save_catalog(db.engine, DEV, [CatalogItem(device_id=CH, name="中心路口"),
                                          CatalogItem(device_id="34020000001320000002", name="新通道", civil_code="330381101")])
    time.sleep(1.05)  # sources are checked at most once a second
    assert directory.get("34020000001320000002") is not None
    db.dispose()


def test_without_the_switch_the_directory_is_the_file_only(tmp_path, database_url, monkeypatch) -> None:
    monkeypatch.delenv("XUELIANG_GB28181_ENABLED", raising=False)
    path = tmp_path / "cameras.yaml"
    path.write_text(YAML)
    assert [c.id for c in load_cameras(path, database_url).in_scope("")] == ["cam-yaml-1"]
