"""Values the reader hands out: decoded frames, encoded packets, status events."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np

State = Literal["connecting", "online", "offline", "auth_failed", "stopped"]


@dataclass(frozen=True)
class StatusEvent:
    channel_id: str
    state: State
    reason: str | None = None
    ts: float = field(default_factory=time.time)  # wall clock, for operators
    retry_in_s: float | None = None  # when offline/auth_failed: the back-off chosen


@dataclass(frozen=True)
class Frame:
    """A decoded frame (BGR, HxWx3 uint8) and when it was received.

    ``ts_monotonic`` is ``time.monotonic()`` at decode — comparable across
    channels of one process; ``pts_s`` is the stream's own presentation time.
    """

    channel_id: str
    image: np.ndarray
    ts_monotonic: float
    ts_wall: float
    pts_s: float | None
    keyframe: bool
    seq: int  # frames delivered on this channel since the reader started


@dataclass(frozen=True)
class StreamParams:
    """What a muxer needs to rebuild the stream without re-encoding."""

    codec_name: str
    width: int
    height: int
    extradata: bytes | None
    time_base: Fraction
    fps: float | None
    reorder: bool = False  # B-frames: decode order differs from display order
    profile: str | None = None  # e.g. "High", "Main" (from the SPS)
    verified: bool = False  # size/extradata/fps come from a keyframe that decoded, not only the SDP


@dataclass(frozen=True)
class EncodedPacket:
    """One demuxed (still encoded) video packet."""

    channel_id: str
    data: bytes
    pts: int | None
    dts: int | None
    duration: int | None
    time_base: Fraction
    keyframe: bool
    ts_monotonic: float  # when it was received
    session: int  # increments on every reconnect: pts restart across sessions
