"""What every request passes through: request id, errors, rate limits, security headers."""

import pytest
from flask import abort

from qrplatform.testing.pytest_plugin import csrf_token


def test_request_id_is_generated_or_kept_and_echoed(client):
    generated = client.get("/healthz")
    assert len(generated.headers["X-Request-ID"]) == 32
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-1234abcd"})
    assert kept.headers["X-Request-ID"] == "edge-1234abcd"
    junk = client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert junk.headers["X-Request-ID"] != "<script>"


def test_security_headers_on_pages_and_api(client):
    for path in ("/login", "/api/openapi.json", "/healthz"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "camera=()" in headers["Permissions-Policy"]
        assert "Strict-Transport-Security" not in headers  # plain HTTP here


def test_csp_nonce_is_fresh_per_response_and_matches_the_page(client):
    first, second = client.get("/login"), client.get("/login")
    nonce = first.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert nonce in first.get_data(as_text=True)  # handed to htmx for its inline scripts
    assert nonce not in second.headers["Content-Security-Policy"]


def test_hsts_over_https_and_forwarded_headers_only_from_trusted_hops(make_app, db):
    assert "Strict-Transport-Security" in make_app().test_client().get(
        "/healthz", base_url="https://localhost").headers
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    untrusting = make_app(QRP_PROXY_HOPS=0).test_client()
    assert "Strict-Transport-Security" not in untrusting.get("/healthz", headers=forwarded).headers
    trusting = make_app(QRP_PROXY_HOPS=1).test_client()
    assert "Strict-Transport-Security" in trusting.get("/healthz", headers=forwarded).headers


def test_every_api_error_has_one_shape(client, api):
    caller = api()
    cases = [
        (client.get("/api/v1/nowhere"), 404, "not_found"),
        (client.get("/api/v1/me"), 401, "unauthorized"),
        (client.put("/api/v1/me"), 405, "method_not_allowed"),
        (client.post("/api/v1/auth/tokens", data="not json",
                     content_type="application/json"), 400, "bad_request"),
        (caller.get("/api/v1/jobs/no-such-job"), 404, "not_found"),
        (client.get("/api/v1/me", headers={"Authorization": "Bearer qrp_wrong"}), 401,
         "unauthorized"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.json
        error = response.json["error"]
        assert set(error) == {"status", "code", "message", "fields", "request_id"}
        assert (error["status"], error["code"]) == (status, code)
        assert error["message"] and error["request_id"] == response.headers["X-Request-ID"]


def test_unhandled_error_answers_the_shape_or_a_page_with_the_request_id(make_app, db):
    app = make_app()

    @app.get("/api/v1/explode")
    def explode_api():
        raise RuntimeError("boom: password=hunter2")

    @app.get("/explode")
    def explode_page():
        raise RuntimeError("boom")

    @app.get("/forbidden")
    def forbidden_page():
        abort(403)

    client = app.test_client()
    api_response = client.get("/api/v1/explode")
    assert api_response.status_code == 500
    assert api_response.json["error"]["code"] == "internal_error"
    assert "hunter2" not in api_response.get_data(as_text=True)
    page = client.get("/explode")
    assert page.status_code == 500 and page.headers["X-Request-ID"] in page.get_data(as_text=True)
    assert client.get("/forbidden").mimetype == "text/html"


def test_html_pages_get_friendly_error_pages(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "Not found" in response.get_data(as_text=True)


@pytest.fixture
def limited_app(make_app, redis_url, redis):
    return make_app(REDIS_URL=redis_url, RATELIMIT_ENABLED=True, QRP_RATE_LIMITS={
        "anonymous": "2 per minute", "free": "3 per minute", "pro": "5 per minute",
        "business": "10 per minute"})


def test_rate_limit_under_redis_is_per_workspace_with_headers_and_json(
        limited_app, redis, create_user):
    from qrplatform.auth import services

    def bearer(user):
        _token, plain = services.create_token(user, user.personal_workspace_id, "t")
        return {"Authorization": f"Bearer {plain}"}

    client = limited_app.test_client()
    first, second = bearer(create_user()), bearer(create_user())
    responses = [client.get("/api/v1/me", headers=first) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[0].headers["X-RateLimit-Limit"] == "3"
    assert responses[0].headers["X-RateLimit-Remaining"] == "2"
    assert "Retry-After" not in responses[0].headers
    limited = responses[-1]
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) > 0
    assert limited.json["error"]["code"] == "rate_limited"
    assert limited.json["error"]["status"] == 429
    assert limited.json["error"]["message"] == (
        "Too many requests: the limit here is 3 per 1 minute. Wait the seconds the "
        "Retry-After header gives, then try again.")
    # Another workspace has its own budget; the counters live in Redis.
    assert client.get("/api/v1/me", headers=second).status_code == 200
    assert any(b"ws:" in key for key in redis.keys("*"))


def test_rate_limit_follows_the_plan(limited_app, db, create_user):
    from qrplatform.auth import services
    from qrplatform.auth.models import Workspace

    user = create_user()
    db.session.get(Workspace, user.personal_workspace_id).plan = "pro"
    db.session.commit()
    _token, plain = services.create_token(user, user.personal_workspace_id, "t")
    response = limited_app.test_client().get("/api/v1/me",
                                             headers={"Authorization": f"Bearer {plain}"})
    assert response.headers["X-RateLimit-Limit"] == "5"


def test_anonymous_browsers_are_limited_by_ip_with_a_friendly_page(limited_app, db):
    client = limited_app.test_client()
    assert [client.get("/login").status_code for _ in range(2)] == [200, 200]
    page = client.get("/login")
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert "Slow down a little" in page.get_data(as_text=True)
    assert "Retry-After" in page.headers
    other_ip = client.get("/login", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other_ip.status_code == 200
    assert client.get("/healthz").status_code == 200  # probes are never throttled


def test_htmx_requests_get_the_fragment_and_caches_are_told(client, create_user, login):
    login(create_user())
    full = client.get("/settings/tokens")
    fragment = client.get("/settings/tokens", headers={"HX-Request": "true"})
    assert "<html" in full.get_data(as_text=True)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<section id="tokens">')
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]
    created = client.post("/settings/tokens", headers={"HX-Request": "true"}, data={
        "name": "Zapier", "csrf_token": csrf_token(client, "/settings/tokens")})
    assert "Zapier" in created.get_data(as_text=True)
    assert "<html" not in created.get_data(as_text=True)


def test_health_and_readiness(client, make_app, db):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"]["database"]["status"] == "ok"
    assert ready.json["checks"]["outbox"]["backlog"] == 0
    broken = make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client().get("/readyz")
    assert broken.status_code == 503
    assert broken.json["checks"]["redis"]["status"] == "unreachable"
    assert "REDIS_URL is set but redis cannot be reached" in broken.json["message"]


def test_openapi_document_and_offline_docs(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/auth/signup", "/api/v1/auth/tokens", "/api/v1/me",
                 "/api/v1/jobs/{job_id}"):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    error_schema = spec["components"]["schemas"]["Error"]
    assert "error" in error_schema["properties"]
    docs = client.get("/api/docs").get_data(as_text=True)
    # Drawn on the server from the document: every operation and schema, no script needed.
    assert '<code class="api-path">/api/v1/jobs/{job_id}</code>' in docs
    assert 'id="schema-Error"' in docs
    assert "<script src=\"https://" not in docs and "href=\"https://" not in docs  # no CDN
    assert client.get("/static/vendor/htmx.min.js").status_code == 200
    assert client.get("/static/vendor/sortable.min.js").status_code == 200  # drag to reorder


def test_api_errors_say_what_to_do_instead_of_the_frameworks_words(client, api):
    caller = api()
    nowhere = client.get("/api/v1/nowhere").json["error"]["message"]
    assert nowhere == ("There is no API operation at GET /api/v1/nowhere; the reference at "
                       "/api/docs lists them.")
    assert client.put("/api/v1/me").json["error"]["message"] == \
        "/api/v1/me does not take PUT; it takes GET, PATCH."
    broken = client.post("/api/v1/auth/tokens", data='{"email": "a@b.c",',
                         content_type="application/json").json["error"]
    assert broken["message"].startswith("The request body is not valid JSON")
    # Several refused inputs: the first named with its reason, the others named.
    refused = caller.post("/api/v1/qr-codes", json={
        "type": "url", "content": {"url": "https://example.com"}, "name": "x" * 300,
        "design": {"logo_size": 5, "quiet_zone": -1}}).json["error"]
    assert refused["status"] == 422
    paths = ["name", "design.logo_size", "design.quiet_zone"]
    first = next(p for p in paths if refused["message"].startswith(f"{p}: "))
    assert all(p in refused["message"] for p in paths if p != first), refused["message"]
    assert refused["message"].endswith("(see 'fields').")
    one = caller.post("/api/v1/qr-codes", json={"type": "url", "content": {
        "url": "https://example.com"}, "design": "blue"}).json["error"]
    assert one["message"] == "design: Invalid input type."


def test_an_action_opened_as_a_page_says_what_it_is(client):
    """A POST-only address (a bookmarked or reloaded button's) answers 405 in our words."""
    response = client.get("/logout")
    assert response.status_code == 405
    page = response.get_data(as_text=True)
    assert "Not a page" in page and "Go back to the page with the button." in page
    assert "Method Not Allowed" not in page


def test_a_page_typed_with_or_without_its_trailing_slash_is_found(client):
    assert client.get("/billing/").status_code == 308
    assert client.get("/billing/?plan=pro").headers["Location"] == "/billing?plan=pro"
    assert client.get("/qr").status_code in (301, 308)     # Werkzeug's own mending
    assert client.get("/no-such-page/").status_code == 404
    assert client.get("/api/v1/nowhere/").status_code == 404
