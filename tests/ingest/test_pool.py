"""IngestPool: channels over two real child processes, frames back through shared memory, restart on crash."""

from __future__ import annotations

import os
import signal
import time

from ingest import ChannelSpec, IngestPool, SchedulerConfig, shard_of
from tests.ingest.helpers import wait_until

CAMS = ("cam01", "cam02", "cam03", "cam04")


def _fresh(pool: IngestPool, cid: str, after: float) -> bool:
    f = pool.read(cid)
    return f is not None and f.ts_monotonic > after


def test_pool_shards_channels_and_hands_frames_back(rtsp_server):
    assert {shard_of(c, 2) for c in CAMS} == {0, 1}, "the sample ids must land on both processes"
    with IngestPool(processes=2, slots_per_process=8, max_width=640, max_height=480,
                    config=SchedulerConfig(patrol_workers=1)) as pool:
        pool.sync([ChannelSpec(c, rtsp_server.url(c), "continuous", 5) for c in CAMS])
        t0 = time.monotonic()
        assert wait_until(lambda: all(_fresh(pool, c, t0) for c in CAMS), 20)
        f = pool.read("cam01")
        assert f.image.shape == (360, 480, 3) and f.image.std() > 10
        assert len(set(pool.store_names.values())) == 2
        reports = pool.report()
        assert sorted(c.id for r in reports for c in r.channels) == list(CAMS)
        assert all(c.mode == "continuous" for r in reports for c in r.channels)
        online = set()
        while not pool.status_events.empty():
            e = pool.status_events.get()
            if e.state == "online":
                online.add(e.channel_id)
        assert online == set(CAMS), "status events of every channel reach the parent"

        # a child killed with SIGKILL is restarted and its channels stream again
        victim = shard_of("cam01", 2)
        os.kill(pool.pids()[victim], signal.SIGKILL)
        t_kill = time.monotonic()
        assert wait_until(lambda: pool.restarts()[victim] == 1, 5)
        assert wait_until(lambda: _fresh(pool, "cam01", t_kill + 0.5), 20), "channels of a restarted process come back"

        # removing channels closes their connections
        pool.sync([ChannelSpec("cam02", rtsp_server.url("cam02"), "continuous", 5)])
        assert wait_until(lambda: [c.id for r in pool.report() for c in r.channels] == ["cam02"], 5)
        names = set(pool.store_names.values()) | {c.store.name for c in pool._children}
    for name in names:
        assert not os.path.exists(f"/dev/shm/{name}"), "stop() removes the shared-memory segments"
