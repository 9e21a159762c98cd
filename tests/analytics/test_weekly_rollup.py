"""The weekly rollup: top codes read the weeks a range covers whole from it and only the days
at its ends from the daily rows, and rank exactly as the days alone would, for any range; no
other workspace's weeks are read, and ingest and the migration that added the weeks keep each
week the sum of its days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from qrp_analytics import services
from qrp_analytics.ingest import ingest_batch, week_of
from qrp_analytics.models import COUNT_COLUMNS, CodeDaily, CodeWeekly
from qrplatform.events import Event
from qrplatform.extensions import db
from qrplatform.tenancy import tenant_scope, unscoped

from .conftest import IPHONE

DAYS = 45


def scan_events(workspace_id: int, counts: dict[int, Callable[[int], int]], first_id: int
                ) -> list[Event]:
    """``counts[code_id](age)`` scans of each code on each of the last DAYS days (at noon
    UTC), every fourth a bot."""
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    events, n = [], first_id
    for age in range(DAYS):
        for code_id, how_many in counts.items():
            for _ in range(how_many(age)):
                n += 1
                bot = n % 4 == 0
                events.append(Event(
                    type="qr.scanned", workspace_id=workspace_id,
                    occurred_at=(noon - timedelta(days=age, minutes=n % 600)).isoformat(),
                    id=f"00000000-0000-4000-8000-{n:012d}", data={
                        "code_id": code_id, "short_code": "abcd1234", "method": "GET",
                        "user_agent": IPHONE, "country": "DE", "ip_hash": "a" * 64,
                        "visitor_hash": f"{n:064x}", "outcome": "redirected",
                        "classification": "bot" if bot else "human",
                        "reason": "Googlebot" if bot else None}))
    return events


def ranked_from_days(first_day, last_day) -> list[tuple]:
    """The ranking as it was made before the weeks: every daily row of the range."""
    sums = [func.sum(getattr(CodeDaily, c)) for c in COUNT_COLUMNS]
    return [tuple(row) for row in db.session.execute(
        select(CodeDaily.code_id, *sums)
        .where(CodeDaily.day >= first_day, CodeDaily.day <= last_day)
        .group_by(CodeDaily.code_id)
        .order_by(func.sum(CodeDaily.humans).desc(), CodeDaily.code_id).limit(10)).all()]


def test_top_codes_from_weeks_and_days_rank_as_the_days_alone_for_every_range(api):
    mine, theirs = api(), api()
    # Rankings that change with the range: each code is busy on different days.
    counts = {11: lambda age: (age * 3) % 5, 12: lambda age: 4 if age % 9 < 3 else 0,
              13: lambda age: 1 + (age % 2), 14: lambda age: 6 if 20 <= age < 27 else 0}
    with unscoped():
        events = scan_events(mine.workspace_id, counts, 0)
        # The other workspace's code out-scans them all on every day.
        events += scan_events(theirs.workspace_id, {99: lambda age: 9}, 100_000)
        assert ingest_batch(events) == len(events)
    today = datetime.now(UTC).date()
    compared = read_from_weeks = 0
    with tenant_scope(mine.workspace_id):
        for back in range(0, DAYS + 3, 2):
            for length in (1, 6, 7, 8, 13, 14, 15, 29, 30, 44):
                first_day, last_day = today - timedelta(days=back + length - 1), \
                    today - timedelta(days=back)
                period = services.Period(first_day, last_day, "day")
                got = [(row["code_id"], *(row[c] for c in COUNT_COLUMNS))
                       for row in services.top_codes(period)]
                assert got == ranked_from_days(first_day, last_day), (first_day, last_day)
                assert 99 not in {row[0] for row in got}
                compared += 1
                read_from_weeks += services.whole_weeks(first_day, last_day) is not None
    assert compared > 200 and read_from_weeks > 100


def test_weeks_are_the_sums_of_their_days_after_ingest(api):
    mine = api()
    with unscoped():
        ingest_batch(scan_events(mine.workspace_id, {21: lambda age: 1 + age % 3}, 200_000))
    with tenant_scope(mine.workspace_id):
        days = db.session.execute(select(CodeDaily.code_id, CodeDaily.day, CodeDaily.scans,
                                         CodeDaily.humans, CodeDaily.bots)).all()
        expected: dict[tuple, list[int]] = {}
        for code_id, day, *values in days:
            total = expected.setdefault((code_id, week_of(day)), [0, 0, 0])
            for i, value in enumerate(values):
                total[i] += value
        weeks = {(row.code_id, row.week): [row.scans, row.humans, row.bots]
                 for row in db.session.scalars(select(CodeWeekly))}
    assert weeks == expected and len(weeks) >= 7
    assert all(week.weekday() == 0 for _code, week in weeks)


def test_the_migration_fills_the_weeks_from_the_days_already_counted(make_app, tmp_path):
    """On the embedded SQLite database: days counted before the weekly table existed become
    its weeks when the migration adds it (SQLite's own Monday arithmetic)."""
    from flask_migrate import downgrade, upgrade

    embedded = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'embedded.db'}")
    with embedded.app_context(), unscoped():
        upgrade(revision="heads")
        ingest_batch(scan_events(1, {31: lambda age: 1 + age % 4, 32: lambda age: age % 2},
                                 300_000))
        downgrade(revision="analytics_0001")      # as before the weeks: only the days
        upgrade(revision="heads")
        days = db.session.execute(select(CodeDaily.code_id, CodeDaily.day, CodeDaily.scans)).all()
        expected: dict[tuple, int] = {}
        for code_id, day, scans in days:
            expected[(code_id, week_of(day))] = expected.get((code_id, week_of(day)), 0) + scans
        weeks = {(row.code_id, row.week): row.scans
                 for row in db.session.scalars(select(CodeWeekly))}
    assert weeks == expected and len(weeks) >= 14
