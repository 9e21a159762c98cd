"""Ingest in the embedded setup: redirects → stream buffer → ingest_batch → tables and API."""

from __future__ import annotations

from sqlalchemy import func, select

from qrp_analytics.models import CodeDaily, Scan
from qrplatform.extensions import db as database
from qrplatform.tenancy import unscoped

from .conftest import ANDROID, DESKTOP, GOOGLEBOT, IPHONE, SLACKBOT, make_code, scan


def test_redirects_are_counted_humans_and_bots_apart(app, client, owner, stream):
    code = make_code(owner)
    for i in range(5):
        scan(client, code, ip=f"198.51.100.{i}", **{"CF-IPCountry": "DE",
                                                     "Referer": "https://www.news.example/a?b"})
    scan(client, code, ip="198.51.100.0")                     # a repeat: not unique
    scan(client, code, agent=ANDROID, ip="198.51.100.9", **{"Accept-Language": "fr-CH,fr"})
    scan(client, code, agent=DESKTOP, ip="198.51.100.10")
    scan(client, code, agent=GOOGLEBOT, ip="66.249.66.1")
    scan(client, code, agent=SLACKBOT, ip="3.3.3.3")
    scan(client, code, method="HEAD", ip="5.5.5.5")
    assert stream.flush() == 11

    body = owner.get(f"/api/v1/qr-codes/{code['id']}/analytics?range=7d").json
    assert body["totals"] == {"scans": 11, "humans": 8, "uniques": 7, "bots": 1,
                              "previews": 1, "heads": 1}
    assert body["live"]["today"]["humans"] == 8
    breakdowns = body["breakdowns"]
    assert {r["value"]: r["humans"] for r in breakdowns["country"]} == {"DE": 5,
                                                                        "(unknown)": 3}
    assert {r["value"]: r["humans"] for r in breakdowns["referrer"]} == {"news.example": 5,
                                                                         "(direct)": 3}
    assert {r["value"]: r["humans"] for r in breakdowns["device"]} == {"mobile": 7,
                                                                       "desktop": 1}
    assert {r["value"] for r in breakdowns["os"]} == {"iOS", "Android", "Windows"}
    reasons = {r["value"]: r["others"] for r in breakdowns["reason"]}
    assert reasons == {"bot: Googlebot": 1, "preview: Slackbot": 1,
                       "head: HEAD request": 1}
    assert sum(body["series"]["current"]["humans"]) == 8


def test_a_replayed_batch_changes_nothing(app, client, owner, stream):
    code = make_code(owner)
    for i in range(4):
        scan(client, code, ip=f"192.0.2.{i}")
    events = list(stream._items)
    assert stream.flush() == 4
    before = owner.get(f"/api/v1/qr-codes/{code['id']}/analytics").json["totals"]

    from qrp_analytics.ingest import ingest_batch

    with unscoped():
        assert ingest_batch(events) == 0
        assert ingest_batch(events[:2] + events) == 0
        assert database.session.scalar(select(func.count()).select_from(Scan)) == 4
        assert database.session.scalar(select(func.sum(CodeDaily.scans))) == 4
    assert owner.get(f"/api/v1/qr-codes/{code['id']}/analytics").json["totals"] == before

    # Half replayed, half new: only the new ones are stored and counted.
    for i in range(4, 6):
        scan(client, code, ip=f"192.0.2.{i}")
    fresh = list(stream._items)
    stream.discard()
    with unscoped():
        assert ingest_batch(events[:2] + fresh) == 2
        assert database.session.scalar(select(func.count()).select_from(Scan)) == 6
        assert database.session.scalar(select(func.sum(CodeDaily.scans))) == 6
    totals = owner.get(f"/api/v1/qr-codes/{code['id']}/analytics").json["totals"]
    assert (totals["scans"], totals["uniques"]) == (before["scans"] + 2, before["uniques"] + 2)


def mixed_events(workspace_id: int, code_ids: list[int]) -> list:
    """Scans of every kind over three days: repeats, bots, previews, HEADs, password prompts."""
    from datetime import UTC, datetime, timedelta

    from qrplatform.events import Event

    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    kinds = [("human", None, IPHONE), ("human", None, ANDROID), ("human", None, DESKTOP),
             ("bot", "Googlebot", GOOGLEBOT), ("preview", "Slackbot", SLACKBOT),
             ("head", "HEAD request", IPHONE)]
    events = []
    for n in range(600):
        classification, reason, agent = kinds[n % 7 % len(kinds)]
        events.append(Event(
            type="qr.scanned", workspace_id=workspace_id,
            occurred_at=(start + timedelta(minutes=7 * n)).isoformat(),
            id=f"00000000-0000-4000-8000-{n:012d}", data={
                "code_id": code_ids[n % len(code_ids)], "short_code": "abcd1234",
                "method": "HEAD" if classification == "head" else "GET",
                "user_agent": agent, "referrer": [None, "https://www.t.co/x"][n % 2],
                "country": ["DE", "FR", None][n % 3], "language": ["de", None][n % 2],
                "ip_hash": "0" * 64, "visitor_hash": f"{n % 97:064x}",
                "classification": classification, "reason": reason,
                "outcome": "password_required" if n % 50 == 0 else "redirected"}))
    return events


def rollup_snapshot() -> dict[str, list[tuple]]:
    from datetime import UTC, datetime

    from qrp_analytics.models import (
        CodeBreakdown,
        CodeHourly,
        CodeWeekly,
        WorkspaceBreakdown,
        WorkspaceHourly,
    )

    def plain(value):
        if isinstance(value, datetime):
            return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H")
        return value

    snapshot = {}
    for model in (Scan, CodeHourly, CodeDaily, CodeWeekly, WorkspaceHourly, CodeBreakdown,
                  WorkspaceBreakdown):
        columns = [c for c in model.__table__.columns if c.name != "workspace_id"]
        rows = database.session.execute(select(*columns)).all()
        snapshot[model.__tablename__] = sorted(tuple(plain(v) for v in row) for row in rows)
    return snapshot


def test_the_postgresql_and_the_embedded_sqlite_paths_count_alike(app, make_app, tmp_path,
                                                                  owner):
    from flask_migrate import upgrade

    from qrp_analytics.ingest import ingest_batch

    events = mixed_events(owner.workspace_id, [11, 12, 13])
    with unscoped():
        assert ingest_batch(events[:250]) == 250
        assert ingest_batch(events) == 350          # the first 250 are a replay
        on_postgresql = rollup_snapshot()
    embedded = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'embedded.db'}")
    with embedded.app_context(), unscoped():
        upgrade(revision="heads")
        assert ingest_batch(events[:250]) == 250
        assert ingest_batch(events) == 350
        on_sqlite = rollup_snapshot()
    assert on_postgresql["analytics_code_daily"], "nothing was counted"
    for table, rows in on_postgresql.items():
        assert rows == on_sqlite[table], table


def test_scans_are_broken_down_by_the_rule_or_variant_that_routed_them(client, api, stream,
                                                                      create_user, login):
    user = create_user()
    owner = api(user)
    code = make_code(owner, rules=[
        {"id": "apple", "when": {"os": ["ios"]}, "destination": "https://example.com/ios"}],
        variants=[{"id": "a", "destination": "https://example.com/a", "weight": 1},
                  {"id": "b", "destination": "https://example.com/b", "weight": 1}])
    plain = make_code(owner, name="Plain")
    for i in range(3):
        scan(client, code, ip=f"198.51.100.{i}")
    for i in range(40):
        scan(client, code, agent=ANDROID, ip=f"192.0.2.{i}")
    scan(client, plain)
    assert stream.flush() == 44
    body = owner.get(f"/api/v1/qr-codes/{code['id']}/analytics?range=7d").json
    routes = {r["value"]: r["humans"] for r in body["breakdowns"]["route"]}
    assert routes["rule apple"] == 3
    assert routes["variant a"] + routes["variant b"] == 40 and routes["variant a"] > 5
    assert "default" not in routes
    plain_body = owner.get(f"/api/v1/qr-codes/{plain['id']}/analytics?range=7d").json
    assert plain_body["breakdowns"]["route"] == []
    login(user)
    page = client.get(f"/analytics/codes/{code['id']}").get_data(as_text=True)
    assert "Redirect rules and A/B variants" in page and "rule apple" in page
    assert "Redirect rules and A/B variants" not in client.get(
        f"/analytics/codes/{plain['id']}").get_data(as_text=True)
