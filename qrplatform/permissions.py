"""Who may do what: permissions declared by plugins, granted to roles, checked here only.

Pages and API call ``require(name)`` (or decorate with ``permission_required``); templates ask
``can(name)`` to hide what the member's role cannot do. A refusal names the missing permission.
"""

from __future__ import annotations

from functools import wraps

from flask import g

from qrplatform.errors import Forbidden
from qrplatform.plugins import Permission
from qrplatform.registry import registry

CORE_PERMISSIONS = (
    Permission("workspace.view", "See the workspace and its members",
               ("owner", "admin", "editor", "viewer", "billing")),
    Permission("workspace.manage", "Rename the workspace and change its settings",
               ("owner", "admin")),
    Permission("jobs.view", "See background jobs and their progress",
               ("owner", "admin", "editor", "viewer", "billing")),
)


def registered() -> dict[str, Permission]:
    """Every permission the core and the enabled plugins declared (``Plugin.permissions``)."""
    return registry().permissions


def role_allows(role: str | None, name: str) -> bool:
    permission = registered().get(name)
    if permission is None:
        raise KeyError(f"unknown permission {name!r}: no enabled plugin declares it")
    return role is not None and role in permission.roles


def token_allows(name: str) -> bool:
    """API tokens carry scopes: '*' (everything the role may do), 'read' or plugin names."""
    token = g.get("api_token")
    if token is None:
        return True
    scopes = set(token.scopes or ["*"])
    if "*" in scopes:
        return True
    plugin, _, action = name.partition(".")
    if plugin in scopes or name in scopes:
        return True
    return "read" in scopes and action in {"view", "read"}


def can(name: str) -> bool:
    return role_allows(g.get("role"), name) and token_allows(name)


def require(name: str) -> None:
    if g.get("user") is None:
        raise Forbidden("Sign in first.", status=401, code="unauthorized")
    if not role_allows(g.get("role"), name):
        raise Forbidden(
            f"Your role ({g.get('role') or 'none'}) lacks the permission '{name}'. "
            "Ask a workspace owner or admin.",
            code="permission_denied",
        )
    if not token_allows(name):
        raise Forbidden(f"This API token's scopes do not include '{name}'.",
                        code="permission_denied")


def require_full_token() -> None:
    """Acting on the person's own account (their tokens, leaving or joining a workspace): a
    browser session may, an API token only with full access ('*')."""
    token = g.get("api_token")
    if token is not None and "*" not in (token.scopes or ["*"]):
        raise Forbidden("This API token's scopes do not include '*' (full access), which "
                        "acting on your account needs.", code="permission_denied")


def full_token_required(view):
    """``require_full_token`` before the view reads its input; put it below the route."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        require_full_token()
        return view(*args, **kwargs)

    return wrapper


def permission_required(name: str):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            require(name)
            return view(*args, **kwargs)

        return wrapper

    return decorator
