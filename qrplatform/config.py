"""Settings: 12-factor environment variables, each unset one selecting the embedded default.

DESIGN.md lists the names. ``load_settings`` turns the environment into Flask config keys; a
test passes overrides to ``create_app(test_config)`` instead of touching os.environ.
"""

import math
import os
import secrets
from pathlib import Path

# Every backend variable DESIGN.md names. Unset means "use the embedded default".
BACKEND_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "S3_ENDPOINT_URL",
    "S3_BUCKET",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "S3_REGION",
    "CDN_BASE_URL",
    "PUBLIC_BASE_URL",
    "SHORT_LINK_BASE_URL",
    "SENTRY_DSN",
    "MIXPANEL_TOKEN",
    "MIXPANEL_API_HOST",
    "CLOUDWATCH_LOG_GROUP",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "SENDGRID_API_KEY",
    "SENDGRID_HOST",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "TWILIO_API_BASE",
)

# Requests per minute of anonymous callers (keyed by client IP). A workspace's line is its plan's
# quota api.requests_per_minute (qrplatform.gateway); a plan named here overrides it.
DEFAULT_RATE_LIMITS = {"anonymous": "60 per minute"}


# A managed Kafka's TLS and SASL settings: environment name -> kafka-python client option.
KAFKA_SECURITY_VARIABLES = {
    "KAFKA_SECURITY_PROTOCOL": "security_protocol",  # PLAINTEXT, SSL, SASL_SSL, SASL_PLAINTEXT
    "KAFKA_SASL_MECHANISM": "sasl_mechanism",  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    "KAFKA_SASL_USERNAME": "sasl_plain_username",
    "KAFKA_SASL_PASSWORD": "sasl_plain_password",
    "KAFKA_SSL_CAFILE": "ssl_cafile",
}

# Tuning knobs: read from the environment when set, otherwise the code's own defaults apply.
TUNING_VARIABLES = {
    "QRP_KAFKA_TIMEOUT_MS": int,
    "QRP_KAFKA_PARTITIONS": int,
    "QRP_KAFKA_REPLICATION_FACTOR": int,
    "QRP_KAFKA_GROUP_PREFIX": str,
    "QRP_KAFKA_SESSION_TIMEOUT_MS": int,
    "QRP_KAFKA_ONCE_TIMEOUT": float,
    "QRP_EVENTS_MAX_ATTEMPTS": int,
    "QRP_STREAM_FLUSH_INTERVAL": float,
    "QRP_STREAM_SEND_TIMEOUT_MS": int,
    "QRP_STREAM_RETRY_AFTER": float,
    "QRP_STREAM_MAX_POLL_RECORDS": int,
    "QRP_STREAM_MAX_PARTITION_FETCH_BYTES": int,
    "QRP_STREAM_FETCH_MIN_BYTES": int,
    "QRP_STREAM_FETCH_MAX_WAIT_MS": int,
    "QRP_STREAM_BATCH_BYTES": int,
    "QRP_STREAM_SPOOL_KEY": str,
    "QRP_STREAM_SPOOL_PATH": str,
    # Webhooks (qrplatform.webhooks.services has the defaults).
    "QRP_WEBHOOK_TIMEOUT": float,
    "QRP_WEBHOOK_BATCH_WINDOW": float,
    "QRP_WEBHOOK_BATCH_MAX": int,
    "QRP_WEBHOOK_LOG_DAYS": int,
    "QRP_WEBHOOK_SECRET_OVERLAP": float,
}


def _env_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def plugin_setting(name: str, default):
    """A plugin's setting (Plugin.settings): the environment variable ``name`` when set, cast
    like ``default``; else the default."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(default, bool):
        return _env_bool(raw, default)
    if isinstance(default, int | float):
        return _number(name, raw, type(default))
    return type(default)(raw) if default is not None else raw


def _env_list(value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _number(name: str, raw: str, kind: type, maximum: float | None = None) -> int | float:
    """``raw`` as an int or float, or a ValueError naming the variable. Every numeric setting
    is a count, a size, a duration or a share: none is negative."""
    what = "a whole number" if kind is int else "a number"
    try:
        value = kind(raw.strip())
    except ValueError:
        raise ValueError(f"{name} is {raw!r}: give {what}") from None
    if not math.isfinite(value) or value < 0 or (maximum is not None and value > maximum):
        limit = f"from 0 to {maximum:g}" if maximum is not None else "0 or more"
        raise ValueError(f"{name} is {raw!r}: give {what} {limit}")
    return value


def _env_number(name: str, default: int | float, maximum: float | None = None) -> int | float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return _number(name, raw, type(default), maximum)


def _env_numbers(name: str, kind: type) -> list | None:
    """A comma-separated list of numbers (retry schedules); unset: None."""
    raw = os.environ.get(name)
    try:
        return [_number(name, item, kind) for item in _env_list(raw) or []] or None
    except ValueError:
        what = "whole numbers" if kind is int else "numbers"
        raise ValueError(f"{name} is {raw!r}: give {what} of 0 or more, separated by commas "
                         "(5,30,120)") from None


def normalise_database_url(url: str) -> str:
    """Point plain postgres URLs at psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept under instance/."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def load_settings(instance_path: str) -> dict:
    env = os.environ
    instance = Path(instance_path)
    settings = {name: env.get(name) or None for name in BACKEND_VARIABLES}
    settings.update(
        SECRET_KEY=_secret_key(instance),
        SQLALCHEMY_DATABASE_URI=normalise_database_url(
            env.get("DATABASE_URL") or f"sqlite:///{instance / 'qrplatform.db'}"
        ),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        # Unset: the address each request reached (the embedded setup; hosts.public_base_url).
        PUBLIC_BASE_URL=(env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        S3_REGION=env.get("S3_REGION") or "us-east-1",
        # Unset: every installed plugin; empty: none (safe mode, the bare core).
        QRP_PLUGINS=None if env.get("QRP_PLUGINS") is None else _env_list(env["QRP_PLUGINS"])
        or [],
        QRP_ENVIRONMENT=env.get("QRP_ENVIRONMENT") or "development",
        # Requests to addresses people give (qrplatform.netguard): https only in production;
        # private networks reachable anyway (comma-separated CIDRs; none by default).
        QRP_NETGUARD_REQUIRE_HTTPS=_env_bool(env.get("QRP_NETGUARD_REQUIRE_HTTPS"),
                                             env.get("QRP_ENVIRONMENT") == "production"),
        QRP_NETGUARD_ALLOW_NETWORKS=_env_list(env.get("QRP_NETGUARD_ALLOW_NETWORKS")) or [],
        # How many reverse proxies in front of us may set X-Forwarded-*; 0 trusts none.
        QRP_PROXY_HOPS=_env_number("QRP_PROXY_HOPS", 0),
        # The header in which the CDN in front of us sends the visitor's country (Cloudflare's
        # by default); set it empty when no CDN sets one, so a client cannot claim a country.
        QRP_COUNTRY_HEADER=env.get("QRP_COUNTRY_HEADER", "CF-IPCountry"),
        QRP_RATE_LIMITS=dict(DEFAULT_RATE_LIMITS),
        QRP_STORAGE_DIR=env.get("QRP_STORAGE_DIR") or str(instance / "storage"),
        QRP_JOBS_INLINE=_env_bool(env.get("QRP_JOBS_INLINE"), False),
        # The CPU priority (Unix niceness) the long-running relay, consumers, job workers,
        # scheduler and stream receiver give themselves (qrplatform.processes).
        QRP_BACKGROUND_NICE=_env_number("QRP_BACKGROUND_NICE", 19, maximum=19),
        # No broker, a preloading server (gunicorn.conf.py): the web workers hand scans and page
        # views to one process of the server's, at that priority (qrplatform.events.receiver);
        # 0 keeps that work in the workers' flush threads.
        QRP_STREAM_RECEIVER=_env_bool(env.get("QRP_STREAM_RECEIVER"), True),
        # Seconds before each retry of a job that is safe to repeat, e.g. "5,30,120,600".
        QRP_JOBS_RETRY_BACKOFF=_env_numbers("QRP_JOBS_RETRY_BACKOFF", int),
        # Seconds a webhook delivery waits after each failed attempt, e.g. "5,300,1800";
        # unset: about a day in all (qrplatform.webhooks.services.DEFAULT_RETRY_SCHEDULE).
        QRP_WEBHOOK_RETRY_SCHEDULE=_env_numbers("QRP_WEBHOOK_RETRY_SCHEDULE", float),
        # Fernet keys for secrets at rest, newest first (qrplatform.encryption).
        QRP_ENCRYPTION_KEYS=_env_list(env.get("QRP_ENCRYPTION_KEYS")),
        # The verified sender SendGrid sends from.
        QRP_MAIL_FROM=env.get("QRP_MAIL_FROM") or None,
        # The DNS servers to ask ("ip[:port]", comma-separated) when the platform checks records
        # (custom domains); unset: the system's resolver.
        QRP_DNS_RESOLVER=env.get("QRP_DNS_RESOLVER") or None,
        QRP_LOG_LEVEL=env.get("QRP_LOG_LEVEL") or "INFO",
        # Observability (docs/deploy.md). What is deployed: Sentry's release, a log field.
        QRP_RELEASE=env.get("QRP_RELEASE") or None,
        SENTRY_TRACES_SAMPLE_RATE=_env_number("SENTRY_TRACES_SAMPLE_RATE", 0.0, maximum=1),
        # /metrics answers callers from these networks, or with `Authorization: Bearer <token>`.
        QRP_METRICS_TOKEN=env.get("QRP_METRICS_TOKEN") or None,
        QRP_METRICS_ALLOWED_NETWORKS=_env_list(env.get("QRP_METRICS_ALLOWED_NETWORKS"))
        or ["127.0.0.1/32", "::1/128"],
        # Seconds between Kafka consumer-lag measurements (each one asks the broker).
        QRP_METRICS_KAFKA_LAG_INTERVAL=_env_number("QRP_METRICS_KAFKA_LAG_INTERVAL", 15.0),
        # Scans (and rate-limit hits) reach Mixpanel as one event per workspace per window.
        QRP_MIXPANEL_SCAN_WINDOW=_env_number("QRP_MIXPANEL_SCAN_WINDOW", 60.0),
        # Seconds between sends of buffered Mixpanel events; 0 sends only on flush() and exit.
        QRP_MIXPANEL_FLUSH_INTERVAL=_env_number("QRP_MIXPANEL_FLUSH_INTERVAL", 10.0),
        QRP_CLOUDWATCH_STREAM=env.get("QRP_CLOUDWATCH_STREAM")
        or "{machine_name}/{program_name}/{process_id}",
        QRP_CLOUDWATCH_REGION=env.get("QRP_CLOUDWATCH_REGION") or None,
        # Another CloudWatch Logs endpoint (LocalStack, moto in tests); unset: AWS itself.
        QRP_CLOUDWATCH_ENDPOINT_URL=env.get("QRP_CLOUDWATCH_ENDPOINT_URL") or None,
        QRP_CLOUDWATCH_SEND_INTERVAL=_env_number("QRP_CLOUDWATCH_SEND_INTERVAL", 10.0),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=_env_bool(env.get("SESSION_COOKIE_SECURE"), False),
        # Days a "keep me signed in" cookie lasts; it carries the session cookie's flags.
        QRP_REMEMBER_DAYS=_env_number("QRP_REMEMBER_DAYS", 30.0),
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
        # A route's body cap unless it declares its own (qrplatform.inputs.max_body).
        QRP_MAX_BODY_BYTES=256 * 1024,
        # flask-smorest: the document at /api/openapi.json; the docs page is our own (offline).
        API_TITLE="QR Platform API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
    )
    settings.update({name: env[name] if kind is str else _number(name, env[name], kind)
                     for name, kind in TUNING_VARIABLES.items() if env.get(name)})
    settings.update({name: env[name] for name in KAFKA_SECURITY_VARIABLES if env.get(name)})
    # Unset: the plugin serving short links picks its path under PUBLIC_BASE_URL.
    settings["SHORT_LINK_BASE_URL"] = (env.get("SHORT_LINK_BASE_URL") or "").rstrip("/") or None
    return settings
