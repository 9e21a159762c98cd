"""Shared by the analytics benchmarks: a fresh PostgreSQL database with the schema, an app on
it, a workspace, and realistic scan events."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_analytics"
AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) CriOS/124.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
]
BOTS = [("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot",
         "Googlebot"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "preview", "Slackbot"),
        ("WhatsApp/2.23.20.0 A", "preview", "WhatsApp")]
COUNTRIES = ["DE", "FR", "US", "GB", "NL", "ES", "IT", "PL", "SE", None]
LANGUAGES = ["de", "fr", "en", "nl", "es", "it", "pl", "sv", None]
REFERRERS = [None, None, None, "https://t.co/x", "https://www.instagram.com/",
             "https://news.example/a", "android-app://com.google.android.gm/"]


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL


def fresh_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')


def make_bench_app(fresh: bool = True, **config):
    """An app on the bench database, schema built from the migrations (a new database unless
    ``fresh`` is false)."""
    from flask_migrate import upgrade

    from qrplatform import create_app
    from qrplatform.testing.pytest_plugin import base_test_config

    url = database_url()
    if fresh:
        fresh_database(url)
    app = create_app({**base_test_config(url, "/tmp/qrp-bench-storage", None),
                      # A production app: every plugin, and argon2's recommended parameters
                      # (a test app's cheap ones are refused without TESTING).
                      "QRP_PLUGINS": None, "TESTING": False,
                      "QRP_CHEAP_PASSWORD_HASHES": False, **config})
    with app.app_context():
        upgrade(revision="heads")
    return app


def make_workspace(app) -> int:
    from qrplatform.auth import services

    with app.app_context():
        _user, workspace = services.signup(f"bench-{uuid.uuid4().hex[:6]}@example.com",
                                           "a long password", "Bench")
        return workspace.id


def scan_events(workspace_ids: Sequence[int], count: int, codes: int, start: datetime,
                span: timedelta, seed: int = 1):
    """``count`` qr.scanned events over ``span`` from ``start``, on ``codes`` code ids shared
    out among the workspaces (each code belongs to one of them)."""
    from qrplatform.events import Event

    rng = random.Random(seed)
    step = span / max(count, 1)
    for i in range(count):
        when = start + step * i
        code_id = 1 + int(rng.paretovariate(1.2)) % codes
        workspace_id = workspace_ids[code_id % len(workspace_ids)]
        if rng.random() < 0.08:
            agent, classification, reason = rng.choice(BOTS)
        else:
            agent, classification, reason = rng.choice(AGENTS), "human", None
        visitor = rng.randrange(count // 3 + 1)
        yield Event(type="qr.scanned", workspace_id=workspace_id, occurred_at=when.isoformat(),
                    actor={"type": "anonymous"}, data={
                        "code_id": code_id, "short_code": f"c{code_id:07d}", "method": "GET",
                        "user_agent": agent, "referrer": rng.choice(REFERRERS),
                        "country": rng.choice(COUNTRIES), "language": rng.choice(LANGUAGES),
                        "ip_hash": f"{visitor:064x}", "visitor_hash": f"{visitor:064x}",
                        "classification": classification, "reason": reason,
                        "outcome": "redirected"})
