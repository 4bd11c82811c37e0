"""Where each camera is analysed: a cost per camera, a capacity per node, sticky greedy placement.

Pure functions, no Ray: the controller calls them with what it sees, the benchmark calls
them with 30,000 simulated channels over 300 simulated nodes.

Cost unit: one 480×360 frame per second through decode, motion gate and detection. A
2-core box runs 24 continuous channels at 5 fps (``xueliang bench analytics``), i.e.
about 60 units per core; it patrols about 1,000 channels (a visit: connect, first
keyframe, one inference, every ≥10 s), i.e. about 0.12 units per patrol channel.

Stickiness: a channel stays where it is unless its node is gone or the node it is on
is above the tolerance while another is below it; new and orphaned channels go to
the least loaded node (relative to its capacity), largest first; rebalancing then
moves one channel at a time from the most to the least loaded node, choosing the
channel whose cost best closes the gap, and stops as soon as the spread is within
tolerance or no move improves it. So losing a node moves only that node's channels,
and adding one moves about its fair share.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devices import Camera

REF_PIXELS = 480 * 360
UNITS_PER_CPU = 60.0  # measured: 24 channels × 5 fps on 2 cores
PATROL_COST = 0.12  # measured: ~1,000 patrol channels on 2 cores
DEFAULT_TOLERANCE = 1.1  # max/min relative load that counts as balanced


@dataclass(frozen=True)
class CostModel:
    """Cost of analysing a camera, in 480×360-frames-per-second units."""

    ref_pixels: int = REF_PIXELS
    patrol_cost: float = PATROL_COST
    default_width: int = 480
    default_height: int = 360
    max_native_pixels: int = 640 * 640  # the detector never analyses more than 640 on the long side

    def channel_cost(self, mode: str, fps: float, width: int | None = None, height: int | None = None) -> float:
        """Cost of one channel: ``patrol`` a constant, ``continuous`` fps × pixels (capped as the detector caps them),
        ``off`` nothing."""
        if mode == "off":
            return 0.0
        if mode == "patrol":
            return self.patrol_cost
        if mode != "continuous":
            raise ValueError(f"unknown analysis mode {mode!r}; expected continuous, patrol or off")
        w, h = width or self.default_width, height or self.default_height
        long_side = max(w, h)
        if long_side > 640:  # the detector letterboxes to ≤ 640 on the long side; decode still costs the full frame
            scale = 640 / long_side
            det_pixels = w * h * scale * scale
        else:
            det_pixels = w * h
        # About half the per-frame cost is decode (full pixels), half detection (capped pixels).
        return float(fps) * (0.5 * (w * h) + 0.5 * det_pixels) / self.ref_pixels

    def camera_cost(self, camera: Camera) -> float:
        """Cost of a ``devices.Camera`` (its ``analysis`` mode and fps, its ``frame`` size when known)."""
        analysis = getattr(camera, "analysis", None)
        mode = str(getattr(getattr(analysis, "mode", None), "value", getattr(analysis, "mode", "patrol")))
        if not getattr(camera, "enabled", True):
            mode = "off"
        frame = getattr(camera, "frame", None)
        return self.channel_cost(mode, float(getattr(analysis, "fps", 1.0) or 1.0),
                                 getattr(frame, "width", None), getattr(frame, "height", None))


def node_capacity(cpus: float, units_per_cpu: float = UNITS_PER_CPU) -> float:
    """Cost units a node of ``cpus`` cores can carry."""
    if cpus <= 0:
        raise ValueError(f"a node needs at least a fraction of a CPU, got {cpus}")
    return cpus * units_per_cpu


@dataclass(frozen=True)
class Placement:
    """Result of :func:`place`: where every channel goes, and what changed versus ``previous``."""

    assignment: dict[str, str]  # channel -> node
    load: dict[str, float]  # node -> summed cost
    moved: frozenset[str]  # channels that had a (still existing or vanished) node and now have another one
    placed_new: frozenset[str]  # channels that had no node before
    unplaced: frozenset[str]  # channels with nowhere to go (no nodes)

    def relative_load(self, capacity: Mapping[str, float]) -> dict[str, float]:
        return {n: self.load.get(n, 0.0) / capacity[n] for n in capacity}

    def spread(self, capacity: Mapping[str, float]) -> float:
        """max/min relative load over the nodes (1.0: perfectly even; inf: an idle node while others work)."""
        rel = self.relative_load(capacity)
        if not rel:
            return 1.0
        lo, hi = min(rel.values()), max(rel.values())
        if hi == 0:
            return 1.0
        return float("inf") if lo == 0 else hi / lo


def place(costs: Mapping[str, float], capacity: Mapping[str, float], previous: Mapping[str, str] | None = None,
          *, tolerance: float = DEFAULT_TOLERANCE) -> Placement:
    """Assign every channel of ``costs`` to a node of ``capacity``, keeping ``previous`` where possible.

    ``costs``: channel -> cost (:class:`CostModel`); ``capacity``: node -> capacity (> 0).
    Runs in O(C log N + M·k) for C channels, N nodes and M rebalancing moves over nodes of k channels.
    """
    for name, cap in capacity.items():
        if cap <= 0:
            raise ValueError(f"node {name!r} has capacity {cap}; capacities must be > 0")
    previous = previous or {}
    assignment: dict[str, str] = {}
    load = dict.fromkeys(capacity, 0.0)
    members: dict[str, dict[str, float]] = {n: {} for n in capacity}
    orphans: list[str] = []
    placed_new: list[str] = []
    for ch, cost in costs.items():
        node = previous.get(ch)
        if node is not None and node in load:
            assignment[ch] = node
            load[node] += cost
            members[node][ch] = cost
        elif node is None:
            placed_new.append(ch)
        else:
            orphans.append(ch)
    if not capacity:
        return Placement({}, {}, frozenset(), frozenset(), frozenset(orphans) | frozenset(placed_new))

    # Greedy, largest first, onto the least relatively loaded node (a heap of (relative load, node)).
    todo = sorted(orphans + placed_new, key=lambda c: (-costs[c], c))
    heap = [(load[n] / capacity[n], n) for n in capacity]
    heapq.heapify(heap)
    for ch in todo:
        rel, node = heapq.heappop(heap)
        cost = costs[ch]
        assignment[ch] = node
        load[node] += cost
        members[node][ch] = cost
        heapq.heappush(heap, (load[node] / capacity[node], node))

    moved = set(orphans)
    _rebalance(assignment, load, members, capacity, costs, previous, moved, tolerance)
    return Placement(assignment, load, frozenset(moved), frozenset(placed_new) - moved, frozenset())


def _rebalance(assignment: dict[str, str], load: dict[str, float], members: dict[str, dict[str, float]],
               capacity: Mapping[str, float], costs: Mapping[str, float], previous: Mapping[str, str],
               moved: set[str], tolerance: float) -> None:
    """Move channels from the most to the least relatively loaded node until within ``tolerance``."""
    if len(capacity) < 2:
        return
    # Two heaps with lazy invalidation: (−rel, node) for the most loaded, (rel, node) for the least.
    version = dict.fromkeys(capacity, 0)
    hi_heap = [(-load[n] / capacity[n], 0, n) for n in capacity]
    lo_heap = [(load[n] / capacity[n], 0, n) for n in capacity]
    heapq.heapify(hi_heap)
    heapq.heapify(lo_heap)

    def top(heap: list[tuple[float, int, str]]) -> str:
        while True:
            _, ver, node = heap[0]
            if ver == version[node]:
                return node
            heapq.heappop(heap)

    def push(node: str) -> None:
        version[node] += 1
        rel = load[node] / capacity[node]
        heapq.heappush(hi_heap, (-rel, version[node], node))
        heapq.heappush(lo_heap, (rel, version[node], node))

    for _ in range(len(assignment) + 1):
        h, lo = top(hi_heap), top(lo_heap)
        r_hi, r_lo = load[h] / capacity[h], load[lo] / capacity[lo]
        if h == lo or r_hi == 0 or (r_lo > 0 and r_hi / r_lo <= tolerance):
            return
        # The cost that would equalise the pair; pick the channel on h closest to it.
        ideal = (r_hi - r_lo) / (1 / capacity[h] + 1 / capacity[lo])
        best: str | None = None
        best_gap: float | None = None
        for ch, cost in members[h].items():
            new_max = max(r_hi - cost / capacity[h], r_lo + cost / capacity[lo])
            if new_max >= r_hi - 1e-12:
                continue  # would not lower the pair's maximum
            gap = abs(cost - ideal)
            if best is None or best_gap is None or gap < best_gap or (gap == best_gap and ch < best):
                best, best_gap = ch, gap
        if best is None:
            return
        cost = members[h].pop(best)
        members[lo][best] = cost
        assignment[best] = lo
        load[h] -= cost
        load[lo] += cost
        if previous.get(best) == lo:
            moved.discard(best)  # went back where it was: not a move
        elif best in previous:
            moved.add(best)
        push(h)
        push(lo)


def moves_between(before: Mapping[str, str], after: Mapping[str, str]) -> set[str]:
    """Channels present in both with a different node."""
    return {ch for ch, node in after.items() if ch in before and before[ch] != node}


__all__ = ["CostModel", "Placement", "moves_between", "node_capacity", "place"]
