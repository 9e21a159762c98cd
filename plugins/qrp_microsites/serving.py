"""Serving published pages: the HTML rendered at publish time, from the cache, never rendered
again per view.

``GET /m/<slug>`` is answered by ``PageMiddleware``, a WSGI layer in front of Flask (no
session, no tenant gateway, no template): the entry comes from an in-process cache in front of
Redis in front of the database (``qrplatform.cache.TieredCache``; every process forgets a page
when it is published again or unpublished), the view is handed to the stream buffer
(``microsites.viewed``: a deque append, no database write), and the page goes out with a strict
CSP (no inline script or style; only our own files, pictures from the asset CDN, the video
players after a click). Everything else under ``/m/<slug>/`` goes through Flask below: a
password-protected page (its form, then a signed cookie), the page's stylesheet, a block's
click (``go``: counted, then redirected to the target fixed at publish time), a block's file
(a vCard), a contact form's post. A custom domain's root shows the page set for it
(``signals.custom_domain_root``); on a custom domain only its workspace's pages are served.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
)
from itsdangerous import BadSignature, URLSafeTimedSerializer

from qrp_microsites import pagecache, services
from qrp_qr import smartlinks
from qrplatform import events, hosts, privacy, signals, useragents
from qrplatform.errors import ServiceError
from qrplatform.gateway import HSTS

log = logging.getLogger(__name__)

SLUG_PATH = re.compile(r"^/m/([a-z0-9][a-z0-9-]{1,62}[a-z0-9])/?$")
UNLOCK_AGE = 12 * 3600
VIDEO_PLAYERS = "https://www.youtube-nocookie.com https://player.vimeo.com"


def init_app(app: Flask) -> None:
    pagecache.init_app(app, services.published_entry, services.domain_slug)


def content_security_policy(app: Flask) -> str:
    images = " ".join(app.extensions.get("qrp.gateway.image_origins", ()))
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: {images}".rstrip(),
        "font-src 'self'",
        f"frame-src {VIDEO_PLAYERS}",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ])


def _policy(app: Flask) -> str:
    found = app.extensions.get("microsites.csp")
    if found is None:
        found = app.extensions["microsites.csp"] = content_security_policy(app)
    return found


def page_headers(app: Flask, entry: dict[str, Any], https: bool, *,
                 private: bool = False) -> list[tuple[str, str]]:
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Security-Policy", _policy(app)),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
        ("Cache-Control", "private, no-store" if private else "public, max-age=0, "
                                                               "must-revalidate"),
        ("ETag", f'"{entry["etag"]}"'),
    ]
    if entry.get("noindex"):
        headers.append(("X-Robots-Tag", "noindex, nofollow"))
    if https:
        headers.append(("Strict-Transport-Security", HSTS))
    return headers


def serves_here(environ: dict, entry: dict[str, Any]) -> bool:
    """On a custom domain, only that workspace's pages."""
    workspace = hosts.host_workspace(environ)
    return workspace is None or workspace == entry["workspace_id"]


def record(app: Flask, event_type: str, entry: dict[str, Any], environ: dict,
           **extra) -> None:
    """A view or a click, into the stream (no database write); the raw IP stays here."""
    method = environ.get("REQUEST_METHOD", "GET")
    user_agent = (environ.get("HTTP_USER_AGENT") or "")[:512] or None
    classification, reason = useragents.classify(method, user_agent)
    ip = environ.get("REMOTE_ADDR") or "unknown"
    salt = privacy.daily_salt(app)
    referrer = environ.get("HTTP_REFERER")
    events.emit_stream(event_type, {
        "microsite_id": entry["id"], "slug": entry["slug"], "version": entry.get("version"),
        "method": "HEAD" if method == "HEAD" else "GET",
        "user_agent": user_agent, "referrer": referrer[:1024] if referrer else None,
        "visitor_hash": privacy.visitor_hash(ip, user_agent, "microsite", entry["id"],
                                             salt=salt),
        "classification": classification, "reason": reason, **extra,
    }, workspace_id=entry["workspace_id"], actor={"type": "anonymous"}, app=app)


def via_cookie(slug: str, via: str, https: bool) -> str:
    """The A/B variant that sent the visitor here, kept by this page's path for the day so that
    its clicks count as that variant's conversions (``smartlinks.VIA_PARAM``)."""
    return (f"{smartlinks.VIA_PARAM}={via}; Path=/m/{slug}; Max-Age=86400; HttpOnly; "
            f"SameSite=Lax{'; Secure' if https else ''}")


class PageMiddleware:
    """Answers ``GET /m/<slug>`` of a published page without a password before Flask."""

    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app = wsgi_app
        self.app = app
        self.cache = pagecache.pages(app)
        self.platform = hosts.platform_hosts(app)

    def _host_known(self, environ) -> bool:
        """Whether this layer knows which pages the Host may serve: a platform host, or a
        custom domain a layer outside this one resolved. Otherwise Flask's views decide,
        behind every other layer (the domains plugin's)."""
        if hosts.host_workspace(environ) is not None:
            return True
        name = hosts.normalise_host(environ.get("HTTP_HOST") or "")
        return name in self.platform or not hosts.may_be_custom_domain(name)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD") and path.startswith("/m/"):
            match = SLUG_PATH.match(path)
            if match:
                answered = self._try(environ, start_response, match.group(1), method)
                if answered is not None:
                    return answered
        return self.wsgi_app(environ, start_response)

    def _try(self, environ, start_response, slug: str, method: str):
        try:
            entry = self.cache.get(slug)
        except Exception:
            log.exception("microsite lookup failed; falling back to the full stack")
            return None
        if entry is None or entry.get("password_hash") or not self._host_known(environ) \
                or not serves_here(environ, entry):
            return None
        via = smartlinks.via_of(environ.get("QUERY_STRING") or "")
        https = environ.get("wsgi.url_scheme") == "https"
        record(self.app, "microsites.viewed", entry, environ, **({"via": via} if via else {}))
        headers = page_headers(self.app, entry, https, private=via is not None)
        if via:
            headers.append(("Set-Cookie", via_cookie(entry["slug"], via, https)))
        if environ.get("HTTP_IF_NONE_MATCH") == f'"{entry["etag"]}"':
            start_response("304 Not Modified", [h for h in headers if h[0] != "Content-Type"])
            return [b""]
        body = entry.get("_body")
        if body is None:
            body = entry["_body"] = entry["html"].encode()
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [b"" if method == "HEAD" else body]


def page_middleware(app: Flask, wsgi_app):
    """Plugin.wsgi_middleware."""
    return PageMiddleware(wsgi_app, app)


# -- the Flask routes --------------------------------------------------------------------------

bp = Blueprint("microsites_public", __name__, template_folder="templates")


def _entry_or_404(slug: str) -> dict[str, Any]:
    entry = pagecache.pages(current_app).get(slug)
    if entry is None or not serves_here(request.environ, entry):
        abort(_not_found(slug))
    return entry


def _not_found(slug: str | None) -> Response:
    """The domain's own "not found", else the workspace's chosen page, else ours, naming the
    workspace whose page it was."""
    answer = signals.first_answer(signals.public_page_missing,
                                  current_app._get_current_object(), request=request)
    if answer is not None:
        return answer
    owner = services.workspace_of_slug(slug) if slug else None
    if owner is not None and (chosen := workspace_not_found(None, owner[0])) is not None:
        return chosen
    response = Response(render_template("microsites/page/not_found.html",
                                        owner=owner[1] if owner else None), status=404)
    response.headers["Cache-Control"] = "private, max-age=0, no-store"
    return response


def workspace_not_found(sender, workspace_id: int, **extra) -> Response | None:
    """signals.workspace_page_missing: the workspace's chosen "not found" page, status 404,
    with a published page's headers (its CSP); None when it chose none."""
    entry = services.not_found_entry(workspace_id)
    if entry is None:
        return None
    response = Response(entry["html"], status=404)
    for name, value in page_headers(current_app._get_current_object(), entry,
                                    request.is_secure, private=True):
        if name != "ETag":
            response.headers[name] = value
    return response


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="microsites.unlock")


def _cookie_name(entry: dict[str, Any]) -> str:
    return f"ms_unlock_{entry['id']}"


def _unlocked(entry: dict[str, Any]) -> bool:
    token = request.cookies.get(_cookie_name(entry))
    if not token:
        return False
    try:
        value = _serializer().loads(token, max_age=UNLOCK_AGE)
    except BadSignature:
        return False
    # A new password locks every visitor out again.
    return value == _password_tag(entry)


def _password_tag(entry: dict[str, Any]) -> str:
    return hashlib.sha256(f"{entry['id']}:{entry['password_hash']}".encode()).hexdigest()[:24]


def _page(entry: dict[str, Any], *, private: bool = False) -> Response:
    app = current_app._get_current_object()
    response = Response(entry["html"])
    for name, value in page_headers(app, entry, request.is_secure, private=private):
        response.headers[name] = value
    if not private and request.headers.get("If-None-Match") == f'"{entry["etag"]}"':
        response.status_code = 304
        response.set_data(b"")
    return response


@bp.route("/m/<slug>", methods=["GET", "HEAD", "POST"])
def page(slug):
    """A page the fast path passed on: password-protected, or not found. Sent by an A/B
    variant, it keeps the variant for its clicks as the fast path does."""
    via = smartlinks.via_of(request.query_string.decode("latin-1"))
    response = _page_or_prompt(slug, {"via": via} if via else {})
    if via:
        response.headers.add("Set-Cookie", via_cookie(slug, via, request.is_secure))
    return response


def _page_or_prompt(slug: str, extra: dict[str, str]) -> Response:
    entry = _entry_or_404(slug)
    if not entry.get("password_hash"):
        record(current_app._get_current_object(), "microsites.viewed", entry, request.environ,
               **extra)
        return _page(entry, private=bool(extra))
    error = None
    if request.method == "POST":
        if services.check_page_password(entry, request.form.get("password", "")):
            response = redirect(request.path, code=303)
            response.set_cookie(_cookie_name(entry), _serializer().dumps(_password_tag(entry)),
                                max_age=UNLOCK_AGE, path=f"/m/{slug}", secure=request.is_secure,
                                httponly=True, samesite="Lax")
            return response
        error = "That password is not right."
    if request.method != "POST" and _unlocked(entry):
        record(current_app._get_current_object(), "microsites.viewed", entry, request.environ,
               **extra)
        return _page(entry, private=True)
    response = Response(render_template("microsites/page/password.html", entry=entry,
                                        error=error), status=401 if error else 200)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _check_access(entry: dict[str, Any]) -> None:
    if entry.get("password_hash") and not _unlocked(entry):
        abort(403)


@bp.get("/m/<slug>/site-<css_hash>.css")
def stylesheet(slug, css_hash):
    entry = _entry_or_404(slug)
    if css_hash != entry["css_hash"]:
        abort(404)
    response = Response(entry["css"], mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@bp.get("/m/<slug>/go/<key>")
def go(slug, key):
    """A visitor clicked a link of a block: counted, then sent where the page said at publish
    time (never a URL from the request)."""
    entry = _entry_or_404(slug)
    _check_access(entry)
    target = entry["targets"].get(key)
    if target is None:
        abort(_not_found(slug))
    via = request.cookies.get(smartlinks.VIA_PARAM)
    record(current_app._get_current_object(), "microsites.clicked", entry, request.environ,
           block_id=key.split(".", 1)[0], target=key,
           **({"via": via} if smartlinks.parse_via(via) else {}))
    response = redirect(target, code=302)
    response.headers["Cache-Control"] = "private, max-age=0, no-store"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


@bp.get("/m/<slug>/f/<block_id>/<filename>")
def block_file(slug, block_id, filename):
    entry = _entry_or_404(slug)
    _check_access(entry)
    found = entry["files"].get(f"{block_id}/{filename}")
    if found is None:
        abort(_not_found(slug))
    content_type, text = found
    response = Response(text, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, max-age=0, no-store"
    return response


@bp.post("/m/<slug>/lead/<block_id>")
def lead(slug, block_id):
    """A contact form's post: spam caught by the honeypot is thanked and dropped."""
    entry = _entry_or_404(slug)
    _check_access(entry)
    if request.form.get("website_url"):
        return _lead_answer(entry, ok=True)
    try:
        thanks = services.submit_lead(entry, block_id, request.form.to_dict())
    except ServiceError as error:
        return _lead_answer(entry, ok=False, error=error)
    return _lead_answer(entry, ok=True, thanks=thanks)


def _lead_answer(entry: dict[str, Any], *, ok: bool, error: ServiceError | None = None,
                 thanks: str | None = None):
    status = 200 if ok else error.status
    response = Response(render_template("microsites/page/lead_sent.html", entry=entry, ok=ok,
                                        error=error, thanks=thanks), status=status)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def domain_root(sender, domain: str, workspace_id: int, **extra) -> Response | None:
    """signals.custom_domain_root: the page published at this domain's root."""
    app = current_app._get_current_object()
    slug = pagecache.domains(app).get(domain)
    if slug is None:
        return None
    entry = pagecache.pages(app).get(slug)
    if entry is None or entry["workspace_id"] != workspace_id:
        return None
    via = smartlinks.via_of(request.query_string.decode("latin-1"))
    if entry.get("password_hash"):
        return redirect(f"/m/{slug}" + (f"?{smartlinks.VIA_PARAM}={via}" if via else ""),
                        code=302)
    record(app, "microsites.viewed", entry, request.environ, **({"via": via} if via else {}))
    response = _page(entry, private=via is not None)
    if via:  # its clicks go through /m/<slug>/go/..., where the cookie is read
        response.headers.add("Set-Cookie", via_cookie(slug, via, request.is_secure))
    return response
