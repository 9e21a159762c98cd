"""create_app(): settings → extensions → backends → gateway → core pages and API → plugins.

The core wires; plugins declare (see ``qrplatform.plugins``). ``app_created`` is sent last.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFError
from werkzeug.routing import Rule

from qrplatform import (
    api,
    cli,
    errors,
    gateway,
    health,
    hosts,
    inputs,
    jobs,
    metrics,
    notify,
    onboarding,
    passwords,
    permissions,
    product_analytics,
    registry,
    sentry,
    signals,
    storage,
    telemetry,
    ui,
    web,
    webhooks,
)
from qrplatform.config import load_settings, plugin_setting
from qrplatform.events import bus, dispatch, receiver, stream
from qrplatform.extensions import Migrations, csrf, db, login_manager
from qrplatform.jobs import schedules
from qrplatform.plugins import Highlight, NavItem, Plugin, PluginError, load_plugins
from qrplatform.registry import CORE, Registry

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"

CORE_EVENTS = {
    "user.signed_up": "a person created an account (data: user_id)",
    "workspace.created": "a workspace was created (data: workspace_id, name, personal)",
    "workspace.updated": "a workspace was renamed or changed its settings (data: workspace_id, "
                         "name, changed)",
    "token.created": "an API token was created (data: token_id, name, scopes)",
    "token.revoked": "an API token was revoked (data: token_id, name)",
    "gateway.rate_limited": "a request was refused by a rate limit (stream qrp.gateway; data: "
                            "endpoint, limit, scope workspace|anonymous)",
}

# What the public pages promise of the core itself (plugins add theirs: Plugin.highlights).
CORE_HIGHLIGHTS = [
    Highlight("Privacy by default",
              "No IP address is ever stored, our pages load no third-party scripts, and a "
              "workspace can opt out of product analytics.", icon="shield-check", order=30),
    Highlight("Self-hostable",
              "One Python app with PostgreSQL and Redis: run it on your own servers from the "
              "Docker image, or let us run it. Everything a page does, the API does too.",
              icon="server", order=40),
]

# What the core itself declares, the way a plugin would (checked for clashes the same way).
CORE_DECLARATIONS = Plugin(
    name=CORE,
    events={**CORE_EVENTS, **webhooks.EVENTS},
    # High-volume events: sent with emit_stream() to their own topic, never the outbox.
    streams={"gateway.rate_limited": "qrp.gateway"},
    permissions=[*permissions.CORE_PERMISSIONS, *webhooks.PERMISSIONS],
    nav=[*webhooks.NAV, NavItem("Get started", "account.onboarding_page", order=5,
                                 menu="account", icon="rocket")],
    metrics=[gateway.RATE_LIMIT_HITS, stream.DRAINED_METRIC, receiver.RECEIVER_METRIC],
    product_events=product_analytics.CORE_PRODUCT_EVENTS,
    quotas={**gateway.CORE_QUOTAS, **webhooks.QUOTAS},
    highlights=CORE_HIGHLIGHTS,
    onboarding=onboarding.CORE_STEPS,
)


class LazyBuilderRule(Rule):
    """A route whose URL builders are compiled when a URL is first built from it. werkzeug
    compiles two for every route as it is added (generated Python source, parsed and compiled):
    for ~270 routes, 60 to 120 ms of every start of the app, most of which never builds most of
    them. It wraps werkzeug's own ``_compile_builder`` (private: setup.cfg keeps werkzeug 3.x,
    and tests/test_lazy_imports.py builds a URL from every route)."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compile_builder = super()._compile_builder
        compiled: Callable[..., tuple[str, str]] | None = None

        def build(rule: Rule, **values: Any) -> tuple[str, str]:
            nonlocal compiled
            if compiled is None:  # two threads at once compile the same function twice
                compiled = compile_builder(append_unknown)
            return compiled(rule, **values)

        return build


class PlatformFlask(Flask):
    url_rule_class = LazyBuilderRule


def create_app(test_config: dict | None = None) -> Flask:
    app = PlatformFlask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="static",
    )
    app.config.update(load_settings(app.instance_path))
    if test_config:
        app.config.update(test_config)
    passwords.check_settings(app.config)
    hosts.settle_public_base_url(app)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    # Observability first, so that it sees everything set up after it (docs/deploy.md).
    telemetry.init_app(app)
    sentry.init_app(app)
    metrics.init_app(app)
    found = registry.init_app(app)
    _init_extensions(app)
    bus.init_app(app)
    stream.init_app(app)
    jobs.init_app(app)
    storage.init_app(app)
    notify.init_app(app)
    errors.init_app(app)
    inputs.init_app(app)
    gateway.init_app(app)
    smorest = api.init_app(app)
    _register_core(app, smorest)
    gateway.create_limiter(app)
    plugins = load_plugins(app.config.get("QRP_PLUGINS"))
    wire_plugins(app, smorest, plugins)
    webhooks.init_app(app, smorest)  # receivers for every event type now declared
    signals.connect_declared(found.signal_receivers)
    schedules.start_embedded_scheduler(app)
    product_analytics.init_app(app)  # a receiver group of its own, fed by every declaration
    cli.init_app(app)
    gateway.build_wsgi_stack(app, [*(m for p in plugins for m in p.wsgi_middleware),
                                   metrics.endpoint_middleware])
    signals.app_created.send(app)
    return app


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    app.extensions["migrate"] = Migrations(db, str(MIGRATIONS_DIR), _plugin_version_locations)
    csrf.init_app(app)
    login_manager.init_app(app)
    # The remember-me cookie is a session that lasts: the same flags as the session cookie.
    app.config.update(
        REMEMBER_COOKIE_SECURE=app.config["SESSION_COOKIE_SECURE"],
        REMEMBER_COOKIE_HTTPONLY=app.config["SESSION_COOKIE_HTTPONLY"],
        REMEMBER_COOKIE_SAMESITE=app.config["SESSION_COOKIE_SAMESITE"],
        REMEMBER_COOKIE_DURATION=timedelta(days=app.config["QRP_REMEMBER_DAYS"]),
    )
    login_manager.login_view = "account.login"
    login_manager.login_message = "Log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.unauthorized_handler(web.login_needed)
    app.register_error_handler(CSRFError, web.csrf_refused)
    app.context_processor(web.template_context)
    ui.init_app(app)


@login_manager.user_loader
def _load_user(session_id: str):
    """The user of a session or remember-me cookie, while its generation is current."""
    from qrplatform.auth.models import User

    user_id, _, generation = session_id.partition(".")
    if not (user_id.isdigit() and generation.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_generation != int(generation):
        return None
    return user


def _plugin_version_locations(config):
    """Alembic reads the core's versions plus every enabled plugin's branch."""
    from flask import current_app

    locations = [str(MIGRATIONS_DIR / "versions")]
    locations += [p.migrations for p in registry.registry(current_app).plugins if p.migrations]
    config.set_main_option("version_locations", " ".join(locations))
    config.set_main_option("path_separator", "space")
    return config


def _register_core(app: Flask, smorest) -> None:
    from qrplatform.auth import api as auth_api
    from qrplatform.auth import views as auth_views
    from qrplatform.jobs import api as jobs_api
    from qrplatform.jobs import views as jobs_views

    app.register_blueprint(health.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(jobs_views.bp)
    for blueprint in (auth_api.blp, jobs_api.blp):
        csrf.exempt(blueprint)
        smorest.register_blueprint(blueprint)
    registry.registry(app).declare(CORE, CORE_DECLARATIONS)
    metrics.declare_all(app, CORE_DECLARATIONS.metrics)


def wire_plugins(app: Flask, smorest, plugins: list[Plugin]) -> None:
    """Plug each plugin's declarations into the app, in dependency order."""
    found: Registry = registry.registry(app)
    found.plugins = list(plugins)
    for plugin in plugins:
        try:
            _wire(app, smorest, found, plugin)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {plugin.name!r} could not be wired: {exc!r}") from exc
        signals.plugin_wired.send(plugin, app=app)
    found.gather_contributions()
    found.nav.sort(key=lambda item: (item.order, item.label))


def _wire(app: Flask, smorest, found: Registry, plugin: Plugin) -> None:
    found.declare(plugin.name, plugin)
    for name, default in plugin.settings.items():
        app.config.setdefault(name, plugin_setting(name, default))
    for blueprint in plugin.blueprints:
        app.register_blueprint(blueprint)
    for blueprint in plugin.api_blueprints:
        csrf.exempt(blueprint)  # Bearer tokens, not cookies: no CSRF to forge
        smorest.register_blueprint(blueprint)
    for pattern, func in plugin.receivers.items():
        dispatch.register(app, plugin.name, pattern, func)
    for pattern, func in plugin.batch_receivers.items():
        dispatch.register(app, plugin.name, pattern, func, batch=True)
    for func in plugin.jobs:
        jobs.register(app, func, name=f"{plugin.name}.{func.__name__}", owner=plugin.name)
    for schedule in plugin.schedules:
        schedules.register(app, schedule, owner=plugin.name)
    for command in plugin.commands:
        app.cli.add_command(command)
    metrics.declare_all(app, plugin.metrics)
    gateway.apply_rate_limits(app, plugin.rate_limits)
    if plugin.setup is not None:
        plugin.setup(app)
