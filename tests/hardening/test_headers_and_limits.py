"""Headers on every answer and limits on every password check: HSTS and nosniff on short-link
redirects, no-store on the API, 401 before 422, 429 in the page layout or the JSON shape with
Retry-After and the IETF RateLimit headers; the token endpoint, API sign-up, invalid Bearer
tokens and code passwords are limited like the login page (and per account or per code)."""

import pytest

from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, csrf_token


def dynamic_code(caller, **fields) -> dict:
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/", **fields})
    assert response.status_code == 201, response.json
    return response.json


def test_short_link_redirects_carry_hsts_and_nosniff(app, api, client):
    code = dynamic_code(api())
    secure = client.get(f"/r/{code['short_code']}", base_url="https://localhost")
    assert secure.status_code == 302
    assert secure.headers["X-Content-Type-Options"] == "nosniff"
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = client.get(f"/r/{code['short_code']}")
    assert plain.status_code == 302 and plain.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in plain.headers


def test_api_answers_are_never_stored(api):
    caller = api()
    assert caller.get("/api/v1/me").headers["Cache-Control"] == "no-store"
    assert caller.get("/api/v1/qr-codes/99999").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer qrp_not-a-token"}])
def test_authentication_comes_before_body_validation(client, headers):
    response = client.post("/api/v1/qr-codes", json={"type": 12, "kind": []}, headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    bulk = client.post("/api/v1/qr-codes/bulk", data={}, headers=headers,
                       content_type="multipart/form-data")
    assert bulk.status_code == 401


@pytest.fixture
def limited_app(make_app, redis_url, redis):
    return make_app(REDIS_URL=redis_url, RATELIMIT_ENABLED=True, QRP_RATE_LIMITS={
        "anonymous": "30 per minute", "free": "3 per minute", "pro": "5 per minute",
        "business": "10 per minute"})


def assert_ietf_headers(response, quota: int):
    policy = response.headers["RateLimit-Policy"]
    assert f";q={quota};" in policy + ";" and ";w=" in policy
    state = response.headers["RateLimit"]
    assert ";r=" in state and ";t=" in state


def test_the_login_pages_429_is_the_page_layout_with_retry_after(limited_app, db):
    browser = limited_app.test_client()
    token = csrf_token(browser)
    answers = [browser.post("/login", data={"email": f"nobody{i}@example.com",
                                            "password": "wrong one!", "csrf_token": token},
                            environ_base={"REMOTE_ADDR": "203.0.113.9"}) for i in range(11)]
    assert [a.status_code for a in answers[:10]] == [422] * 10
    limited = answers[-1]
    assert limited.status_code == 429 and limited.mimetype == "text/html"
    page = limited.get_data(as_text=True)
    assert "Slow down a little" in page and "<nav" in page  # the site's own layout
    assert int(limited.headers["Retry-After"]) > 0
    assert_ietf_headers(answers[0], 10)


def test_the_login_page_backs_off_per_account_too(limited_app, create_user):
    user = create_user()
    browser = limited_app.test_client()
    token = csrf_token(browser)
    answers = [browser.post("/login", data={"email": user.email, "password": "wrong one!",
                                            "csrf_token": token},
                            environ_base={"REMOTE_ADDR": f"203.0.113.{i}"}) for i in range(6)]
    assert [a.status_code for a in answers] == [422] * 5 + [429]


def test_the_apis_429_is_json_with_retry_after_and_ietf_headers(limited_app, create_user):
    from qrplatform.auth import services

    user = create_user()
    _token, plain = services.create_token(user, user.personal_workspace_id, "t")
    client = limited_app.test_client()
    answers = [client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
               for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert_ietf_headers(answers[0], 3)
    assert answers[0].headers["RateLimit"].split(";r=")[1].split(";")[0] == "2"
    limited = answers[-1]
    assert limited.json["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    assert "RateLimit" in limited.headers


def ask_for_token(client, email, password="a wrong password", ip="203.0.113.1"):
    return client.post("/api/v1/auth/tokens", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def test_the_token_endpoint_is_limited_per_ip_like_the_login_page(limited_app, create_user):
    client = limited_app.test_client()
    answers = [ask_for_token(client, f"nobody{i}@example.com") for i in range(11)]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    assert answers[-1].status_code == 429 and answers[-1].json["error"]["code"] == "rate_limited"
    assert int(answers[-1].headers["Retry-After"]) > 0


def test_wrong_passwords_back_off_per_account_whatever_the_ip(limited_app, create_user):
    user = create_user(email="target@example.com")
    client = limited_app.test_client()
    answers = [ask_for_token(client, user.email, ip=f"198.51.100.{i}") for i in range(6)]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert answers[-1].status_code == 429
    # even the right password waits now, from yet another address
    assert ask_for_token(client, user.email, DEFAULT_PASSWORD, ip="192.0.2.50").status_code \
        == 429
    # another account from the same addresses is not held back
    assert ask_for_token(client, "other@example.com", ip="198.51.100.1").status_code == 401


def test_api_signup_is_limited_like_the_page(limited_app, db):
    client = limited_app.test_client()
    answers = [client.post("/api/v1/auth/signup", json={"email": "not an e-mail"},
                           environ_base={"REMOTE_ADDR": "203.0.113.77"}) for _ in range(21)]
    assert [a.status_code for a in answers[:20]] == [422] * 20
    assert answers[-1].status_code == 429


def test_invalid_bearer_tokens_count_against_the_ip(limited_app, db):
    client = limited_app.test_client()
    answers = [client.get("/api/v1/me", headers={"Authorization": "Bearer qrp_guess"},
                          environ_base={"REMOTE_ADDR": "203.0.113.88"}) for _ in range(31)]
    assert [a.status_code for a in answers[:30]] == [401] * 30
    assert answers[-1].status_code == 429


def test_wrong_code_passwords_are_limited_per_code(limited_app, create_user):
    from qrplatform.auth import services

    user = create_user()
    _token, plain = services.create_token(user, user.personal_workspace_id, "t")
    client = limited_app.test_client()
    code = client.post("/api/v1/qr-codes", headers={"Authorization": f"Bearer {plain}"}, json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/",
        "password": "open sesame"}).json
    path = f"/r/{code['short_code']}"
    answers = [client.post(path, data={"password": "guess"},
                           environ_base={"REMOTE_ADDR": f"198.51.100.{i}"}) for i in range(6)]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert answers[-1].status_code == 429
