"""Mobile-unit positions in the real database (SQLite file and PostgreSQL, migrated by Alembic): written once,
read back by a fresh store, retention bounded by count per unit and by age."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from command import open_database
from devices import load_registry
from devices.mobile import MobileTracker, PositionStore, Telemetry
from devices.mobile.store import positions_table
from xueliang.settings import REPO_ROOT

REGISTRY = load_registry(REPO_ROOT / "configs" / "cameras.yaml")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))


def report(unit: str = "uav01", dt: float = 0.0, lat: float = 27.5993, lon: float = 120.3993, **extra: object) -> Telemetry:
    return Telemetry.model_validate({"unit_id": unit, "ts": (NOW + timedelta(seconds=dt)).astimezone(CST).isoformat(),
                                     "lat": lat, "lon": lon, **extra})


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path / 'positions.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    database = open_database(url, upgrade=True)
    with database.engine.begin() as connection:
        connection.execute(positions_table.delete())
    yield database.engine
    database.dispose()


def test_reports_are_stored_once_and_read_back_by_another_store(engine: sa.Engine) -> None:
    writer = MobileTracker(REGISTRY, store=PositionStore(engine))
    new = [writer.update(report(dt=k, lat=27.5993 + k * 1e-4, alt_m=100 + k, battery_pct=80 - k)) is not None
           for k in (0, 2, 1, 2)]  # out of order and a duplicate
    assert new == [True, True, True, False]
    assert writer.store.record(report(dt=1)) is False, "a second writer's copy of the same report changes nothing"

    reader = MobileTracker(REGISTRY, store=PositionStore(engine))  # another process, or web after a restart
    track = reader.history("uav01")
    assert [p.ts for p in track] == [NOW + timedelta(seconds=k) for k in (0, 1, 2)]
    assert track[0].ts.utcoffset() == timedelta(hours=8), "the report's own offset is kept"
    assert reader.latest("uav01").alt_m == 102 and reader.latest("uav01").battery_pct == 78
    assert reader.latest("t4g01") is None
    hits = reader.within_radius(27.5987, 120.3986, 1000, now=NOW + timedelta(seconds=5))
    assert ("mobile", "uav01") in [(h.kind, h.id) for h in hits]
    assert "uav01" not in [h.id for h in reader.within_radius(27.5987, 120.3986, 1000, now=NOW + timedelta(minutes=5))], "stale"
    units = {u["id"]: u for u in reader.units(now=NOW + timedelta(seconds=5))}
    assert units["uav01"]["latest"]["lat"] == pytest.approx(27.5995) and not units["uav01"]["stale"]
    assert units["t4g01"]["latest"] is None and units["t4g01"]["stale"]


def _rows(engine: sa.Engine, unit: str) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).where(positions_table.c.unit_id == unit)).scalar_one()


def test_retention_keeps_the_newest_points_per_unit_and_drops_old_rows(engine: sa.Engine) -> None:
    store = PositionStore(engine, max_points=50)
    store.record_many(report(dt=k) for k in range(200))
    store.record_many(report("t4g01", dt=k) for k in range(10))
    assert 50 <= _rows(engine, "uav01") < 50 + 50 // 10, "the writer prunes a unit every max_points // 10 reports"
    track = store.history("uav01")
    assert len(track) == 50 and track[0].ts == NOW + timedelta(seconds=150) and track[-1].ts == NOW + timedelta(seconds=199)
    assert store.prune() >= 0 and _rows(engine, "uav01") == 50 and _rows(engine, "t4g01") == 10

    with engine.begin() as connection:  # the terminal's reports were received eight days ago
        connection.execute(positions_table.update().where(positions_table.c.unit_id == "t4g01")
                           .values(received_at=time.time() - 8 * 86400))
    assert store.prune() == 10
    assert _rows(engine, "t4g01") == 0 and _rows(engine, "uav01") == 50


def test_a_database_without_the_table_is_named(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(RuntimeError, match="mobile_positions is missing .* run `xueliang db upgrade`"):
        PositionStore(engine).check()
    engine.dispose()
