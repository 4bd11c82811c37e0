"""Prometheus figures of the web process: requests by status class and latency, live WebSocket clients.

Served at ``/metrics`` to administrators (the figures are process-wide, never per case).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _LiveFigures(Collector):
    def __init__(self, websocket_clients: Callable[[], int]) -> None:
        self._websocket_clients = websocket_clients

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("xueliang_web_websocket_clients", "operators and responders with a live push connection",
                                value=self._websocket_clients())


class WebMetrics:
    """One registry per app (no global state): request counters plus the live figures read at scrape time."""

    def __init__(self, websocket_clients: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.registry.register(_LiveFigures(websocket_clients))
        self.requests = Counter("xueliang_web_requests", "HTTP requests answered", ["method", "status_class"],
                                registry=self.registry)
        self.latency = Histogram("xueliang_web_request_seconds", "time to answer an HTTP request", ["method"],
                                 registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware counting every HTTP answer (WebSockets are counted by the gauge)."""

    def __init__(self, app: ASGIApp, metrics: WebMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, f"{status[0] // 100}xx").inc()
            self.metrics.latency.labels(method).observe(time.perf_counter() - started)
