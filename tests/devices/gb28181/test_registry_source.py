"""GB channels persisted in a migrated database and served by the same registry index as cameras.yaml."""

from __future__ import annotations

import sqlalchemy as sa

from command.db import open_database
from devices import RegistryWatcher
from devices.gb28181 import ChannelMapping, GbChannelSource
from devices.gb28181 import persist
from devices.gb28181.alerts import alarm_to_alert
from devices.gb28181.manscdp import CatalogItem
from devices.gb28181.platform import GbAlarm
from devices.gb28181.store import GbDevice

YAML = """version: 1
cameras:
  - id: cam-yaml-1
    name: 塘下镇政府
    jurisdiction: "330381101"
    position: {lat: 27.80, lon: 120.60}
    streams: {main: "rtsp://127.0.0.1:8554/cam1"}
  - id: "34020000001320000099"
    name: 同号的YAML摄像机
    jurisdiction: "330381"
    position: {lat: 27.81, lon: 120.61}
    streams: {main: "rtsp://127.0.0.1:8554/cam2"}
"""

DEV = "34020000001180000001"


def test_migration_matches_the_declared_tables(database_url) -> None:
    db = open_database(database_url, upgrade=True)
    insp = sa.inspect(db.engine)
    for table in (persist.devices_table, persist.channels_table):
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}
    db.dispose()


def test_channels_join_the_registry_and_follow_catalog_changes(tmp_path, database_url) -> None:
    db = open_database(database_url, upgrade=True)
    engine = db.engine
    persist.save_device(engine, GbDevice(device_id=DEV, addr=("10.1.1.5", 5060), proto="udp", name="塘下NVR", online=True))
    items = [
        CatalogItem(device_id="33038110", name="塘下镇"),  # a region: not a camera
        CatalogItem(device_id="34020000001320000001", name="中心路口", civil_code="330381101", latitude=27.9, longitude=120.6, ptz_type=1),
        CatalogItem(device_id="34020000001320000002", name="学校门口", civil_code="3403"),  # mapped by prefix
        CatalogItem(device_id="34020000001320000099", name="与YAML同号"),
    ]
    assert persist.save_catalog(engine, DEV, items) == 3
    cameras_file = tmp_path / "cameras.yaml"
    cameras_file.write_text(YAML)
    mapping = ChannelMapping(media_url="http://127.0.0.1:15999", civil_code_map={"3403": "330381102"}, default_jurisdiction="330381")
    watcher = RegistryWatcher(cameras_file, sources=[GbChannelSource(engine, mapping)])
    reg = watcher.current
    assert len(reg) == 4  # 2 from YAML + 2 GB channels (the duplicate id stays the YAML camera)
    ch1 = reg["34020000001320000001"]
    assert ch1.kind.value == "ptz" and ch1.jurisdiction == "330381101" and (ch1.position.lat, ch1.position.lon) == (27.9, 120.6)
    from devices import Camera
    assert Camera.model_validate(ch1.model_dump()) == ch1  # built without per-row validation, yet a valid camera
    # the PS endpoint's token is an environment reference in the registry, filled in only when connecting
    assert ch1.stream_url("main") == "http://gb:${XUELIANG_GB28181_MEDIA_TOKEN}@127.0.0.1:15999/gb28181/34020000001320000001.ps"
    assert ch1.stream_url("main", resolve_secrets=True, env={"XUELIANG_GB28181_MEDIA_TOKEN": "t0ken-t0ken-t0ken"}) == \
        "http://gb:t0ken-t0ken-t0ken@127.0.0.1:15999/gb28181/34020000001320000001.ps"
    assert reg["34020000001320000002"].jurisdiction == "330381102"
    assert reg["34020000001320000099"].name == "同号的YAML摄像机"
    assert {c.id for c in reg.in_jurisdiction("330381101")} == {"cam-yaml-1", "34020000001320000001"}
    assert set(reg.with_tag("gb28181").ids) == {"34020000001320000001", "34020000001320000002"}

    assert watcher.check() is None  # nothing changed
    persist.save_catalog(engine, DEV, items[:2] + [CatalogItem(device_id="34020000001310000007", name="新增通道")])
    diff = watcher.check()
    assert diff is not None and set(diff.added) == {"34020000001310000007"} and set(diff.removed) == {"34020000001320000002"}
    assert "34020000001310000007" in watcher.current and "cam-yaml-1" in watcher.current

    # the registry camera turns a device alarm into command's alert contract
    from command import AlertIn
    alarm = GbAlarm(device_id="34020000001320000001", from_device=DEV, priority="1", method="5", alarm_type="2", time="",
                    description="", lat=None, lon=None, received_at=1_800_000_000.0)
    alert = AlertIn(**alarm_to_alert(alarm, watcher.current["34020000001320000001"]))
    assert alert.rule_kind == "gb28181_alarm" and alert.jurisdiction_code == "330381101" and alert.lat == 27.9
    db.dispose()
