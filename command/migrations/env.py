"""Alembic environment: uses the connection handed over by command.Database.upgrade,
or ``sqlalchemy.url`` / ``DATABASE_URL`` when run from the alembic CLI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from command.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from xueliang.settings import Settings

        url = Settings().resolved_database_url()
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
