"""Ingest rate: scan events from Kafka (a real Tansu broker) into PostgreSQL, scans per second.

    .venv/bin/python bench/analytics_ingest.py [--events 200000] [--codes 1000] [--workspaces 1]

Produces the events to qrp.scans first through the app's own stream sink, in flush-sized
writes, so the topic holds the record batches web processes make (``QRP_STREAM_BATCH_BYTES``);
then times ``flask events consume analytics --once`` (``run_consumer``) reading them: fetching,
JSON decoding, classification, workspace rules, device parsing, the idempotent insert into the
partitioned raw table, uniques and all rollups. The consumer's settings come from the
environment like the app's (``QRP_STREAM_MAX_POLL_RECORDS`` and the others in
docs/events.md). Uses its own database (BENCH_DATABASE_URL, default bench_analytics), dropped
first. Target: >= 10,000 scans/s on this machine. Other work on the machine shows in the
figures: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics_common import make_bench_app, make_workspace, scan_events


def load_average() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--codes", type=int, default=1000)
    parser.add_argument("--workspaces", type=int, default=1,
                        help="workspaces the codes belong to; their scans spread over the "
                             "topic's partitions")
    parser.add_argument("--flush-events", type=int, default=2000,
                        help="events per stream sink write (one flush of a busy web process)")
    args = parser.parse_args()

    from qrplatform.events.kafka import run_consumer
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
                                "QRP_KAFKA_GROUP_PREFIX": f"bench-{uuid.uuid4().hex[:6]}.",
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

        started = time.perf_counter()
        stats = run_consumer(app, "analytics", once=True)
        elapsed = time.perf_counter() - started
        with app.app_context():
            from sqlalchemy import func, select

            from qrp_analytics.models import CodeDaily, Scan
            from qrplatform.extensions import db
            from qrplatform.tenancy import unscoped

            with unscoped():
                stored = db.session.scalar(select(func.count()).select_from(Scan))
                counted = db.session.scalar(select(func.sum(CodeDaily.scans)))
        print(f"consumed {stats.batched:,} events; {stored:,} raw scans, {counted:,} counted "
              f"in the rollups")
        print(f"ingest from Kafka: {elapsed:.1f} s (including ~1-2 s to join the consumer "
              f"group) = {stored / elapsed:,.0f} scans/s")
        # The same events again, straight into ingest_batch on an emptied database: the
        # plugin's share of the work, without the broker and the consumer loop.
        with app.app_context(), unscoped():
            from sqlalchemy import text

            from qrp_analytics.ingest import ingest_batch

            db.session.execute(text(
                "TRUNCATE analytics_scans, analytics_code_hourly, analytics_code_daily, "
                "analytics_workspace_hourly, analytics_code_breakdown, "
                "analytics_workspace_breakdown, analytics_daily_visitors"))
            db.session.commit()
            started = time.perf_counter()
            for i in range(0, len(events), 2000):
                ingest_batch(events[i:i + 2000])
            elapsed = time.perf_counter() - started
        print(f"ingest_batch alone (batches of 2,000): {elapsed:.1f} s = "
              f"{len(events) / elapsed:,.0f} scans/s")

        app.extensions["qrp.stream"].close()
        app.extensions["qrp.events"].close()
    finally:
        broker.stop()
        spool_dir.cleanup()
        print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
