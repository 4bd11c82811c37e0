"""RTSP fixtures that look like real cameras, served by the GStreamer sample server.

Footage is re-encoded from ``samples/vtest.avi`` at test time (cached, see
``ingest.footage``): 25 fps, GOP 50; H.264 High with 3 B-frames at 1080p and D1,
H.265 1080p, H.264 Main D1 with AAC or PCMA audio; a live555-like mount (B-frames
stamped in decode order, no ``a=framerate``) and one whose SDP parameter sets are
garbage while valid SPS/PPS follow in-band.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.footage import H264_BF3_1080P, H264_BF3_D1, H264_MAIN_D1, H265_1080P, Footage, camera_footage
from xueliang.runtime import RtspSampleServer, SampleMount

GARBAGE_SPROP = "Z2FyYmFnZQ==,Ym9ndXM="  # base64 of "garbage", "bogus"


@dataclass(frozen=True)
class Camera:
    name: str
    footage: Footage
    codec: str = "h264"  # FFmpeg's name: h264 | hevc
    bframes: bool = False
    audio: str | None = None
    stamps: str = "display"
    sdp_framerate: bool = True
    sprop: str | None = None

    def mount(self) -> SampleMount:
        return SampleMount(self.name, camera_footage(self.footage), self.footage.fps,
                           codec=self.footage.codec, stamps=self.stamps, sdp_framerate=self.sdp_framerate,
                           audio=self.audio, sprop=self.sprop)


CAMERAS = {c.name: c for c in (
    Camera("bf3_1080p", H264_BF3_1080P, bframes=True),
    Camera("bf3_d1", H264_BF3_D1, bframes=True),
    Camera("h265_1080p", H265_1080P, codec="hevc", bframes=True),
    Camera("main_d1_aac", H264_MAIN_D1, audio="aac"),
    Camera("main_d1_pcma", H264_MAIN_D1, audio="pcma"),
    # live555 with a B-frame file: RTP timestamps in decode order, SDP without a=framerate
    Camera("live555_bf3_d1", H264_BF3_D1, bframes=True, stamps="decode", sdp_framerate=False),
    Camera("garbage_sprop_d1", H264_MAIN_D1, sprop=GARBAGE_SPROP),
)}


def camera_server(log_dir: Path) -> RtspSampleServer:
    """A started server with every camera of :data:`CAMERAS` (stop it, or use it as a context)."""
    return RtspSampleServer([c.mount() for c in CAMERAS.values()], log_path=log_dir / "cameras-rtsp.log").start()
