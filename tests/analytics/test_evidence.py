"""Evidence per alarm window (one clip, a few snapshots) and Chinese labels burned into snapshots."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.evidence import EvidencePolicy, EvidenceWindows
from analytics.snapshot import CJK_FONTS, alert_label, render_snapshot


def test_alerts_of_one_rule_share_one_clip_that_grows_up_to_the_cap(tmp_path: Path) -> None:
    windows = EvidenceWindows(tmp_path, EvidencePolicy(pre_s=5, post_s=5, max_clip_s=60, quiet_s=60, renew_s=300,
                                                        snapshot_every_s=30, better_by=0.05))
    plans = [windows.on_alert("cam01", "hall", f"a{i}", t=100.0 + 4 * i, ts_wall=1.7e9 + 4 * i, confidence=0.6, clip=True)
             for i in range(30)]  # an alert every 4 s for 2 minutes
    assert plans[0].clip_path is not None and plans[0].clip_path.name == "a0.mp4"
    assert all(p.clip_path is None for p in plans[1:])  # one clip for the window, not one per alert
    assert windows.due(now=150.0) == []  # still growing
    assert windows.due(now=169.0) == []  # capped at 155, cut 15 s later (hold_s)
    [clip] = windows.due(now=1e9)
    assert (clip.since, clip.until) == (95.0, 155.0)  # pre-roll, then capped at 60 s
    # snapshots: the first, then one every 30 s (same confidence): 0 s, 32 s, 64 s, 96 s
    assert [i for i, p in enumerate(plans) if p.snapshot] == [0, 8, 16, 24]


def test_a_lull_shorter_than_the_hold_does_not_cut_the_clip(tmp_path: Path) -> None:
    windows = EvidenceWindows(tmp_path, EvidencePolicy(pre_s=5, post_s=5, max_clip_s=30, hold_s=15))
    windows.on_alert("c", "r", "a", t=0, ts_wall=0, confidence=0.5, clip=True)
    assert windows.due(now=9.0) == []  # 9 s without an alert: still waiting
    windows.on_alert("c", "r", "b", t=10, ts_wall=10, confidence=0.5, clip=True)
    assert windows.due(now=24.0) == []
    [clip] = windows.due(now=25.0)
    assert (clip.since, clip.until) == (-5, 15)


def test_a_better_detection_and_a_quiet_gap_and_another_rule(tmp_path: Path) -> None:
    windows = EvidenceWindows(tmp_path)
    assert windows.on_alert("c", "r", "a", t=0, ts_wall=0, confidence=0.5, clip=True).snapshot
    assert not windows.on_alert("c", "r", "b", t=2, ts_wall=2, confidence=0.52, clip=True).snapshot
    assert windows.on_alert("c", "r", "c", t=3, ts_wall=3, confidence=0.8, clip=True).snapshot  # best so far
    assert windows.on_alert("c", "other", "d", t=4, ts_wall=4, confidence=0.5, clip=True).clip_path is not None
    reopened = windows.on_alert("c", "r", "e", t=3 + 61, ts_wall=64, confidence=0.5, clip=True)  # 61 s quiet
    assert reopened.clip_path is not None and reopened.snapshot
    assert windows.on_alert("p", "r", "f", t=0, ts_wall=0, confidence=0.5, clip=False).clip_path is None  # patrol


@pytest.mark.skipif(not any(p.is_file() for p in CJK_FONTS), reason="fonts-wqy-zenhei not installed (scripts/setup.sh)")
def test_snapshot_label_is_drawn_in_chinese() -> None:
    frame = np.full((360, 480, 3), 90, np.uint8)
    box = [[200, 150, 260, 300]]

    def label_region(text: str) -> np.ndarray:
        jpeg = render_snapshot(frame, box, text)
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        return image[110:150, 195:420].astype(int)

    assert alert_label("zone_intrusion", "person", 0.82) == "区域入侵 行人 0.82"
    a = label_region(alert_label("zone_intrusion", "person", 0.82))
    b = label_region(alert_label("loitering", "car", 0.82))
    white = (a[..., 0] > 200) & (a[..., 1] > 200) & (a[..., 2] > 200)
    red = (a[..., 2] > 150) & (a[..., 1] < 80) & (a[..., 0] < 80)
    assert white.sum() > 80 and red.sum() > 200  # white glyphs on a red band above the box
    # Different characters draw different glyphs (a missing font would draw identical boxes or '?').
    assert np.abs(a - b).mean() > 5
