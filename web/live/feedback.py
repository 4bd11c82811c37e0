"""What a browser's RTCP says about a passthrough viewer: is it decoding what we send?

Every WebRTC receiver sends RTCP without being asked: receiver reports (packets lost,
highest sequence number received) about once a second, and a PLI/FIR (picture loss:
"send me a keyframe") whenever it cannot decode. A browser that receives a camera's
H.264 intact but cannot decode it — B-frames, which WebRTC decoders do not reorder —
asks for keyframes over and over (Chromium: ~5 PLIs a second) while its receiver
reports show the packets arriving. That is a stalled passthrough; the server moves
the viewer to the transcode without waiting for the page's own stats report.

A lossy network also causes PLIs, but its receiver reports show the loss: that is not
this stall (a transcode would not fix the network).
"""

from __future__ import annotations

import time
from collections import deque

from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket, RtcpRrPacket, RtcpSrPacket

# Stalled: at least STALL_PLIS keyframe requests within STALL_WINDOW_S, spread over at least
# STALL_SPREAD_S (one burst at start-up or after one lost keyframe is not a stall), while the
# receiver reports at most STALL_MAX_LOSS of the packets lost.
STALL_PLIS = 4
STALL_WINDOW_S = 3.0
STALL_SPREAD_S = 1.0
STALL_MAX_LOSS = 0.05


class ReceiverFeedback:
    """RTCP from one viewer's browser about the stream we send on ``ssrc``."""

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self.plis = 0  # keyframe requests (PLI + FIR) since the start
        self.receiver_reports = 0
        self.fraction_lost = 0.0  # from the latest receiver report
        self._pli_times: deque[float] = deque()

    def note(self, packet: object, now: float | None = None) -> None:
        """Feed one RTCP packet the browser sent (any type; the ones not about ``ssrc`` are ignored)."""
        now = time.monotonic() if now is None else now
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            if packet.media_ssrc == self.ssrc:
                self.plis += 1
                self._pli_times.append(now)
        elif isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == self.ssrc:
                    self.receiver_reports += 1
                    self.fraction_lost = report.fraction_lost / 256
        while self._pli_times and now - self._pli_times[0] > STALL_WINDOW_S:
            self._pli_times.popleft()

    def stalled(self, now: float | None = None) -> bool:
        """Packets arrive (little loss) but the browser keeps asking for keyframes."""
        now = time.monotonic() if now is None else now
        recent = [t for t in self._pli_times if now - t <= STALL_WINDOW_S]
        return (len(recent) >= STALL_PLIS and recent[-1] - recent[0] >= STALL_SPREAD_S
                and self.fraction_lost <= STALL_MAX_LOSS)
