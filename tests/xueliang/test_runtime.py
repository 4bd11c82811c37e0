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
