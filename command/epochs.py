"""Fencing of scaled-out analytics: an alert from a camera's superseded analyser is refused.

The cluster placement controller (``analytics.cluster``) gives every camera assignment
an epoch and records, per camera in the hash ``xl:cluster:epochs``, its recent epochs
with the time each came into force (JSON ``[[epoch, since_unix_s], ...]``, oldest first).
Each alert carries the epoch its analyser held. An alert is stale when the epoch in
force at the alert's time is newer than the alert's: its shard had lost the camera
(paused, partitioned, slow to notice a move) when it saw that frame. Alerts raised
before a move but read by the intake after it still count. Alerts without an epoch
(the single-box worker) and cameras the cluster does not manage pass.

Precision is that of the clocks: node clocks must agree (NTP) to well under the
lease (seconds).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import redis

from command.schemas import AlertIn

EPOCHS_KEY = "xl:cluster:epochs"  # hash camera_id -> JSON [[epoch, since_unix_s], ...]
HISTORY = 8  # epochs kept per camera: enough for alerts delayed across several quick moves


def parse_epochs(value: bytes | str | None) -> list[tuple[int, float]]:
    if value is None:
        return []
    data = json.loads(value)
    if isinstance(data, int):  # a bare epoch: in force since ever
        return [(data, 0.0)]
    return [(int(e), float(t)) for e, t in data]


def push_epoch(value: bytes | str | None, epoch: int, since: float) -> str:
    """The hash value with ``epoch`` in force from ``since`` appended (the oldest dropped past ``HISTORY``)."""
    history = parse_epochs(value) + [(epoch, since)]
    return json.dumps(history[-HISTORY:])


def stale_alerts(redis_client: redis.Redis, alerts: Sequence[AlertIn]) -> dict[str, int]:
    """alert_id -> the epoch in force at the alert's time, for each alert whose epoch is older (one HMGET)."""
    fenced = [a for a in alerts if a.epoch is not None]
    if not fenced:
        return {}
    cameras = sorted({a.camera_id for a in fenced})
    history = {c: parse_epochs(v) for c, v in zip(cameras, redis_client.hmget(EPOCHS_KEY, cameras))}
    out: dict[str, int] = {}
    for alert in fenced:
        ts = alert.ts.timestamp()
        in_force = [e for e, since in history[alert.camera_id] if since <= ts]
        if in_force and alert.epoch is not None and alert.epoch < in_force[-1]:
            out[alert.alert_id] = in_force[-1]
    return out
