"""The scan redirect: one scan event per visit (never the raw IP), the link's rules, and a
cache that never serves a stale destination."""

import hashlib
import html
import logging
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from qrplatform import privacy

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
CLIENT_IP = "203.0.113.77"


@pytest.fixture
def caller(api):
    return api()


def make_code(caller, **fields):
    body = {"type": "url", "kind": "dynamic", "destination": "https://example.com/landing",
            **fields}
    body = {k: v for k, v in body.items() if v is not None}
    response = caller.post("/api/v1/qr-codes", json=body)
    assert response.status_code == 201, response.json
    return response.json


def scan(client, code, method="GET", **headers):
    headers.setdefault("User-Agent", IPHONE)
    return client.open(f"/r/{code['short_code']}", method=method, headers=headers,
                       environ_base={"REMOTE_ADDR": CLIENT_IP})


def test_a_redirect_records_exactly_one_scan_event_without_the_raw_ip(app, client, caller,
                                                                     scans):
    code = make_code(caller, utm={"utm_source": "poster", "utm_campaign": "spring"})
    response = scan(client, code, Referer="https://social.example/post/1",
                    **{"CF-IPCountry": "de", "Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8"})
    assert response.status_code == 302
    assert response.headers["Location"] == (
        "https://example.com/landing?utm_source=poster&utm_campaign=spring")
    events = scans()
    assert len(events) == 1
    event = events[0]
    assert event.workspace_id == caller.workspace_id
    salt = privacy.daily_salt(app)
    assert event.data == {
        "code_id": code["id"], "short_code": code["short_code"], "method": "GET",
        "user_agent": IPHONE, "referrer": "https://social.example/post/1", "country": "DE",
        "language": "fr", "ip_hash": hashlib.sha256(salt + CLIENT_IP.encode()).hexdigest(),
        "visitor_hash": hashlib.sha256(
            salt + CLIENT_IP.encode() + IPHONE.encode() + str(code["id"]).encode()).hexdigest(),
        "classification": "human", "reason": None, "outcome": "redirected",
        "rule": None, "variant": None,
    }
    assert CLIENT_IP not in event.to_json()
    assert datetime.fromisoformat(event.occurred_at) > datetime.now(UTC) - timedelta(seconds=5)


def test_unknown_country_and_language_are_null(client, caller, scans):
    code = make_code(caller)
    scan(client, code, **{"CF-IPCountry": "XX"})
    scan(client, code, **{"CF-IPCountry": "T1", "Accept-Language": "*"})
    assert [(e.data["country"], e.data["language"]) for e in scans()] == [(None, None)] * 2


def test_the_country_header_is_trusted_only_when_a_cdn_sets_one(app, client, caller, scans):
    code = make_code(caller)
    scan(client, code, **{"CF-IPCountry": "DE"})
    app.config["QRP_COUNTRY_HEADER"] = ""  # no CDN in front: a client could claim any country
    try:
        scan(client, code, **{"CF-IPCountry": "DE"})
    finally:
        app.config["QRP_COUNTRY_HEADER"] = "CF-IPCountry"
    assert [e.data["country"] for e in scans()] == ["DE", None]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_the_redirect_status_is_configurable(client, caller, status):
    code = make_code(caller, redirect_status=status)
    assert scan(client, code).status_code == status


def test_head_requests_and_link_previews_redirect_but_are_marked(client, caller, scans):
    code = make_code(caller)
    assert scan(client, code, method="HEAD").status_code == 302
    preview = scan(client, code, **{"User-Agent": "Slackbot-LinkExpanding 1.0 "
                                                  "(+https://api.slack.com/robots)"})
    assert preview.status_code == 302
    bot = scan(client, code, **{"User-Agent": "curl/8.5.0"})
    assert bot.status_code == 302
    marks = [(e.data["method"], e.data["classification"], e.data["reason"]) for e in scans()]
    assert marks == [("HEAD", "head", "HEAD request"),
                     ("GET", "preview", "Slackbot"), ("GET", "bot", "curl")]


def test_expiry(client, caller, scans):
    code = make_code(caller, expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert scan(client, code).status_code == 302
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    refused = caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"expires_at": past})
    assert refused.status_code == 422          # a date that has passed is no expiry to set
    assert "passed" in refused.json["error"]["fields"]["expires_at"][0]
    soon = datetime.now(UTC) + timedelta(seconds=1)
    changed = caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"expires_at": soon.isoformat()})
    assert changed.status_code == 200
    # Editing something else keeps the expiry, even once it has passed.
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    renamed = caller.patch(f"/api/v1/qr-codes/{code['id']}",
                           json={"name": "Gone", "expires_at": soon.isoformat()})
    assert renamed.status_code == 200, renamed.json
    response = scan(client, code)
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)
    assert [e.data["outcome"] for e in scans()] == ["redirected", "expired"]


def test_scan_cap_counts_people_not_previews(client, caller, scans):
    code = make_code(caller, scan_cap=2)
    assert scan(client, code).status_code == 302
    assert scan(client, code, method="HEAD").status_code == 302      # not counted
    assert scan(client, code, **{"User-Agent": "facebookexternalhit/1.1"}).status_code == 302
    assert scan(client, code).status_code == 302
    capped = scan(client, code)
    assert capped.status_code == 410 and "limit" in capped.get_data(as_text=True)
    assert scan(client, code, method="HEAD").status_code == 410
    assert [e.data["outcome"] for e in scans()] == [
        "redirected", "redirected", "redirected", "redirected", "cap_reached", "cap_reached"]


def test_pause_and_archive(client, caller, scans):
    code = make_code(caller)
    url = f"/api/v1/qr-codes/{code['id']}"
    assert caller.patch(url, json={"paused": True}).json["state"] == "paused"
    paused = scan(client, code)
    assert paused.status_code == 404 and "paused" in paused.get_data(as_text=True)
    assert caller.patch(url, json={"paused": False}).status_code == 200
    assert scan(client, code).status_code == 302
    assert caller.delete(url).status_code == 204
    archived = scan(client, code)
    assert archived.status_code == 410 and "retired" in archived.get_data(as_text=True)
    assert caller.get(url).json["state"] == "archived"
    assert [e.data["outcome"] for e in scans()] == ["paused", "redirected", "archived"]


def test_password(client, caller, scans):
    code = make_code(caller, password="open sesame")
    assert "password" not in code and code["has_password"] is True
    form = scan(client, code)
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert 'type="password"' in page and "https://example.com" not in page
    wrong = client.post(f"/r/{code['short_code']}", data={"password": "guess"},
                        headers={"User-Agent": IPHONE})
    assert wrong.status_code == 401 and "not right" in wrong.get_data(as_text=True)
    right = client.post(f"/r/{code['short_code']}", data={"password": "open sesame"},
                        headers={"User-Agent": IPHONE})
    assert right.status_code == 303
    assert right.headers["Location"] == "https://example.com/landing"
    assert [e.data["outcome"] for e in scans()] == ["password_required", "redirected"]


def test_password_protects_served_content_too(client, caller):
    code = make_code(caller, type="vcard", destination=None,
                     content={"first_name": "Ada", "last_name": "Lovelace"}, password="pw")
    direct = client.get(f"/r/{code['short_code']}/c")
    assert direct.status_code == 303  # back to the password form
    unlocked = client.post(f"/r/{code['short_code']}", data={"password": "pw"})
    page = client.get(unlocked.headers["Location"].split("http://localhost", 1)[-1])
    assert page.status_code == 200 and page.mimetype == "text/html"
    download = re.search(r'href="([^"]+)"[^>]*download', page.get_data(as_text=True)).group(1)
    card = client.get(html.unescape(download))  # the unlocking token goes with it
    assert card.status_code == 200 and card.mimetype == "text/vcard"
    assert "FN:Ada Lovelace" in card.get_data(as_text=True)
    assert client.get(f"/r/{code['short_code']}/c?download=1").status_code == 303


def test_a_dynamic_vcard_shows_a_contact_page_that_saves_the_card(client, caller):
    code = make_code(caller, type="vcard", destination=None, content={
        "first_name": "Ada", "last_name": "<b>Lovelace</b>", "organization": "Analytical & Co",
        "title": "Engineer", "mobile": "+44 7700 900123", "email": "ada@example.com",
        "website": "https://example.com/ada", "street": "1 Engine Row", "city": "London",
        "note": "Ask about <script>alert(1)</script> notes"})
    scanned = scan(client, code)
    assert scanned.status_code == 302
    page = client.get(scanned.headers["Location"].split("http://localhost", 1)[-1])
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "no-store" in page.headers["Cache-Control"]
    assert "script-src" in page.headers["Content-Security-Policy"]
    text = page.get_data(as_text=True)
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in text and "<b>Lovelace" not in text
    assert "<script>" not in text and "Engineer, Analytical &amp; Co" in text
    assert 'href="tel:+447700900123"' in text and 'href="mailto:ada@example.com"' in text
    assert 'href="https://example.com/ada"' in text
    assert 'href="https://maps.google.com/?q=1%20Engine%20Row%2C%20London"' in text
    download = re.search(r'href="([^"]+)"[^>]*download', text).group(1)
    assert download == f"/r/{code['short_code']}/c?download=1"
    card = client.get(download)
    assert card.mimetype == "text/vcard" and "attachment" in card.headers["Content-Disposition"]
    assert "TEL;TYPE=CELL:+447700900123" in card.get_data(as_text=True)


def test_dynamic_event_code_serves_a_calendar_file(client, caller):
    code = make_code(caller, type="event", destination=None, content={
        "title": "Launch", "start": "2026-12-01T18:00:00Z"})
    response = scan(client, code)
    assert response.status_code == 302
    served = client.get(response.headers["Location"].split("http://localhost", 1)[-1])
    assert served.mimetype == "text/calendar"
    assert "DTSTART:20261201T180000Z" in served.get_data(as_text=True)


def test_unknown_short_code_is_a_clear_404(client, scans):
    response = client.get("/r/NoSuchCd")
    assert response.status_code == 404 and "No such link" in response.get_data(as_text=True)
    assert scans() == []


def test_a_changed_destination_takes_effect_at_once_despite_the_cache(client, caller):
    code = make_code(caller)
    assert scan(client, code).headers["Location"] == "https://example.com/landing"
    assert scan(client, code).headers["Location"] == "https://example.com/landing"  # cached
    changed = caller.patch(f"/api/v1/qr-codes/{code['id']}",
                           json={"destination": "https://example.com/new"})
    assert changed.status_code == 200 and changed.json["short_url"] == code["short_url"]
    assert scan(client, code).headers["Location"] == "https://example.com/new"


def test_the_cache_is_invalidated_across_processes_through_redis(make_app, db, redis_url,
                                                                 redis, create_user):
    """Two apps stand for two gunicorn workers sharing Redis."""
    from qrplatform.auth import services as auth

    serving, editing = make_app(REDIS_URL=redis_url), make_app(REDIS_URL=redis_url)
    user = create_user()
    _token, token = auth.create_token(user, user.personal_workspace_id, "t")
    bearer = {"Authorization": f"Bearer {token}"}
    editor = editing.test_client()
    code = editor.post("/api/v1/qr-codes", headers=bearer, json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/one"}).json
    scanner = serving.test_client()
    cache = serving.extensions["qr.link_cache"]
    assert cache.wait_until_listening()
    path = f"/r/{code['short_code']}"
    assert scanner.get(path).headers["Location"] == "https://example.com/one"
    assert code["short_code"] in cache._local  # now served from this process's memory
    assert redis.get(f"qrp:qr:link:{code['short_code']}") is not None
    editor.patch(f"/api/v1/qr-codes/{code['id']}", headers=bearer,
                 json={"destination": "https://example.com/two"})
    deadline = time.monotonic() + 1.0   # pub/sub delivery between processes: milliseconds
    while code["short_code"] in cache._local and time.monotonic() < deadline:
        time.sleep(0.001)
    assert scanner.get(path).headers["Location"] == "https://example.com/two"


def test_the_daily_salt_is_shared_through_redis_and_dies_with_its_day(redis, redis_url):
    first, second = privacy.DailySalt(redis_url), privacy.DailySalt(redis_url)
    noon = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert first.current(noon) == second.current(noon)   # every process agrees
    key = privacy.SALT_KEY.format(day="2026-11-28")
    # The salt is destroyed shortly after its day ends (here: noon + 12 h + the grace).
    assert 12 * 3600 < redis.ttl(key) <= 12 * 3600 + privacy.GRACE.total_seconds()
    assert first.current(noon + timedelta(days=1)) != second.current(noon)


def test_fast_path_redirects_are_logged_as_a_sample_and_every_one_is_counted(
        make_app, db, caller, caplog):
    from tests.observability.helpers import scrape, value

    code = make_code(caller)
    every, none = make_app(QR_REDIRECT_LOG_SAMPLE=1.0), make_app(QR_REDIRECT_LOG_SAMPLE=0.0)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qrplatform.access"):
        for served_by in (every, none):
            for _ in range(3):
                response = scan(served_by.test_client(), code, **{"X-Request-ID": "scan-0001x"})
                assert response.status_code == 302
    lines = [r for r in caplog.records if r.name == "qrplatform.access"]
    assert len(lines) == 3  # all of the first app's, none of the second's
    for line in lines:
        assert (line.route, line.method, line.status, line.workspace_id, line.request_id,
                line.sample_rate) == ("/r/<short_code>", "GET", 302, caller.workspace_id,
                                      "scan-0001x", 1.0)
        assert line.duration_ms >= 0
    for served_by in (every, none):
        metrics = scrape(served_by.test_client(), environ_base={"REMOTE_ADDR": "127.0.0.1"})
        assert value(metrics, "qrp_scans_total", outcome="redirected",
                     classification="human") == 3


def test_the_log_sample_must_be_a_share(make_app):
    with pytest.raises(ValueError, match="QR_REDIRECT_LOG_SAMPLE"):
        make_app(QR_REDIRECT_LOG_SAMPLE=5.0)
