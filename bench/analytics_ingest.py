"""Ingest rate: scan events from Kafka into PostgreSQL, against a bare COPY of the same rows.

    .venv/bin/python bench/analytics_ingest.py [--events 200000] [--codes 1000] [--rounds 3]

Configuration (production): a real Kafka-protocol broker (Tansu, as the tests use), the events
produced by the app's own stream sink in flush-sized writes (so the topic holds the record
batches web processes make, ``QRP_STREAM_BATCH_BYTES``), and the analytics consumer group run by
``run_consumer`` (what ``flask events consume analytics`` runs): fetching, JSON decoding,
classification, workspace rules, device parsing, the idempotent insert into the partitioned
raw table, uniques and every rollup, on PostgreSQL (its own database, BENCH_DATABASE_URL,
default bench_analytics, dropped first). The consumer's settings come from the environment like
the app's (``QRP_STREAM_MAX_POLL_RECORDS`` and the others in docs/events.md).

Baseline, in the same run after each round: the same scans, as the rows ingest stores, COPYed
by psycopg into an unindexed table (``CREATE TABLE ... (LIKE analytics_scans)``), the ceiling
of writing them on this machine. Each round consumes the topic again with a fresh group on
emptied tables; medians of the rounds. The consumer's rate is counted from its first stored
batch (joining the group, the first fetch and batch: reported apart, "first s").
Target (issue 12): ingest >= 0.5x the bare COPY's rate.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics_common import make_bench_app, make_workspace, scan_events

ROLLUP_TABLES = ("analytics_scans, analytics_code_hourly, analytics_code_daily, "
                 "analytics_workspace_hourly, analytics_code_breakdown, "
                 "analytics_workspace_breakdown, analytics_daily_visitors")


def load_average() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def stored(app) -> int:
    from sqlalchemy import text

    from qrplatform.extensions import db

    with app.app_context():
        try:
            return db.session.execute(text("SELECT count(*) FROM analytics_scans")).scalar()
        finally:
            db.session.remove()


def consume(app, total: int) -> tuple[float, float, int]:
    """Seconds from the start to the first stored batch (joining the group, the first fetch
    and batch), the rate from there to the last scan, and how many the rollups count."""
    from sqlalchemy import func, select

    from qrp_analytics.models import CodeDaily
    from qrplatform.events.kafka import run_consumer
    from qrplatform.extensions import db
    from qrplatform.tenancy import unscoped

    first: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set() and not first:
            count = stored(app)
            if count:
                first.extend((time.perf_counter(), count))
            time.sleep(0.05)

    app.config["QRP_KAFKA_GROUP_PREFIX"] = f"bench-{uuid.uuid4().hex[:6]}."
    watcher = threading.Thread(target=watch)
    started = time.perf_counter()
    watcher.start()
    stats = run_consumer(app, "analytics", once=True)
    ended = time.perf_counter()
    done.set()
    watcher.join()
    if stats.batched != total or stored(app) != total:
        raise SystemExit(f"consumed {stats.batched}, stored {stored(app)} of {total}")
    with app.app_context(), unscoped():
        counted = db.session.scalar(select(func.sum(CodeDaily.scans)))
        db.session.remove()
    moment, already = first
    return moment - started, (total - already) / (ended - moment), counted


def bare_copy(app, rows) -> float:
    from qrp_analytics import ingest
    from qrplatform.extensions import db

    with app.app_context():
        connection = db.session.connection().connection.driver_connection
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_copy_baseline")
            cursor.execute("CREATE TABLE bench_copy_baseline (LIKE analytics_scans)")
        db.session.commit()
        started = time.perf_counter()
        connection = db.session.connection().connection.driver_connection
        with connection.cursor() as cursor, cursor.copy(
                f"COPY bench_copy_baseline ({', '.join(ingest.SCAN_COLUMNS)}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row([row.values[c] for c in ingest.SCAN_COLUMNS])
        db.session.commit()
        elapsed = time.perf_counter() - started
        db.session.remove()
    return elapsed


def empty(app) -> None:
    from sqlalchemy import text

    from qrplatform.extensions import db

    with app.app_context():
        db.session.execute(text(f"TRUNCATE {ROLLUP_TABLES}"))
        db.session.commit()
        db.session.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--codes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workspaces", type=int, default=1,
                        help="workspaces the codes belong to; their scans spread over the "
                             "topic's partitions")
    parser.add_argument("--flush-events", type=int, default=2000,
                        help="events per stream sink write (one flush of a busy web process)")
    args = parser.parse_args()

    from qrplatform.events.stream import spool_of
    from qrplatform.testing.kafka import KAFKA_TEST_CONFIG, TansuBroker

    print(f"load average before: {load_average()}")
    broker = TansuBroker()
    broker.start()
    spool_dir = tempfile.TemporaryDirectory(prefix="qrp-bench-spool-")
    try:
        app = make_bench_app(**{**KAFKA_TEST_CONFIG, "QRP_KAFKA_ONCE_TIMEOUT": 600.0,
                                # A busy machine must not push the events into the spool.
                                "QRP_STREAM_SEND_TIMEOUT_MS": 30_000,
                                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                                "QRP_STREAM_SPOOL_PATH": f"{spool_dir.name}/spool.sqlite3"})
        spool = spool_of(app)
        workspace_ids = [make_workspace(app) for _ in range(args.workspaces)]
        now = datetime.now(UTC)
        events = list(scan_events(workspace_ids, args.events, args.codes,
                                  now - timedelta(hours=6), timedelta(hours=6)))
        sink = app.extensions["qrp.stream"].sink
        started = time.perf_counter()
        for i in range(0, len(events), args.flush_events):
            sink.write(events[i:i + args.flush_events])
        if len(spool):
            raise SystemExit(f"the broker did not take {len(spool)} events (spooled)")
        print(f"produced {len(events):,} events through the stream sink in "
              f"{time.perf_counter() - started:.1f} s")
        with app.app_context():
            from qrp_analytics.ingest import _rows
            from qrplatform.tenancy import unscoped

            with unscoped():
                rows = _rows(events)  # what ingest stores: the baseline COPYs the same
        # What ``flask events consume`` does as it starts (run_as_background_service): the
        # objects made so far out of the garbage collector's sight. Here they also include the
        # bench's own events and rows, which a consumer process does not hold.
        gc.freeze()
        ingest_rates, copy_rates = [], []
        print(f"{'round':<7}{'first s':>8}{'ingest s':>10}{'scans/s':>10}{'COPY s':>8}"
              f"{'rows/s':>10}{'ratio':>7}")
        for round_ in range(1, args.rounds + 1):
            empty(app)
            join, rate, counted = consume(app, len(events))
            if counted != len(events):
                raise SystemExit(f"the rollups count {counted} of {len(events)}")
            copy_seconds = bare_copy(app, rows)
            ingest_rates.append(rate)
            copy_rates.append(len(rows) / copy_seconds)
            print(f"{round_:<7}{join:>8.1f}{len(events) / rate:>10.1f}{rate:>10,.0f}"
                  f"{copy_seconds:>8.1f}{copy_rates[-1]:>10,.0f}"
                  f"{ingest_rates[-1] / copy_rates[-1]:>7.2f}", flush=True)
        ratio = statistics.median(ingest_rates) / statistics.median(copy_rates)
        print(f"medians: ingest from Kafka {statistics.median(ingest_rates):,.0f} scans/s (raw "
              f"scans, uniques, every rollup), bare COPY {statistics.median(copy_rates):,.0f} "
              f"rows/s = {ratio:.2f}x [{'OK' if ratio >= 0.5 else 'BELOW TARGET'}] "
              f"(target >= 0.5x)")
        app.extensions["qrp.stream"].close()
        app.extensions["qrp.events"].close()
    finally:
        broker.stop()
        spool_dir.cleanup()
        print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
