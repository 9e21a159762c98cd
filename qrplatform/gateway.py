"""The tenant gateway: what every request passes through before and after its view.

request id → tenant context (session user, Bearer API token, or a plugin resolving the Host)
→ rate limit (flask-limiter; keyed by workspace, else client IP; limits from the plan)
→ input limits (body size, JSON nesting, NUL bytes: qrplatform.inputs)
→ view → security headers on the response.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request, session
from flask_limiter import Limiter
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from qrplatform import inputs, metrics, quotas, signals
from qrplatform.auth import services as auth
from qrplatform.auth.models import Workspace
from qrplatform.errors import api_error, is_api_request
from qrplatform.extensions import db
from qrplatform.plugins import Metric, Quota, RateLimit
from qrplatform.tenancy import set_scope

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
# Endpoints that are never throttled: probes and stored files.
UNTHROTTLED_ENDPOINTS = ("files.serve_file", "health.healthz", "health.readyz")


def client_ip() -> str:
    """The caller's address; X-Forwarded-For counts only through the configured proxy hops."""
    return request.remote_addr or "unknown"


def rate_limit_key() -> str:
    workspace = g.get("workspace")
    if workspace is not None and g.get("user") is not None:
        return f"ws:{workspace.id}"
    return f"ip:{client_ip()}"


# The API rate limit is a plan quota like any other (declared by the core), so the usage page
# shows it and billing changes it by changing the plan.
RATE_LIMIT_QUOTA = "api.requests_per_minute"
CORE_QUOTAS = {RATE_LIMIT_QUOTA: Quota(
    {"free": 120, "pro": 600, "business": 3000, "enterprise": 10_000},
    "API requests a minute", unit="per minute")}


def plan_rate_limit() -> str:
    limits = current_app.config["QRP_RATE_LIMITS"]
    workspace = g.get("workspace")
    if workspace is None or g.get("user") is None:
        return limits["anonymous"]
    if workspace.plan in limits:
        return limits[workspace.plan]
    return f"{quotas.limit(RATE_LIMIT_QUOTA, workspace.plan)} per minute"


HSTS = "max-age=63072000; includeSubDomains"
# Wrong passwords for one account, from any address: each step waits longer.
ACCOUNT_BACKOFF = "5 per minute; 20 per hour; 100 per day"


def account_key() -> str:
    """The account a password check is about (the e-mail in the form or JSON), hashed."""
    try:
        body = request.get_json(silent=True) if request.is_json else request.form
    except RecursionError:  # nested too deep: the input check answers it
        body = None
    email = body.get("email") if isinstance(body, Mapping) else None
    email = email.strip().lower() if isinstance(email, str) else ""
    return "account:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def _password_check(per_ip: str) -> tuple[RateLimit, RateLimit]:
    return (RateLimit(per_ip, methods=("POST",)),
            RateLimit(ACCOUNT_BACKOFF, methods=("POST",), key=account_key, failures_only=True))


# Routes with a limit of their own; plugins add theirs with Plugin.rate_limits.
CORE_RATE_LIMITS = {
    "account.login": _password_check("10 per minute"),
    "auth.create_token": _password_check("10 per minute"),
    "account.signup": RateLimit("20 per hour", methods=("POST",)),
    "auth.signup": RateLimit("20 per hour", methods=("POST",)),
    "account.forgot_password": RateLimit("5 per minute", methods=("POST",)),
    "auth.request_password_reset": RateLimit("5 per minute", methods=("POST",)),
    "account.reset_password": RateLimit("10 per minute", methods=("POST",)),
    "auth.reset_password": RateLimit("10 per minute", methods=("POST",)),
    # Changing the password checks the current one: a borrowed session must not guess it.
    "account.account_settings": RateLimit("10 per minute", methods=("POST",)),
    "auth.change_password": RateLimit("10 per minute", methods=("POST",)),
    **{endpoint: RateLimit.exempt() for endpoint in UNTHROTTLED_ENDPOINTS},
}


def _rate_limited(request_limit) -> None:
    """A limit said no: one ``gateway.rate_limited`` stream event (no database write, so a
    flood of refused requests costs a deque append each)."""
    from qrplatform import events

    workspace = g.get("workspace") if g.get("user") is not None else None
    events.emit_stream("gateway.rate_limited", {
        "endpoint": request.endpoint, "limit": str(request_limit.limit),
        "scope": "workspace" if workspace is not None else "anonymous",
    }, workspace_id=workspace.id if workspace is not None else None)


RATE_LIMIT_HITS = Metric("qrp_rate_limit_hits_total",
                         "Requests refused with 429 by a rate limit", ("route", "scope"))


def _count_rate_limit_hit(response):
    if response.status_code == 429:
        scope = "workspace" if rate_limit_key().startswith("ws:") else "anonymous"
        metrics.metric(RATE_LIMIT_HITS.name).labels(route=metrics.route(request),
                                                   scope=scope).inc()
    return response


def _unthrottled() -> bool:
    return request.endpoint is None or request.endpoint == "static"


def create_limiter(app: Flask) -> Limiter:
    """One limiter per app: flask-limiter keeps its storage on the instance."""
    # Shared counters in Redis when there is one, so every worker enforces the same limit.
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    limiter = Limiter(key_func=rate_limit_key, default_limits=[plan_rate_limit],
                      headers_enabled=True, key_prefix="qrp-rl", on_breach=_rate_limited)
    limiter.request_filter(_unthrottled)
    limiter.init_app(app)
    # After the limiter's own check: a refused Bearer token still counts against the IP, and
    # a flood is refused before its input is read.
    app.before_request(_refuse_invalid_bearer)
    app.before_request(inputs.check_request)
    app.extensions["qrp.limiter"] = limiter
    apply_rate_limits(app, CORE_RATE_LIMITS)
    return limiter


def _failed(response) -> bool:
    return response.status_code >= 400


def apply_rate_limits(app: Flask,
                      limits: Mapping[str, RateLimit | tuple[RateLimit, ...]]) -> None:
    """Wrap each named view with its own limits (or exemption) on this app's limiter."""
    limiter: Limiter = app.extensions["qrp.limiter"]
    for endpoint, declared in limits.items():
        view = app.view_functions.get(endpoint)
        if view is None:
            raise KeyError(f"rate limit for unknown endpoint {endpoint!r}")
        for rate_limit in declared if isinstance(declared, tuple) else (declared,):
            if rate_limit.limit is None:
                view = limiter.exempt(view)
                continue
            view = limiter.limit(
                rate_limit.limit,
                methods=list(rate_limit.methods) if rate_limit.methods else None,
                key_func=rate_limit.key,
                deduct_when=_failed if rate_limit.failures_only else None)(view)
        app.view_functions[endpoint] = view


def request_id(incoming: str | None) -> str:
    """The request's id: the proxy's X-Request-ID when it is a sane one, else a new one."""
    return incoming if incoming and REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _assign_request_id() -> None:
    g.request_id = request_id(request.headers.get("X-Request-ID"))
    g.csp_nonce = secrets.token_urlsafe(16)


def _resolve_tenant():
    g.user = g.workspace = g.api_token = g.role = None
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        identity = auth.token_identity(header[7:].strip())
        if identity is None:
            g.invalid_bearer = True  # refused once the IP's limit has counted it
            set_scope(None)
            return None
        g.user, g.api_token = identity
        g.workspace = db.session.get(Workspace, g.api_token.workspace_id)
    elif not is_api_request() and current_user.is_authenticated:
        g.user = current_user._get_current_object()
        g.workspace = _session_workspace(g.user)
    if g.user is not None and g.workspace is not None:
        g.role = auth.member_role(g.user, g.workspace.id)
    signals.tenant_resolved.send(current_app._get_current_object(), request=request)
    set_scope(g.workspace.id if g.workspace is not None else None)
    return None


def _refuse_invalid_bearer():
    if g.get("invalid_bearer"):
        return api_error(401, "The API token is missing, revoked or not valid.",
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return None


def _session_workspace(user) -> Workspace | None:
    wanted = session.get("workspace_id")
    if wanted is None or user.membership(wanted) is None:
        wanted = user.personal_workspace_id
        session["workspace_id"] = wanted
    return db.session.get(Workspace, wanted) if wanted is not None else None


def _clear_scope(_exc=None) -> None:
    set_scope(None)


def allow_form_target(url: str) -> None:
    """Let this page's forms lead to ``url``'s site (a payment page reached by the redirect
    after a POST); otherwise the CSP's form-action keeps every form on this site."""
    origin = _origin(url)
    if origin:
        g.setdefault("csp_form_targets", set()).add(origin)


def _content_security_policy(nonce: str) -> str:
    image_sources = " ".join(current_app.extensions["qrp.gateway.image_origins"])
    form_targets = " ".join(sorted(g.get("csp_form_targets", ())))
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        # Inline style attributes come from htmx swaps and Chart.js; scripts stay nonce-only.
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob: {image_sources}".rstrip(),
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        f"form-action 'self' {form_targets}".rstrip(),
        "frame-ancestors 'none'",
    ])


def _security_headers(response):
    headers = response.headers
    headers["X-Request-ID"] = g.get("request_id", "")
    if response.status_code < 400:
        headers.pop("Retry-After", None)  # flask-limiter sends it on every response
    nonce = g.get("csp_nonce")
    if nonce and "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = _content_security_policy(nonce)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy",
                       "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if is_api_request():
        headers.setdefault("Cache-Control", "no-store")
    _ietf_rate_limit_headers(headers)
    return response


def _ietf_rate_limit_headers(headers) -> None:
    """The IETF ``RateLimit-Policy`` and ``RateLimit`` fields beside flask-limiter's
    X-RateLimit-* (draft-ietf-httpapi-ratelimit-headers): quota, window, remaining, reset."""
    limiter = current_app.extensions.get("qrp.limiter")
    current = limiter.current_limit if limiter is not None and limiter.enabled else None
    if current is None:
        return
    window = current.limit.get_expiry()
    reset = max(0, int(current.reset_at - time.time()))
    headers["RateLimit-Policy"] = f'"default";q={current.limit.amount};w={window}'
    headers["RateLimit"] = f'"default";r={max(0, current.remaining)};t={reset}'


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def build_wsgi_stack(app: Flask, middleware: Sequence[Callable]) -> None:
    """Wrap Flask in ``middleware`` (each ``factory(app, wsgi_app) -> wsgi_app``, innermost
    first), then ProxyFix outermost: every layer sees the client's own address and scheme,
    trusted through exactly ``QRP_PROXY_HOPS`` proxies."""
    wsgi_app = app.wsgi_app
    for wrap in middleware:
        wsgi_app = wrap(app, wsgi_app)
    hops = app.config["QRP_PROXY_HOPS"]
    if hops:
        wsgi_app = ProxyFix(wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops,
                            x_prefix=0)
    app.wsgi_app = wsgi_app


def init_app(app: Flask) -> None:
    app.extensions["qrp.gateway.image_origins"] = sorted(
        {o for o in (_origin(app.config.get("CDN_BASE_URL")),
                     _origin(app.config.get("S3_ENDPOINT_URL"))) if o}
    )
    # Order matters: the request id and the tenant are known before the rate limit runs.
    app.before_request(_assign_request_id)
    app.before_request(_resolve_tenant)
    app.after_request(_security_headers)
    app.after_request(_count_rate_limit_hit)
    app.teardown_request(_clear_scope)
