"""Serving a workspace's custom domain: the Host decides the workspace before any routing.

``CustomDomainMiddleware`` (a WSGI layer in front of the short-link fast path) looks the Host
up in the host map (``hostmap``: in-process, Redis, database). For a domain that serves
(verified or misconfigured) it puts the workspace in the environ
(``qrplatform.hosts.WORKSPACE_ENVIRON``, so only that workspace's codes resolve) and routes
the path:

- ``/<code>`` and ``/<code>/c`` → the short links (the platform's path prefix added, so the
  qr plugin's fast path and views answer); ``<prefix>/<code>`` passes too (forms post there);
- ``/`` → ``root``: the domain's root URL, else a plugin serving it
  (``signals.custom_domain_root``: a microsite), else the domain's 404;
- ``/static/…`` and ``/domains/static/…`` pass (the pages' styles), and so do the
  microsites' ``/m/…`` and ``/microsites/static/…``;
- anything else → ``not_found``: the domain's 404 URL, else a built-in page in the
  workspace's name. So are unknown codes and codes of other workspaces
  (``signals.public_page_missing``).

Requests to the platform's own hosts pass untouched, after one set lookup.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, current_app, g, render_template, request

from qrp_domains import hostmap, services
from qrplatform import hosts, signals
from qrplatform.auth.models import Workspace
from qrplatform.extensions import db

log = logging.getLogger(__name__)

DOMAIN_ENVIRON = "qrp.domains.entry"
ROOT_PATH = "/_domain/root"
NOT_FOUND_PATH = "/_domain/not-found"
# Styles of the pages a custom domain shows (the core's and this plugin's), and the published
# microsites (their pages, stylesheets, clicks, files and forms; each serves only the
# domain's workspace).
STATIC_PATHS = ("/static/", "/domains/static/", "/m/", "/microsites/static/")
# A short link's path on a custom domain: one segment, optionally its content page.
LINK_PATH = re.compile(r"^/[^/]+(/c)?$")


class CustomDomainMiddleware:
    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app = wsgi_app
        self.app = app
        self.platform = hosts.platform_hosts(app)
        self.prefix = urlsplit(app.config["SHORT_LINK_BASE_URL"]).path.rstrip("/")
        self.cache = hostmap.host_map(app)

    def __call__(self, environ, start_response):
        name = hosts.normalise_host(environ.get("HTTP_HOST") or "")
        if name not in self.platform and hosts.may_be_custom_domain(name):
            try:
                entry = self.cache.get(name)
            except Exception:
                log.exception("custom domain lookup failed for %s; serving as the platform",
                              name)
                entry = None
            if entry is not None:
                self._route(environ, entry)
        return self.wsgi_app(environ, start_response)

    def _route(self, environ: dict, entry: dict[str, Any]) -> None:
        environ[hosts.WORKSPACE_ENVIRON] = entry["workspace_id"]
        environ[DOMAIN_ENVIRON] = entry
        path = environ.get("PATH_INFO") or "/"
        if path == "/":
            environ["PATH_INFO"] = ROOT_PATH
        elif LINK_PATH.match(path):
            environ["PATH_INFO"] = self.prefix + path
        elif path.startswith(STATIC_PATHS) or (
                self.prefix and path.startswith(self.prefix + "/")
                and LINK_PATH.match(path[len(self.prefix):])):
            pass
        else:
            environ["PATH_INFO"] = NOT_FOUND_PATH


def custom_domain_middleware(app: Flask, wsgi_app):
    """Plugin.wsgi_middleware: outside the qr plugin's fast path (domains loads after qr)."""
    return CustomDomainMiddleware(wsgi_app, app)


def current_entry() -> dict[str, Any] | None:
    """The custom domain this request came to, or None (a platform host)."""
    return request.environ.get(DOMAIN_ENVIRON)


# -- in-process hooks -------------------------------------------------------------------------

def resolve_host_tenant(sender, request, **extra) -> None:
    """signals.tenant_resolved: a visitor of a custom domain acts in its workspace."""
    entry = request.environ.get(DOMAIN_ENVIRON)
    if entry is None:
        return
    g.custom_domain = entry
    if g.get("user") is None:
        g.workspace = db.session.get(Workspace, entry["workspace_id"])


def answer_missing(sender, request, **extra) -> Response | None:
    """signals.public_page_missing: a custom domain answers "not found" its own way."""
    entry = request.environ.get(DOMAIN_ENVIRON)
    return not_found_response(entry) if entry is not None else None


def offer_domains(sender, workspace_id: int, **extra) -> list[hosts.LinkDomain]:
    """signals.link_domains: the workspace's verified domains within its plan."""
    return services.link_domains(workspace_id)


# -- the pages a custom domain serves -------------------------------------------------------------

def not_found_response(entry: dict[str, Any]) -> Response:
    if entry.get("not_found_url"):
        response = Response(status=302, headers={"Location": entry["not_found_url"]})
    elif chosen := signals.first_answer(signals.workspace_page_missing,
                                        current_app._get_current_object(),
                                        workspace_id=entry["workspace_id"]):
        return chosen  # the workspace's own page (a microsite), headers and all
    else:
        workspace = db.session.get(Workspace, entry["workspace_id"])
        response = Response(render_template(
            "domains/not_found.html", domain=entry["name"],
            owner=workspace.name if workspace is not None else entry["name"]), status=404)
    response.headers["Cache-Control"] = "private, max-age=0, no-store"
    return response


bp = Blueprint("domains_public", __name__, template_folder="templates")


@bp.route(ROOT_PATH, methods=["GET", "HEAD"])
def root():
    entry = current_entry()
    if entry is None:
        abort(404)
    if entry.get("root_url"):
        return Response(status=302, headers={"Location": entry["root_url"],
                                             "Cache-Control": "private, max-age=0, no-store"})
    answer = signals.first_answer(signals.custom_domain_root,
                                  current_app._get_current_object(), domain=entry["name"],
                                  workspace_id=entry["workspace_id"])
    return answer if answer is not None else not_found_response(entry)


@bp.route(NOT_FOUND_PATH, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
def not_found():
    entry = current_entry()
    if entry is None:
        abort(404)
    return not_found_response(entry)


@bp.get("/internal/domains/allowed")
def certificate_allowed():
    """Caddy's on_demand_tls ``ask``: 200 for a verified domain, 404 for any other name, so a
    certificate is only ever requested for a verified domain."""
    if services.certificate_allowed(request.args.get("domain", "")):
        return Response("allowed\n", mimetype="text/plain")
    return Response("not a verified domain\n", status=404, mimetype="text/plain")
