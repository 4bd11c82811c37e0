"""Prometheus exposition for the worker processes: one HTTP port per process, opt-in by setting.

Each package provides a collector that reads its own counters at scrape time, so the
hot loops keep plain integer counters and pay nothing for the metrics.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.registry import Collector

log = logging.getLogger("xueliang.metrics")


def serve_metrics(port: int | None, *collectors: Collector, host: str = "127.0.0.1") -> CollectorRegistry | None:
    """Serve ``collectors`` (plus process CPU/memory) on ``http://host:port/metrics``; nothing when ``port`` is unset."""
    if not port:
        return None
    from prometheus_client import ProcessCollector

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, port)
    return registry
