"""UTCDateTime: one column type for every timestamp, aware and in UTC whatever the database."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select

from qrplatform.sqltypes import UTCDateTime

MOMENTS = [
    datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
    datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),  # the same moment
    datetime(2026, 3, 1, 12, 30),  # naive: taken to be UTC already
]


@pytest.mark.parametrize("url", ["sqlite://", "database"])
def test_values_come_back_aware_and_in_utc(url, database_url):
    engine = create_engine(database_url if url == "database" else url)
    table = Table("utc_probe", MetaData(), Column("id", Integer, primary_key=True),
                  Column("at", UTCDateTime()), prefixes=["TEMPORARY"])
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(insert(table), [{"at": moment} for moment in MOMENTS])
        read = conn.scalars(select(table.c.at).order_by(table.c.id)).all()
        oldest = conn.scalar(select(table.c.at).order_by(table.c.at).limit(1))
    engine.dispose()
    assert read == [datetime(2026, 3, 1, 12, 30, tzinfo=UTC)] * 3
    assert all(value.utcoffset() == timedelta(0) for value in [*read, oldest])


@pytest.mark.parametrize("zone, days", [
    ("UTC", {"2026-03-01": 1, "2026-03-02": 2}),
    ("Pacific/Auckland", {"2026-03-02": 3}),      # UTC+13: all three on the 2nd
    ("America/Los_Angeles", {"2026-03-01": 3}),   # UTC-8: all three on the 1st
])
def test_local_date_sums_moments_into_the_zones_days(zone, days, database_url):
    from sqlalchemy import func

    from qrplatform.sqltypes import local_date

    engine = create_engine(database_url)
    table = Table("local_probe", MetaData(), Column("id", Integer, primary_key=True),
                  Column("at", UTCDateTime()), prefixes=["TEMPORARY"])
    moments = [datetime(2026, 3, 1, 23, 30, tzinfo=UTC), datetime(2026, 3, 2, 0, 30, tzinfo=UTC),
               datetime(2026, 3, 2, 1, 0, tzinfo=UTC)]
    day = local_date(table.c.at, zone)
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(insert(table), [{"at": moment} for moment in moments])
        found = {d.isoformat(): n for d, n in conn.execute(
            select(day, func.count()).group_by(day))}
    engine.dispose()
    assert found == days
    assert local_date.supports(engine.dialect, zone)
    assert local_date.supports(create_engine("sqlite://").dialect, "UTC")
    assert not local_date.supports(create_engine("sqlite://").dialect, zone) or zone == "UTC"


def test_the_embedded_sqlite_file_lets_readers_in_while_a_writer_holds_it(tmp_path):
    """WAL mode (qrplatform.extensions): a page reads while a job holds the write lock; in
    SQLite's default journal a reader would wait, then fail with "database is locked"."""
    import qrplatform.extensions  # noqa: F401  (the listener that sets the mode)

    engine = create_engine(f"sqlite:///{tmp_path / 'embedded.db'}",
                           connect_args={"timeout": 0.2})
    with engine.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        conn.exec_driver_sql("CREATE TABLE codes (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO codes VALUES (1)")
    writer = engine.raw_connection()
    writer.isolation_level = None
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("INSERT INTO codes VALUES (2)")
    try:
        with engine.connect() as reader:
            assert reader.exec_driver_sql("SELECT count(*) FROM codes").scalar() == 1
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    engine.dispose()
