"""Live-view upstreams from ingest's packet relay (``ingest.LiveRelay``): the default.

ingest already keeps one RTSP connection per camera, fans the encoded packets out
keyframe-aware, replays the GOP in progress to a new subscriber (fast start) and keeps
the pre-event ring analytics cuts clips from — so live view and clips share one camera
session. This adapter turns a relay subscription into aiortc tracks; it has the same
duck interface as :class:`web.live.sources.SourceRegistry` (the MediaPlayer fallback).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from fractions import Fraction
from typing import Any

from web.live.sources import VIDEO_TIME_BASE, PacketTrack, RawPacket, StreamInfo, with_parameter_sets

logger = logging.getLogger(__name__)


class RelayUpstream:
    """One camera in the relay, seen from live view."""

    def __init__(self, owner: "RelayUpstreams", camera_id: str) -> None:
        self._owner = owner
        self.camera_id = camera_id

    @property
    def status(self) -> str:
        """Short state for error messages (never contains the URL)."""
        for stats in self._owner.relay.stats():
            if stats.camera_id == self.camera_id:
                return stats.upstream
        return "unknown"

    async def wait_codec(self, timeout: float) -> str | None:
        """The camera's video codec once the relay has connected (None if not within ``timeout``)."""
        relay = self._owner.relay
        if (params := relay.params(self.camera_id)) is not None:
            return params.codec_name
        # The relay opens the upstream for its first subscriber: hold one while waiting.
        probe = relay.subscribe(self.camera_id, callback=lambda _packet: None)
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while (params := relay.params(self.camera_id)) is None:
                if asyncio.get_running_loop().time() > deadline:
                    return None
                await asyncio.sleep(0.02)
            return params.codec_name
        finally:
            probe.close()  # the viewer's own subscription follows at once, within the relay's linger

    async def wait_info(self, timeout: float) -> StreamInfo | None:
        """Codec, reordering and profile from the first keyframe that decoded (ingest verifies the
        stream's parameter sets on it); the SDP's values if no keyframe came within ``timeout``."""
        relay = self._owner.relay
        probe = relay.subscribe(self.camera_id, callback=lambda _packet: None)
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while (params := relay.params(self.camera_id)) is None or not params.verified:
                if asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.02)
        finally:
            probe.close()
        if params is None:
            return None
        return StreamInfo(params.codec_name, params.reorder, params.profile, params.fps, params.width or None)

    def subscribe(self) -> PacketTrack:
        relay = self._owner.relay
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        attaching = True
        subscription: Any = None

        def on_stop(_track: PacketTrack) -> None:
            if subscription is not None:
                subscription.close()

        track = PacketTrack(self._owner.viewer_queue_packets, on_stop=on_stop)

        def deliver(packet: Any) -> None:
            # Called with the relay's lock held: on this thread during attach (the fast-start
            # GOP, a burst), later on the camera's reader thread (live packets, in order).
            if packet.pts is None:
                return
            data = packet.data
            if packet.keyframe:
                params = relay.params(self.camera_id)
                data = with_parameter_sets(data, params.extradata if params is not None else None)
            raw = RawPacket(data, _to_90k(packet.pts, packet.time_base), packet.keyframe, packet.session)
            if threading.get_ident() == loop_thread:
                track._offer(raw, burst=attaching)
                return
            try:
                loop.call_soon_threadsafe(track._offer, raw)
            except RuntimeError:  # the event loop is gone: the viewer is gone too
                pass

        subscription = relay.subscribe(self.camera_id, max_queue=10**6, callback=deliver)
        attaching = False
        return track


def _to_90k(pts: int, time_base: Fraction) -> int:
    return int(pts * time_base / VIDEO_TIME_BASE)


class RelayUpstreams:
    """Per-camera upstreams held in an ``ingest.LiveRelay`` (one RTSP connection per camera).

    ``relay`` may be shared with other users of the relay (clips); when ``None`` a relay is
    created with ``linger_s=grace_s`` and closed by :meth:`close`.
    """

    def __init__(self, relay: Any | None = None, *, grace_s: float = 10.0, viewer_queue_packets: int = 120) -> None:
        from ingest import LiveRelay

        self._own = relay is None
        self.relay = relay if relay is not None else LiveRelay(linger_s=grace_s)
        self.viewer_queue_packets = viewer_queue_packets
        self._refs: dict[str, int] = {}
        self._added: set[str] = set()

    def acquire(self, camera_id: str, url: str) -> RelayUpstream:
        from ingest import ChannelSpec

        try:
            self.relay.add_source(ChannelSpec(id=camera_id, url=url, mode="off"))
            self._added.add(camera_id)
        except ValueError:
            pass  # already a source (added by us for an earlier viewer, or by the app)
        self._refs[camera_id] = self._refs.get(camera_id, 0) + 1
        return RelayUpstream(self, camera_id)

    def release(self, camera_id: str) -> None:
        # The relay closes the upstream itself once its last subscription is closed (linger).
        refs = self._refs.get(camera_id, 0) - 1
        if refs > 0:
            self._refs[camera_id] = refs
        else:
            self._refs.pop(camera_id, None)

    def refs(self, camera_id: str) -> int:
        return self._refs.get(camera_id, 0)

    def snapshot(self) -> dict[str, dict]:
        return {
            s.camera_id: {
                "viewers": self._refs.get(s.camera_id, 0),
                "state": s.upstream,
                "packets": s.packets,
                "dropped_for_viewers": s.dropped,
                "buffered_s": round(s.ring_seconds, 2),
            }
            for s in self.relay.stats()
            if s.camera_id in self._added or s.camera_id in self._refs
        }

    async def close(self) -> None:
        self._refs.clear()
        if self._own:
            await asyncio.to_thread(self.relay.close)
        else:
            for camera_id in list(self._added):
                await asyncio.to_thread(self.relay.remove_source, camera_id)
        self._added.clear()
