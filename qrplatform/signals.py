"""Extension points: every in-process hook the core offers, documented here and nowhere else.

These are blinker signals, sent synchronously. The core connects to them itself. They are for
things that must happen inside the same request or transaction (adding a row next to a new
workspace, refusing an action). Anything that may happen later reacts to a *domain event*
instead (``Plugin.receivers``; the event types are listed by ``flask events types``).

A plugin declares its receivers and the core connects them, for the apps that enable the
plugin only (never ``signal.connect`` yourself: that would run in every app of the process)::

    plugin = Plugin(..., signal_receivers={signals.workspace_created: give_trial})

    def give_trial(sender, owner, **extra): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from blinker import Namespace, Signal
from flask import Flask, current_app, has_app_context

_signals = Namespace()

app_created = _signals.signal(
    "app-created",
    doc="""Sent once create_app() has wired the core and every enabled plugin.

    :param sender: the Flask app
    """,
)

plugin_wired = _signals.signal(
    "plugin-wired",
    doc="""Sent after the core wired one plugin (its blueprints, models, receivers...).

    :param sender: the Plugin
    :param app: the Flask app
    """,
)

user_created = _signals.signal(
    "user-created",
    doc="""Sent inside the sign-up transaction, after the user and their personal workspace
    exist and before the commit.

    :param sender: the new User
    :param workspace: their personal Workspace
    """,
)

workspace_created = _signals.signal(
    "workspace-created",
    doc="""Sent inside the transaction that creates a workspace, before the commit. A receiver
    may add rows scoped to it (a subscription, default settings).

    :param sender: the new Workspace
    :param owner: the User who owns it
    """,
)

tenant_resolved = _signals.signal(
    "tenant-resolved",
    doc="""Sent for each request once the gateway knows who is calling, before the rate limit.
    A receiver may set ``g.workspace`` itself, e.g. from the Host of a custom domain.

    :param sender: the Flask app
    :param request: the request
    """,
)

link_domains = _signals.signal(
    "link-domains",
    doc="""Asked when a workspace's links (a QR code's short link, a microsite) choose the host
    they live on: which custom domains may they use now? Read it through
    ``qrplatform.hosts.link_domains(workspace_id)``.

    :param sender: the Flask app
    :param workspace_id: the workspace
    :return: a list of ``qrplatform.hosts.LinkDomain`` (or None)
    """,
)

workspace_page_missing = _signals.signal(
    "workspace-page-missing",
    doc="""Sent when a public page of a known workspace has nothing at the requested address
    (a microsite it has not published, an address its custom domain does not have), before
    the default "not found" page is drawn. A receiver may answer with the workspace's own page
    (the microsites plugin: the page chosen as its "not found" page), status 404.

    :param sender: the Flask app
    :param workspace_id: the workspace
    :return: a response, or None
    """,
)

public_page_missing = _signals.signal(
    "public-page-missing",
    doc="""Sent when a public page (a short link, a microsite) has nothing at the requested
    path, before the default "not found" page is drawn. A receiver may answer with a response
    of its own (a custom domain's own 404 page or URL); the first answer is sent.

    :param sender: the Flask app
    :param request: the request
    :return: a response, or None
    """,
)

custom_domain_root = _signals.signal(
    "custom-domain-root",
    doc="""Sent when a visitor opens ``/`` of a workspace's custom domain that has no root URL
    of its own. A receiver that serves something there (a microsite published at the domain's
    root) answers with the response; the first answer is sent, else the domain's 404.

    :param sender: the Flask app
    :param domain: the domain's name (ASCII)
    :param workspace_id: the workspace that owns it
    :return: a response, or None
    """,
)

password_verified = _signals.signal(
    "password-verified",
    doc="""Sent when a person's e-mail and password checked out on the login page, before they
    are signed in. A receiver that wants a second step (a one-time code, say) returns the URL of
    its page; the core then keeps the person half signed in and sends them there. That page
    reads who it is with ``qrplatform.auth.sessions.pending_user()`` and finishes with
    ``sessions.complete_login()`` (which signs them in and redirects to where they were going).
    With no receiver, or every receiver returning None, the person is signed in at once.

    :param sender: the User
    :return: the URL of a second step, or None
    """,
)

api_token_requested = _signals.signal(
    "api-token-requested",
    doc="""Sent when ``POST /api/v1/auth/tokens`` got the right e-mail and password, before the
    token is made. A receiver refuses by raising ``qrplatform.errors.ServiceError`` (a second
    factor missing or wrong, a workspace rule not met); the API answers with it.

    :param sender: the User
    :param workspace_id: the workspace the token would act in
    :param second_factor: the request's ``second_factor`` field (a one-time code), or None
    """,
)

quota_exceeded = _signals.signal(
    "quota-exceeded",
    doc="""Sent when a plan quota refuses an action (``qrplatform.quotas.check``), to find where
    the workspace can change its plan. A receiver (the plugin that sells plans) returns the
    absolute URL of that page; the 402 error carries it as ``upgrade_url`` and names it.

    :param sender: the quota key, such as ``qr.dynamic_codes``
    :param plan: the workspace's plan
    :return: a URL, or None
    """,
)


code_scan_counts = _signals.signal(
    "code-scan-counts",
    doc="""Asked by pages and APIs that list a workspace's codes (lists, a code's page, sorting by
    scans): how many people scanned these codes on each of the last ``days`` UTC days? The plugin
    that counts scans answers; with none enabled the answer is None and the asker shows no
    counts (it never shows a made-up zero).

    :param sender: the Flask app
    :param workspace_id: the workspace
    :param code_ids: the codes' ids, or None for every code scanned in those days
    :param days: how many days, today (UTC) included
    :return: a dict code id -> list of ``days`` counts, oldest first (a code with no scans may
        be left out), or None
    """,
)


def first_answer(signal: Signal, sender, **kwargs):
    """The first receiver's answer that is not None (receivers run in connection order)."""
    return next((answer for _receiver, answer in signal.send(sender, **kwargs)
                 if answer is not None), None)


# -- connecting declared receivers ---------------------------------------------------------------

# (signal, receiver) -> the wrapper connected for it, once per process whatever the app count.
_connected: dict[tuple[int, Callable], Callable] = {}


def connect_declared(receivers: Iterable) -> None:
    """Connect each declared receiver (``Plugin.signal_receivers``) once; it then runs only
    when the app the signal is sent in declared it, so a plugin disabled in one app of the
    process stays silent there."""
    for declared in receivers:
        key = (id(declared.signal), declared.func)
        if key not in _connected:
            wrapper = _only_where_declared(declared.signal, declared.func)
            declared.signal.connect(wrapper, weak=False)
            _connected[key] = wrapper


def _app_of(sender, extra: dict) -> Flask | None:
    if isinstance(sender, Flask):
        return sender
    if isinstance(extra.get("app"), Flask):
        return extra["app"]
    return current_app._get_current_object() if has_app_context() else None


def _only_where_declared(signal: Signal, func: Callable) -> Callable:
    from qrplatform.registry import EXTENSION

    @wraps(func)
    def receive(sender, **extra):
        app = _app_of(sender, extra)
        found = app.extensions.get(EXTENSION) if app is not None else None
        if found is None or not any(r.signal is signal and r.func is func
                                    for r in found.signal_receivers):
            return None
        return func(sender, **extra)

    return receive
