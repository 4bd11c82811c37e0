"""The worker's device-health feed on its own: Redis outages, unwatched channels, sampling. Real Valkey."""

from __future__ import annotations

import json
import time

import numpy as np
import redis

from analytics.health import HealthConfig, HealthFeed
from devices import load_registry, publish_status
from ingest import Frame, StatusEvent
from xueliang.runtime import free_port
from xueliang.settings import REPO_ROOT

REGISTRY = load_registry(REPO_ROOT / "configs" / "cameras.yaml")


def events(client: redis.Redis) -> list[dict]:
    return [json.loads(f[b"event"])["payload"] for _, f in client.xrange("xl:events")]


def wait_until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_statuses_wait_for_redis_and_unwatched_channels_say_why(redis_url: str) -> None:
    live = redis.Redis.from_url(redis_url)
    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    target = {"client": dead}  # Redis "down" first: a real refused connection
    feed = HealthFeed(REGISTRY, lambda report: publish_status(target["client"], report),
                      HealthConfig(tick_every_s=0.2)).start()
    try:
        feed.watch(REGISTRY, {"cam01": "continuous", "cam05": "patrol"})
        feed.status(StatusEvent("cam01", "offline", "Connection refused"))
        wait_until(lambda: feed.summary()["unpublished"] >= 2)
        assert events(live) == []
        target["client"] = live  # Redis back: the newest report of every channel goes out on a tick
        wait_until(lambda: feed.summary()["unpublished"] == 0)
        latest = {p["camera_id"]: p for p in events(live)}
        assert latest["cam01"]["status"] == "offline" and latest["cam01"]["reason"] == "Connection refused"
        assert "cam05" not in latest, "a watched patrol channel waits for its first visit"
        assert latest["uav01"]["status"] == "unknown" and "analysis mode off" in latest["uav01"]["reason"]
        assert latest["cam06"]["status"] == "unknown" and "--patrol" in latest["cam06"]["reason"]
        # Frames: the first one is sampled at once, the next ones only when the channel's sample is due.
        image = np.full((360, 480, 3), 128, np.uint8)
        image[::8] = 30  # a textured, non-uniform picture
        for seq in range(20):
            feed.frame(Frame("cam02", image, time.monotonic(), time.time(), None, seq == 0, seq))
        wait_until(lambda: feed.samples == 1)
        time.sleep(0.3)
        assert feed.samples == 1, "frames within sample_every_s are not diagnosed"
    finally:
        feed.close()
        live.close()
        dead.close()
    latest = {p["camera_id"]: p for p in events(redis.Redis.from_url(redis_url))}
    assert latest["cam01"]["status"] == "unknown" and "worker stopped" in latest["cam01"]["reason"]


def test_a_worker_with_only_some_cameras_claims_only_those(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    feed = HealthFeed(REGISTRY, lambda report: publish_status(client, report),
                      HealthConfig(tick_every_s=0.2, claim_unwatched=False)).start()
    try:
        feed.watch(REGISTRY, {"cam01": "continuous"})
        feed.status(StatusEvent("cam01", "auth_failed", "401 Unauthorized"))
        wait_until(lambda: feed.published >= 1)
        time.sleep(0.3)
        assert [(p["camera_id"], p["status"]) for p in events(client)] == [("cam01", "auth_failed")]
    finally:
        feed.close()
        client.close()



def test_a_cameras_own_offline_timeout_outlives_the_workers_default() -> None:
    """cameras.yaml `health.offline_after_s` wins over the feed's continuous/patrol defaults."""
    from devices import parse_registry

    camera = """
  - id: {id}
    name: 超时 {id}
    jurisdiction: "330381101201"
    position: {{lat: 27.78, lon: 120.65}}
    streams: {{main: "rtsp://127.0.0.1:8554/{id}"}}
    analysis: {{mode: {mode}}}
"""
    registry = parse_registry("cameras:" + camera.format(id="plain", mode="continuous")
                              + camera.format(id="rounds", mode="patrol")
                              + camera.format(id="tuned", mode="continuous") + "    health: {offline_after_s: 120}\n")
    feed = HealthFeed(registry, lambda report: None,
                      HealthConfig(offline_after_s=7, patrol_offline_after_s=900), patrol_enabled=True).start()
    try:
        feed.watch(registry, {"plain": "continuous", "rounds": "patrol", "tuned": "continuous"})
        channels = feed.monitor.channels
        wait_until(lambda: channels["rounds"].offline_after_s == 900)  # the feed applied what it watches
        assert channels["plain"].offline_after_s == 7
        assert channels["tuned"].offline_after_s == 120 and channels["tuned"].default_offline_after_s == 7
    finally:
        feed.close()


def test_sampled_frames_send_a_heartbeat_to_redis(redis_url: str) -> None:
    """The device page's 在线 needs a recent frame: every sampled frame's wall time lands in LAST_FRAME_KEY."""
    from devices import LAST_FRAME_KEY

    client = redis.Redis.from_url(redis_url)
    client.delete(LAST_FRAME_KEY)
    feed = HealthFeed(REGISTRY, lambda report: None, HealthConfig(tick_every_s=0.2),
                      heartbeat=lambda seen: client.hset(LAST_FRAME_KEY, mapping=seen)).start()
    try:
        feed.watch(REGISTRY, {"cam01": "continuous"})
        image = np.full((360, 480, 3), 128, np.uint8)
        wall = time.time() - 1.5
        feed.frame(Frame("cam01", image, time.monotonic(), wall, None, True, 0))
        wait_until(lambda: client.hget(LAST_FRAME_KEY, "cam01") is not None)
        assert abs(float(client.hget(LAST_FRAME_KEY, "cam01")) - wall) < 1e-3
    finally:
        feed.close()
        client.close()
