"""The shard's parts apart from Ray: clips shipped to the central media dir, the alert naming the central
path, the central write refusing foreign paths, and the controller's registry with its other sources."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from analytics.cluster.controller import Controller, ControllerConfig, store_media
from analytics.cluster.shard import ClipShipper, EpochPublisher
from analytics.cluster.store import AssignmentStore
from command import AlertIn
from devices import Camera, load_registry
from tests.analytics.test_worker import write_cameras


def _clip(spool: Path, name: str, data: bytes = b"\x00\x00\x00\x18ftypmp42") -> Path:
    path = spool / "clips" / "c01" / "20261204" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_shipper_sends_finished_clips_and_markers_not_partial_ones_and_retries(tmp_path: Path):
    spool, central = tmp_path / "spool", tmp_path / "central"
    done = _clip(spool, "a1.mp4", b"clip-a1")
    failed = _clip(spool, "a2.mp4.failed", "录像未能写入：ValueError".encode())
    partial = _clip(spool, "a3.part.mp4")
    away = [True]

    def sink(relative: str, data: bytes) -> None:
        if away[0]:
            raise ConnectionError("controller restarting")
        store_media(central, relative, data)

    shipper = ClipShipper(spool, sink, every_s=3600)  # passes driven by the test
    try:
        assert shipper.ship() == 0 and done.exists() and shipper.failures == 1  # kept for the next pass
        away[0] = False
        assert shipper.ship() == 2
        assert (central / "clips/c01/20261204/a1.mp4").read_bytes() == b"clip-a1"
        assert (central / "clips/c01/20261204/a2.mp4.failed").read_text(encoding="utf-8").startswith("录像未能写入")
        assert not done.exists() and not failed.exists() and partial.exists()
        assert not list((central / "clips/c01/20261204").glob("*.tmp"))
    finally:
        shipper.close(timeout=1)


@pytest.mark.parametrize("relative", ["../etc/passwd.mp4", "clips/../../x.mp4", "snapshots/a.jpg", "clips/c/a.py",
                                      "/tmp/clips/a.mp4"])
def test_central_write_refuses_anything_but_a_clip_inside_the_media_dir(tmp_path: Path, relative: str):
    with pytest.raises(ValueError):
        store_media(tmp_path / "media", relative, b"x")
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*.mp4"))


def test_alerts_name_the_clip_in_the_central_media_dir_with_the_epoch(redis_url, tmp_path: Path):
    client = redis.Redis.from_url(redis_url)
    spool, central = tmp_path / "node" / "media", tmp_path / "central" / "media"
    publisher = EpochPublisher(client, {"c01": 7}, spool, central)
    alert = AlertIn(alert_id=uuid.uuid4().hex, camera_id="c01", camera_name="c01", jurisdiction_code="330381101201",
                    rule_id="walkway", rule_kind="zone_intrusion", object_class="person", confidence=0.8,
                    ts=datetime.now(UTC), frame_width=480, frame_height=360, dedup_key="c01:x",
                    clip_path=str(spool / "clips/c01/20261204/a1.mp4"))
    publisher.submit(alert, b"")
    publisher.submit(alert.model_copy(update={"camera_id": "c02", "alert_id": uuid.uuid4().hex}), b"")  # not held
    publisher.close()
    sent = [json.loads(f[b"alert"]) for _, f in client.xrange("xl:alerts")]
    assert len(sent) == 1 and publisher.fenced == 1
    assert sent[0]["epoch"] == 7 and sent[0]["clip_path"] == str(central / "clips/c01/20261204/a1.mp4")
    client.close()


class _Ops:
    """One analytics node with two shards, no Ray: what the controller decides is all that is looked at."""

    def analytics_nodes(self) -> dict[str, float]:
        return {"node-a": 2.0}

    def ensure_node(self, node_id: str, shard_ids: list[str]) -> None:
        pass

    def nudge(self, shard_ids: list[str]) -> None:
        pass

    def drop(self, shard_ids: list[str]) -> None:
        pass


class _Source:
    """A registry source beside cameras.yaml (as the GB/T 28181 channels are), with one camera."""

    name = "gb28181"

    def __init__(self, camera: Camera) -> None:
        self.camera = camera

    def version(self) -> str:
        return "v1"

    def cameras(self) -> list[Camera]:
        return [self.camera]


def test_controller_places_the_whole_registry_and_shards_get_it_from_redis(redis_url, tmp_path: Path):
    cameras_file = write_cameras(tmp_path / "cameras.yaml", {"c01": "rtsp://10.0.0.1/a", "c02": "rtsp://10.0.0.2/a"})
    gb = load_registry(write_cameras(tmp_path / "gb.yaml", {"gb-34020000001320000001": "rtsp://10.0.0.3/a"}))
    config = ControllerConfig(cameras_file=str(cameras_file), redis_url=redis_url, media_dir=str(tmp_path / "media"),
                              model_path="unused.onnx")
    client = redis.Redis.from_url(redis_url)
    controller = Controller(config, _Ops(), client, sources=[_Source(gb.cameras["gb-34020000001320000001"])])
    controller.tick()
    assigned = controller.status()["assignment"]
    assert set(assigned) == {"c01", "c02", "gb-34020000001320000001"}
    cameras_file.unlink()  # a node has no registry file: what a shard reads is all in Redis
    store = AssignmentStore(client)
    got = {cid: Camera.model_validate_json(a.camera_json)
           for shard in controller.shards for cid, a in store.shard_cameras(shard).items()}
    assert set(got) == set(assigned) and str(got["gb-34020000001320000001"].streams.main).startswith("rtsp://10.0.0.3")
    client.close()
