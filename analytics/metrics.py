"""Prometheus figures of the analytics worker, read from its counters at scrape time.

Per camera: frames analysed, frames the gate skipped, frames inferred, alerts, and for
continuously read cameras the reader's decoded/delivered frames, reconnects and lag.
Per worker: batches and batched frames (mean batch size = their ratio), frames dropped
late, failed batches, inference seconds, alerts published and waiting for Redis.
Rates (analysed fps, gate skip ratio) are PromQL ``rate()`` of these counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ingest import StreamReader

if TYPE_CHECKING:
    from analytics.worker import AnalyticsWorker


class AnalyticsCollector(Collector):
    def __init__(self, worker: AnalyticsWorker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        w = self._worker
        per_camera = {
            "frames": CounterMetricFamily("xueliang_analytics_frames", "frames analysed (gate, detector or both)", labels=["camera"]),
            "skipped": CounterMetricFamily("xueliang_analytics_gate_skipped_frames", "frames the motion gate judged static (no inference)", labels=["camera"]),
            "inferred": CounterMetricFamily("xueliang_analytics_inferred_frames", "frames sent to the detector", labels=["camera"]),
            "alerts": CounterMetricFamily("xueliang_analytics_alerts", "alerts raised by the camera's rules", labels=["camera"]),
        }
        for camera_id, channel in list(w.channels.items()):
            counters = channel.counters
            for key, family in per_camera.items():
                family.add_metric([camera_id], getattr(counters, key))
        yield from per_camera.values()

        decoded = CounterMetricFamily("xueliang_ingest_frames_decoded", "frames the reader decoded", labels=["camera"])
        delivered = CounterMetricFamily("xueliang_ingest_frames_delivered", "frames the reader handed to analysis", labels=["camera"])
        connects = CounterMetricFamily("xueliang_ingest_connects", "successful connections to the camera", labels=["camera"])
        failures = CounterMetricFamily("xueliang_ingest_open_failures", "failed connection attempts", labels=["camera"])
        lag = GaugeMetricFamily("xueliang_ingest_lag_seconds", "how far behind the stream clock the last packet was handled", labels=["camera"])
        for camera_id, reader in list(w.readers.items()):
            if not isinstance(reader, StreamReader):  # patrol cameras share the scheduler's short visits
                continue
            stats = reader.stats
            decoded.add_metric([camera_id], stats.frames_decoded)
            delivered.add_metric([camera_id], stats.frames_delivered)
            connects.add_metric([camera_id], stats.connects)
            failures.add_metric([camera_id], stats.open_failures)
            lag.add_metric([camera_id], stats.lag_s)
        yield from (decoded, delivered, connects, failures, lag)

        yield CounterMetricFamily("xueliang_analytics_batches", "detector batches run", value=w.batches)
        yield CounterMetricFamily("xueliang_analytics_batched_frames", "frames in detector batches", value=w.batch_frames)
        yield CounterMetricFamily("xueliang_analytics_inference_seconds", "wall time spent in gate+detector+tracker+rules batches", value=w.inference_seconds)
        yield CounterMetricFamily("xueliang_analytics_failed_batches", "batches that raised and were dropped", value=w.failed_batches)
        yield CounterMetricFamily("xueliang_analytics_dropped_late_frames", "frames dropped because analysis fell behind", value=w.inbox.dropped)
        yield CounterMetricFamily("xueliang_analytics_alerts_published", "alerts written to xl:alerts", value=w.publisher.published)
        yield GaugeMetricFamily("xueliang_analytics_alerts_pending", "alerts waiting for Redis", value=w.publisher.pending)
        yield GaugeMetricFamily("xueliang_analytics_cameras", "cameras this worker analyses", value=len(w.channels))
