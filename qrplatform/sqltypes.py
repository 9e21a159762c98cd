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


class local_date(FunctionElement):
    """The calendar day of a ``UTCDateTime`` column in a time zone (an IANA name), in SQL:
    ``GROUP BY local_date(hour, "Pacific/Auckland")``. PostgreSQL knows every zone; SQLite only
    UTC (``supports`` says whether a dialect can; otherwise sum the rows in Python)."""

    type = Date()
    inherit_cache = True

    def __init__(self, column, time_zone: str):
        from sqlalchemy import literal_column

        # A literal, not a bound parameter: the SELECT and its GROUP BY must be one expression.
        quoted = "'" + time_zone.replace("'", "''") + "'"
        super().__init__(column, literal_column(quoted))

    @staticmethod
    def supports(dialect, time_zone: str) -> bool:
        return dialect.name == "postgresql" or time_zone == "UTC"


@compiles(local_date, "postgresql")
def _local_date_postgresql(element, compiler, **kw) -> str:
    column, zone = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(({column}) AT TIME ZONE {zone} AS DATE)"


@compiles(local_date, "sqlite")
def _local_date_sqlite(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses.clauses[0], **kw)
    return f"date({column})"
