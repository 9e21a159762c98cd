"""Helpers for the HTMX pages: one URL answers a full page or just the fragment it swaps."""

from __future__ import annotations

from flask import current_app, g, make_response, render_template, request

from qrplatform import permissions
from qrplatform.plugins import NavItem


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
    items = current_app.extensions.get("qrp.nav", [])
    if g.get("user") is None:
        return []
    return [item for item in items if item.menu == menu
            and (item.permission is None or permissions.can(item.permission))]


def template_context() -> dict:
    return {
        "nav_items": nav_items,
        # Whether an optional plugin's page exists, to link to it only when it is enabled.
        "has_endpoint": lambda endpoint: endpoint in current_app.view_functions,
        "can": permissions.can,
        "csp_nonce": g.get("csp_nonce", ""),
        "current_workspace": g.get("workspace"),
        "current_role": g.get("role"),
    }
