"""Shared-memory latest-frame store: hand frames to analytics in another process without pickling.

One ``multiprocessing.shared_memory`` segment per ingest process, one *slot*
per channel. A slot holds the latest frame only (analytics wants "now", not a
backlog): a new frame replaces an unread one — drop-oldest — and the slot's
``dropped`` counter says how often that happened, so back-pressure is visible.

Each slot has two image buffers used alternately, so the producer writes frame
n+1 while a consumer still copies frame n. Frame n lives in buffer ``n % 2``;
the producer announces "writing n" before touching the buffer and "published
n" after, and a consumer re-checks "writing" after its copy (a seqlock): a torn
read is detected and retried, never returned.

Layout (all little-endian, 8-byte fields)::

    header   64 B   magic, n_slots, max_w, max_h, generation
    names    n_slots * 64 B        channel id (utf-8, NUL padded; empty = free)
    counters n_slots * 64 B        published, writing, dropped, consumed, oversize
    meta     n_slots * 2 * 64 B    height, width, keyframe, ts_monotonic, ts_wall, pts_s
    images   n_slots * 2 * max_h*max_w*3 B
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory

import numpy as np

from ingest.events import Frame

MAGIC = 0x30534C4658  # "XFLS0" — refuses to attach to unrelated segments
_HEADER = 64
_NAME = 64
_COUNTERS = 64
_META = 64
PUBLISHED, WRITING, DROPPED, CONSUMED, OVERSIZE = range(5)


@dataclass(frozen=True)
class StoredFrame:
    channel_id: str
    seq: int  # frame number in this slot (1, 2, ...): compare to know if it is new
    image: np.ndarray  # HxWx3 BGR uint8 (a copy, or `out` when given)
    ts_monotonic: float
    ts_wall: float
    pts_s: float | None
    keyframe: bool


@dataclass(frozen=True)
class SlotStats:
    channel_id: str
    published: int
    dropped: int  # frames replaced before any consumer read them
    consumed: int  # seq of the last frame a consumer read
    oversize: int  # frames larger than the store's max size (not stored)


class FrameStore:
    """Create with :meth:`create` (ingest side) or :meth:`attach` (analytics side)."""

    def __init__(self, shm: shared_memory.SharedMemory, owner: bool) -> None:
        self._shm = shm
        self._owner = owner
        buf = shm.buf
        header = np.ndarray((8,), np.int64, buf, 0)
        if int(header[0]) != MAGIC:
            raise ValueError(f"shared memory {shm.name!r} is not an ingest frame store")
        self.n_slots, self.max_width, self.max_height = int(header[1]), int(header[2]), int(header[3])
        n = self.n_slots
        self._header = header
        off = _HEADER
        self._names = np.ndarray((n, _NAME), np.uint8, buf, off)
        off += n * _NAME
        self._counters = np.ndarray((n, _COUNTERS // 8), np.int64, buf, off)
        off += n * _COUNTERS
        self._meta = np.ndarray((n, 2, _META // 8), np.float64, buf, off)
        off += n * 2 * _META
        self._images = np.ndarray((n, 2, self.max_height * self.max_width * 3), np.uint8, buf, off)
        self._lock = threading.Lock()  # producer side: register/unregister from several threads
        self._slot_of: dict[str, int] = {}
        self._generation_seen = -1
        self._refresh()

    # ---- lifecycle ----------------------------------------------------------------
    @classmethod
    def create(cls, slots: int, max_width: int = 1280, max_height: int = 720, name: str | None = None) -> "FrameStore":
        """A new store for up to ``slots`` channels of at most ``max_width`` x ``max_height``.

        Pages are only backed by RAM once written, so a generous max size costs
        address space, not memory, for channels with smaller frames.
        """
        if slots <= 0 or max_width <= 0 or max_height <= 0:
            raise ValueError("FrameStore.create: slots, max_width and max_height must be > 0")
        size = _HEADER + slots * (_NAME + _COUNTERS + 2 * _META + 2 * max_width * max_height * 3)
        shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        header = np.ndarray((8,), np.int64, shm.buf, 0)
        header[:] = 0
        header[1:4] = (slots, max_width, max_height)
        np.ndarray((size - _HEADER - slots * 2 * max_width * max_height * 3,), np.uint8, shm.buf, _HEADER)[:] = 0
        header[0] = MAGIC
        return cls(shm, owner=True)

    @classmethod
    def attach(cls, name: str, untrack: bool = True) -> "FrameStore":
        """Open a store created by another process (raises FileNotFoundError if it is gone).

        ``untrack=False`` only for multiprocessing children of the creator, which share
        its resource tracker (untracking there would untrack the creator's segment).
        """
        shm = shared_memory.SharedMemory(name=name, create=False)
        if untrack:
            # Python 3.11 registers attached segments with this process's resource
            # tracker, which would unlink the producer's segment when we exit.
            try:
                resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
            except Exception:
                pass
        return cls(shm, owner=False)

    @property
    def name(self) -> str:
        return self._shm.name

    def close(self) -> None:
        """Release this process's mapping (and, for the creator, remove the segment)."""
        # numpy views must go before the buffer can be released
        self._header = self._names = self._counters = self._meta = self._images = None  # type: ignore[assignment]
        try:
            self._shm.close()
        except BufferError:
            pass  # a caller still holds a view from latest_view(); the mapping dies with the process
        if self._owner:
            try:
                self._shm.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> "FrameStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- slot table -----------------------------------------------------------------
    def _refresh(self) -> None:
        gen = int(self._header[4])
        if gen == self._generation_seen:
            return
        slots: dict[str, int] = {}
        for i in range(self.n_slots):
            raw = bytes(self._names[i]).rstrip(b"\0")
            if raw:
                slots[raw.decode()] = i
        self._slot_of = slots
        self._generation_seen = gen

    def register(self, channel_id: str) -> int:
        """Reserve a slot for a channel (producer side); idempotent."""
        raw = channel_id.encode()
        if not raw or len(raw) >= _NAME:
            raise ValueError(f"channel id {channel_id!r} must be 1..{_NAME - 1} bytes of utf-8")
        with self._lock:
            self._refresh()
            if channel_id in self._slot_of:
                return self._slot_of[channel_id]
            free = next((i for i in range(self.n_slots) if not self._names[i].any()), None)
            if free is None:
                raise RuntimeError(f"frame store {self.name} is full ({self.n_slots} slots); create it with more slots")
            self._counters[free] = 0
            self._names[free] = 0
            self._names[free, : len(raw)] = np.frombuffer(raw, np.uint8)
            self._header[4] += 1
            self._refresh()
            return free

    def unregister(self, channel_id: str) -> None:
        with self._lock:
            self._refresh()
            slot = self._slot_of.get(channel_id)
            if slot is None:
                return
            self._names[slot] = 0
            self._counters[slot] = 0
            self._header[4] += 1
            self._refresh()

    def channels(self) -> list[str]:
        self._refresh()
        return sorted(self._slot_of)

    def _slot(self, channel_id: str) -> int:
        self._refresh()
        try:
            return self._slot_of[channel_id]
        except KeyError:
            raise KeyError(f"channel {channel_id!r} has no slot in frame store {self.name}") from None

    # ---- producer -----------------------------------------------------------------------
    def put(self, frame: Frame) -> bool:
        """Publish a reader :class:`Frame` (usable directly as ``on_frame``); registers on first use."""
        self._refresh()
        if frame.channel_id not in self._slot_of:
            self.register(frame.channel_id)
        return self.write(frame.channel_id, frame.image, frame.ts_monotonic, frame.ts_wall, frame.pts_s, frame.keyframe)

    __call__ = put

    def write(self, channel_id: str, image: np.ndarray, ts_monotonic: float, ts_wall: float,
              pts_s: float | None = None, keyframe: bool = False) -> bool:
        """Publish the latest frame of a channel; returns False (and counts it) if it is too large."""
        slot = self._slot(channel_id)
        c = self._counters[slot]
        h, w = image.shape[:2]
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"channel {channel_id}: expected HxWx3 uint8 BGR, got {image.dtype} {image.shape}")
        if h > self.max_height or w > self.max_width:
            c[OVERSIZE] += 1
            return False
        n = int(c[PUBLISHED]) + 1
        if n > 1 and int(c[CONSUMED]) < n - 1:
            c[DROPPED] += 1  # frame n-1 is being replaced unread
        b = n % 2
        c[WRITING] = n
        dst = self._images[slot, b, : h * w * 3].reshape(h, w, 3)
        np.copyto(dst, image)
        self._meta[slot, b, :6] = (h, w, 1.0 if keyframe else 0.0, ts_monotonic, ts_wall, np.nan if pts_s is None else pts_s)
        c[PUBLISHED] = n
        return True

    # ---- consumer -----------------------------------------------------------------------------
    def latest_seq(self, channel_id: str) -> int:
        return int(self._counters[self._slot(channel_id)][PUBLISHED])

    def read(self, channel_id: str, after_seq: int = 0, out: np.ndarray | None = None,
             retries: int = 5) -> StoredFrame | None:
        """Copy the latest frame if its seq is > ``after_seq``; ``None`` if there is nothing new.

        ``out`` (HxWx3 uint8 of the frame's size) avoids an allocation per frame.
        """
        slot = self._slot(channel_id)
        c = self._counters[slot]
        for _ in range(retries):
            n = int(c[PUBLISHED])
            if n <= after_seq or n == 0:
                return None
            b = n % 2
            h, w, kf, ts_m, ts_w, pts = self._meta[slot, b, :6]
            h, w = int(h), int(w)
            src = self._images[slot, b, : h * w * 3].reshape(h, w, 3)
            if out is None or out.shape != (h, w, 3):
                out = np.empty((h, w, 3), np.uint8)
            np.copyto(out, src)
            if int(c[WRITING]) >= n + 2:
                continue  # the producer lapped us during the copy: torn, retry with the newer frame
            if int(c[CONSUMED]) < n:
                c[CONSUMED] = n
            return StoredFrame(channel_id, n, out, float(ts_m), float(ts_w), None if np.isnan(pts) else float(pts), bool(kf))
        return None

    def latest_view(self, channel_id: str) -> tuple[int, np.ndarray] | None:
        """Zero-copy read-only view of the latest frame and its seq.

        Valid until the producer writes two more frames; call :meth:`is_intact`
        after using it (e.g. after inference) to know the pixels were not replaced.
        """
        slot = self._slot(channel_id)
        c = self._counters[slot]
        n = int(c[PUBLISHED])
        if n == 0:
            return None
        b = n % 2
        h, w = int(self._meta[slot, b, 0]), int(self._meta[slot, b, 1])
        view = self._images[slot, b, : h * w * 3].reshape(h, w, 3)
        view.flags.writeable = False
        if int(c[CONSUMED]) < n:
            c[CONSUMED] = n
        return n, view

    def is_intact(self, channel_id: str, seq: int) -> bool:
        return int(self._counters[self._slot(channel_id)][WRITING]) < seq + 2

    def stats(self, channel_id: str) -> SlotStats:
        c = self._counters[self._slot(channel_id)]
        return SlotStats(channel_id, int(c[PUBLISHED]), int(c[DROPPED]), int(c[CONSUMED]), int(c[OVERSIZE]))
