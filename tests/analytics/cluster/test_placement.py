"""The placement cost model and sticky placement (pure functions, no Ray)."""

from __future__ import annotations

import random
import time

import pytest

from analytics.cluster import CostModel, moves_between, node_capacity, place


def _channels(n: int, seed: int = 1) -> dict[str, float]:
    """A county-like mix: 10 % continuous at 5 fps (half of them 640×360, half 480×360), 90 % patrol."""
    rnd = random.Random(seed)
    model = CostModel()
    out = {}
    for i in range(n):
        r = rnd.random()
        if r < 0.05:
            out[f"c{i:05d}"] = model.channel_cost("continuous", 5, 640, 360)
        elif r < 0.10:
            out[f"c{i:05d}"] = model.channel_cost("continuous", 5, 480, 360)
        else:
            out[f"c{i:05d}"] = model.channel_cost("patrol", 1)
    return out


def test_cost_model_by_mode_fps_and_resolution():
    m = CostModel()
    assert m.channel_cost("continuous", 5, 480, 360) == pytest.approx(5.0)  # the unit: a 480×360 frame per second
    assert m.channel_cost("continuous", 10, 480, 360) == pytest.approx(10.0)
    # 1920×1080: decode costs all 2.07 Mpx (12×), detection only the 640×360 letterbox (1.33×)
    assert m.channel_cost("continuous", 1, 1920, 1080) == pytest.approx(0.5 * 12 + 0.5 * (640 * 360) / (480 * 360))
    assert m.channel_cost("patrol", 1) == pytest.approx(0.12)
    assert m.channel_cost("off", 25) == 0.0
    with pytest.raises(ValueError, match="unknown analysis mode"):
        m.channel_cost("sometimes", 1)
    assert node_capacity(2) == pytest.approx(120.0)  # 24 channels × 5 fps on a 2-core box
    with pytest.raises(ValueError):
        node_capacity(0)


def test_cost_of_registry_cameras(tmp_path):
    from devices import load_registry

    path = tmp_path / "cameras.yaml"
    path.write_text("""version: 1
cameras:
  - {id: a, name: A, jurisdiction: "330381101201", position: {lat: 27.7, lon: 120.6},
     streams: {main: "rtsp://127.0.0.1:1/a"}, analysis: {mode: continuous, fps: 5}, frame: {width: 640, height: 360}}
  - {id: b, name: B, jurisdiction: "330381101201", position: {lat: 27.7, lon: 120.6},
     streams: {main: "rtsp://127.0.0.1:1/b"}, analysis: {mode: patrol}}
  - {id: c, name: C, jurisdiction: "330381101201", position: {lat: 27.7, lon: 120.6},
     streams: {main: "rtsp://127.0.0.1:1/c"}, analysis: {mode: continuous, fps: 5}, enabled: false}
""", encoding="utf-8")
    cams = load_registry(path).cameras
    m = CostModel()
    assert m.camera_cost(cams["a"]) == pytest.approx(5 * 640 * 360 / (480 * 360))
    assert m.camera_cost(cams["b"]) == pytest.approx(0.12)
    assert m.camera_cost(cams["c"]) == 0.0


def test_twelve_cameras_on_two_nodes_split_six_six_and_are_sticky():
    costs = {f"cam{i:02d}": 2.0 for i in range(12)}
    cap = {"n1": 60.0, "n2": 60.0}
    p = place(costs, cap)
    assert sorted(p.load.values()) == [12.0, 12.0]
    assert set(p.assignment) == set(costs) and not p.moved and p.placed_new == frozenset(costs)
    again = place(costs, cap, p.assignment)
    assert again.assignment == p.assignment and not again.moved and not again.placed_new


def test_node_loss_moves_only_that_nodes_channels_and_stays_balanced():
    costs = _channels(3000)
    cap = {f"n{i:03d}": node_capacity(4) for i in range(30)}
    p = place(costs, cap)
    assert p.spread(cap) <= 1.1
    lost = "n007"
    on_lost = {c for c, n in p.assignment.items() if n == lost}
    survivors = {n: c for n, c in cap.items() if n != lost}
    q = place(costs, survivors, p.assignment)
    assert moves_between(p.assignment, q.assignment) == on_lost == set(q.moved)
    assert lost not in q.assignment.values()
    assert q.spread(survivors) <= 1.1


def test_node_add_moves_about_its_fair_share():
    costs = {f"c{i:04d}": 1.0 for i in range(1000)}  # equal costs: the fair share is exact
    cap = {f"n{i}": 100.0 for i in range(10)}
    p = place(costs, cap)
    grown = {**cap, "n10": 100.0}
    q = place(costs, grown, p.assignment)
    moved = moves_between(p.assignment, q.assignment)
    assert moved == set(q.moved)
    assert all(q.assignment[c] == "n10" for c in moved), "a rebalance moved channels between old nodes"
    fair = 1000 / 11  # ≈ 91 channels
    assert fair / 1.1 - 1 <= len(moved) <= fair, len(moved)
    assert q.spread(grown) <= 1.1


def test_capacity_weights_the_share_and_no_nodes_leaves_channels_unplaced():
    costs = {f"c{i}": 1.0 for i in range(300)}
    p = place(costs, {"small": 60.0, "big": 120.0})
    assert p.load["big"] == pytest.approx(200, abs=10) and p.load["small"] == pytest.approx(100, abs=10)
    none = place(costs, {}, p.assignment)
    assert none.unplaced == frozenset(costs) and not none.assignment
    with pytest.raises(ValueError, match="capacity"):
        place(costs, {"broken": 0.0})


def test_thirty_thousand_channels_over_three_hundred_nodes_within_a_second():
    costs = _channels(30_000)
    cap = {f"n{i:03d}": node_capacity(8) for i in range(300)}
    t0 = time.thread_time()  # CPU time: the shared box's load must not decide the outcome
    p = place(costs, cap)
    elapsed = time.thread_time() - t0
    assert len(p.assignment) == 30_000 and p.spread(cap) <= 1.1
    assert elapsed <= 1.0, f"placement took {elapsed:.2f} s"
    t0 = time.thread_time()
    q = place(costs, {**cap, "n300": node_capacity(8)}, p.assignment)
    assert time.thread_time() - t0 <= 1.0
    assert q.spread({**cap, "n300": node_capacity(8)}) <= 1.1
    assert len(q.moved) <= 30_000 / 301 * 1.3  # about one node's share (costs vary: a few more)
