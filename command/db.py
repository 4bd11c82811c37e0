"""Engine, sessions and schema upgrades for SQLite (default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE/DELETE matched (its result is a CursorResult; -1 when the driver does not say)."""
    return result.rowcount if isinstance(result, CursorResult) else -1


def _sqlite_pragmas(busy_timeout_s: float) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the web read while the consumer writes; NORMAL sync is durable
        # across process crashes (only an OS crash can lose the last commit).
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    return on_connect


@dataclass
class Database:
    """An engine and its session factory. Create with :func:`open_database`."""

    url: str
    engine: Engine
    sessionmaker: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to ``revision``."""
        from alembic import command as alembic_command

        with self.engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            alembic_command.upgrade(config, revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def open_database(
    url: str | None = None, *, upgrade: bool = False, echo: bool = False, busy_timeout_s: float = 10.0
) -> Database:
    """Open the database at ``url`` (default: ``Settings().resolved_database_url()``).

    SQLite gets WAL mode and foreign keys; its parent directory is created.
    PostgreSQL URLs should use the psycopg 3 driver: ``postgresql+psycopg://user@host/db``.
    ``upgrade=True`` migrates the schema to head before returning. ``busy_timeout_s`` is how long
    a SQLite writer waits for a lock before the operation fails (and is retried by the caller).
    """
    if url is None:
        from xueliang.settings import Settings

        url = Settings().resolved_database_url()
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() in ("psycopg2", "") and parsed.drivername == "postgresql":
            # Only psycopg 3 is a dependency; make the plain URL work with it.
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
    database = Database(url=url, engine=engine, sessionmaker=sessionmaker(engine, expire_on_commit=False))
    if upgrade:
        database.upgrade()
    return database
