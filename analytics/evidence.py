"""Evidence per alarm window, not per alert: one clip and a few snapshots while a rule keeps firing.

A camera whose rule fires every few seconds (people crossing a square) must not write a clip
and a JPEG per alert: that was ~11 GB/hour for the four demo cameras. Alerts of one
(camera, rule) form a *window*: the first alert opens it (a snapshot and a clip from
``pre_s`` before it); later alerts extend the clip's end (up to ``max_clip_s``; the clip is cut
``hold_s`` after the last alert, so a short lull does not end it) and carry a
snapshot only when it is clearly better (confidence up by ``better_by``) or the last one is
``snapshot_every_s`` old. The window closes after ``quiet_s`` without an alert or ``renew_s``
after it opened; the next alert opens a new one (a new clip). Command merges the alerts of
a window into one incident, which thus holds the first, latest and best snapshot and one
clip per window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analytics.alerts import clip_path_for


@dataclass
class PendingClip:
    """A clip to cut from the camera's packet ring once ``due`` (monotonic) has passed."""

    due: float
    camera_id: str
    since: float
    until: float
    path: Path


@dataclass(frozen=True)
class EvidencePlan:
    clip_path: Path | None  # this alert opened a window: its clip (written later)
    snapshot: bool  # attach a snapshot JPEG to this alert


@dataclass
class _Window:
    opened: float
    last: float
    best: float
    last_snapshot: float
    clip: PendingClip | None


@dataclass(frozen=True)
class EvidencePolicy:
    pre_s: float = 5.0
    post_s: float = 5.0
    max_clip_s: float = 30.0
    quiet_s: float = 60.0
    renew_s: float = 300.0
    snapshot_every_s: float = 30.0
    better_by: float = 0.05
    hold_s: float = 15.0  # a clip is cut this long after its last alert: a short lull does not end it

    @property
    def ring_s(self) -> float:
        """Seconds of packets a camera's ring must hold to cut the longest clip when it is due."""
        return self.pre_s + self.max_clip_s + self.hold_s + 5.0


class EvidenceWindows:
    """Decides, per alert, whether it opens a clip and whether it carries a snapshot."""

    def __init__(self, media_dir: Path, policy: EvidencePolicy | None = None) -> None:
        self.media_dir = media_dir
        self.policy = policy or EvidencePolicy()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._clips: list[PendingClip] = []
        self.opened = 0
        self.snapshots = 0

    def on_alert(self, camera_id: str, rule_id: str, alert_id: str, *, t: float, ts_wall: float,
                 confidence: float, clip: bool) -> EvidencePlan:
        """``t``: the frame's monotonic time (wall time for patrol frames); ``clip``: a packet ring exists."""
        p = self.policy
        key = (camera_id, rule_id)
        window = self._windows.get(key)
        if window is None or t - window.last > p.quiet_s or t - window.opened > p.renew_s:
            pending = None
            if clip:
                pending = PendingClip(t + max(p.hold_s, p.post_s), camera_id, t - p.pre_s, t + p.post_s,
                                      clip_path_for(self.media_dir, camera_id, alert_id, ts_wall))
                self._clips.append(pending)
            self._windows[key] = _Window(opened=t, last=t, best=confidence, last_snapshot=t, clip=pending)
            self.opened += 1
            self.snapshots += 1
            return EvidencePlan(pending.path if pending else None, True)
        window.last = t
        if window.clip is not None and any(c is window.clip for c in self._clips):  # not cut yet: extend it
            window.clip.until = min(t + p.post_s, window.clip.since + p.max_clip_s)
            window.clip.due = min(t, window.clip.since + p.max_clip_s) + max(p.hold_s, p.post_s)
        snapshot = confidence >= window.best + p.better_by or t - window.last_snapshot >= p.snapshot_every_s
        if snapshot:
            window.best = max(window.best, confidence)
            window.last_snapshot = t
            self.snapshots += 1
        return EvidencePlan(None, snapshot)

    def due(self, now: float, force: bool = False) -> list[PendingClip]:
        """Clips whose window has ended (or all, at shutdown), removed from the pending list."""
        ready = [c for c in self._clips if force or c.due <= now]
        if ready:
            self._clips = [c for c in self._clips if not (force or c.due <= now)]
        return ready

    @property
    def pending(self) -> int:
        return len(self._clips)

    def forget(self, camera_id: str) -> None:
        """A camera stopped: its open windows end (pending clips are still cut while its ring exists)."""
        for key in [k for k in self._windows if k[0] == camera_id]:
            del self._windows[key]
