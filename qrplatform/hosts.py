"""The hosts the platform answers on: its own (PUBLIC_BASE_URL, SHORT_LINK_BASE_URL) and the
custom domains of workspaces (``go.brand.com``), which a plugin recognises.

The platform's own address is ``public_base_url()``: PUBLIC_BASE_URL when set; unset (the
embedded setup, run on any port or host), the address the current request reached, and outside
a request (a job) the last address a request reached (127.0.0.1:5000 before any).

How a custom domain meets the pages that serve public content (short links, microsites):

- a WSGI layer that recognised the request's Host as a workspace's own domain puts that
  workspace's id in the environ under ``WORKSPACE_ENVIRON`` (``host_workspace(environ)`` reads
  it); a page serving public content then serves only that workspace's, and answers "not found"
  for anything else (a code of workspace B never resolves on A's domain);
- ``signals.public_page_missing`` lets the domain answer its own "not found";
- ``link_domains(workspace_id)`` asks the enabled plugins (``signals.link_domains``) which custom
  domains a workspace's links may use now; ``custom_domain_url(name)`` is the base URL of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, current_app, has_request_context, request

from qrplatform import signals

WORKSPACE_ENVIRON = "qrp.host.workspace_id"
# Custom domains are served over HTTPS only (certificates on demand, docs/deploy.md).
CUSTOM_DOMAIN_SCHEME = "https"
# Where the embedded setup is reached before any request told otherwise (``flask run``).
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:5000"


def settle_public_base_url(app: Flask) -> None:
    """PUBLIC_BASE_URL unset: follow the requests (``public_base_url``), starting from the
    default; set: it wins, everywhere."""
    configured = (app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    app.config["PUBLIC_BASE_URL_FROM_REQUEST"] = not configured
    app.config["PUBLIC_BASE_URL"] = configured or DEFAULT_PUBLIC_BASE_URL
    if not configured:
        app.before_request(_remember_public_base_url)


def _remember_public_base_url() -> None:
    """The last address a request reached the platform at (not a workspace's own domain), for
    what runs outside a request (a job's e-mail, a drawing pool's file URLs)."""
    if WORKSPACE_ENVIRON not in request.environ:
        base = request.host_url.rstrip("/")
        if current_app.config["PUBLIC_BASE_URL"] != base:
            current_app.config["PUBLIC_BASE_URL"] = base


def public_base_url() -> str:
    """The platform's own address, without a trailing slash (see the module's docstring)."""
    config = current_app.config
    if (config.get("PUBLIC_BASE_URL_FROM_REQUEST") and has_request_context()
            and WORKSPACE_ENVIRON not in request.environ):
        return request.host_url.rstrip("/")
    return config["PUBLIC_BASE_URL"].rstrip("/")


@dataclass(frozen=True)
class LinkDomain:
    """A custom domain links may live on: ``name`` in ASCII (punycode), ``label`` as people
    read it (``bücher.example (xn--bcher-kva.example)`` for an IDN)."""

    name: str
    label: str


def custom_domain_url(name: str) -> str:
    """The base URL of links on a custom domain (no path: ``https://go.brand.com``)."""
    return f"{CUSTOM_DOMAIN_SCHEME}://{name}"


def host_workspace(environ: dict) -> int | None:
    """The workspace whose custom domain this request came to, or None (a platform host)."""
    return environ.get(WORKSPACE_ENVIRON)


def normalise_host(host: str) -> str:
    """A Host header as a domain name: lower case, no port, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def may_be_custom_domain(name: str) -> bool:
    """Whether a (normalised) Host could be a workspace's own domain: dotted, not an IP address
    literal (no TLD is numeric). The platform's hosts are told apart by ``platform_hosts``."""
    return "." in name and not name[-1].isdigit() and not name.startswith("[")


def platform_hosts(app: Flask) -> frozenset[str]:
    """The platform's own host names (never a workspace's custom domain)."""
    urls = (app.config.get("PUBLIC_BASE_URL"), app.config.get("SHORT_LINK_BASE_URL"))
    return frozenset(normalise_host(urlsplit(url).netloc) for url in urls if url)


def link_domains(workspace_id: int) -> list[LinkDomain]:
    """The custom domains the workspace's links may use now (none without a plugin that
    offers them)."""
    found: list[LinkDomain] = []
    for _receiver, answer in signals.link_domains.send(current_app._get_current_object(),
                                                       workspace_id=workspace_id):
        found.extend(answer or ())
    return found
