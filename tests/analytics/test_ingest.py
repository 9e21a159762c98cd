"""Ingest in the embedded setup: redirects → stream buffer → ingest_batch → tables and API."""

from __future__ import annotations

from sqlalchemy import func, select

from qrp_analytics.models import CodeDaily, Scan
from qrplatform.extensions import db as database
from qrplatform.tenancy import unscoped

from .conftest import ANDROID, DESKTOP, GOOGLEBOT, SLACKBOT, make_code, scan


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
