"""Privacy by default, the workspace's own bot rules, and the retention purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from qrp_analytics.ingest import ingest_batch, week_of
from qrp_analytics.models import CodeDaily, CodeHourly, CodeWeekly, Scan, WorkspaceBreakdown
from qrplatform.events import Event
from qrplatform.extensions import db as database
from qrplatform.tenancy import unscoped
from qrplatform.testing.pytest_plugin import csrf_token

from .conftest import ANDROID, IPHONE, make_code, scan


@pytest.fixture
def person(create_user, api, login):
    user = create_user()
    login(user)
    return api(user)


def stored_scans() -> list[Scan]:
    with unscoped():
        return list(database.session.scalars(select(Scan).order_by(Scan.occurred_at)))


def test_switched_off_fields_are_not_stored_in_any_form(client, person, stream):
    code = make_code(person)
    response = person.put("/api/v1/analytics/settings", json={
        "record_referrer": False, "record_user_agent": False, "record_country": False})
    assert response.status_code == 200, response.json
    assert response.json["record_country"] is False
    scan(client, code, **{"CF-IPCountry": "FR", "Referer": "https://news.example/x"})
    stream.flush()
    [stored] = stored_scans()
    assert (stored.country, stored.referrer_domain, stored.user_agent, stored.device,
            stored.os, stored.browser) == (None,) * 6
    assert stored.classification == "human"
    body = person.get(f"/api/v1/qr-codes/{code['id']}/analytics").json
    assert body["breakdowns"]["country"] == [
        {"value": "(not recorded)", "humans": 1, "uniques": 1, "others": 0}]
    assert body["breakdowns"]["referrer"][0]["value"] == "(not recorded)"


def test_referrers_are_kept_as_domains_only(client, person, stream):
    code = make_code(person)
    scan(client, code, Referer="https://www.mail.example:8443/inbox/42?token=secret")
    stream.flush()
    [stored] = stored_scans()
    assert stored.referrer_domain == "mail.example"
    assert stored.device == "mobile" and stored.os == "iOS"


def test_workspace_rules_count_matches_as_bots_with_the_rule_as_reason(client, person, stream):
    code = make_code(person)
    assert person.put("/api/v1/analytics/settings", json={
        "bot_user_agent_patterns": ["KioskCheck"], "bot_countries": ["sg"]}).status_code == 200
    scan(client, code, agent=IPHONE + " KioskCheck/1.0", ip="192.0.2.1")
    scan(client, code, ip="192.0.2.2", **{"CF-IPCountry": "SG"})
    scan(client, code, ip="192.0.2.3", **{"CF-IPCountry": "DE"})
    stream.flush()
    body = person.get(f"/api/v1/qr-codes/{code['id']}/analytics").json
    assert body["totals"]["humans"] == 1 and body["totals"]["bots"] == 2
    assert {r["value"] for r in body["breakdowns"]["reason"]} == {
        "bot: workspace rule: user agent contains “kioskcheck”",
        "bot: workspace rule: country SG"}


def test_a_test_device_is_marked_for_the_day_from_the_device_itself(client, person, stream):
    code = make_code(person)
    phone = {"REMOTE_ADDR": "203.0.113.50"}
    page = client.get("/analytics/settings", headers={"User-Agent": ANDROID},
                      environ_base=phone)
    assert "Count this device as a test device today" in page.get_data(as_text=True)
    response = client.post("/analytics/settings/test-device", headers={"User-Agent": ANDROID},
                           environ_base=phone, data={
                               "on": "1", "csrf_token": csrf_token(client, "/analytics/settings")})
    assert response.status_code == 302
    page = client.get("/analytics/settings", headers={"User-Agent": ANDROID}, environ_base=phone)
    assert "Stop counting this device as a test device" in page.get_data(as_text=True)
    scan(client, code, agent=ANDROID, ip="203.0.113.50")      # the test phone
    scan(client, code, agent=IPHONE, ip="203.0.113.50")       # someone else on that Wi-Fi
    stream.flush()
    by_agent = {s.device and s.os: (s.classification, s.reason) for s in stored_scans()}
    assert by_agent == {"Android": ("bot", "workspace rule: test device"),
                        "iOS": ("human", None)}


def test_settings_are_checked_and_errors_keep_the_one_shape(person):
    response = person.put("/api/v1/analytics/settings", json={"retention_days": 5000})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error" and "retention_days" in error["fields"]
    assert "at most 90 days" in error["message"]
    response = person.put("/api/v1/analytics/settings", json={"bot_countries": ["Germany"]})
    assert response.status_code == 422 and "bot_countries" in response.json["error"]["fields"]
    response = person.get("/api/v1/analytics?range=1y")
    assert response.status_code == 422 and "range" in response.json["error"]["fields"]
    response = person.get("/api/v1/analytics?start=2026-01-10&end=2026-01-01")
    assert response.status_code == 422 and response.json["error"]["fields"] == {
        "end": ["The last day is before the first day."]}


def scan_event(code: dict, workspace_id: int, when: datetime, n: int) -> Event:
    return Event(type="qr.scanned", workspace_id=workspace_id, occurred_at=when.isoformat(),
                 id=f"00000000-0000-4000-8000-{n:012d}", data={
                     "code_id": code["id"], "short_code": code["short_code"], "method": "GET",
                     "user_agent": IPHONE, "referrer": None, "country": "DE",
                     "language": "de", "ip_hash": "a" * 64, "visitor_hash": f"{n:064x}",
                     "classification": "human", "reason": None, "outcome": "redirected"})


def test_retention_purge_removes_what_the_plan_and_settings_no_longer_keep(app, person, api):
    now = datetime.now(UTC)
    code = make_code(person)
    other = api()
    other_code = make_code(other)
    assert other.put("/api/v1/analytics/settings",
                     json={"retention_days": 7}).status_code == 200
    # Days ago; 90 and 91 lie on either side of the 90-day cutoff, in one week six days of
    # seven (its weekly row must then lose the 91st day's scan).
    ages = {1: 3, 2: 30, 3: 100, 4: 4 * 365, 5: 90, 6: 91}
    events = [scan_event(code, person.workspace_id, now - timedelta(days=age), n)
              for n, age in ages.items()]
    events += [scan_event(other_code, other.workspace_id, now - timedelta(days=age), 10 + n)
               for n, age in ages.items()]
    with unscoped():
        assert ingest_batch(events) == 12
    result = app.test_cli_runner().invoke(args=["analytics", "purge"])
    assert result.exit_code == 0, result.output
    with unscoped():
        kept = {(s.workspace_id, (now - s.occurred_at).days) for s in stored_scans()}
        assert kept == {(person.workspace_id, 3), (person.workspace_id, 30),
                        (person.workspace_id, 90), (other.workspace_id, 3)}
        for model, column in ((CodeDaily, CodeDaily.day), (CodeHourly, CodeHourly.hour),
                              (WorkspaceBreakdown, WorkspaceBreakdown.day)):
            oldest = database.session.execute(
                select(model.workspace_id, func.min(column)).group_by(model.workspace_id)).all()
            for workspace_id, first in oldest:
                first = first if isinstance(first, datetime) else datetime(
                    first.year, first.month, first.day, tzinfo=UTC)
                limit = 90 if workspace_id == person.workspace_id else 7
                assert now - first <= timedelta(days=limit + 1), (model, workspace_id)
        # The weeks left are the sums of the days left (the one the cutoff falls in, too).
        weeks = {(row.workspace_id, row.code_id, row.week): row.scans
                 for row in database.session.scalars(select(CodeWeekly))}
        days: dict[tuple, int] = {}
        for row in database.session.scalars(select(CodeDaily)):
            key = (row.workspace_id, row.code_id, week_of(row.day))
            days[key] = days.get(key, 0) + row.scans
        assert weeks == days and len(weeks) == 4
    old_month = (now - timedelta(days=4 * 365)).strftime("%Y_%m")
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass(:name)"),
                            {"name": f"analytics_partitions.scans_{old_month}"}).scalar() is None
    assert "'scans': 8" in result.output and "'partitions': 1" in result.output
