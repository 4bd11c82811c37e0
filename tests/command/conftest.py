"""Fixtures for command's tests: a migrated database — SQLite per test, and the session's
PostgreSQL database (tests/conftest.py ``postgres_url``) emptied first — and a seeded one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from command.db import Database, open_database
from command.models import Base
from devices.gb28181.persist import metadata as gb28181_metadata
from devices.mobile.store import metadata as mobile_metadata


def _reset(database: Database) -> None:
    if database.is_sqlite:
        return
    with database.engine.begin() as connection:
        Base.metadata.drop_all(connection)
        gb28181_metadata.drop_all(connection)  # the same schema's GB/T 28181 tables (devices declares them)
        mobile_metadata.drop_all(connection)  # and its mobile-unit positions
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """Every command test runs on SQLite (the default deployment) and on PostgreSQL (when one is reachable)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture()
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    _reset(database)
    database.upgrade()
    yield database
    database.dispose()


def _fast_hash(password: str) -> str:
    return "plain$" + password  # tests that do not log in need no argon2 cost


@pytest.fixture(scope="session")
def _seeded_sqlite_template(tmp_path_factory: pytest.TempPathFactory):
    """Seeding takes seconds; SQLite tests copy one seeded file instead."""
    from command.seed import seed_demo

    path = tmp_path_factory.mktemp("seed") / "seeded.db"
    database = open_database(f"sqlite:///{path}", upgrade=True)
    with database.session() as session:
        seed_demo(session, password="demo-pass-123", password_hasher=_fast_hash)
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture()
def seeded(database_url: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database holding the demo county, responders and users."""
    import shutil

    from command.seed import seed_demo

    if database_url.startswith("sqlite:///"):
        template = request.getfixturevalue("_seeded_sqlite_template")
        shutil.copyfile(template, database_url.removeprefix("sqlite:///"))
        database = open_database(database_url)
    else:
        database = open_database(database_url)
        _reset(database)
        database.upgrade()
        with database.session() as session:
            seed_demo(session, password="demo-pass-123", password_hasher=_fast_hash)
    yield database
    database.dispose()


@pytest.fixture()
def make_alert():
    """Factory for valid ``AlertIn`` objects (cam01 in village 330381101201 by default)."""
    import uuid
    from datetime import UTC, datetime

    from command import AlertIn

    def factory(**over):
        data = dict(
            alert_id=uuid.uuid4().hex, camera_id="cam01", camera_name="东门路口", jurisdiction_code="330381101201",
            lat=27.62, lon=120.40, rule_id="door-zone", rule_kind="zone_intrusion", object_class="person",
            confidence=0.81, track_id=7, ts=datetime.now(UTC), boxes=[[10, 20, 60, 160]], frame_width=480,
            frame_height=360, dedup_key="cam01:door-zone:7", clip_path=None,
        )
        data.update(over)
        return AlertIn(**data)

    return factory


JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + b"\x00" * 200 + bytes.fromhex("ffd9")


@pytest.fixture()
def jpeg() -> bytes:
    return JPEG
