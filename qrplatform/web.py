"""Helpers for the HTMX pages: one URL answers a full page or just the fragment it swaps."""

from __future__ import annotations

from flask import current_app, g, make_response, render_template, request
from markupsafe import Markup

from qrplatform import permissions
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


def form_error(form, error) -> None:
    """Show a service's refusal (a ServiceError) beside the form field it names, or above the
    form when it names none."""
    field = form._fields.get(error.field) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


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
        # Whether an optional plugin's page exists, to link to it only when it is enabled.
        "has_endpoint": lambda endpoint: endpoint in current_app.view_functions,
        "can": permissions.can,
        "csp_nonce": g.get("csp_nonce", ""),
        "current_workspace": g.get("workspace"),
        "current_role": g.get("role"),
    }
