"""The node detector's socket (no Ray): real frames of the sample, the real ONNX detector on the other side."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from analytics.cluster.batching import (
    BatchingDetector,
    DetectorServer,
    RemoteDetector,
    SocketDetectCall,
    socket_dir,
)
from tests.analytics.conftest import SAMPLE_480, decode_frames


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return decode_frames(SAMPLE_480, every=10, limit=6, start=40)


@pytest.fixture()
def served(native_detector, tmp_path: Path):
    batcher = BatchingDetector(native_detector, max_batch=16)
    server = DetectorServer(batcher, tmp_path / "detector.sock")
    yield server, batcher
    server.close()
    batcher.close()


def test_frames_over_the_socket_give_the_detectors_own_boxes(served, native_detector, frames):
    server, batcher = served
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    remote = RemoteDetector(SocketDetectCall(lambda: str(server.path)), native_detector.names)
    got = remote.detect(frames)
    want = native_detector.detect(frames)
    assert sum(len(d) for d in want) >= 5  # people walk in these frames
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g.cls, w.cls) and np.allclose(g.xyxy, w.xyxy) and np.allclose(g.conf, w.conf)
        assert g.names == native_detector.names


def test_concurrent_shards_are_merged_and_each_gets_its_own_answer(served, native_detector, frames):
    server, batcher = served
    want = native_detector.detect(frames)
    results: dict[int, list] = {}

    def shard(i: int) -> None:
        call = SocketDetectCall(lambda: str(server.path))
        results[i] = [call([frames[i], frames[i + 3]]) for _ in range(4)]
        call.close()

    threads = [threading.Thread(target=shard, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i in range(3):
        for answer in results[i]:
            assert [len(a[1]) for a in answer] == [len(want[i]), len(want[i + 3])]
            assert np.allclose(answer[0][0], want[i].xyxy) and np.allclose(answer[1][0], want[i + 3].xyxy)
    assert batcher.frames == 24 and batcher.requests == 12


def test_a_restarted_detector_is_reconnected_and_a_bad_request_is_refused(native_detector, frames, tmp_path: Path):
    path = tmp_path / "detector.sock"
    batcher = BatchingDetector(native_detector)
    server = DetectorServer(batcher, path)
    call = SocketDetectCall(lambda: str(path))
    assert len(call(frames[:1])) == 1
    server.close()  # the detector actor dies; Ray restarts it on the same path
    server = DetectorServer(batcher, path)
    try:
        assert len(call(frames[:2])) == 2  # the broken connection was reopened within the call
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:  # garbage: the server hangs up on it
            raw.settimeout(10)
            raw.connect(str(path))
            raw.sendall(b"GET / HTTP/1.1\r\n\r\n")
            try:
                assert raw.recv(16) == b""
            except ConnectionResetError:  # closed with our bytes unread: a reset, also a hang-up
                pass
        with pytest.raises(ValueError):
            call([frames[0][:, :, 0]])  # not BGR
        assert len(call(frames[:1])) == 1
    finally:
        call.close()
        server.close()
        batcher.close()


def test_a_new_detector_removes_the_sockets_of_dead_ones_only(native_detector, tmp_path: Path):
    batcher = BatchingDetector(native_detector)
    live = DetectorServer(batcher, tmp_path / "detector-live.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(tmp_path / "detector-dead.sock"))
    dead.close()  # bound, never listening again: what a killed actor leaves
    fresh = DetectorServer(batcher, tmp_path / "detector-new.sock")
    try:
        assert sorted(p.name for p in tmp_path.glob("*.sock")) == ["detector-live.sock", "detector-new.sock"]
    finally:
        live.close()
        fresh.close()
        batcher.close()


def test_socket_dir_is_private():
    path = socket_dir()
    st = path.lstat()
    assert st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700
