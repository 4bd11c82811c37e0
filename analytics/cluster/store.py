"""The persisted assignment in Redis (the central tier): who analyses which camera, with which epoch.

Keys (all under ``xl:cluster:``):

- ``epoch``             counter; every (re)assignment of a camera takes the next value
- ``epochs``            hash camera -> recent epochs with the time each came into force
                        (``command.EPOCHS_KEY``: the intake rejects an alert whose epoch was superseded at its time)
- ``assign``            hash camera -> JSON ``{"shard", "node", "epoch", "camera": <devices.Camera JSON>}``
- ``shards``            hash shard -> node id (the shards the controller created)
- ``shard:<id>``        set of the shard's cameras
- ``version``           hash shard -> counter bumped whenever the shard's set or a camera of it changes
- ``lease:<id>``        the shard's lease, renewed every ``lease_s / 3``; gone = the shard is lost

A restarted controller reads ``assign`` and ``shards`` and continues; a restarted shard
reads its set. Camera JSON keeps ``${ENV}`` references unresolved: no secret is stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from command import EPOCHS_KEY, push_epoch

if TYPE_CHECKING:
    import redis

PREFIX = "xl:cluster:"
EPOCH_COUNTER = PREFIX + "epoch"
ASSIGN = PREFIX + "assign"
SHARDS = PREFIX + "shards"
VERSIONS = PREFIX + "version"


def shard_set_key(shard: str) -> str:
    return f"{PREFIX}shard:{shard}"


def lease_key(shard: str) -> str:
    return f"{PREFIX}lease:{shard}"


@dataclass(frozen=True)
class Assigned:
    """One camera's assignment as persisted."""

    camera_id: str
    shard: str
    node: str
    epoch: int
    camera_json: str

    def dumps(self) -> str:
        return json.dumps({"shard": self.shard, "node": self.node, "epoch": self.epoch, "camera": self.camera_json})

    @classmethod
    def loads(cls, camera_id: str, raw: bytes | str) -> "Assigned":
        d = json.loads(raw)
        return cls(camera_id, d["shard"], d["node"], int(d["epoch"]), d["camera"])


def _s(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class AssignmentStore:
    """Reads and writes the assignment; every change is one MULTI/EXEC transaction."""

    def __init__(self, redis_client: redis.Redis) -> None:
        self.r = redis_client

    # -- controller side ------------------------------------------------------------------------------------------
    def load(self) -> dict[str, Assigned]:
        return {_s(k): Assigned.loads(_s(k), v) for k, v in self.r.hgetall(ASSIGN).items()}

    def shards(self) -> dict[str, str]:
        return {_s(k): _s(v) for k, v in self.r.hgetall(SHARDS).items()}

    def add_shards(self, shards: Mapping[str, str]) -> None:
        if shards:
            self.r.hset(SHARDS, mapping={sid: node for sid, node in shards.items()})

    def remove_shards(self, shards: Iterable[str]) -> None:
        shards = list(shards)
        if shards:
            pipe = self.r.pipeline(transaction=True)
            pipe.hdel(SHARDS, *shards)
            pipe.hdel(VERSIONS, *shards)
            for s in shards:
                pipe.delete(shard_set_key(s), lease_key(s))
            pipe.execute()

    def apply(self, upserts: Mapping[str, tuple[str, str, str]], removals: Iterable[str],
              current: Mapping[str, Assigned], new_epoch_for: Iterable[str]) -> dict[str, Assigned]:
        """Write changes: ``upserts`` camera -> (shard, node, camera JSON); ``removals`` cameras gone from the
        registry; cameras in ``new_epoch_for`` get a fresh epoch (moved or new). Returns the new entries."""
        new_epoch_for = set(new_epoch_for) | {c for c in upserts if c not in current}
        removals = [c for c in removals if c in current]
        if not upserts and not removals:
            return {}
        first = int(self.r.incrby(EPOCH_COUNTER, len(new_epoch_for))) - len(new_epoch_for) + 1 if new_epoch_for else 0
        fresh = iter(range(first, first + len(new_epoch_for)))
        renewed = sorted(c for c in upserts if c in new_epoch_for)
        histories = dict(zip(renewed, self.r.hmget(EPOCHS_KEY, renewed))) if renewed else {}
        now = time.time()
        written: dict[str, Assigned] = {}
        touched: set[str] = set()
        pipe = self.r.pipeline(transaction=True)
        for cid in sorted(upserts):
            shard, node, cam_json = upserts[cid]
            old = current.get(cid)
            if cid in new_epoch_for or old is None:  # a camera not in ``current`` is always in new_epoch_for
                epoch = next(fresh)
            else:
                epoch = old.epoch
            a = Assigned(cid, shard, node, epoch, cam_json)
            written[cid] = a
            pipe.hset(ASSIGN, cid, a.dumps())
            if cid in histories:
                pipe.hset(EPOCHS_KEY, cid, push_epoch(histories[cid], epoch, now))
            if old is not None and old.shard != shard:
                pipe.srem(shard_set_key(old.shard), cid)
                touched.add(old.shard)
            pipe.sadd(shard_set_key(shard), cid)
            touched.add(shard)
        for cid in removals:
            old = current[cid]
            pipe.hdel(ASSIGN, cid)
            # The epoch stays: a late alert of the removed camera's last analyser is still fenced by it.
            pipe.srem(shard_set_key(old.shard), cid)
            touched.add(old.shard)
        for shard in touched:
            pipe.hincrby(VERSIONS, shard, 1)
        pipe.execute()
        return written

    # -- shard side -----------------------------------------------------------------------------------------------
    def version(self, shard: str) -> int:
        return int(self.r.hget(VERSIONS, shard) or 0)

    def renew(self, shard: str, token: str, lease_ms: int) -> int:
        """Renew the shard's lease and read its version in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        pipe.set(lease_key(shard), token, px=lease_ms)
        pipe.hget(VERSIONS, shard)
        _, version = pipe.execute()
        return int(version or 0)

    def shard_cameras(self, shard: str) -> dict[str, Assigned]:
        """The cameras persisted for ``shard`` whose assignment still names it."""
        ids = sorted(_s(c) for c in self.r.smembers(shard_set_key(shard)))
        if not ids:
            return {}
        out: dict[str, Assigned] = {}
        for cid, raw in zip(ids, self.r.hmget(ASSIGN, ids)):
            if raw is not None:
                a = Assigned.loads(cid, raw)
                if a.shard == shard:
                    out[cid] = a
        return out

    def live_leases(self, shards: Iterable[str]) -> set[str]:
        shards = list(shards)
        if not shards:
            return set()
        pipe = self.r.pipeline(transaction=False)
        for s in shards:
            pipe.exists(lease_key(s))
        return {s for s, alive in zip(shards, pipe.execute()) if alive}

    def clear(self) -> None:
        """Forget the whole cluster state (``xueliang analytics cluster --stop``); epochs stay as fences."""
        keys = [ASSIGN, SHARDS, VERSIONS] + [k for k in self.r.scan_iter(match=PREFIX + "shard:*")] + \
            [k for k in self.r.scan_iter(match=PREFIX + "lease:*")]
        if keys:
            self.r.delete(*keys)
