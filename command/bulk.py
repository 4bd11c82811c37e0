"""Bulk INSERTs for the alert intake: COPY on PostgreSQL, one executemany elsewhere.

The ORM's bulk insert with RETURNING builds one multi-row VALUES statement per batch;
psycopg then splits that statement (thousands of placeholders) in Python on every
batch, which cost more than the database work itself. ``COPY … FROM STDIN`` sends the
rows as data (psycopg formats them in C) and is also the cheapest path on the server;
SQLite's ``executemany`` loops in C. Values go through each column's SQLAlchemy bind
processor, so stored values are exactly what the ORM would store (naive UTC
timestamps, JSON text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

Row = dict[str, Any]


def insert_rows(session: Session, table: Table, rows: Sequence[Row]) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table`` inside the session's transaction."""
    if not rows:
        return
    if _copy_supported(session):
        _copy(session, table, list(rows[0]), rows)
    else:
        session.execute(table.insert(), list(rows))


def insert_rows_returning_ids(session: Session, table: Table, rows: Sequence[Row], key: Sequence[str]) -> list[int]:
    """INSERT ``rows`` and return their new primary keys in row order.

    ``key`` names columns whose values are unique within ``rows``: on SQLite the ids come
    back through RETURNING, whose row order SQL does not promise, and are matched by it.
    On PostgreSQL the ids are drawn from the table's sequence first, then the rows are COPYed.
    """
    if not rows:
        return []
    pk = table.primary_key.columns.values()[0]
    if _copy_supported(session):
        sequence = func.pg_get_serial_sequence(table.name, pk.name)
        ids = list(session.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, len(rows)))))
        _copy(session, table, [pk.name, *rows[0]], [{pk.name: id_, **row} for id_, row in zip(ids, rows, strict=True)])
        return ids
    columns = [table.c[name] for name in key]
    returned = session.execute(table.insert().returning(pk, *columns), list(rows))
    by_key = {tuple(found[1:]): found[0] for found in returned}
    if len(by_key) != len(rows):
        raise ValueError(f"insert_rows_returning_ids: key {tuple(key)} is not unique within the rows")
    return [by_key[tuple(row[name] for name in key)] for row in rows]


def _copy_supported(session: Session) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg"


def _copy(session: Session, table: Table, names: list[str], rows: Sequence[Row]) -> None:
    dialect = session.get_bind().dialect
    processors = [_bind_processor(table, name, dialect) for name in names]
    raw = session.connection().connection.driver_connection  # the session's transaction
    if raw is None:
        raise RuntimeError("the session's connection has no driver connection")
    quote = dialect.identifier_preparer
    statement = f"COPY {quote.format_table(table)} ({', '.join(quote.quote(name) for name in names)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([value if process is None else process(value)
                            for value, process in zip((row[name] for name in names), processors)])


def _bind_processor(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    type_ = table.c[name].type.dialect_impl(dialect)
    return type_.bind_processor(dialect)
