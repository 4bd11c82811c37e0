"""Shared-memory frame store: cross-process hand-off, drop-oldest, torn-read protection."""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np
import pytest

from ingest import ChannelSpec, FrameStore, StreamReader
from tests.ingest.helpers import wait_until


def _frame(value: int, h: int = 36, w: int = 48) -> np.ndarray:
    return np.full((h, w, 3), value % 256, np.uint8)


def _consumer(name: str, channel: str, n: int, q: mp.Queue) -> None:
    store = FrameStore.attach(name)
    seen: list[tuple[int, int, bool]] = []
    last = 0
    deadline = time.monotonic() + 20
    while len(seen) < n and time.monotonic() < deadline:
        f = store.read(channel, after_seq=last)
        if f is None:
            time.sleep(0.001)
            continue
        last = f.seq
        uniform = bool((f.image == f.image.flat[0]).all())
        seen.append((f.seq, int(f.image.flat[0]), uniform))
    q.put(seen)
    store.close()


def test_other_process_reads_frames_without_pickling():
    ctx = mp.get_context("spawn")
    with FrameStore.create(slots=4, max_width=64, max_height=64) as store:
        store.register("cam01")
        q: mp.Queue = ctx.Queue()
        p = ctx.Process(target=_consumer, args=(store.name, "cam01", 20, q))
        p.start()
        try:
            for i in range(1, 4000):
                store.write("cam01", _frame(i), time.monotonic(), time.time(), i / 10)
                if store.stats("cam01").consumed >= 1 and i > 200 and q.qsize():
                    break
                time.sleep(0.0005)
            seen = q.get(timeout=25)
        finally:
            p.join(10)
            if p.is_alive():
                p.kill()
        assert len(seen) == 20
        seqs = [s for s, _, _ in seen]
        assert seqs == sorted(set(seqs)), "seq must increase"
        assert all(value == seq % 256 and uniform for seq, value, uniform in seen), "torn or mismatched frame"
        st = store.stats("cam01")
        assert st.consumed == seqs[-1]
        assert st.dropped > 0, "consumer polls slower than producer writes: drops must be counted"


def test_latest_only_and_drop_counter():
    with FrameStore.create(slots=2, max_width=64, max_height=64) as store:
        store.register("a")
        assert store.read("a") is None
        for i in range(1, 6):
            store.write("a", _frame(i), float(i), float(i), None, keyframe=i == 1)
        f = store.read("a")
        assert f.seq == 5 and f.image[0, 0, 0] == 5 and f.pts_s is None and not f.keyframe
        assert store.read("a", after_seq=5) is None
        st = store.stats("a")
        assert (st.published, st.dropped, st.consumed) == (5, 4, 5)
        store.write("a", _frame(6), 6.0, 6.0)
        assert store.stats("a").dropped == 4, "frame 5 was read: replacing it is not a drop"


def test_zero_copy_view_detects_being_overwritten():
    with FrameStore.create(slots=1, max_width=64, max_height=64) as store:
        store.register("a")
        store.write("a", _frame(1), 0, 0)
        seq, view = store.latest_view("a")
        assert not view.flags.writeable and view[0, 0, 0] == 1
        store.write("a", _frame(2), 0, 0)
        assert store.is_intact("a", seq) and view[0, 0, 0] == 1  # other buffer
        store.write("a", _frame(3), 0, 0)
        assert not store.is_intact("a", seq)
        del view


def test_oversize_and_full_store_are_reported_not_crashing():
    with FrameStore.create(slots=1, max_width=32, max_height=32) as store:
        store.register("a")
        assert store.write("a", _frame(1, 64, 64), 0, 0) is False
        assert store.stats("a").oversize == 1
        with pytest.raises(RuntimeError, match="full"):
            store.register("b")
        store.unregister("a")
        store.register("b")
        assert store.channels() == ["b"]


def test_reader_feeds_the_store_from_rtsp(rtsp_server):
    with FrameStore.create(slots=2, max_width=640, max_height=360) as store:
        reader = StreamReader(ChannelSpec("cam01", rtsp_server.url("cam01"), fps=5), on_frame=store.put)
        with reader:
            assert wait_until(lambda: "cam01" in store.channels() and store.latest_seq("cam01") >= 3, 10)
        f = store.read("cam01")
        assert f.image.shape == (360, 480, 3) and f.image.std() > 10
