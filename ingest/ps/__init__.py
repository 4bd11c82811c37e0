"""ingest.ps: GB/T 28181 media — PS over RTP in, PS out.

- :class:`MediaReceiver` — one media port: UDP, TCP passive or TCP active (RFC 4571 framing),
  SSRC filter and reorder (:mod:`ingest.ps.rtp`), ordered PS bytes to a callback.
- :class:`GbMediaHub` — one INVITE per channel shared by every consumer, BYE after the last,
  re-INVITE on stall; :class:`PsHttpServer` serves ``/gb28181/<channel>.ps`` so the ingest
  reader (PyAV, FFmpeg's ``mpeg`` demuxer) reads a GB channel like any URL.
- :mod:`ingest.ps.mux` — the product's own PS muxer (H.264 and H.265) and RTP packetiser,
  for cascade and for the H.265 tests (GStreamer's ``mpegpsmux`` has no H.265).
"""

from ingest.ps.hub import Consumer, GbMediaHub
from devices.gb28181.config import TOKEN_ENV, token_from_env
from ingest.ps.http import PsHttpServer
from ingest.ps.receiver import MediaReceiver
from ingest.ps.rtp import RtpDepacketizer, RtpPacket, RtpStats, build_rtp, parse_rtp

__all__ = ["Consumer", "GbMediaHub", "MediaReceiver", "PsHttpServer", "RtpDepacketizer", "RtpPacket", "RtpStats",
           "TOKEN_ENV", "build_rtp", "parse_rtp", "token_from_env"]
