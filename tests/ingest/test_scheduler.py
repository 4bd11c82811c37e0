"""ChannelScheduler with the real RTSP server: continuous + patrol mix, budget, promotion, removal."""

from __future__ import annotations

import time

from ingest import ChannelScheduler, ChannelSpec, SchedulerConfig
from tests.ingest.helpers import Frames, wait_until


def test_continuous_and_patrol_channels_with_measured_revisit(rtsp_server):
    frames = Frames()
    cfg = SchedulerConfig(patrol_workers=2, patrol_min_revisit_s=0.0)
    specs = [ChannelSpec("cam01", rtsp_server.url("cam01"), "continuous", 5)] + [
        ChannelSpec(c, rtsp_server.url(c), "patrol", 1) for c in ("cam02", "cam03", "cam04")
    ]
    with ChannelScheduler(frames, config=cfg) as sched:
        sched.sync(specs)
        assert wait_until(lambda: all(len(frames.of(c)) >= 3 for c in ("cam02", "cam03", "cam04")) and len(frames.of("cam01")) >= 10, 30)
        report = sched.report()
    assert (report.continuous, report.patrol) == (1, 3)
    assert all(f.keyframe for c in ("cam02", "cam03", "cam04") for f in frames.of(c))
    assert len(frames.of("cam01")) >= 10
    rows = {r.id: r for r in report.channels}
    for cid in ("cam02", "cam03", "cam04"):
        row = rows[cid]
        assert row.mode == "patrol" and row.state == "online" and row.visits >= 2
        # 3 channels over 2 workers: a channel waits ~1.5 visits between its own visits
        assert row.revisit_s is not None and row.mean_visit_s is not None
        assert row.mean_visit_s * 0.8 <= row.revisit_s <= row.mean_visit_s * 4 + 1
    assert report.patrol_revisit_mean_s and report.patrol_revisit_max_s >= report.patrol_revisit_mean_s


def test_fps_budget_patrols_what_does_not_fit(rtsp_server):
    frames = Frames()
    cfg = SchedulerConfig(fps_budget=6, patrol_workers=1, patrol_min_revisit_s=0.0)
    with ChannelScheduler(frames, config=cfg) as sched:
        sched.sync([ChannelSpec(c, rtsp_server.url(c), "continuous", 5) for c in ("cam01", "cam02")])
        report = sched.report()
        assert report.continuous == 1 and report.over_budget == 1 and report.fps_used == 5
        over = next(r for r in report.channels if r.over_budget)
        assert over.mode == "patrol"
        assert wait_until(lambda: len(frames.of(over.id)) >= 1, 15), "an over-budget channel is still patrolled"
        # removing the continuous channel frees the budget: the other one is admitted
        sched.remove(next(r.id for r in report.channels if not r.over_budget))
        assert wait_until(lambda: sched.report().continuous == 1 and sched.report().over_budget == 0, 5)


def test_promotion_makes_a_patrol_channel_continuous_then_expires(rtsp_server):
    frames = Frames()
    cfg = SchedulerConfig(patrol_workers=1, patrol_min_revisit_s=30.0, promotion_fps=5)
    with ChannelScheduler(frames, config=cfg) as sched:
        sched.add(ChannelSpec("cam03", rtsp_server.url("cam03"), "patrol", 1))
        assert wait_until(lambda: len(frames.of("cam03")) == 1, 15)
        sched.promote("cam03", minutes=4 / 60)
        assert sched.report().channels[0].mode == "continuous"
        assert wait_until(lambda: len(frames.of("cam03")) >= 12, 8), "promoted channel should run at 5 fps"
        assert wait_until(lambda: sched.report().channels[0].mode == "patrol", 6), "promotion must expire"
        n = len(frames.of("cam03"))
        time.sleep(1.5)
        assert len(frames.of("cam03")) - n <= 1, "back on patrol (min revisit 30 s): no more continuous frames"
