"""End to end against the real broker and PostgreSQL: redirects → Kafka (qrp.scans) → the
analytics consumer group → raw scans and rollups → the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from qrplatform.events.kafka import run_consumer
from qrplatform.extensions import db as database

from .conftest import GOOGLEBOT, SLACKBOT, WHATSAPP, make_code, scan

PEOPLE = [f"198.51.100.{i}" for i in range(1, 13)]   # twelve people
BOT_IPS = ["66.249.66.1", "3.3.3.3", "31.13.1.1", "192.0.2.200"]


def every_stored_value() -> str:
    """Every row of every table in the database (partitions included), as text."""
    dump = []
    with database.engine.connect() as conn:
        tables = conn.execute(text(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('public', 'analytics_partitions') "
            "AND table_type = 'BASE TABLE'")).all()
        for schema, table in tables:
            for row in conn.execute(text(f'SELECT * FROM "{schema}"."{table}"')):
                dump.append(" ".join(str(value) for value in row))
    return "\n".join(dump)


def test_redirects_through_kafka_are_counted_exactly_once(make_kafka_app, owner, db):
    kafka_app = make_kafka_app()
    web = kafka_app.test_client()
    code = make_code(owner, name="Spring poster")
    for ip in PEOPLE:
        scan(web, code, ip=ip, **{"CF-IPCountry": "NL", "Referer": "https://t.co/abc"})
    for ip in PEOPLE[:5]:
        scan(web, code, ip=ip)                             # the same five people again
    scan(web, code, agent=GOOGLEBOT, ip=BOT_IPS[0])
    scan(web, code, agent=SLACKBOT, ip=BOT_IPS[1])
    scan(web, code, agent=WHATSAPP, ip=BOT_IPS[2])
    scan(web, code, method="HEAD", ip=BOT_IPS[3])
    redirects = len(PEOPLE) + 5 + 4
    assert kafka_app.extensions["qrp.stream"].flush() == redirects

    stats = run_consumer(kafka_app, "analytics", once=True)
    assert stats.batched == redirects

    body = owner.get(f"/api/v1/qr-codes/{code['id']}/analytics?range=7d").json
    assert body["totals"] == {"scans": redirects, "humans": 17, "uniques": 12, "bots": 1,
                              "previews": 2, "heads": 1}
    reasons = {r["value"]: r["others"] for r in body["breakdowns"]["reason"]}
    assert reasons == {"bot: Googlebot": 1, "preview: Slackbot": 1, "preview: WhatsApp": 1,
                       "head: HEAD request": 1}
    assert body["breakdowns"]["referrer"][0] == {"value": "t.co", "humans": 12,
                                                 "uniques": 12, "others": 0}
    workspace = owner.get("/api/v1/analytics?range=7d").json
    assert workspace["totals"]["humans"] == 17
    assert workspace["top_codes"][0]["name"] == "Spring poster"

    # Another consumer group reads the same records from the start: a full replay.
    replay = make_kafka_app(QRP_KAFKA_GROUP_PREFIX=f"replay-{uuid.uuid4().hex[:8]}.")
    again = run_consumer(replay, "analytics", once=True)
    assert again.batched == redirects
    assert owner.get(f"/api/v1/qr-codes/{code['id']}/analytics?range=7d").json["totals"] \
        == body["totals"]

    stored = every_stored_value()
    assert code["short_code"] in stored  # the dump does see stored values
    for ip in PEOPLE + BOT_IPS:
        assert ip not in stored, f"{ip} is stored somewhere"
    with database.engine.connect() as conn:
        partitions = conn.execute(text(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = 'analytics_scans'")).scalar()
        month = datetime.now(UTC).strftime("%Y_%m")
        rows = conn.execute(text(f"SELECT count(*) FROM analytics_partitions.scans_{month}"))\
            .scalar()
    assert partitions >= 1 and rows == redirects
