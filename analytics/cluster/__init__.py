"""analytics.cluster: the analytics tier as Ray actors (optional extra ``xueliang[cluster]``).

Placement (pure, no Ray) is importable without Ray installed::

    from analytics.cluster import CostModel, place, node_capacity

The controller, shard and node-detector actors live in :mod:`analytics.cluster.actors`
and need Ray; see docs/cluster.md.
"""

from analytics.cluster.placement import CostModel, Placement, moves_between, node_capacity, place

__all__ = ["CostModel", "Placement", "moves_between", "node_capacity", "place"]
