"""Fault tests with real servers and real sockets (issue 5 §6).

- server killed (SIGKILL) and restarted on the same port: every channel reported
  offline within 10 s of the loss, streaming again within 5 s of the return;
- server frozen (SIGSTOP): offline within 10 s (read timeout), back after SIGCONT;
- wrong credentials: auth_failed, one attempt, no reconnect storm;
- corrupt / truncated H.264: counted, no crash, other channels unaffected;
- channel removed from the registry: its connection closed within 2 s.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from ingest import ChannelScheduler, ChannelSpec, SchedulerConfig, StreamReader
from tests.conftest import SAMPLE_H264_640
from tests.ingest.corrupt import make_corrupt_h264
from tests.ingest.helpers import Frames, StatusLog, connections_to, wait_until
from xueliang.runtime import RtspSampleServer, SampleMount

CHANNELS = [f"k{i}" for i in range(4)]


@pytest.fixture()
def own_server(tmp_path):
    """A private server this test may kill (the session `rtsp_server` is shared)."""
    servers: list[RtspSampleServer] = []

    def start(port: int = 0, **kwargs) -> RtspSampleServer:
        mounts = kwargs.pop("mounts", None) or [SampleMount(c, SAMPLE_H264_640, fps=10) for c in CHANNELS]
        server = RtspSampleServer(mounts, port=port, log_path=tmp_path / f"rtsp{len(servers)}.log", **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for s in servers:
        if s.pid is not None:
            try:
                os.kill(s.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        s.stop()


def _start_readers(server: RtspSampleServer, frames: Frames, status: StatusLog) -> list[StreamReader]:
    readers = [StreamReader(ChannelSpec(c, server.url(c), fps=5), on_frame=frames, on_status=status) for c in CHANNELS]
    for r in readers:
        r.start()
    assert wait_until(lambda: all(frames.of(c) for c in CHANNELS), 10), status.states()
    return readers


def test_server_killed_and_restarted(own_server):
    server = own_server()
    port = server.port
    frames, status = Frames(), StatusLog()
    readers = _start_readers(server, frames, status)
    try:
        os.kill(server.pid, signal.SIGKILL)
        t_loss = time.monotonic()
        server.stop()
        assert wait_until(lambda: all(status.first("offline", c, after=t_loss) for c in CHANNELS), 10), status.states()
        for c in CHANNELS:
            t, event = status.first("offline", c, after=t_loss)
            assert t - t_loss <= 10 and event.reason
        time.sleep(4.0)  # down long enough for the back-off to grow
        own_server(port=port)
        t_back = time.monotonic()
        assert wait_until(lambda: all(frames.of(c, after=t_back) for c in CHANNELS), 5.0), (
            f"not all channels back within 5 s: {[c for c in CHANNELS if not frames.of(c, after=t_back)]}"
        )
        for c in CHANNELS:
            assert status.first("online", c, after=t_back) is not None
    finally:
        for r in readers:
            r.request_stop()
        for r in readers:
            assert r.join(3)


def test_frozen_server_is_detected_by_the_read_timeout(own_server):
    server = own_server()
    frames, status = Frames(), StatusLog()
    readers = _start_readers(server, frames, status)
    try:
        os.kill(server.pid, signal.SIGSTOP)
        t_freeze = time.monotonic()
        assert wait_until(lambda: all(status.first("offline", c, after=t_freeze) for c in CHANNELS), 10), status.states()
        os.kill(server.pid, signal.SIGCONT)
        t_back = time.monotonic()
        # a reconnect may be mid-way through its open timeout (5 s) + back-off
        assert wait_until(lambda: all(frames.of(c, after=t_back) for c in CHANNELS), 12)
    finally:
        for r in readers:
            r.request_stop()
        for r in readers:
            assert r.join(6)


def test_wrong_credentials_auth_failed_without_reconnect_storm(own_server):
    server = own_server(auth="viewer:right-pass")
    frames, status = Frames(), StatusLog()
    bad = StreamReader(ChannelSpec("k0", server.url("k0", "viewer:wrong-pass")), on_frame=frames, on_status=status)
    none = StreamReader(ChannelSpec("k1", server.url("k1")), on_frame=frames, on_status=status)
    good = StreamReader(ChannelSpec("k2", server.url("k2", "viewer:right-pass")), on_frame=frames, on_status=status)
    for r in (bad, none, good):
        r.start()
    try:
        assert wait_until(lambda: status.first("auth_failed", "k0") and status.first("auth_failed", "k1"), 5)
        time.sleep(6.0)
        _, event = status.first("auth_failed", "k0")
        assert "wrong-pass" not in (event.reason or "") and event.retry_in_s >= 60
        assert bad.stats.auth_failures == 1 and none.stats.auth_failures == 1, "one attempt, then a long back-off"
        assert status.states("k0") == ["connecting", "auth_failed"]
        assert len(frames.of("k2")) >= 20, "a channel with the right password is unaffected"
    finally:
        for r in (bad, none, good):
            r.request_stop()
        for r in (bad, none, good):
            assert r.join(3), "a reader waiting out its auth back-off must still stop promptly"


def test_corrupt_and_truncated_h264_is_counted_and_isolated(own_server, tmp_path):
    bad_file = make_corrupt_h264(SAMPLE_H264_640, tmp_path / "corrupt.h264", frames=60)
    server = own_server(mounts=[SampleMount("bad", bad_file, fps=25), SampleMount("good", SAMPLE_H264_640, fps=25)])
    frames, status = Frames(), StatusLog()
    bad = StreamReader(ChannelSpec("bad", server.url("bad"), fps=25), on_frame=frames, on_status=status)
    good = StreamReader(ChannelSpec("good", server.url("good"), fps=25), on_frame=frames, on_status=status)
    for r in (bad, good):
        r.start()
    try:
        time.sleep(7.0)  # ~3 loops of the 60-frame damaged file
        assert bad.is_alive() and good.is_alive()
        assert bad.stats.corrupt_frames + bad.stats.decode_errors >= 3, bad.stats
        assert bad.stats.frames_delivered >= 60, "clean frames between the damaged ones are still analysed"
        assert good.stats.corrupt_frames == 0 and good.stats.decode_errors == 0
        assert len(frames.of("good")) >= 120
        assert "offline" not in status.states("good")
    finally:
        for r in (bad, good):
            r.request_stop()
        for r in (bad, good):
            assert r.join(3)


def test_removed_channel_connection_closed_within_2s(rtsp_server):
    frames, status = Frames(), StatusLog()
    with ChannelScheduler(frames, status, config=SchedulerConfig(patrol_workers=1)) as sched:
        sched.sync([ChannelSpec(c, rtsp_server.url(c), "continuous", 5) for c in ("cam01", "cam02")])
        assert wait_until(lambda: len(frames.of("cam01")) > 2 and len(frames.of("cam02")) > 2, 10)
        before = connections_to(rtsp_server.port)
        assert before >= 2
        t0 = time.monotonic()
        added, removed, changed = sched.sync([ChannelSpec("cam01", rtsp_server.url("cam01"), "continuous", 5)])
        assert removed == ["cam02"] and not added and not changed
        assert wait_until(lambda: connections_to(rtsp_server.port) == before - 1, 2.0), "cam02's socket still open after 2 s"
        assert time.monotonic() - t0 < 2.0
        n1 = len(frames.of("cam01"))
        time.sleep(0.6)
        assert len(frames.of("cam01")) > n1, "the remaining channel keeps streaming"
        assert not frames.of("cam02", after=t0 + 0.5)
