"""Column types shared by the core and every plugin."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Date, DateTime
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """A moment in time, always handed back aware and in UTC.

    PostgreSQL stores ``timestamptz`` and answers aware datetimes; SQLite (``make run``) stores
    text and answers naive ones. Either way the application sees UTC-aware values, and a naive
    value written is taken to be UTC already. Use it for every timestamp column::

        created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return as_utc(value)


def as_utc(moment: datetime | None) -> datetime | None:
    """The same moment in UTC; a naive datetime is taken to be UTC already."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class utc_date(FunctionElement):
    """The UTC calendar day of a ``UTCDateTime`` column, in SQL: ``GROUP BY utc_date(hour)``
    sums hours into days in the database, whatever the session's time zone."""

    type = Date()
    inherit_cache = True


@compiles(utc_date, "postgresql")
def _utc_date_postgresql(element, compiler, **kw) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


@compiles(utc_date, "sqlite")
def _utc_date_sqlite(element, compiler, **kw) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"
