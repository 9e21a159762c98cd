"""Without PUBLIC_BASE_URL (the embedded setup) the platform answers on whatever address it is
reached at: short links, image URLs and page links follow the request's host and port, an
explicit setting wins, and a code's images load at every address (their keys are stored,
their URLs built when read)."""

import pytest
import requests

from qrplatform.testing.browser import log_in
from qrplatform.testing.servers import gunicorn

CODE = {"kind": "dynamic", "type": "url", "content": {"url": "https://example.com/menu"}}


def embedded_app(make_app, **overrides):
    return make_app(PUBLIC_BASE_URL=None, SHORT_LINK_BASE_URL=None, **overrides)


def test_links_and_images_follow_the_address_the_request_reached(make_app, db, create_user):
    from qrplatform.auth import services

    app = embedded_app(make_app)
    with app.app_context():
        user = create_user()
        _token, token = services.create_token(user, user.personal_workspace_id, "tests")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}

    made = client.post("/api/v1/qr-codes", json=CODE, headers=auth,
                       base_url="http://192.168.7.7:8123")
    assert made.status_code == 201, made.json
    code = made.json
    assert code["short_url"].startswith("http://192.168.7.7:8123/r/")
    assert code["image_url"]["png"].startswith("http://192.168.7.7:8123/files/")

    first = code["image_url"]["png"].removeprefix("http://192.168.7.7:8123")
    assert client.get(first, base_url="http://192.168.7.7:8123").status_code == 200

    # Reached at another address: the same code's link and pictures follow, and load there.
    again = client.get(f"/api/v1/qr-codes/{code['id']}", headers=auth,
                       base_url="http://localhost:9001").json
    assert again["short_url"] == code["short_url"].replace("192.168.7.7:8123", "localhost:9001")
    for url in again["image_url"].values():
        assert url.startswith("http://localhost:9001/files/")
        path = url.removeprefix("http://localhost:9001")
        assert client.get(path, base_url="http://localhost:9001").status_code == 200, url

    # Outside a request (a job, an e-mail): the last address a request reached.
    with app.app_context():
        from qrplatform import hosts
        from qrplatform.web import public_url

        assert hosts.public_base_url() == "http://localhost:9001"
        assert public_url("account.login") == "http://localhost:9001/login"


def test_an_explicit_base_url_wins_over_the_request(make_app, db, create_user):
    from qrplatform.auth import services

    app = make_app(PUBLIC_BASE_URL="https://qr.example.com", SHORT_LINK_BASE_URL=None)
    with app.app_context():
        user = create_user()
        _token, token = services.create_token(user, user.personal_workspace_id, "tests")
    code = app.test_client().post("/api/v1/qr-codes", json=CODE,
                                  headers={"Authorization": f"Bearer {token}"},
                                  base_url="http://127.0.0.1:8123").json
    assert code["short_url"].startswith("https://qr.example.com/r/")
    assert code["image_url"]["png"].startswith("https://qr.example.com/files/")


@pytest.mark.browser
@pytest.mark.slow
def test_gunicorn_on_another_port_without_a_base_url(db, database_url, create_user, browser,
                                                     tmp_path, monkeypatch):
    """The real server on a free port, no PUBLIC_BASE_URL: the API's links and images, and the
    code's page in a browser, use that port and load."""
    from qrplatform.auth import services

    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.delenv("SHORT_LINK_BASE_URL", raising=False)
    user = create_user(email="port@example.com")
    _token, token = services.create_token(user, user.personal_workspace_id, "tests")
    env = {"QRP_STORAGE_DIR": str(tmp_path / "files")}
    with gunicorn(database_url, workers=1, env=env) as (port, _process):
        base = f"http://127.0.0.1:{port}"
        made = requests.post(f"{base}/api/v1/qr-codes", json=CODE, timeout=30,
                             headers={"Authorization": f"Bearer {token}"})
        assert made.status_code == 201, made.text
        code = made.json()
        assert code["short_url"].startswith(f"{base}/r/")
        png = requests.get(code["image_url"]["png"], timeout=30)
        assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
        scan = requests.get(code["short_url"], allow_redirects=False, timeout=30)
        assert (scan.status_code, scan.headers["Location"]) == (302, CODE["content"]["url"])

        context = browser.new_context(base_url=base)
        tab = context.new_page()
        log_in(tab, "port@example.com")
        tab.goto(f"/qr/{code['id']}")
        assert tab.locator("#qr-short-link").input_value() == code["short_url"]
        image = tab.locator(f"main img[src^='{base}/files/']").first
        image.wait_for()
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
        context.close()
