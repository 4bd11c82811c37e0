"""ingest: getting pixels and packets out of cameras (see docs/ingest.md).

Public API (other packages import only from here):

- :class:`ChannelSpec` — id, url, mode (continuous|patrol|off), analysed fps, transport;
  :func:`spec_from_camera` adapts a ``devices.Camera`` (resolves ``${ENV}`` secrets at connect time).
- :class:`StreamReader` — one channel in a thread: ``StreamReader(spec, on_frame=..., on_status=...,
  on_packet=..., packet_ring=...)``, ``start()``, ``stop()``/``request_stop()``+``join()``,
  ``set_spec()`` (live fps/mode change), ``stats`` (:class:`ReaderStats`), ``params``.
  :func:`grab_keyframe` is one patrol visit (connect, first keyframe, disconnect).
- :class:`Frame`, :class:`StatusEvent`, :class:`EncodedPacket`, :class:`StreamParams` — what it hands out.
- :class:`PacketRing` (last N seconds of encoded packets) and :func:`write_mp4` (remux, no re-encode).
- :class:`ChannelScheduler` — many channels per process: fps budget, keyframe patrol with measured
  revisit period, ``promote(id, minutes)``, ``sync(specs)``, ``report()``.
- :class:`FrameStore` — shared-memory latest-frame slot per channel for another process
  (``create``/``attach``, ``put``/``read``/``latest_view``, drop counters).
- :class:`LiveRelay` — one upstream per camera, asyncio fan-out of encoded packets to N viewers
  (``async with relay.subscribe(id) as sub: async for pkt in sub``) plus a per-camera :class:`PacketRing`.
- :func:`camera_footage` / :class:`Footage` (``H264_BF3_1080P``, ``H264_BF3_D1``, ``H264_MAIN_D1``, ``H265_1080P``) —
  the sample clip re-encoded the way cameras send it (25 fps, GOP 50, B-frames, H.265), for the sample
  RTSP server in tests and benchmarks.
- :class:`IngestPool` — a few ingest processes per machine: channels sharded by id, frames in each
  child's FrameStore (``pool.read(id)``), status events, promotions, dead children restarted.
"""

from ingest.channel import ChannelSpec, redact_url, spec_from_camera
from ingest.events import EncodedPacket, Frame, State, StatusEvent, StreamParams
from ingest.footage import H264_BF3_1080P, H264_BF3_D1, H264_MAIN_D1, H265_1080P, Footage, camera_footage
from ingest.packets import PacketRing, write_mp4
from ingest.reader import ReaderOptions, ReaderStats, StreamReader, grab_keyframe
from ingest.pool import IngestPool, shard_of
from ingest.relay import LiveRelay, RelayStats, Subscription
from ingest.scheduler import ChannelReport, ChannelScheduler, SchedulerConfig, SchedulerReport
from ingest.store import FrameStore, SlotStats, StoredFrame

__all__ = [
    "ChannelReport",
    "ChannelScheduler",
    "ChannelSpec",
    "EncodedPacket",
    "Footage",
    "H264_BF3_1080P",
    "H264_BF3_D1",
    "H264_MAIN_D1",
    "H265_1080P",
    "Frame",
    "FrameStore",
    "IngestPool",
    "SlotStats",
    "StoredFrame",
    "LiveRelay",
    "PacketRing",
    "ReaderOptions",
    "ReaderStats",
    "RelayStats",
    "SchedulerConfig",
    "SchedulerReport",
    "State",
    "StatusEvent",
    "StreamParams",
    "StreamReader",
    "Subscription",
    "redact_url",
    "shard_of",
    "spec_from_camera",
    "camera_footage",
    "grab_keyframe",
    "write_mp4",
]
