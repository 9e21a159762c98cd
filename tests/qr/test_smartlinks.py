"""Smart links: redirect rules and A/B variants through the API and the real redirect
(PostgreSQL, Redis), each scan event naming what chose its destination."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from qrp_qr import linkcache
from qrplatform.events.outbox import relay_once
from qrplatform.testing.waiting import wait_until
from tests.qr.test_redirect import IPHONE, make_code, scan

ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Mobile Safari/537.36")
WINDOWS_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                "Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0")
MAC_FIREFOX = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0"
IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1")
DEFAULT = "https://example.com/landing"


@pytest.fixture
def caller(api):
    return api()


def rule(destination, **when):
    return {"when": when, "destination": destination}


def location(response):
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response.headers["Location"]


def test_rules_are_stored_in_order_with_ids_and_route_scans(client, caller, scans):
    code = make_code(caller, rules=[
        rule("https://apps.apple.com/app/id1", os=["ios"]),
        rule("https://play.google.com/store/apps/details?id=x", os=["android"]),
        rule("https://example.de/", country=["de", "AT"]),
        rule("https://example.com/fr", language=["fr"]),
        rule("https://example.com/desktop-edge", device=["desktop"], browser=["edge"]),
    ])
    ids = [r["id"] for r in code["rules"]]
    assert len(set(ids)) == 5 and all(ids)
    assert code["rules"][2]["when"] == {"country": ["DE", "AT"]}
    assert code["rule_warnings"] == []
    assert caller.get(f"/api/v1/qr-codes/{code['id']}").json["rules"] == code["rules"]

    assert location(scan(client, code)) == "https://apps.apple.com/app/id1"
    assert location(scan(client, code, **{"User-Agent": ANDROID})).startswith(
        "https://play.google.com/")
    assert location(scan(client, code, **{"User-Agent": MAC_FIREFOX,
                                          "CF-IPCountry": "AT"})) == "https://example.de/"
    assert location(scan(client, code, **{"User-Agent": MAC_FIREFOX, "Accept-Language":
                                          "fr-CH, fr;q=0.9, en;q=0.8"})) == "https://example.com/fr"
    assert location(scan(client, code, **{"User-Agent": WINDOWS_EDGE})) == (
        "https://example.com/desktop-edge")
    assert location(scan(client, code, **{"User-Agent": MAC_FIREFOX})) == DEFAULT
    assert [e.data["rule"] for e in scans()] == [ids[0], ids[1], ids[2], ids[3], ids[4], None]
    assert all(e.data["variant"] is None for e in scans())


def test_the_first_matching_rule_wins_and_utm_applies_to_every_destination(client, caller):
    code = make_code(caller, utm={"utm_source": "poster"}, rules=[
        rule("https://example.com/tablet", device=["tablet"]),
        rule("https://example.com/apple", os=["ios"]),
    ])
    assert location(scan(client, code, **{"User-Agent": IPAD})) == (
        "https://example.com/tablet?utm_source=poster")
    assert location(scan(client, code)) == "https://example.com/apple?utm_source=poster"


def test_changing_rules_takes_effect_at_once_and_sent_back_ids_are_kept(client, caller):
    code = make_code(caller, rules=[rule("https://example.com/a", os=["ios"])])
    assert location(scan(client, code)) == "https://example.com/a"
    kept = code["rules"][0]["id"]
    changed = caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"rules": [
        rule("https://example.com/b", os=["android"]),
        {**code["rules"][0], "destination": "https://example.com/c"}]})
    assert changed.status_code == 200, changed.json
    assert changed.json["rules"][1]["id"] == kept
    assert location(scan(client, code)) == "https://example.com/c"
    assert caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"rules": []}).json["rules"] == []
    assert location(scan(client, code)) == DEFAULT


def test_query_parameters_present_or_equal(client, caller):
    code = make_code(caller, rules=[
        rule("https://example.com/flyer", query=[{"name": "src", "value": "flyer"}]),
        rule("https://example.com/any-ref", query=[{"name": "ref"}]),
    ])
    base = f"/r/{code['short_code']}"
    assert location(client.get(base + "?src=flyer", headers={"User-Agent": IPHONE})) == (
        "https://example.com/flyer")
    assert location(client.get(base + "?src=bus", headers={"User-Agent": IPHONE})) == DEFAULT
    assert location(client.get(base + "?ref=", headers={"User-Agent": IPHONE})) == (
        "https://example.com/any-ref")


def test_first_n_scans_count_every_counted_scan_not_previews(client, caller):
    code = make_code(caller, rules=[
        rule("https://example.com/android", os=["android"]),
        rule("https://example.com/early-bird", scans={"first": 3}),
    ])
    assert location(scan(client, code)) == "https://example.com/early-bird"          # 1
    assert location(scan(client, code, **{"User-Agent": ANDROID})).endswith("/android")  # 2
    assert location(scan(client, code, method="HEAD")) == "https://example.com/early-bird"
    assert location(scan(client, code)) == "https://example.com/early-bird"          # 3
    assert location(scan(client, code)) == DEFAULT                                   # 4


def _tz_window(zone: str, around: datetime, minutes: int) -> dict:
    local = around.astimezone(ZoneInfo(zone))
    start, end = local - timedelta(minutes=minutes), local + timedelta(minutes=minutes)
    return {"from": start.strftime("%H:%M"), "to": end.strftime("%H:%M")}


def test_time_window_weekdays_and_dates_use_the_workspace_time_zone(client, caller):
    assert caller.patch("/api/v1/workspace", json={"time_zone": "Pacific/Kiritimati"}
                        ).status_code == 200  # UTC+14: its day is rarely UTC's day
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo("Pacific/Kiritimati"))
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    other_days = [d for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") if d != weekday]
    code = make_code(caller, rules=[
        rule("https://example.com/not-today", weekdays=other_days),
        rule("https://example.com/past", dates={"to": (local.date() - timedelta(days=1))
                                                .isoformat()}),
        rule("https://example.com/later", time=_tz_window("Pacific/Kiritimati",
                                                          now + timedelta(hours=6), 60)),
        rule("https://example.com/now", weekdays=[weekday],
             dates={"from": local.date().isoformat(), "to": local.date().isoformat()},
             time=_tz_window("Pacific/Kiritimati", now, 90)),
    ])
    assert [w["rule"] for w in code["rule_warnings"]] == [1]
    assert "date range has ended" in code["rule_warnings"][0]["message"]
    assert location(scan(client, code)) == "https://example.com/now"


def test_a_new_time_zone_reaches_cached_time_rules(app, client, caller):
    now = datetime.now(UTC)
    code = make_code(caller, rules=[
        rule("https://example.com/office-hours", time=_tz_window("UTC", now, 60))])
    assert location(scan(client, code)) == "https://example.com/office-hours"  # now cached
    assert caller.patch("/api/v1/workspace", json={"time_zone": "Asia/Kathmandu"}
                        ).status_code == 200  # UTC+5:45: the window is hours away now
    with app.app_context():
        relay_once()  # workspace.updated reaches the qr plugin's receiver
    assert location(scan(client, code)) == DEFAULT


def test_variants_split_by_weight_and_stay_with_a_visitor(client, caller, scans):
    code = make_code(caller, variants=[
        {"destination": "https://example.com/a", "weight": 70},
        {"destination": "https://example.com/b", "weight": 30}])
    ids = {v["destination"]: v["id"] for v in code["variants"]}
    seen = Counter()
    for n in range(300):
        response = client.get(f"/r/{code['short_code']}", headers={"User-Agent": IPHONE},
                              environ_base={"REMOTE_ADDR": f"198.51.100.{n % 250}",
                                            "HTTP_X_N": str(n)})
        seen[location(response)] += 1
    assert 150 < seen["https://example.com/a"] < 270, seen
    assert seen["https://example.com/a"] + seen["https://example.com/b"] == 300
    events = scans()
    assert {e.data["variant"] for e in events} == set(ids.values())
    assert all(e.data["rule"] is None for e in events)
    # Sticky: one visitor (IP + user agent) lands on the same variant every time today.
    again = {location(scan(client, code)) for _ in range(10)}
    assert len(again) == 1


def test_a_matching_rule_comes_before_the_split(client, caller, scans):
    code = make_code(caller, rules=[rule("https://example.com/ios", os=["ios"])], variants=[
        {"destination": "https://example.com/a", "weight": 1},
        {"destination": "https://example.com/b", "weight": 1}])
    assert location(scan(client, code)) == "https://example.com/ios"
    assert scans()[0].data["variant"] is None and scans()[0].data["rule"]


@pytest.mark.parametrize(("body", "field"), [
    ({"rules": [rule("https://x.example", os=["symbian"])]}, "rules.0.when.os"),
    ({"rules": [rule("https://x.example", country=["Germany"])]}, "rules.0.when.country"),
    ({"rules": [rule("https://x.example", time={"from": "25:00", "to": "10:00"})]},
     "rules.0.when.time"),
    ({"rules": [rule("https://x.example", time={"from": "10:00", "to": "10:00"})]},
     "rules.0.when.time"),
    ({"rules": [rule("https://x.example", dates={"from": "2026-05-02", "to": "2026-05-01"})]},
     "rules.0.when.dates"),
    ({"rules": [rule("https://x.example", scans={"first": 0})]}, "rules.0.when.scans"),
    ({"rules": [rule("https://x.example", query=[{"name": "a b"}])]}, "rules.0.when.query"),
    ({"rules": [rule("https://x.example", weather=["rain"])]}, "rules.0.when.weather"),
    ({"rules": [rule("javascript:alert(1)", os=["ios"])]}, "rules.0.destination"),
    ({"rules": [rule("https://x.example", os=[])]}, "rules.0.when.os"),
    ({"rules": [{"when": {}, "destination": "https://x.example", "id": "a"},
                {"when": {}, "destination": "https://y.example", "id": "a"}]}, "rules.1"),
    ({"rules": [rule("https://x.example", os=["ios"])] * 51}, "rules"),
    ({"variants": [{"destination": "https://x.example", "weight": 1}]}, "variants"),
    ({"variants": [{"destination": "https://x.example", "weight": 0},
                   {"destination": "https://y.example", "weight": 1}]}, "variants.0.weight"),
])
def test_invalid_rules_and_variants_are_refused_naming_the_field(caller, body, field):
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": DEFAULT, **body})
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"], response.json


def test_a_static_code_has_no_rules(caller):
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "static", "destination": DEFAULT,
        "rules": [rule("https://x.example", os=["ios"])]})
    assert response.status_code == 422
    assert "rules" in response.json["error"]["fields"]


def test_rules_that_can_never_match_are_saved_with_warnings(caller):
    code = make_code(caller, rules=[
        rule("https://example.com/apple", os=["ios", "android"], country=["DE", "AT"]),
        rule("https://example.com/iphone", os=["ios"], country=["DE"]),
        rule("https://example.com/odd", device=["desktop"], os=["android"]),
        rule("https://example.com/all"),
        rule("https://example.com/after-all", language=["de"]),
    ])
    warnings = {w["rule"]: w["message"] for w in code["rule_warnings"]}
    assert sorted(warnings) == [1, 2, 4]
    assert "rule 1 above" in warnings[1] and "desktop" in warnings[2]
    assert "rule 4 above" in warnings[4]


def test_test_a_scan_says_which_rule_wins(caller):
    code = make_code(caller, rules=[
        rule("https://example.com/de-mobile", country=["DE"], device=["mobile"]),
        rule("https://example.com/ios", os=["ios"])])
    url = f"/api/v1/qr-codes/{code['id']}/test-scan"
    assert caller.post(url, json={"device": "mobile", "country": "DE"}).json["rule"] == 0
    ios = caller.post(url, json={"user_agent": IPHONE, "country": "FR"}).json
    assert (ios["rule"], ios["destination"], ios["facts"]["os"]) == (
        1, "https://example.com/ios", "ios")
    assert caller.post(url, json={"os": "android"}).json["rule"] is None
    # Rules being edited, before they are saved; and for a code not yet created.
    draft = caller.post(url, json={"os": "android", "rules": [
        rule("https://example.com/android", os=["android"])]}).json
    assert (draft["rule"], draft["destination"]) == (0, "https://example.com/android")
    new = caller.post("/api/v1/qr-codes/test-scan", json={
        "language": "de-DE,de;q=0.9", "destination": DEFAULT,
        "rules": [rule("https://example.com/de", language=["de"])]}).json
    assert new["rule"] == 0
    bad = caller.post(url, json={"os": "beos"})
    assert bad.status_code == 422


def test_test_a_scan_reads_the_time_in_the_workspace_time_zone(caller):
    caller.patch("/api/v1/workspace", json={"time_zone": "Europe/Berlin"})
    code = make_code(caller, rules=[
        rule("https://example.com/lunch", time={"from": "12:00", "to": "13:00"},
             weekdays=["mon", "tue", "wed", "thu", "fri"])])
    url = f"/api/v1/qr-codes/{code['id']}/test-scan"
    # 2026-12-02 is a Wednesday; 11:30 UTC is 12:30 in Berlin (CET, UTC+1).
    lunch = caller.post(url, json={"at": "2026-12-02T11:30:00+00:00"}).json
    assert lunch["rule"] == 0 and lunch["local_time"].startswith("2026-12-02T12:30")
    assert caller.post(url, json={"at": "2026-12-02T12:30:00+00:00"}).json["rule"] is None
    assert caller.post(url, json={"at": "2026-12-05T11:30:00+00:00"}).json["rule"] is None


def test_workspace_time_zone_is_checked_and_set_from_sign_up(client, caller):
    refused = caller.patch("/api/v1/workspace", json={"time_zone": "Mars/Olympus"})
    assert refused.status_code == 422 and "time_zone" in refused.json["error"]["fields"]
    assert caller.get("/api/v1/me").status_code == 200
    signed = client.post("/api/v1/auth/signup", json={
        "email": "tz@example.com", "password": "a long enough password", "name": "Tz",
        "time_zone": "America/Sao_Paulo"})
    assert signed.status_code == 201, signed.json
    assert signed.json["workspace"]["time_zone"] == "America/Sao_Paulo"
    unknown = client.post("/api/v1/auth/signup", json={
        "email": "tz2@example.com", "password": "a long enough password", "name": "Tz",
        "time_zone": "Nowhere/Land"})
    assert unknown.json["workspace"]["time_zone"] == "UTC"


def test_two_workers_share_the_scan_count_and_rules_through_redis(make_app, db, redis_url,
                                                                   redis, create_user):
    """Two apps stand for two gunicorn workers sharing Redis: first-N counts are shared, and
    a rules change made through one reaches the other's cached entry."""
    from qrplatform.auth import services as auth

    one, two = make_app(REDIS_URL=redis_url), make_app(REDIS_URL=redis_url)
    user = create_user()
    _token, token = auth.create_token(user, user.personal_workspace_id, "t")
    bearer = {"Authorization": f"Bearer {token}"}
    code = one.test_client().post("/api/v1/qr-codes", headers=bearer, json={
        "type": "url", "kind": "dynamic", "destination": DEFAULT,
        "rules": [rule("https://example.com/first-two", scans={"first": 2})]}).json
    for served in (one, two):
        assert linkcache.cache_for(served).wait_until_listening()
    assert location(scan(one.test_client(), code)) == "https://example.com/first-two"
    assert location(scan(two.test_client(), code)) == "https://example.com/first-two"
    assert location(scan(one.test_client(), code)) == DEFAULT
    assert redis.get(linkcache.SCANS_KEY.format(code["id"])) == b"3"
    changed = two.test_client().patch(f"/api/v1/qr-codes/{code['id']}", headers=bearer, json={
        "rules": [rule("https://example.com/apple", os=["ios"])]})
    assert changed.status_code == 200
    # The change reaches the other worker through Redis pub/sub: a message, not a read on
    # the scan's path, so allow it the moment a loaded machine takes to deliver it.
    wait_until(lambda: location(scan(one.test_client(), code)) == "https://example.com/apple", 5,
               "the other worker to pick up the change", interval=0.02)
