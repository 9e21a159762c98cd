"""Analytics days are the workspace's time zone's: two scans half an hour either side of
midnight UTC fall on one day in Auckland (UTC+12/13), on the day before in Los Angeles
(UTC-7/8), and on two days in UTC; rollups, series, totals, breakdowns, "today", the CSV
exports and the pages agree."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from qrplatform.events import Event

from .conftest import make_code

# The two scans: 23:30 and 00:30 UTC around the midnight that starts day D + 1.
D = (datetime.now(UTC) - timedelta(days=4)).date()
MIDNIGHT = datetime.combine(D + timedelta(days=1), time(0), tzinfo=UTC)
MOMENTS = (MIDNIGHT - timedelta(minutes=30), MIDNIGHT + timedelta(minutes=30))
# Humans per day (D, D + 1) in each zone.
EXPECTED = {"Pacific/Auckland": [0, 2], "America/Los_Angeles": [2, 0], "UTC": [1, 1]}


def _event(workspace_id: int, code_id: int, moment: datetime, n: int) -> Event:
    return Event(type="qr.scanned", workspace_id=workspace_id, occurred_at=moment.isoformat(),
                 id=f"00000000-0000-4000-9000-{code_id:06d}{n:06d}", data={
                     "code_id": code_id, "short_code": "tzdays01", "method": "GET",
                     "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
                     "country": "NZ", "ip_hash": "0" * 64, "visitor_hash": f"{n:032x}",
                     "classification": "human", "outcome": "redirected"})


def _ingest(events: list[Event]) -> None:
    from qrp_analytics.ingest import ingest_batch
    from qrplatform.tenancy import unscoped

    with unscoped():
        assert ingest_batch(events) == len(events)


def _workspace_in(api, zone: str):
    caller = api()
    assert caller.patch("/api/v1/workspace", json={"time_zone": zone}).status_code == 200
    return caller


@pytest.mark.parametrize("zone", list(EXPECTED))
def test_days_of_rollups_series_and_totals_are_the_workspace_time_zones(api, zone):
    caller = _workspace_in(api, zone)
    code = make_code(caller)
    _ingest([_event(caller.workspace_id, code["id"], m, n) for n, m in enumerate(MOMENTS)])
    days = f"start={D}&end={D + timedelta(days=1)}&granularity=day"

    for path in (f"/api/v1/qr-codes/{code['id']}/analytics", "/api/v1/analytics"):
        body = caller.get(f"{path}?{days}").json
        assert body["period"]["time_zone"] == zone
        assert body["series"]["time_zone"] == zone
        assert body["series"]["current"]["humans"] == EXPECTED[zone], path
        # Each bucket starts at local midnight, written with the zone's offset then.
        for bucket, day in zip(body["series"]["buckets"], (D, D + timedelta(days=1)),
                               strict=True):
            midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))
            assert datetime.fromisoformat(bucket) == midnight
            assert bucket == midnight.isoformat(), path
        for n, day in enumerate((D, D + timedelta(days=1))):
            one = caller.get(f"{path}?start={day}&end={day}").json
            assert one["totals"]["humans"] == EXPECTED[zone][n], (path, day)
            countries = {r["value"]: r["humans"] for r in one["breakdowns"]["country"]}
            assert countries == ({"NZ": EXPECTED[zone][n]} if EXPECTED[zone][n] else {})

    # Weeks start on the local Monday; hours stay whole hours, shown in local time.
    weeks = caller.get(f"/api/v1/analytics?start={D}&end={D + timedelta(days=1)}"
                       "&granularity=week").json["series"]
    assert sum(weeks["current"]["humans"]) == 2
    assert all(datetime.fromisoformat(b).astimezone(ZoneInfo(zone)).weekday() == 0
               for b in weeks["buckets"])
    hours = caller.get(f"/api/v1/qr-codes/{code['id']}/analytics?start={D}"
                       f"&end={D + timedelta(days=1)}&granularity=hour").json["series"]
    assert sum(hours["current"]["humans"]) == 2
    assert datetime.fromisoformat(hours["buckets"][0]).hour == 0


@pytest.mark.parametrize("zone", ["Pacific/Auckland", "America/Los_Angeles"])
def test_today_starts_at_the_workspaces_midnight(api, zone):
    caller = _workspace_in(api, zone)
    code = make_code(caller)
    local_midnight = datetime.combine(datetime.now(ZoneInfo(zone)).date(), time(0),
                                      tzinfo=ZoneInfo(zone))
    now = datetime.now(UTC)
    # One scan just before the local midnight (yesterday there), one now (today).
    _ingest([_event(caller.workspace_id, code["id"], local_midnight - timedelta(minutes=1), 0),
             _event(caller.workspace_id, code["id"], now, 1)])
    body = caller.get(f"/api/v1/qr-codes/{code['id']}/analytics?range=24h").json
    assert body["live"]["today"]["humans"] == 1
    assert body["live"]["time_zone"] == zone
    assert datetime.fromisoformat(body["live"]["as_of"]).utcoffset() == \
        datetime.now(ZoneInfo(zone)).utcoffset()
    assert body["period"]["start"] == local_midnight.date().isoformat()
    assert body["totals"]["humans"] == 1
    assert body["previous_totals"]["humans"] == 1
    week = caller.get("/api/v1/analytics?range=7d").json
    assert week["series"]["current"]["humans"][-1] == 1
    assert week["series"]["current"]["humans"][-2] == 1


def test_exports_cover_the_workspaces_days(app, api):
    caller = _workspace_in(api, "Pacific/Auckland")
    code = make_code(caller, name="Harbour")
    _ingest([_event(caller.workspace_id, code["id"], m, n) for n, m in enumerate(MOMENTS)])
    day = (D + timedelta(days=1)).isoformat()

    def export(kind: str, first: str, last: str) -> list[dict]:
        response = caller.post("/api/v1/analytics/exports",
                               json={"kind": kind, "start": first, "end": last})
        assert response.status_code == 202, response.json
        job = caller.get(response.json["status_url"]).json
        assert job["state"] == "finished", job
        return list(csv.DictReader(io.StringIO(
            caller.get(job["files"][0]["url"]).get_data(as_text=True))))

    scans = export("scans", day, day)
    assert len(scans) == 2
    # Times written in the zone, both on the local day asked for.
    assert {datetime.fromisoformat(r["occurred_at"]).date().isoformat() for r in scans} == {day}
    assert [datetime.fromisoformat(r["occurred_at"]) for r in scans] == list(MOMENTS)
    assert export("scans", D.isoformat(), D.isoformat()) == []
    [row] = export("aggregates", D.isoformat(), day)
    assert (row["day"], row["humans"]) == (day, "2")


def test_the_page_names_the_zone_its_days_are_in(client, create_user, login):
    user = create_user()
    login(user)
    from qrplatform.auth.models import Workspace
    from qrplatform.extensions import db

    workspace = db.session.get(Workspace, user.personal_workspace_id)
    workspace.time_zone = "America/Los_Angeles"
    db.session.commit()
    page = client.get(f"/analytics/?start={D}&end={D + timedelta(days=1)}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f"{D} to {D + timedelta(days=1)} (America/Los_Angeles)" in text


@pytest.mark.parametrize("zone", ["Pacific/Auckland", "America/Los_Angeles"])
def test_the_home_pages_today_and_week_are_the_workspaces(api, client, create_user, login,
                                                          zone):
    import re

    user = create_user()
    caller = api(user)
    assert caller.patch("/api/v1/workspace", json={"time_zone": zone}).status_code == 200
    code = make_code(caller)
    tz = ZoneInfo(zone)
    local_midnight = datetime.combine(datetime.now(tz).date(), time(0), tzinfo=tz)
    # Two scans just before the local midnight (yesterday there), three since (today).
    moments = [local_midnight - timedelta(minutes=m) for m in (1, 2)]
    moments += [local_midnight + (datetime.now(UTC) - local_midnight) * f for f in (0, .5, .9)]
    _ingest([_event(caller.workspace_id, code["id"], m, n) for n, m in enumerate(moments)])
    login(user)
    html = client.get("/dashboard").get_data(as_text=True)
    start = html.index('id="home-scans"')
    scans = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[start:html.index("</section>",
                                                                               start)]))
    assert "Today 3" in scans and "Last 7 days 5" in scans
