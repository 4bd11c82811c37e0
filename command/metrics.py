"""Prometheus figures of a command worker, read at scrape time.

Intake: alerts processed / created / merged / duplicates / dead-lettered, database errors,
timer runs (this worker's counters); the consumer group's lag (entries not yet delivered)
and pending entries (delivered, not acknowledged) from Redis; dead letters kept; open and
overdue incidents from the database. A scrape never raises: a figure whose source is down
is left out and ``xueliang_command_source_up`` says which.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from command.models import Incident
from command.streams import ALERTS_STREAM

if TYPE_CHECKING:
    from command.worker import AlertConsumer

log = logging.getLogger("command.metrics")


class CommandCollector(Collector):
    def __init__(self, consumer: AlertConsumer, group: str, dead_letter_stream: str) -> None:
        self._consumer = consumer
        self._group = group
        self._dead_letter_stream = dead_letter_stream

    def collect(self) -> Iterator[Metric]:
        stats = self._consumer.stats
        for name, help_text in (
            ("processed", "alerts handled by this worker"),
            ("created", "alerts that opened a new incident"),
            ("merged", "alerts merged into an open incident"),
            ("duplicates", "alerts already handled (redelivered)"),
            ("dead_lettered", "alerts rejected and kept in the dead-letter stream"),
            ("reclaimed", "entries taken over from a stalled consumer"),
            ("db_errors", "database errors while handling alerts"),
            ("timer_runs", "SLA / escalation timer passes"),
        ):
            yield CounterMetricFamily(f"xueliang_command_{name}", help_text, value=getattr(stats, name))
        up = GaugeMetricFamily("xueliang_command_source_up", "1 when the source answered this scrape", labels=["source"])
        try:
            yield from self._redis_figures()
            up.add_metric(["redis"], 1)
        except redis.RedisError as exc:
            log.warning("metrics: redis figures unavailable: %s", exc)
            up.add_metric(["redis"], 0)
        try:
            yield from self._database_figures()
            up.add_metric(["database"], 1)
        except SQLAlchemyError as exc:
            log.warning("metrics: database figures unavailable: %s", exc.__class__.__name__)
            up.add_metric(["database"], 0)
        yield up

    def _redis_figures(self) -> Iterator[Metric]:
        client = self._consumer.redis_client
        lag = pending = 0
        for group in client.xinfo_groups(ALERTS_STREAM) if client.exists(ALERTS_STREAM) else []:
            name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
            if name == self._group:
                lag, pending = int(group.get("lag") or 0), int(group.get("pending") or 0)
        yield GaugeMetricFamily("xueliang_command_intake_lag", "alerts in xl:alerts not yet delivered to the group", value=lag)
        yield GaugeMetricFamily("xueliang_command_intake_pending", "alerts delivered but not yet acknowledged", value=pending)
        yield GaugeMetricFamily("xueliang_command_dead_letters", "entries kept in the dead-letter stream",
                                value=client.xlen(self._dead_letter_stream))

    def _database_figures(self) -> Iterator[Metric]:
        with self._consumer.database.session() as session:
            open_count = session.scalar(select(func.count()).select_from(Incident).where(Incident.is_open.is_(True))) or 0
            overdue = session.scalar(select(func.count()).select_from(Incident).where(
                Incident.is_open.is_(True), Incident.overdue.is_(True))) or 0
        yield GaugeMetricFamily("xueliang_command_open_incidents", "incidents not yet closed", value=open_count)
        yield GaugeMetricFamily("xueliang_command_overdue_incidents", "open incidents past their deadline", value=overdue)
