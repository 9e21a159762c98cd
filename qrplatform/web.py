"""Helpers for the HTMX pages: one URL answers a full page or just the fragment it swaps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    current_app,
    flash,
    g,
    has_request_context,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_url
from markupsafe import Markup

from qrplatform import hosts, permissions
from qrplatform.errors import (
    ServiceError,
    handle_http_exception,
    handle_service_error,
    is_api_request,
)
from qrplatform.plugins import NavItem
from qrplatform.registry import registry


def is_htmx() -> bool:
    """An htmx request that wants a fragment (boosted navigation wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


def render(template: str, fragment: str | None = None, status: int = 200, **context):
    """Render ``template``, or ``fragment`` for an htmx request; caches keep the two apart."""
    name = fragment if fragment and is_htmx() else template
    response = make_response(render_template(name, **context), status)
    response.vary.add("HX-Request")
    return response


def go_to(url: str):
    """Leave for another page: a redirect, or for htmx (which would follow a redirect and swap
    the page it finds) an ``HX-Redirect`` header, so the browser loads it whole."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        response.vary.add("HX-Request")
        return response
    return redirect(url)


def public_url(endpoint: str, **values) -> str:
    """An absolute link under PUBLIC_BASE_URL, in a request or outside one (a job's e-mail)."""
    if has_request_context():
        path = url_for(endpoint, **values)
    else:
        path = current_app.url_map.bind("localhost").build(endpoint, values)
    return hosts.public_base_url() + path


def form_error(form, error) -> None:
    """Show a service's refusal (a ServiceError) beside the form field it names, or above the
    form when it names none."""
    field = form._fields.get(error.field) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.for_page]
    else:
        form.form_errors.append(error.for_page)


# A message or URL, or a function making one from what the service returned.
Outcome = str | Callable[[Any], str]


def _outcome(value: Outcome, result: Any) -> str:
    return value(result) if callable(value) else value


def submit(form, action: Callable[[], Any], *, success: Outcome | None,
           then: str | Callable[[Any], Any], category: str = "success",
           show: Callable[[Any, ServiceError], None] | None = None):
    """A form's service call, the one way: for a valid form run ``action()``; when it works,
    flash ``success`` and go to ``then`` (a URL, or a function of the result giving a URL or
    a whole response); when it refuses (``ServiceError``), show why beside the field and
    return None, for the view to render the form again (``show(form, error)`` places the
    messages when a form has fields of its own making)::

        if done := submit(form, lambda: services.rename(form.name.data),
                          success="Saved.", then=url_for(".settings")):
            return done
        return render("settings.html", form=form, status=422 if form.errors else 200)
    """
    if not form.validate_on_submit():
        return None
    try:
        result = action()
    except ServiceError as error:
        (show or form_error)(form, error)
        return None
    if success:
        flash(_outcome(success, result), category)
    target = _outcome(then, result)
    return redirect(target) if isinstance(target, str) else target


def act(action: Callable[[], Any], *, success: Outcome | None, then: Outcome,
        passes: tuple[int, ...] = (401, 403, 404)):
    """A button's service call (no form fields to show errors beside): run ``action()``,
    flash its success or its refusal, and redirect to ``then`` either way. Refusals with a
    status in ``passes`` propagate, for the error page (a missing permission, a missing row)."""
    try:
        result = action()
    except ServiceError as error:
        if error.status in passes:
            raise
        flash(error.for_page, "error")
        return redirect(_outcome(then, None))
    if success:
        flash(_outcome(success, result), "success")
    return redirect(_outcome(then, result))


def nav_items(menu: str = "main") -> list[NavItem]:
    """A menu composed from every enabled plugin, minus what the role cannot use."""
    items = registry().nav
    if g.get("user") is None:
        return []
    return [item for item in items if item.menu == menu
            and (item.permission is None or permissions.can(item.permission))]


def slot(name: str, **context) -> Markup:
    """Render what the enabled plugins put in the template slot ``name`` (``Plugin.slots``),
    in plugin order, each with ``context``; nothing when no plugin fills it. A page offers a
    slot with ``{{ slot("qr.code_actions", code=code) }}``."""
    return Markup("").join(Markup(render_template(template, **context))
                           for template in registry().slots.get(name, ()))


# -- a session that ended under an open page ---------------------------------------------------

SESSION_ENDED = "Your session has ended: log in again to carry on."
PAGE_OUT_OF_DATE = ("This page is out of date (it was opened in an earlier session): reload it "
                    "and try again.")


def _log_in_again(message: str):
    """To the login page, back to the page the person was on afterwards. An htmx request
    (a pager, a form swapped in place) names that page in HX-Current-URL; its own URL is a
    fragment's, and a plain redirect would have htmx swap the login page into the fragment."""
    flash(message, "info")
    here = (request.headers.get("HX-Current-URL") if is_htmx() else None) or request.url
    return go_to(login_url(current_app.login_manager.login_view, here))


def login_needed():
    """flask-login's refusal of a page that needs a session."""
    return _log_in_again(current_app.login_manager.login_message)


def csrf_refused(error):
    """A form posted with a CSRF token of another session, or none: an in-place action whose
    session ended leads to the login page; any other form is out of date (reloading the page
    gives it a token, or leads to the login page). Werkzeug's page said "Bad Request: The
    CSRF session token is missing." The API is not concerned: it takes Bearer tokens."""
    if is_api_request():
        return handle_http_exception(error)
    if is_htmx() and not current_user.is_authenticated:   # in-place actions need a login
        return _log_in_again(SESSION_ENDED)
    return handle_service_error(ServiceError(PAGE_OUT_OF_DATE))


def template_context() -> dict:
    return {
        "nav_items": nav_items,
        "slot": slot,
        # What the public pages may promise: the core's and the enabled plugins' highlights.
        "highlights": lambda: registry().highlights,
        # Whether an optional plugin's page exists, to link to it only when it is enabled.
        "has_endpoint": lambda endpoint: endpoint in current_app.view_functions,
        "can": permissions.can,
        "csp_nonce": g.get("csp_nonce", ""),
        "current_workspace": g.get("workspace"),
        "current_role": g.get("role"),
    }
