"""The evidence writer: a rule event → an alert with its snapshot, and the alarm window's clip.

Each alert is submitted to the :class:`AlertSink` at once (an alarm must not wait for its clip);
the alert that opens an alarm window names the clip, and the clip then ends in exactly one of two
states the desk can tell apart: the file exists and is complete (written beside and renamed), or a
marker next to it says why it is missing (``command.mark_clip_failed``: no packets, the camera was
stopped, the write failed, the worker stopped first). Policy (one clip per window, which alerts
carry a snapshot): :mod:`analytics.evidence`.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Mapping
from typing import Protocol

from analytics.alerts import build_alert, snapshot_for
from analytics.evidence import EvidenceWindows, PendingClip
from analytics.pipeline import Analysed
from analytics.rules import RuleEvent
from command import AlertIn, mark_clip_failed
from ingest import PacketRing, write_mp4

log = logging.getLogger(__name__)


class AlertSink(Protocol):
    """Where alerts go (``analytics.alerts.AlertPublisher``; the cluster's epoch-stamping publisher)."""

    published: int

    def submit(self, alert: AlertIn, snapshot_jpeg: bytes) -> None: ...

    def close(self, timeout: float = 5.0) -> None: ...

    @property
    def pending(self) -> int: ...


class EvidenceWriter:
    """Alerts with snapshots now, clips when their window has ended."""

    def __init__(self, sink: AlertSink, windows: EvidenceWindows, rings: Mapping[str, PacketRing]) -> None:
        self.sink = sink
        self.windows = windows
        self.rings = rings  # the supervisor's packet rings by camera id (continuous cameras with clips)
        self.clips_written = 0
        self.clips_missing = 0

    def emit(self, result: Analysed, event: RuleEvent) -> None:
        ch = result.frame.channel
        h, w = result.frame.image.shape[:2]
        alert_id = uuid.uuid4().hex
        ts_mono = result.frame.ts_monotonic
        # One clip and a few snapshots per alarm window of (camera, rule), not per alert (analytics.evidence).
        plan = self.windows.on_alert(
            ch.camera_id, event.rule_id, alert_id, confidence=event.confidence,
            clip=ch.camera_id in self.rings and ts_mono is not None, ts_wall=event.ts,
            t=ts_mono if ts_mono is not None else event.ts)
        alert = build_alert(ch.camera, event, w, h, str(plan.clip_path) if plan.clip_path else None, alert_id)
        snapshot = b""
        if plan.snapshot:  # the zone (or the wire) of the rule, drawn on the snapshot for context
            outline = next((r.outline(w, h) for r in ch.rules if r.rule_id == event.rule_id), None)
            snapshot = snapshot_for(result.frame.image, event, outline)
        self.sink.submit(alert, snapshot)
        log.info("alert %s: camera %s rule %s %s track %s conf %.2f", alert_id[:8], ch.camera_id, event.rule_id,
                 event.object_class, event.track_id, event.confidence)

    def write_due(self, force: bool = False) -> None:
        """Cut the clips whose window has ended (all of them with ``force``, at shutdown)."""
        if not self.windows.pending:
            return
        for clip in self.windows.due(time.monotonic(), force):
            self._write(clip)

    def _write(self, clip: PendingClip) -> None:
        ring = self.rings.get(clip.camera_id)
        try:
            if ring is None:
                raise ValueError("the camera was stopped before its clip was cut")
            packets = ring.snapshot(clip.since, clip.until)
            if not packets or ring.params is None:
                raise ValueError("no packets buffered for this camera")
            # written beside and renamed, so a clip that exists is a complete one
            partial = clip.path.with_name(clip.path.stem + ".part" + clip.path.suffix)
            write_mp4(packets, ring.params, partial)
            os.replace(partial, clip.path)
            self.clips_written += 1
        except Exception as exc:
            self.clips_missing += 1
            log.warning("camera %s: evidence clip %s not written: %s", clip.camera_id, clip.path.name, exc)
            mark_clip_failed(clip.path, f"录像未能写入：{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.write_due(force=True)
        self.sink.close()
