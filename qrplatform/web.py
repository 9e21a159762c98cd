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
from markupsafe import Markup

from qrplatform import hosts, permissions
from qrplatform.errors import ServiceError
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
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


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
        flash(error.message, "error")
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
