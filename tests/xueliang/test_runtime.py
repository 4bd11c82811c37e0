"""The embedded services really start, serve and stop."""

from __future__ import annotations

import os
import time

import av
import redis

from xueliang.runtime import EmbeddedRedis, RtspSampleServer, SampleMount


def test_rtsp_sample_server_streams_h264(rtsp_server: RtspSampleServer) -> None:
    container = av.open(rtsp_server.url("cam01"), options={"rtsp_transport": "tcp"}, timeout=(10, 5))
    try:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = []
        for frame in container.decode(stream):
            frames.append(frame)
            if len(frames) == 5:
                break
        assert (frames[0].width, frames[0].height) == (480, 360)
    finally:
        container.close()


def test_embedded_redis_streams_and_groups(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.xgroup_create("s", "g", id="0", mkstream=True)
    client.xadd("s", {"k": "v"})
    got = client.xreadgroup("g", "c1", {"s": ">"}, count=1)
    assert got[0][1][0][1] == {b"k": b"v"}
    # Unacknowledged entry can be reclaimed by another consumer (crash recovery).
    _, claimed, _ = client.xautoclaim("s", "g", "c2", min_idle_time=0, start_id="0")
    assert len(claimed) == 1


def test_servers_leave_no_process_behind(tmp_path) -> None:
    server = RtspSampleServer([SampleMount("x", __import__("tests.conftest").conftest.SAMPLE_H264)])
    server.start()
    pid = server.pid
    server.stop()
    red = EmbeddedRedis(tmp_path, persist=False).start()
    rpid = red._proc.pid
    red.stop()
    time.sleep(0.1)
    for p in (pid, rpid):
        try:
            os.kill(p, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive, f"process {p} survived stop()"


def test_embedded_redis_keeps_streams_groups_and_pending_entries_across_kill_9(tmp_path) -> None:
    """The durable log: with ``appendfsync always`` every acknowledged write survives SIGKILL of the server."""
    server = EmbeddedRedis(tmp_path / "redis", appendfsync="always").start()
    try:
        client = redis.Redis.from_url(server.url)
        client.xgroup_create("xl:alerts", "command", id="0", mkstream=True)
        ids = [client.xadd("xl:alerts", {"n": str(i)}) for i in range(200)]
        client.xreadgroup("command", "w1", {"xl:alerts": ">"}, count=50)  # 50 delivered, not acknowledged
        client.close()
        server.kill()
        server.start()  # same port and directory: replays the append-only file
        client = redis.Redis.from_url(server.url)
        assert [eid for eid, _ in client.xrange("xl:alerts")] == ids
        pending = client.xpending("xl:alerts", "command")
        assert pending["pending"] == 50 and pending["consumers"][0]["name"] == b"w1"
        client.close()
    finally:
        server.stop()


def test_embedded_redis_rejects_an_unknown_fsync_policy(tmp_path) -> None:
    import pytest

    with pytest.raises(ValueError, match="appendfsync"):
        EmbeddedRedis(tmp_path, appendfsync="sometimes").start()  # type: ignore[arg-type]


def test_stop_all_shares_one_grace_period_and_kills_what_ignores_it() -> None:
    """Three children that take 1.5 s to exit on SIGTERM and one that ignores it: stopped together
    in about the grace period (one after another would take 1.5 * 3 + 2 = 6.5 s)."""
    import subprocess
    import sys

    from xueliang.runtime import stop_all

    slow = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: (time.sleep(1.5), sys.exit(0))); print('up', flush=True); time.sleep(60)"
    deaf = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) for code in (slow, slow, slow, deaf)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"  # handlers installed
    t0 = time.monotonic()
    stop_all(procs, timeout=2.0)
    elapsed = time.monotonic() - t0
    assert [p.returncode for p in procs] == [0, 0, 0, -9]
    assert elapsed < 4.0, f"stopping took {elapsed:.1f}s"
