"""The scan redirect: the hottest path in the system.

``GET {SHORT_LINK_BASE_URL}/<short code>`` answers a redirect to the code's destination and
records one ``qr.scanned`` stream event. It never waits on the database or Kafka:

- the code is looked up in an in-process cache, in front of Redis, in front of the database;
  every process drops a changed code at once (Redis pub/sub; ``qrp_qr.linkcache``, on the
  core's ``qrplatform.cache``);
- the scan is handed to the stream buffer (``emit_stream``): a deque append;
- a scan cap is a per-code counter in Redis (INCR), or in-process without Redis.

On a workspace's custom domain (a WSGI layer of the domains plugin in front of this one sets
``qrplatform.hosts.WORKSPACE_ENVIRON``) only that workspace's codes resolve; anything else is
"not found", which the domain may answer its own way (``signals.public_page_missing``).

The common case (an active code without a password) is answered by ``ShortLinkMiddleware``,
a WSGI layer in front of Flask: no session, no CSRF, no tenant gateway, no template. Anything
else (a password form, an expired or paused code, an unknown code) falls through to the Flask
views below, which apply the same rules through the same ``decide`` function and render the
pages.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import random
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Flask, Response, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from qrp_qr import linkcache, payloads, services, smartlinks
from qrp_qr.linkcache import cache_for, counter_for
from qrplatform import events, hosts, metrics, privacy, signals, telemetry, useragents
from qrplatform.gateway import HSTS, request_id

log = logging.getLogger(__name__)

# Random short codes (8 letters and digits) and own slugs (``rules.SLUG``), aliases included.
SHORT_CODE = re.compile(r"^[A-Za-z0-9_-]{3,64}$")
CONTENT_TOKEN_AGE = 600      # seconds a password-unlocked content link stays valid
SCANS_METRIC = "qrp_scans_total"  # declared in plugin.py


# -- the rules ----------------------------------------------------------------------------------

def decide(app: Flask, entry: dict[str, Any], classification: str, *,
           unlocked: bool = False, counted: dict[str, int] | None = None) -> str:
    """The outcome of one visit: redirected, password_required, expired, paused, archived or
    cap_reached. A redirected human or bot visit counts towards the cap; HEAD requests and
    link previews do not (a chat app unfurling the link is not a scan). The scan's number,
    when it was counted, goes into ``counted["scan"]`` (first-N-scans rules read it)."""
    if entry["archived"]:
        return "archived"
    if entry["paused"]:
        return "paused"
    if entry["expires_at"] is not None and entry["expires_at"] <= time.time():
        return "expired"
    cap = entry["scan_cap"]
    counts = classification in (useragents.HUMAN, useragents.BOT)
    if cap is not None and not counts and counter_for(app).current(entry["id"]) >= cap:
        return "cap_reached"
    if entry["password"] and not unlocked:
        return "password_required"
    if cap is not None and counts:
        number = counter_for(app).increment(entry["id"])
        if counted is not None:
            counted["scan"] = number
        if number > cap:
            return "cap_reached"
    return "redirected"


def choose(app: Flask, entry: dict[str, Any], environ: dict, details: dict[str, str | None],
           classification: str, counted: dict[str, int]
           ) -> tuple[str, str | None, str | None, str | None]:
    """Where a redirected visit goes, by the code's rules and variants (``smartlinks``), from
    the cached entry alone: (target, rule id, variant id, visitor hash if worked out)."""
    if "rules" not in entry:  # no smart links: the common case costs one lookup
        return entry["target"], None, None, None
    counts = classification in (useragents.HUMAN, useragents.BOT)
    visitor: list[str] = []

    def scan_number() -> int:
        if "scan" not in counted:
            counter = counter_for(app)
            counted["scan"] = (counter.increment(entry["id"]) if counts
                               else counter.current(entry["id"]) + 1)
        return counted["scan"]

    def visitor_hash() -> str:
        if not visitor:
            visitor.append(privacy.visitor_hash(details["ip"], details["user_agent"],
                                                entry["id"], salt=privacy.daily_salt(app)))
        return visitor[0]

    visit = smartlinks.Visit(
        user_agent=details["user_agent"], country=details["country"],
        accept_language=details["accept_language"],
        query_string=environ.get("QUERY_STRING") or "", now=_now, scan_number=scan_number,
        visitor=visitor_hash)
    target, rule_id, variant_id = smartlinks.route(entry, visit)
    if counts and smartlinks.compiled(entry)[3]:
        scan_number()  # every counted scan moves a first-N rule's count, whichever rule won
    return target, rule_id, variant_id, (visitor[0] if visitor else None)


def _now() -> datetime:
    return datetime.now(UTC)


def _count_scan(app: Flask, outcome: str, classification: str) -> None:
    """qrp_scans_total, with each (outcome, classification) series looked up once per app."""
    series = app.extensions.setdefault("qr.scan_series", {})
    counter = series.get((outcome, classification))
    if counter is None:
        counter = series[outcome, classification] = metrics.metric(SCANS_METRIC, app).labels(
            outcome=outcome, classification=classification)
    counter.inc()


def record_scan(app: Flask, entry: dict[str, Any], *, method: str, user_agent: str | None,
                referrer: str | None, country: str | None, accept_language: str | None,
                ip: str, classification: str, reason: str | None, outcome: str,
                rule: str | None = None, variant: str | None = None,
                visitor_hash: str | None = None, via: str | None = None) -> None:
    """One qr.scanned stream event, naming the rule or variant that chose the destination;
    the raw IP never leaves this function."""
    _count_scan(app, outcome, classification)
    salt = privacy.daily_salt(app)
    user_agent = user_agent[:512] if user_agent else None
    data = {
        "code_id": entry["id"],
        "short_code": entry["short_code"],
        "method": "HEAD" if method == "HEAD" else "GET",
        "user_agent": user_agent,
        "referrer": referrer[:1024] if referrer else None,
        "country": smartlinks.country_of(country),
        "language": smartlinks.language_of(accept_language),
        "ip_hash": privacy.ip_hash(ip, salt),
        "visitor_hash": visitor_hash or privacy.visitor_hash(ip, user_agent, entry["id"],
                                                             salt=salt),
        "classification": classification,
        "reason": reason,
        "outcome": outcome,
        "rule": rule,
        "variant": variant,
    }
    if via:
        data["via"] = via  # sent here by another code's A/B variant (its conversion)
    if "rules" in entry and outcome == "redirected":
        data["routed"] = True  # the code has rules or variants (analytics counts its default)
    events.emit_stream("qr.scanned", data, workspace_id=entry["workspace_id"],
                       actor={"type": "anonymous"}, app=app)


# -- the fast path ------------------------------------------------------------------------------

class ShortLinkMiddleware:
    """Answers the plain redirect before Flask; passes everything else on.

    Its requests are logged as a sample (QR_REDIRECT_LOG_SAMPLE, a share of them: nginx logs
    every request already, and a line per scan would cost more than the scan), each line
    carrying its ``sample_rate``; every scan is counted in ``qrp_scans_total``.
    """

    def __init__(self, wsgi_app, app: Flask, prefix: str, log_sample: float = 0.0):
        self.wsgi_app = wsgi_app
        self.app = app
        self.prefix = prefix.rstrip("/") + "/"
        self.route = self.prefix + "<short_code>"
        self.log_sample = log_sample

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD") and path.startswith(self.prefix):
            short_code = path[len(self.prefix):]
            if SHORT_CODE.match(short_code):
                answered = self._try(environ, start_response, short_code, method)
                if answered is not None:
                    return answered
        return self.wsgi_app(environ, start_response)

    def _try(self, environ, start_response, short_code: str, method: str):
        started = time.perf_counter()
        try:
            entry = cache_for(self.app).get(short_code)
        except Exception:
            log.exception("short link lookup failed; falling back to the full stack")
            return None
        if entry is None or entry["password"] or not _serves_here(environ, entry):
            return None
        details = scan_details(self.app, environ)
        classification, reason = useragents.classify(method, details["user_agent"])
        counted: dict[str, int] = {}
        outcome = decide(self.app, entry, classification, counted=counted)
        if outcome != "redirected":
            # A page to show: the Flask view renders it (and records the scan).
            if outcome == "cap_reached":
                environ["qrp.qr.outcome"] = outcome  # already counted: do not count twice
            return None
        target, rule, variant, visitor = choose(self.app, entry, environ, details,
                                                classification, counted)
        record_scan(self.app, entry, method=method, classification=classification,
                    reason=reason, outcome=outcome, rule=rule, variant=variant,
                    visitor_hash=visitor, **details)
        if entry.get("app") and (fallback := smartlinks.app_target(entry, target)):
            body, headers = app_page(target, fallback)
            start_response("200 OK", headers)
            return [b"" if method == "HEAD" else body]
        status = entry["status"]
        start_response(f"{status} {_REASONS[status]}", [
            ("Location", target),
            ("Cache-Control", "private, max-age=0, no-store"),
            ("Referrer-Policy", "no-referrer-when-downgrade"),
            ("X-Content-Type-Options", "nosniff"),
            *((("Strict-Transport-Security", HSTS),)
              if environ.get("wsgi.url_scheme") == "https" else ()),
            ("Content-Length", "0"),
        ])
        if self.log_sample and random.random() < self.log_sample:
            telemetry.log_request(
                request_id=request_id(environ.get("HTTP_X_REQUEST_ID")), method=method,
                route=self.route, status=status, started=started,
                workspace_id=entry["workspace_id"], sample_rate=self.log_sample)
        return [b""]


def scan_details(app: Flask, environ: dict) -> dict[str, str | None]:
    """What a scan records from the request, the same on the fast path and through Flask.
    The country comes from the header the CDN sets (QRP_COUNTRY_HEADER), if any."""
    country_header = app.config.get("QRP_COUNTRY_HEADER")
    country_key = "HTTP_" + country_header.upper().replace("-", "_") if country_header else None
    return {
        "user_agent": environ.get("HTTP_USER_AGENT"),
        "referrer": environ.get("HTTP_REFERER"),
        "country": environ.get(country_key) if country_key else None,
        "accept_language": environ.get("HTTP_ACCEPT_LANGUAGE"),
        "ip": environ.get("REMOTE_ADDR") or "unknown",
        "via": smartlinks.via_of(environ.get("QUERY_STRING") or ""),
    }


# "Open in app" with an app's own scheme: try it, and if the page is still here after a
# moment (no app took over), go to the fallback. The script is fixed (allowed by its hash);
# the addresses travel in escaped attributes.
_APP_SCRIPT = ("var d=document.body.dataset;location.href=d.app;"
               "setTimeout(function(){location.replace(d.fallback)},1500);")
_APP_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width,initial-scale=1">'
    '<title>Opening the app</title></head><body data-app="{app}" data-fallback="{fallback}">'
    '<main><h1>Opening the app…</h1><p><a href="{app}">Open in the app</a></p>'
    '<p><a href="{fallback}">Continue without the app</a></p></main>'
    '<script>' + _APP_SCRIPT + '</script></body></html>')
_APP_CSP = ("default-src 'none'; script-src 'sha256-"
            + base64.b64encode(hashlib.sha256(_APP_SCRIPT.encode()).digest()).decode()
            + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def app_page(app_url: str, fallback: str) -> tuple[bytes, list[tuple[str, str]]]:
    """The page that opens an app by its own scheme, else goes to ``fallback``."""
    body = (_APP_PAGE.replace("{app}", html.escape(app_url, quote=True))
            .replace("{fallback}", html.escape(fallback, quote=True)).encode())
    return body, [("Content-Type", "text/html; charset=utf-8"),
                  ("Content-Length", str(len(body))),
                  ("Cache-Control", "private, max-age=0, no-store"),
                  ("Content-Security-Policy", _APP_CSP),
                  ("Referrer-Policy", "no-referrer"),
                  ("X-Content-Type-Options", "nosniff")]


_REASONS = {301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect",
            308: "Permanent Redirect", 303: "See Other"}


# -- the Flask views (pages, and the same rules when the fast path passes) ----------------------

PAGES = {
    "expired": (410, "This link has expired", "The QR code you scanned is no longer active."),
    "paused": (404, "This link is paused", "The owner paused this QR code for now. "
                                           "Try again later."),
    "archived": (410, "This link was removed", "The owner retired this QR code."),
    "cap_reached": (410, "This link reached its limit",
                    "The QR code was scanned as many times as its owner allowed."),
    "missing": (404, "No such link", "Check that the whole code was scanned."),
}


def _serves_here(environ: dict, entry: dict[str, Any]) -> bool:
    """On a workspace's custom domain only that workspace's codes resolve; on the platform's
    hosts, every code."""
    workspace_id = hosts.host_workspace(environ)
    return workspace_id is None or workspace_id == entry["workspace_id"]


def _entry_here(short_code: str) -> dict[str, Any] | None:
    """The code's redirect entry if it exists and may be served on this request's host."""
    if not SHORT_CODE.match(short_code):
        return None
    entry = cache_for(current_app._get_current_object()).get(short_code)
    return entry if entry is not None and _serves_here(request.environ, entry) else None


def _visit(short_code: str, *, unlocked: bool = False, password_error: str | None = None):
    app = current_app._get_current_object()
    entry = _entry_here(short_code)
    if entry is None:
        return _page("missing")
    method = "HEAD" if request.method == "HEAD" else "GET"
    details = scan_details(app, request.environ)
    classification, reason = useragents.classify(method, details["user_agent"])
    counted: dict[str, int] = {}
    outcome = request.environ.get("qrp.qr.outcome") or decide(
        app, entry, classification, unlocked=unlocked, counted=counted)
    target, rule, variant, visitor = (
        choose(app, entry, request.environ, details, classification, counted)
        if outcome == "redirected" else (entry["target"], None, None, None))
    if not (password_error and outcome == "password_required"):
        record_scan(app, entry, method=method, classification=classification,
                    reason=reason, outcome=outcome, rule=rule, variant=variant,
                    visitor_hash=visitor, **details)
    if outcome == "redirected" and entry.get("app") and (
            fallback := smartlinks.app_target(entry, target)):
        body, headers = app_page(target, fallback)
        return Response(body, status=200, headers=headers)
    if outcome == "redirected":
        if unlocked and target.endswith(f"/{entry['short_code']}/c"):
            target += "?t=" + _content_serializer(app).dumps(entry["short_code"])
        # After a POST (the password form) a 303 makes the browser GET the destination.
        status = 303 if request.method == "POST" else entry["status"]
        response = Response(status=status, headers={"Location": target})
        response.headers["Cache-Control"] = "private, max-age=0, no-store"
        return response
    if outcome == "password_required":
        response = Response(render_template("qr/link_password.html", short_code=short_code,
                                            error=password_error),
                            status=401 if password_error else 200)
        response.headers["Cache-Control"] = "private, no-store"
        return response
    return _page(outcome)


def _page(outcome: str):
    if outcome == "missing":
        # A custom domain may answer its own "not found" (its 404 URL or branded page).
        answer = signals.first_answer(signals.public_page_missing,
                                      current_app._get_current_object(), request=request)
        if answer is not None:
            return answer
    status, title, message = PAGES[outcome]
    response = Response(render_template("qr/link_unavailable.html", title=title,
                                        message=message), status=status)
    response.headers["Cache-Control"] = "private, max-age=0, no-store"
    return response


def follow(short_code: str):
    return _visit(short_code)


def unlock(short_code: str):
    password = request.form.get("password", "")
    if _entry_here(short_code) is None:
        return _page("missing")
    if services.check_code_password(short_code, password):
        return _visit(short_code, unlocked=True)
    return _visit(short_code, password_error="That password is not right.")


def _content_serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="qr-link-content")


def content(short_code: str):
    """What a dynamic text, vCard or event code's link serves (the scan was counted already)."""
    app = current_app._get_current_object()
    entry = _entry_here(short_code)
    if entry is None:
        return _page("missing")
    for outcome in ("archived", "paused"):
        if entry[outcome]:
            return _page(outcome)
    if entry["expires_at"] is not None and entry["expires_at"] <= time.time():
        return _page("expired")
    if entry["password"]:
        try:
            token = _content_serializer(app).loads(request.args.get("t", ""),
                                                   max_age=CONTENT_TOKEN_AGE)
        except BadSignature:
            token = None
        if token != short_code:
            return Response(status=303, headers={"Location": request.path.rsplit("/", 1)[0]})
    qr_type, data, code_id = services.served_content(short_code)
    if qr_type == "vcard" and request.args.get("download") == "1":
        body = payloads.encode("vcard", data) + "\r\n"
        filename = quote((payloads.summary("vcard", data) or "contact").replace(" ", "_"))
        return Response(body, mimetype="text/vcard", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}.vcf"})
    if qr_type == "vcard":
        # A page first, as a person expects after scanning a business card: the details as
        # links to tap, and "Save contact" for the .vcf (the same link, unlocked the same way).
        download = request.path + "?" + urlencode(
            {"download": "1", **({"t": request.args["t"]} if entry["password"] else {})})
        response = Response(render_template(
            "qr/link_contact.html", contact=data, download_url=download,
            name=payloads.summary("vcard", data), phone_uri=payloads.phone_uri,
            map_url=payloads.map_search_url))
        response.headers["Cache-Control"] = "private, max-age=0, no-store"
        return response
    if qr_type == "event":
        body = payloads.calendar_file(data, uid=f"qr-{code_id}@qrplatform")
        return Response(body, mimetype="text/calendar", headers={
            "Content-Disposition": "attachment; filename=event.ics"})
    if qr_type == "text":
        return render_template("qr/link_text.html", text=data["text"])
    # A plugin-added type whose target is gone (its link has nothing else to show).
    return _page("missing")


def link_path_prefix(app: Flask) -> str:
    from urllib.parse import urlsplit

    return urlsplit(app.config["SHORT_LINK_BASE_URL"]).path.rstrip("/")


def short_link_middleware(app: Flask, wsgi_app):
    """The fast path in front of Flask (Plugin.wsgi_middleware); QR_REDIRECT_FAST_PATH=0 sends
    every scan through Flask instead."""
    if not app.config["QR_REDIRECT_FAST_PATH"]:
        return wsgi_app
    log_sample = float(app.config["QR_REDIRECT_LOG_SAMPLE"])
    if not 0.0 <= log_sample <= 1.0:
        raise ValueError(f"QR_REDIRECT_LOG_SAMPLE is the share of scan redirects to log, from 0 "
                         f"(none) to 1 (all); got {log_sample}")
    return ShortLinkMiddleware(wsgi_app, app, link_path_prefix(app), log_sample)


CODE_PASSWORD_LIMIT = "5 per minute; 30 per hour"


def _code_key() -> str:
    return f"qr-code:{request.view_args.get('short_code')}"


def init_app(app: Flask) -> None:
    """Mount the short links at SHORT_LINK_BASE_URL's path, with the fast path in front."""
    from qrplatform.extensions import csrf
    from qrplatform.gateway import apply_rate_limits
    from qrplatform.plugins import RateLimit

    linkcache.init_app(app, services.redirect_entry)
    privacy.init_app(app)
    prefix = link_path_prefix(app)
    links = Blueprint("qr_short_links", __name__, template_folder="templates")
    links.add_url_rule("/<short_code>", "follow", follow, methods=["GET", "HEAD"])
    links.add_url_rule("/<short_code>", "unlock", unlock, methods=["POST"])
    links.add_url_rule("/<short_code>/c", "content", content, methods=["GET"])
    # No CSRF on the password form: it changes nothing and is rate limited instead.
    csrf.exempt(links)
    app.register_blueprint(links, url_prefix=prefix or None)
    # Scans are anonymous and plentiful: no per-IP plan limit (a venue's Wi-Fi is one IP).
    # Guessing a password is what must stay slow.
    apply_rate_limits(app, {
        "qr_short_links.follow": RateLimit.exempt(),
        "qr_short_links.content": RateLimit.exempt(),
        "qr_short_links.unlock": (
            RateLimit("10 per minute", methods=("POST",)),
            # Wrong passwords for one code, from any number of addresses.
            RateLimit(CODE_PASSWORD_LIMIT, methods=("POST",), key=_code_key,
                      failures_only=True)),
    })
