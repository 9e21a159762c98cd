"""A third-party plugin, pip-installed from its own package, plugs in like a built-in one."""

import importlib
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url

from qrplatform.events import Event
from qrplatform.events.dispatch import deliver
from qrplatform.events.models import OutboxEvent
from qrplatform.events.outbox import drain
from qrplatform.extensions import db as database
from qrplatform.registry import registry
from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, builtin_plugins, csrf_token

PACKAGE = Path(__file__).parent / "thirdparty_plugin"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed_plugin():
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", str(PACKAGE)],
                   check=True, capture_output=True)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        subprocess.run([*pip, "uninstall", "-y", "qrp-hello"], check=True, capture_output=True)
        importlib.invalidate_caches()


@pytest.fixture
def plugin_database(database_url):
    """A database of its own, so the plugin's table never meets the other tests."""
    url = make_url(database_url)
    name = f"{url.database}_thirdparty"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_pip_installed_plugin_adds_page_api_model_nav_and_receiver(
        installed_plugin, plugin_database, make_app):
    app = make_app(QRP_PLUGINS=None, SQLALCHEMY_DATABASE_URI=plugin_database)
    names = [plugin.name for plugin in registry(app).plugins]
    assert "hello" in names and set(builtin_plugins()) <= set(names)

    with app.app_context():
        upgrade(revision="heads")  # the plugin's own migration branch builds its table
        assert "hello_greetings" in inspect(database.engine).get_table_names()

        client = app.test_client()
        signup = client.post("/api/v1/auth/signup", json={
            "email": "plugin@example.com", "password": DEFAULT_PASSWORD, "name": "Pat"})
        assert signup.status_code == 201
        assert drain() >= 1  # workspace.created reaches the plugin's receiver

        token = client.post("/api/v1/auth/tokens", json={
            "email": "plugin@example.com", "password": DEFAULT_PASSWORD}).json["token"]
        greetings = client.get("/api/v1/hello/greetings",
                               headers={"Authorization": f"Bearer {token}"})
        assert greetings.status_code == 200
        assert [g["text"] for g in greetings.json] == ["Welcome to Pat's workspace!"]
        # Delivered again (a relay retry, a redelivery): the plugin's receiver does not rerun.
        row = database.session.scalar(
            select(OutboxEvent).where(OutboxEvent.type == "workspace.created"))
        assert deliver(Event.from_json(row.payload), "hello") is False
        assert len(client.get("/api/v1/hello/greetings",
                              headers={"Authorization": f"Bearer {token}"}).json) == 1

        spec = client.get("/api/openapi.json").json
        assert "/api/v1/hello/greetings" in spec["paths"]

        login = client.post("/login", data={"email": "plugin@example.com",
                                            "password": DEFAULT_PASSWORD,
                                            "csrf_token": csrf_token(client)})
        assert login.status_code == 302
        page = client.get("/hello").get_data(as_text=True)
        assert "Welcome to Pat&#39;s workspace!" in page
        assert 'href="/hello"' in page  # the nav entry, composed into base.html
        home = client.get("/dashboard").get_data(as_text=True)
        assert 'id="hello-card"' in home  # the plugin's card in the core's "home.cards" slot

        # Its block type joins the microsites builder and renders on a published page.
        bearer = {"Authorization": f"Bearer {token}"}
        types = client.get("/api/v1/microsites/block-types", headers=bearer).json
        assert "greeting" in [t["type"] for t in types]
        site = client.post("/api/v1/microsites", headers=bearer, json={
            "name": "Hello page", "blocks": [
                {"type": "heading", "text": "Hi"},
                {"type": "greeting", "text": "<b>Hello</b> from a plugin",
                 "url": "https://example.com/back"}]})
        assert site.status_code == 201, site.json
        refused = client.post("/api/v1/microsites", headers=bearer, json={
            "name": "Bad", "blocks": [{"type": "greeting", "text": "x",
                                       "url": "javascript:alert(1)"}]})
        assert refused.status_code == 422 and "blocks.0.url" in refused.json["error"]["fields"]
        client.post(f"/api/v1/microsites/{site.json['id']}/publish", headers=bearer)
        published = client.get(f"/m/{site.json['slug']}").get_data(as_text=True)
        assert 'class="hello-greeting"' in published
        assert "&lt;b&gt;Hello&lt;/b&gt; from a plugin" in published
        block_id = site.json["blocks"][1]["id"]
        assert client.get(f"/m/{site.json['slug']}/go/{block_id}.0").location == \
            "https://example.com/back"
