"""Bulk writes straight through the database driver's executemany.

A round over 100,000 posts writes about 800,000 snapshot rows and 100,000 plan updates.
Through SQLAlchemy's Core executemany, building and type-processing each row's
parameters took most of a round's time (profiled: ~0.06 ms a row); handing tuples to the
driver (sqlite3 or psycopg) takes a fraction of that. Column values are bound here the way
SQLAlchemy would bind them (``binder``), so rows written either way read back the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.orm import Session

from bot.storage.models import UTCDateTime


def binder(dialect: Dialect) -> Callable[[datetime | None], Any]:
    """The function SQLAlchemy applies to a UTCDateTime parameter on this dialect."""
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    if process is None:  # pragma: no cover - every supported dialect has one
        return lambda value: value
    return process


def _marker(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle in ("qmark", "numeric") else "%s"


def insert_many(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    suffix: str = "",
) -> None:
    if not rows:
        return
    connection = session.connection()
    marks = ", ".join([_marker(connection.dialect)] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) {suffix}"  # noqa: S608
    connection.exec_driver_sql(sql, list(rows))


def update_many(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    key: str = "id",
) -> None:
    """``rows``: (value of each column..., key value)."""
    if not rows:
        return
    connection = session.connection()
    mark = _marker(connection.dialect)
    assignments = ", ".join(f"{column} = {mark}" for column in columns)
    sql = f"UPDATE {table} SET {assignments} WHERE {key} = {mark}"  # noqa: S608
    connection.exec_driver_sql(sql, list(rows))
