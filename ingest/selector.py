"""Which packets a channel decodes and which decoded frames it delivers — pure, no I/O, no PyAV.

:class:`StreamReader` asks two questions per packet and one per decoded frame:

- :meth:`FrameSelector.admit` (per packet, before the decoder): decode it, or skip it
  because it can never lead to a delivered frame — the channel is off, it is a
  non-keyframe while on keyframe-only or while catching up, its keyframe was skipped,
  or it is in the tail of a GOP after the last frame due before the next keyframe.
- :meth:`FrameSelector.due` (per decoded frame, in display order, with the frame's own
  display time — never the pts of the packet just fed, which differs with B-frames):
  deliver it when it is the frame nearest the next ideal sampling time. The ideal times
  are a grid ``interval`` apart, anchored on the first delivered frame, so every step
  between delivered frames is within one source frame of ``interval`` (within one
  keyframe interval on keyframe-only), with and without B-frames.

Bookkeeping that the decisions need comes from the packets: :meth:`FrameSelector.packet`
learns the GOP from key flags, :meth:`FrameSelector.lag` tells when the reader fell
behind the stream clock (then only keyframes are decoded until it has caught up).
"""

from __future__ import annotations

# admit() verdicts (ints: this runs for every packet of every channel)
DECODE = 0
SKIP = 1  # nothing to count: channel off, keyframe-only, or waiting for a keyframe
TAIL = 2  # after the last due frame of a GOP: the frames to the next keyframe are never decoded
CATCHUP = 3  # behind the stream clock: non-keyframes dropped until caught up

# A jump of the stream clock this large (s) re-anchors the latency reference instead of counting as lag.
_CLOCK_JUMP_S = 30.0
# A frame this much (s) before the sampling grid means the camera's clock went back: re-anchor the grid.
_CLOCK_BACK_S = 1.0


class FrameSelector:
    """Frame selection state of one connection (create a new one per session)."""

    __slots__ = ("keyonly", "need_key", "next_due", "gop_s", "gop_frames", "gop_stable", "last_key_pts",
                 "behind", "lag_s", "_since_key", "_skipping_tail", "_offset")

    def __init__(self) -> None:
        self.keyonly = False  # only keyframes reach the decoder (patrol, or an interval of a GOP or more)
        self.need_key = True  # never feed a decoder P-frames without their keyframe
        self.next_due: float | None = None  # ideal display time of the next frame to deliver
        self.gop_s: float | None = None  # keyframe interval from the packets' key flags
        self.gop_frames: int | None = None  # packets from one keyframe to the next
        self.gop_stable = False  # the last two GOPs had the same length: the next keyframe is predictable
        self.last_key_pts: float | None = None
        self.behind = False
        self.lag_s = 0.0
        self._since_key = 0
        self._skipping_tail = False
        self._offset: float | None = None  # min(arrival - stream time): the connection's best latency

    def packet(self, pts_s: float | None, is_key: bool, fps: float | None) -> None:
        """Every packet, in arrival order: GOP length and duration from the key flags."""
        if is_key:
            last = self.last_key_pts
            new_gop = None
            if last is not None and pts_s is not None and pts_s > last:
                new_gop = pts_s - last
            elif self._since_key and fps:  # the previous keyframe had no pts (session start)
                new_gop = self._since_key / fps
            if new_gop is not None:
                gop = self.gop_s
                self.gop_stable = gop is not None and abs(new_gop - gop) <= 0.01 * gop
                self.gop_s = new_gop
            if self._since_key:
                self.gop_frames = self._since_key
            self.last_key_pts = pts_s
            self._since_key = 0
        self._since_key += 1

    def lag(self, now: float, pts_s: float, catchup_lag_s: float) -> bool:
        """Note a packet handled at ``now`` (monotonic s); True when this makes the reader fall behind."""
        latency = now - pts_s
        offset = self._offset
        if offset is None or latency < offset or latency - offset > _CLOCK_JUMP_S:
            offset = self._offset = latency  # first packet, better latency, or a pts jump: re-anchor
        lag = self.lag_s = latency - offset
        if self.behind:
            self.behind = lag > catchup_lag_s * 0.3
            return False
        if lag > catchup_lag_s:
            self.behind = True
            return True
        return False

    def admit(self, is_key: bool, interval: float, frame_s: float, patrol: bool, off: bool = False) -> int:
        """Decode this packet (DECODE) or not (SKIP, TAIL, CATCHUP). Read :attr:`keyonly` after it:
        when it changed, the decoder must be told (``skip_frame``)."""
        if self.behind and not is_key:
            self.need_key = True
            return CATCHUP
        if off:
            self.need_key = True
            return SKIP
        gop = self.gop_s
        keyonly = patrol or (gop is not None and interval >= gop * 0.999)
        if keyonly != self.keyonly:
            self.keyonly = keyonly
            self.need_key = True
        if is_key:
            self.need_key = self._skipping_tail = False
            return DECODE
        if keyonly:
            return SKIP  # never reaches the decoder
        if self.need_key:
            return TAIL if self._skipping_tail else SKIP
        self._skipping_tail = False
        due, last_key = self.next_due, self.last_key_pts
        if (self.gop_stable and due is not None and last_key is not None and gop is not None
                and due >= last_key + gop - frame_s / 2):
            # The tail of the GOP: no frame is due before the next keyframe and nothing
            # after it references these frames, so they are never decoded.
            self.need_key = self._skipping_tail = True
            return TAIL
        return DECODE

    def decode_failed(self) -> None:
        """The decoder rejected a packet (it was flushed): wait for the next keyframe."""
        self.need_key = True

    def due(self, pts_s: float | None, interval: float, frame_s: float) -> bool:
        """A decoded frame with display time ``pts_s`` (None: unknown): deliver it?"""
        due = self.next_due
        if pts_s is None:
            return self.keyonly  # no place on the sampling grid; a keyframe-only visit still counts
        if due is not None and (pts_s - due > interval or pts_s < due - interval - _CLOCK_BACK_S):
            due = None  # fell behind, a gap, or the camera's clock went back: re-anchor
        # due = the nearest frame to the ideal time (keyframe-only: the nearest keyframe)
        gop = self.gop_s
        tolerance = gop / 2 if self.keyonly and gop else frame_s / 2
        if due is not None and pts_s + tolerance < due:
            self.next_due = due
            return False  # not due: the nearest frame to the ideal time is still to come
        self.next_due = (pts_s if due is None else due) + interval
        return True
