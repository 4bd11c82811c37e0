"""RTP for GB/T 28181 media: header parsing, SSRC filtering, reordering by sequence number.

Devices send PS over RTP (payload type 96, sometimes 98 or anything): the payload
bytes, in sequence order, are the program stream. Packets of another SSRC than
the agreed one (a stale session, a flood) are dropped and counted; what is not
RTP at all is dropped and counted too. The reorder window is small: UDP on a
LAN reorders a few packets at most, and waiting longer only adds latency.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RtpPacket:
    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload_type: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket | None:
    """The packet, or None when *data* is not an RTP v2 packet."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    cc = data[0] & 0x0F
    offset = 12 + 4 * cc
    if data[0] & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * int.from_bytes(data[offset + 2:offset + 4], "big")
    end = len(data)
    if data[0] & 0x20:  # padding
        end -= data[-1]
    if offset > end:
        return None
    return RtpPacket(seq=int.from_bytes(data[2:4], "big"), timestamp=int.from_bytes(data[4:8], "big"),
                     ssrc=int.from_bytes(data[8:12], "big"), marker=bool(data[1] & 0x80), payload_type=data[1] & 0x7F,
                     payload=bytes(data[offset:end]))


def build_rtp(payload: bytes, *, seq: int, timestamp: int, ssrc: int, marker: bool = False, payload_type: int = 96) -> bytes:
    return bytes([0x80, (0x80 if marker else 0) | payload_type]) + (seq & 0xFFFF).to_bytes(2, "big") + \
        (timestamp & 0xFFFFFFFF).to_bytes(4, "big") + (ssrc & 0xFFFFFFFF).to_bytes(4, "big") + payload


@dataclass
class RtpStats:
    packets: int = 0
    bytes: int = 0
    not_rtp: int = 0
    foreign_ssrc: int = 0
    reordered: int = 0
    lost: int = 0
    duplicates: int = 0
    last_packet_at: float = 0.0


@dataclass
class Reorder:
    """Delivers payloads in sequence order; a gap older than ``window`` packets is declared lost."""

    window: int = 32
    expected: int | None = None
    stats: RtpStats = field(default_factory=RtpStats)
    _held: dict[int, bytes] = field(default_factory=dict)

    def push(self, pkt: RtpPacket) -> list[bytes]:
        out: list[bytes] = []
        if self.expected is None:
            self.expected = pkt.seq
        delta = (pkt.seq - self.expected) & 0xFFFF
        if delta >= 0x8000:  # behind what we delivered: a duplicate or too late
            self.stats.duplicates += 1
            return out
        if delta == 0:
            out.append(pkt.payload)
            self.expected = (self.expected + 1) & 0xFFFF
        else:
            if pkt.seq in self._held:
                self.stats.duplicates += 1
                return out
            self._held[pkt.seq] = pkt.payload
            self.stats.reordered += 1
            if len(self._held) > self.window:  # give up on the gap
                while self.expected not in self._held:
                    self.stats.lost += 1
                    self.expected = (self.expected + 1) & 0xFFFF
        while self.expected in self._held:
            out.append(self._held.pop(self.expected))
            self.expected = (self.expected + 1) & 0xFFFF
        return out


class RtpDepacketizer:
    """RTP datagrams → PS bytes in order, for one agreed SSRC (changeable when the device answers another ``y=``)."""

    def __init__(self, ssrc: int | None, *, name: str = "", window: int = 32) -> None:
        self.ssrc = ssrc
        self.name = name
        self.reorder = Reorder(window=window)
        self.stats = self.reorder.stats
        self._last_warn = 0.0

    def retarget(self, ssrc: int | None) -> None:
        self.ssrc = ssrc

    def feed(self, data: bytes) -> list[bytes]:
        pkt = parse_rtp(data)
        now = time.monotonic()
        if pkt is None:
            self.stats.not_rtp += 1
            self._warn(now, "dropped %d datagrams that are not RTP v2")
            return []
        if self.ssrc is not None and pkt.ssrc != self.ssrc:
            self.stats.foreign_ssrc += 1
            self._warn(now, "dropped %d RTP packets of a foreign SSRC")
            return []
        self.stats.packets += 1
        self.stats.bytes += len(pkt.payload)
        self.stats.last_packet_at = now
        return self.reorder.push(pkt)

    def _warn(self, now: float, fmt: str) -> None:
        if now - self._last_warn >= 10.0:  # a flood gets one line per 10 s, not one per packet
            self._last_warn = now
            count = self.stats.not_rtp if "not RTP" in fmt else self.stats.foreign_ssrc
            log.warning("GB28181 media %s: " + fmt + " (so far; expected SSRC %s)", self.name, count, self.ssrc)
