"""What a keyframe says about its stream: in-band parameter sets, size, frame rate, reordering.

Cameras' SDPs are not to be trusted: live555 copies ``sprop-parameter-sets``
from whatever file or encoder fed it, some firmwares send garbage there, and
the SDP may announce no frame rate at all. The in-band parameter sets in front
of a keyframe are what the decoder actually uses, so they win: the first
keyframe of a session that carries a complete set (H.264 SPS+PPS, H.265
VPS+SPS+PPS) which decodes to a picture replaces the SDP's.

FFmpeg's frame-rate guess for an RTSP stream without ``a=framerate`` is the
SPS field rate (2x the frame rate of a progressive stream); the decoder's own
``framerate`` (from the SPS VUI timing) is right, so that is used, and when the
SPS has no timing the rate is measured from the packet spacing
(:class:`RateMeter`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import av
import av.error
from av.video.codeccontext import VideoCodecContext

# NAL unit types of parameter sets, by FFmpeg codec name
_PARAMETER_SETS = {"h264": {7: "sps", 8: "pps"}, "hevc": {32: "vps", 33: "sps", 34: "pps"}}
_REQUIRED = {"h264": {"sps", "pps"}, "hevc": {"vps", "sps", "pps"}}


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B access unit, without their start codes."""
    units: list[bytes] = []
    start = data.find(b"\x00\x00\x01")
    while start != -1:
        begin = start + 3
        nxt = data.find(b"\x00\x00\x01", begin)
        end = len(data) if nxt == -1 else nxt
        unit = data[begin:end]
        if nxt != -1 and unit.endswith(b"\x00"):  # the next start code was a 4-byte one
            unit = unit.rstrip(b"\x00")
        if unit:
            units.append(unit)
        start = nxt
    return units


def nal_type(codec: str, unit: bytes) -> int:
    return (unit[0] >> 1) & 0x3F if codec == "hevc" else unit[0] & 0x1F


def parameter_sets(codec: str, data: bytes) -> bytes | None:
    """The access unit's parameter sets as Annex-B (first of each kind), or None if the set is incomplete."""
    kinds = _PARAMETER_SETS.get(codec)
    if kinds is None:
        return None
    found: dict[str, bytes] = {}
    for unit in nal_units(data):
        kind = kinds.get(nal_type(codec, unit))
        if kind is not None and kind not in found:
            found[kind] = unit
    if not _REQUIRED[codec] <= found.keys():
        return None
    order = ("vps", "sps", "pps")
    return b"".join(b"\x00\x00\x00\x01" + found[k] for k in order if k in found)


@dataclass(frozen=True)
class KeyframeInfo:
    """What decoding one keyframe tells about the stream."""

    width: int
    height: int
    fps: float | None  # from the SPS timing info; None when the SPS carries none
    reorder: bool  # frames are reordered (B-frames): decode order != display order
    profile: str | None
    extradata: bytes | None  # the parameter sets that decoded it (in-band ones when present)


def inspect_keyframe(codec: str, data: bytes, extradata: bytes | None = None) -> KeyframeInfo | None:
    """Decode one keyframe with a throw-away decoder; None when it yields no clean picture.

    In-band parameter sets are used when the keyframe carries a complete set,
    else ``extradata`` (the SDP's).
    """
    inband = parameter_sets(codec, data)
    chosen = inband or extradata
    try:
        cc = cast(VideoCodecContext, av.CodecContext.create(codec, "r"))  # a video codec name: H.264/H.265
    except (av.error.FFmpegError, ValueError):
        return None
    cc.thread_count = 1
    if chosen and not inband:
        cc.extradata = chosen
    try:
        frames = list(cc.decode(av.Packet(data))) + list(cc.decode(None))
    except av.error.FFmpegError:
        return None
    pictures = [f for f in frames if not f.is_corrupt]
    if not pictures or not cc.width or not cc.height:
        return None
    rate = cc.framerate
    fps = float(rate) if rate and 1 <= float(rate) <= 240 else None
    return KeyframeInfo(cc.width, cc.height, fps, bool(cc.has_b_frames), cc.profile, chosen)
