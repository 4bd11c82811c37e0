"""Positions and tracks of mobile units in the SQL database (SQLite or PostgreSQL).

The table ``mobile_positions`` is created by the Alembic migration ``0011_mobile_positions`` in
``command/migrations`` (the project's one migration chain); ``devices`` does not import
``command``, so its shape is declared here with SQLAlchemy Core and must match that migration
(``tests/command/test_db.py`` compares both against a migrated database).

Every process that receives telemetry writes it here through :meth:`PositionStore.record`
(web's HTTP route, the MQTT bridge worker); a report is stored once per (unit, report time),
so a replay or a second writer changes nothing.

Retention is bounded twice: per unit only the newest ``max_points`` reports are kept (3,600 by
default, an hour at one report a second), and nothing received more than ``max_age`` ago (7 days
by default). The writer prunes: a unit's surplus after every ``max_points // 10`` of its reports
(reads never return more than ``max_points``), the old rows at most once a minute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool

from devices.mobile.report import Telemetry

metadata = sa.MetaData()

positions_table = sa.Table(
    "mobile_positions", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("ts_us", sa.BigInteger(), nullable=False),        # report time, microseconds since the epoch
    sa.Column("utc_offset_s", sa.Integer(), nullable=False, server_default="0"),  # the report's own offset
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("alt_m", sa.Float(), nullable=True),
    sa.Column("heading_deg", sa.Float(), nullable=True),
    sa.Column("speed_mps", sa.Float(), nullable=True),
    sa.Column("battery_pct", sa.Float(), nullable=True),
    sa.Column("link_quality", sa.Float(), nullable=True),
    sa.Column("received_at", sa.Float(), nullable=False),       # epoch seconds, for retention by age
    sa.UniqueConstraint("unit_id", "ts_us", name="uq_mobile_positions_unit_ts"),
    sa.Index("ix_mobile_positions_ts_us", "ts_us"),
    sa.Index("ix_mobile_positions_received_at", "received_at"),
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OPTIONAL = ("alt_m", "heading_deg", "speed_mps", "battery_pct", "link_quality")
AGE_PRUNE_INTERVAL_S = 60.0


def _micros(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _row(report: Telemetry, received_at: float) -> dict[str, object]:
    offset = report.ts.utcoffset() or timedelta(0)
    row: dict[str, object] = {"unit_id": report.unit_id, "ts_us": _micros(report.ts),
                              "utc_offset_s": int(offset.total_seconds()), "lat": report.lat, "lon": report.lon,
                              "received_at": received_at}
    row.update({name: getattr(report, name) for name in _OPTIONAL})
    return row


def _report(row: sa.Row[tuple[object, ...]]) -> Telemetry:
    m = row._mapping
    ts = (_EPOCH + timedelta(microseconds=int(m["ts_us"]))).astimezone(timezone(timedelta(seconds=int(m["utc_offset_s"]))))
    # validated when it was stored: rebuilt without validating again (a track is thousands of rows)
    return Telemetry.model_construct(unit_id=m["unit_id"], ts=ts, lat=m["lat"], lon=m["lon"],
                                     **{name: m[name] for name in _OPTIONAL})


_COLUMNS = [positions_table.c[name] for name in ("unit_id", "ts_us", "utc_offset_s", "lat", "lon", *_OPTIONAL)]


class PositionStore:
    """Reports of mobile units in ``mobile_positions``: idempotent writes, bounded tracks, latest positions."""

    def __init__(self, engine: Engine, *, max_points: int = 3600, max_age: timedelta = timedelta(days=7)) -> None:
        if max_points < 1:
            raise ValueError("max_points must be at least 1")
        self.engine = engine
        self.max_points = max_points
        self.max_age = max_age
        self._prune_every = max(1, max_points // 10)
        self._since_prune: dict[str, int] = {}
        self._age_pruned = 0.0
        # One shared connection (the in-memory database) is not safe across threads; a file or server is.
        self._lock: AbstractContextManager[object] = threading.Lock() if isinstance(engine.pool, StaticPool) else nullcontext()
        dialect = engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self._insert = pg_insert(positions_table).on_conflict_do_nothing(index_elements=["unit_id", "ts_us"]).returning(positions_table.c.id)
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._insert = sqlite_insert(positions_table).on_conflict_do_nothing(index_elements=["unit_id", "ts_us"]).returning(positions_table.c.id)
        else:
            raise ValueError(f"mobile positions need SQLite or PostgreSQL, not {dialect}")

    @classmethod
    def in_memory(cls, *, max_points: int = 3600, max_age: timedelta = timedelta(days=7)) -> PositionStore:
        """A private SQLite database in memory (tools and tests that have no database of their own)."""
        engine = sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        metadata.create_all(engine)
        return cls(engine, max_points=max_points, max_age=max_age)

    def check(self) -> None:
        """Raise a RuntimeError naming the fix when the table does not exist (database not migrated)."""
        with self._lock, self.engine.connect() as connection:
            if not sa.inspect(connection).has_table(positions_table.name):
                raise RuntimeError(f"table {positions_table.name} is missing in {self.engine.url.render_as_string(hide_password=True)}: "
                                   "run `xueliang db upgrade` first")

    # -- writing -------------------------------------------------------------------------------
    def record(self, report: Telemetry) -> bool:
        """Store one report; False when this unit's report of that time is already stored."""
        return self.record_many([report])[0]

    def record_many(self, reports: Iterable[Telemetry]) -> list[bool]:
        """Store reports in one transaction; for each, whether it was new."""
        now = time.time()
        out: list[bool] = []
        with self._lock, self.engine.begin() as connection:
            for report in reports:
                # RETURNING gives a row only for an inserted report (rowcount is -1 with implicit RETURNING on psycopg)
                new = connection.execute(self._insert.values(**_row(report, now))).first() is not None
                out.append(new)
                if new:
                    count = self._since_prune.get(report.unit_id, 0) + 1
                    self._since_prune[report.unit_id] = count
                    if count >= self._prune_every:
                        self._since_prune[report.unit_id] = 0
                        self._prune_unit(connection, report.unit_id)
            if now - self._age_pruned >= AGE_PRUNE_INTERVAL_S:
                self._age_pruned = now
                connection.execute(positions_table.delete().where(positions_table.c.received_at < now - self.max_age.total_seconds()))
        return out

    def _prune_unit(self, connection: sa.Connection, unit_id: str) -> None:
        t = positions_table.c
        oldest_kept = (sa.select(t.ts_us).where(t.unit_id == unit_id).order_by(t.ts_us.desc())
                       .offset(self.max_points - 1).limit(1).scalar_subquery())
        connection.execute(positions_table.delete().where(t.unit_id == unit_id, t.ts_us < oldest_kept))

    def prune(self) -> int:
        """Apply both retention bounds to every unit now; the number of rows deleted."""
        t = positions_table.c
        deleted = 0
        with self._lock, self.engine.begin() as connection:
            deleted += connection.execute(positions_table.delete().where(
                t.received_at < time.time() - self.max_age.total_seconds())).rowcount
            for unit_id in connection.scalars(sa.select(t.unit_id).distinct()).all():
                before = connection.execute(sa.select(sa.func.count()).where(t.unit_id == unit_id)).scalar_one()
                if before > self.max_points:
                    self._prune_unit(connection, unit_id)
                    deleted += before - self.max_points
        self._since_prune.clear()
        return deleted

    # -- reading -------------------------------------------------------------------------------
    def history(self, unit_id: str, since: datetime | None = None) -> list[Telemetry]:
        """The unit's track, oldest first: its newest ``max_points`` reports (at or after ``since``)."""
        t = positions_table.c
        query = sa.select(*_COLUMNS).where(t.unit_id == unit_id)
        if since is not None:
            query = query.where(t.ts_us >= _micros(since))
        query = query.order_by(t.ts_us.desc()).limit(self.max_points)
        with self._lock, self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [_report(r) for r in reversed(rows)]

    def latest(self, unit_ids: Iterable[str] | None = None, *, since: datetime | None = None) -> dict[str, Telemetry]:
        """Each unit's newest report (of ``unit_ids``, or of every unit; only reports at or after ``since``)."""
        t = positions_table.c
        if unit_ids is not None and since is None:  # one index look-up per unit, however long the tracks
            query = sa.select(*_COLUMNS).where(t.unit_id == sa.bindparam("unit")).order_by(t.ts_us.desc()).limit(1)
            out: dict[str, Telemetry] = {}
            with self._lock, self.engine.connect() as connection:
                for unit_id in sorted(set(unit_ids)):
                    row = connection.execute(query, {"unit": unit_id}).first()
                    if row is not None:
                        out[unit_id] = _report(row)
            return out
        newest = sa.select(t.unit_id, sa.func.max(t.ts_us).label("ts_us")).group_by(t.unit_id)
        if unit_ids is not None:
            ids = sorted(set(unit_ids))
            if not ids:
                return {}
            newest = newest.where(t.unit_id.in_(ids))
        if since is not None:
            newest = newest.where(t.ts_us >= _micros(since))
        sub = newest.subquery()
        query = sa.select(*_COLUMNS).join(sub, sa.and_(t.unit_id == sub.c.unit_id, t.ts_us == sub.c.ts_us))
        with self._lock, self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return {str(r.unit_id): _report(r) for r in rows}
