"""A few ingest processes per machine: channels sharded over child processes, frames back through shared memory.

One Python process decodes at most about one core's worth of channels (decode
releases the GIL, but the per-packet work does not), so a machine runs a few
ingest processes. :class:`IngestPool` starts them, shards channels by a stable
hash of their id, forwards registry changes and promotions, collects status
events, and restarts a process that dies (its channels come back on their own:
the parent re-sends them). Frames never travel through a pipe: each child
writes into a :class:`FrameStore` the parent created, and :meth:`IngestPool.read`
(or any process that attaches by :attr:`store_names`) reads them.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import queue
import signal
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from ingest.channel import ChannelSpec
from ingest.events import Frame, StatusEvent
from ingest.scheduler import SchedulerConfig, SchedulerReport
from ingest.store import FrameStore, StoredFrame

log = logging.getLogger(__name__)


def shard_of(channel_id: str, processes: int) -> int:
    """Stable process index for a channel (the same across restarts and machines)."""
    return zlib.crc32(channel_id.encode()) % processes


def _child_main(index: int, store_name: str, config: SchedulerConfig, commands: mp.Queue, events: mp.Queue) -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: never outlive the parent
    signal.signal(signal.SIGTERM, lambda *_: commands.put(("stop",)))
    import av.logging

    av.logging.set_level(av.logging.PANIC)
    from ingest.scheduler import ChannelScheduler

    store = FrameStore.attach(store_name, untrack=False)

    def on_status(event: StatusEvent) -> None:
        events.put(("status", index, event))

    def on_frame(frame: Frame) -> None:
        store.put(frame)  # a full ring drops the oldest frame; the scheduler needs no answer

    sched = ChannelScheduler(on_frame, on_status, config).start()
    try:
        while True:
            cmd = commands.get()
            if cmd[0] == "stop":
                break
            if cmd[0] == "sync":
                specs: list[ChannelSpec] = cmd[1]
                _added, removed, _changed = sched.sync(specs)
                for cid in removed:
                    store.unregister(cid)
                for spec in specs:
                    try:
                        store.register(spec.id)
                    except (RuntimeError, ValueError) as exc:  # full store: say so, keep the others running
                        log.error("ingest process %d: %s", index, exc)
            elif cmd[0] == "promote":
                try:
                    sched.promote(cmd[1], cmd[2], cmd[3])
                except (KeyError, ValueError) as exc:
                    log.warning("promote %s: %s", cmd[1], exc)
            elif cmd[0] == "report":
                events.put(("report", index, cmd[1], sched.report()))
    finally:
        sched.stop()
        store.close()


@dataclass
class _Child:
    index: int
    store: FrameStore
    # Fresh queues for every incarnation: a child killed inside Queue.get()/put() dies
    # holding the queue's lock, and its successor would block on it forever.
    commands: mp.Queue | None = None
    events: mp.Queue | None = None
    process: BaseProcess | None = None
    restarts: int = 0

    def send(self, command: tuple[object, ...]) -> None:
        if self.commands is None:
            raise RuntimeError(f"ingest process {self.index} is not started: call IngestPool.start() first")
        self.commands.put(command)


class IngestPool:
    """``processes`` ingest children, each a :class:`ChannelScheduler` writing into its own FrameStore."""

    def __init__(self, processes: int = 2, slots_per_process: int = 256, max_width: int = 1280, max_height: int = 720,
                 config: SchedulerConfig | None = None, on_status: Callable[[StatusEvent], None] | None = None) -> None:
        if processes < 1:
            raise ValueError("IngestPool needs at least one process")
        self.processes = processes
        self.config = config or SchedulerConfig()
        self.on_status = on_status
        self.status_events: queue.Queue[StatusEvent] = queue.Queue()
        self._ctx = mp.get_context("spawn")
        self._children = [_Child(i, FrameStore.create(slots_per_process, max_width, max_height)) for i in range(processes)]
        self._specs: dict[str, ChannelSpec] = {}
        self._lock = threading.Lock()
        self._reports: dict[int, queue.Queue] = {}
        self._req = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> "IngestPool":
        for child in self._children:
            self._spawn(child)
        t = threading.Thread(target=self._watchdog, name="ingest-pool-watchdog", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _spawn(self, child: _Child) -> None:
        child.commands, child.events = self._ctx.Queue(), self._ctx.Queue()
        process = child.process = self._ctx.Process(
            target=_child_main, args=(child.index, child.store.name, self.config, child.commands, child.events),
            name=f"xueliang-ingest-{child.index}", daemon=True)
        process.start()
        pump = threading.Thread(target=self._pump, args=(child.events, process), name=f"ingest-pool-pump-{child.index}", daemon=True)
        pump.start()
        self._threads.append(pump)
        child.commands.put(("sync", self._specs_for(child.index)))

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for child in self._children:
            if child.commands is not None:
                child.commands.put(("stop",))
        deadline = time.monotonic() + timeout
        for child in self._children:
            if child.process is not None:
                child.process.join(max(0.1, deadline - time.monotonic()))
                if child.process.is_alive():
                    child.process.kill()
                    child.process.join(2)
        for t in self._threads:
            t.join(2)
        for child in self._children:
            child.store.close()
            for q in (child.commands, child.events):
                if q is not None:
                    q.close()
                    q.cancel_join_thread()

    def __enter__(self) -> "IngestPool":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- channels -------------------------------------------------------------------------
    def _specs_for(self, index: int) -> list[ChannelSpec]:
        with self._lock:
            return [s for s in self._specs.values() if shard_of(s.id, self.processes) == index]

    def sync(self, specs: Iterable[ChannelSpec]) -> None:
        """Run exactly ``specs`` (added, changed, removed channels are forwarded to their process)."""
        with self._lock:
            self._specs = {s.id: s for s in specs}
        for child in self._children:
            child.send(("sync", self._specs_for(child.index)))

    def promote(self, channel_id: str, minutes: float = 10.0, fps: float | None = None) -> None:
        self._child_of(channel_id).send(("promote", channel_id, minutes, fps))

    def _child_of(self, channel_id: str) -> _Child:
        return self._children[shard_of(channel_id, self.processes)]

    # ---- frames and reports -----------------------------------------------------------------
    @property
    def store_names(self) -> dict[str, str]:
        """Channel id → name of the FrameStore holding its frames (for ``FrameStore.attach``)."""
        with self._lock:
            return {cid: self._child_of(cid).store.name for cid in self._specs}

    def read(self, channel_id: str, after_seq: int = 0, out=None) -> StoredFrame | None:
        store = self._child_of(channel_id).store
        if channel_id not in store.channels():
            return None
        return store.read(channel_id, after_seq, out)

    def report(self, timeout: float = 5.0) -> list[SchedulerReport]:
        with self._lock:
            self._req += 1
            req = self._req
            answers: queue.Queue = queue.Queue()
            self._reports[req] = answers
        for child in self._children:
            child.send(("report", req))
        out: list[tuple[int, SchedulerReport]] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < self.processes:
                out.append(answers.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            raise TimeoutError(f"only {len(out)} of {self.processes} ingest processes answered within {timeout:.0f} s") from None
        finally:
            with self._lock:
                self._reports.pop(req, None)
        return [r for _, r in sorted(out, key=lambda x: x[0])]

    def restarts(self) -> list[int]:
        return [c.restarts for c in self._children]

    def pids(self) -> list[int | None]:
        return [c.process.pid if c.process else None for c in self._children]

    # ---- background threads --------------------------------------------------------------------
    def _pump(self, events: mp.Queue, process: BaseProcess) -> None:
        """Forward one child incarnation's events; ends when that child is gone and drained."""
        while True:
            try:
                item = events.get(timeout=0.5)
            except queue.Empty:
                if not process.is_alive() or self._stopping.is_set():
                    return
                continue
            except (EOFError, OSError, ValueError):
                return
            if item[0] == "status":
                event: StatusEvent = item[2]
                self.status_events.put(event)
                if self.on_status is not None:
                    try:
                        self.on_status(event)
                    except Exception:
                        log.exception("on_status callback failed")
            elif item[0] == "report":
                with self._lock:
                    answers = self._reports.get(item[2])
                if answers is not None:
                    answers.put((item[1], item[3]))

    def _watchdog(self) -> None:
        while not self._stopping.wait(0.5):
            for child in self._children:
                p = child.process
                if p is not None and not p.is_alive() and not self._stopping.is_set():
                    child.restarts += 1
                    log.error("ingest process %d exited with %s; restarting it (restart #%d)", child.index, p.exitcode, child.restarts)
                    # a dead writer may have left a slot mid-write; the seqlock makes readers skip it
                    self._spawn(child)
