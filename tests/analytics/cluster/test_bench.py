"""``xueliang bench cluster --json --quick`` end to end (a real local Ray cluster, real RTSP cameras)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from xueliang.settings import REPO_ROOT

pytest.importorskip("ray", reason="Ray is the optional extra xueliang[cluster] (scripts/setup.sh installs it)")


@pytest.mark.timeout(420)  # a safety net for a very loaded box; the target is ≤ 2 min (phases_s says where it goes)
def test_bench_cluster_quick_prints_every_figure():
    """In the default run: ~60 s on a quiet 2-core box (``phases_s`` says where the time goes)."""
    done = subprocess.run([sys.executable, "-m", "xueliang.cli", "bench", "cluster", "--json", "--quick"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=400,
                          env={**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert r["placement_30000_channels_s"] <= 1.0
    assert r["load_spread"] <= 1.1 and r["load_spread_after_add"] <= 1.1
    assert r["moved_only_lost_nodes_channels"] and r["moved_on_node_loss"] == r["lost_node_channels"] > 0
    assert 0 < r["moved_on_node_add"] <= r["fair_share_on_add"]
    assert r["failover_s"] is not None and r["failover_s"] <= 30
    assert r["live_moved_only_lost_nodes"] and r["live_moved_on_node_loss"] == r["live_lost_node_cameras"] > 0
    # the ≥ 0.95 target is reported, not asserted (a shared box); both sides analysed real frames in every round
    assert 0 < r["overhead_vs_standalone"] <= 1.5 and len(r["overhead_ratios"]) >= 1
    assert all(x > 0.5 for x in r["channels_per_core_ray"] + r["channels_per_core_standalone"])
    assert 50 < r["ray_rss_mb_per_node"] < 2000
    assert set(r["ray_cpu_share"]) == {"shards", "detector", "ray"}
    assert "int8_vs_float_raw_fps" in r and "int8_box_agreement" in r
    if r["int8_box_agreement"] is not None:  # scripts/setup.sh creates the INT8 model
        assert r["int8_box_agreement"] >= 0.9 and r["int8_vs_float_raw_fps"] > 0
