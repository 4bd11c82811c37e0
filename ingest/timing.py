"""Stream time as cameras really send it: B-frames, decode-order stamps, unknown frame rates.

- A B-frame stream's packets arrive in decode order with display-order pts; the
  decoder returns frames in display order, each with its own pts. Selection and
  ``Frame.pts_s`` must use the frame's pts, never the pts of the packet just fed.
- live555 (inside most IP cameras) stamps a B-frame stream in *decode* order: the
  frames then come out of the decoder with pts out of order. The set of stamps is
  still right, only their assignment is not, so :class:`DisplayClock` hands the
  i-th decoded frame the smallest stamp not yet handed out.
"""

from __future__ import annotations

import heapq

_UNKNOWN = -(1 << 62)  # sorts before every real stamp: the first packets of a session are the ones without


class DisplayClock:
    """Display-order pts for decoded frames (see the module docstring)."""

    def __init__(self, max_pending: int = 32) -> None:
        self.max_pending = max_pending
        self.decode_order = False  # the camera stamps in decode order (detected)
        self._pending: list[int] = []
        self._last: int | None = None

    def fed(self, pts: int | None) -> None:
        """A packet with stamp ``pts`` (None: not known yet, e.g. before the first RTCP report) went into the decoder."""
        heapq.heappush(self._pending, _UNKNOWN if pts is None else pts)
        if len(self._pending) > self.max_pending:
            heapq.heappop(self._pending)

    def output(self, frame_pts: int | None, frame_ticks: int) -> int | None:
        """The display pts of the next decoded frame, given the pts the decoder attached to it.

        A frame whose packet had no stamp (the first of a session) is placed one
        frame before the earliest frame still pending, when there is one.
        """
        stamp = heapq.heappop(self._pending) if self._pending else None
        if stamp == _UNKNOWN:
            real = [p for p in self._pending if p != _UNKNOWN]
            stamp = min(real) - frame_ticks if real else None
            frame_pts = frame_pts if frame_pts is not None else stamp
        if frame_pts is not None:
            # display order never goes back within a session: frames out of order mean decode-order stamps
            if self._last is not None and frame_pts < self._last:
                self.decode_order = True
            self._last = frame_pts
        return stamp if self.decode_order or frame_pts is None else frame_pts

    def reset(self) -> None:
        """The decoder was flushed: nothing is pending any more."""
        self._pending.clear()


class RateMeter:
    """Frame rate from packet timestamps: the median spacing of sorted pts.

    Sorting makes it work for B-frame streams too (their pts are not monotonic
    in decode order) and for cameras that stamp in decode order.
    """

    def __init__(self, samples: int = 25) -> None:
        self.samples = samples
        self._pts: list[float] = []

    def add(self, pts_s: float) -> float | None:
        """Record one packet's pts; returns the rate once ``samples`` packets were seen."""
        self._pts.append(pts_s)
        if len(self._pts) < self.samples:
            return None
        pts = sorted(set(self._pts))
        self._pts.clear()
        gaps = sorted(b - a for a, b in zip(pts, pts[1:]) if b > a)
        if not gaps:
            return None
        median = gaps[len(gaps) // 2]
        return 1.0 / median if median > 0 else None
