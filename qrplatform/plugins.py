"""The plugin contract and the loader.

A plugin is a ``Plugin`` object published under the entry-point group ``qrplatform.plugins``;
the built-ins in plugins/ are declared in setup.cfg exactly like a third-party package. The
plugin declares what it brings; ``wire_plugins`` plugs it into the app. Installed is not
enabled: ``QRP_PLUGINS`` (comma-separated names) picks the enabled ones, all installed when it
is unset; ``QRP_PLUGINS=""`` enables none (a safe mode that boots the bare core).

A bad plugin stops startup with a ``PluginError`` that names it: a duplicate name, a missing
requirement, a dependency cycle, an import failure, a wrong type, or a name that does not follow
the naming rules below. A declaration two plugins make (an event type, a permission, a job...)
stops startup naming both (``qrplatform.registry``).

Naming rules (so that two plugins can never collide), for a plugin called ``name``:
- blueprint and table names are ``name`` or start with ``name_`` (a plugin ``q`` owns no
  ``qr_`` table);
- event types, stream types, permissions, quota keys, product-analytics mappings and
  onboarding steps are ``name.something``; settings are ``NAME_SOMETHING``;
- API blueprints live under ``/api/v1``.
"""

from __future__ import annotations

import graphlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from qrplatform.plans import PLANS

if TYPE_CHECKING:
    from blinker import Signal

    from qrplatform.events.envelope import Event

ENTRY_POINT_GROUP = "qrplatform.plugins"
API_PREFIX = "/api/v1"


class PluginError(RuntimeError):
    """A plugin cannot be loaded; the message names it and says why."""


@dataclass(frozen=True)
class NavItem:
    """A link in a menu, hidden from members lacking ``permission``: ``menu="main"`` (the
    header's sections), ``"workspace"`` (the workspace menu: settings-like pages such as the
    audit log, domains or billing), ``"account"`` (the person's own settings) or ``"create"``
    (the header's quick-create button, e.g. "New QR code"). ``icon`` is a Lucide icon name."""

    label: str
    endpoint: str
    order: int = 100
    permission: str | None = None
    menu: str = "main"
    icon: str | None = None


@dataclass(frozen=True)
class RateLimit:
    """A route's own rate limit (flask-limiter syntax, e.g. "10 per minute"), instead of the
    plan's default; ``limit=None`` exempts the route (health probes, the scan redirect).
    ``key`` counts per something else than the caller (an account, a code: a function of the
    request); ``failures_only`` counts only answers of 400 and above (wrong passwords). A route
    may have several: give a tuple of them."""

    limit: str | None
    methods: tuple[str, ...] | None = None
    key: Callable[[], str] | None = None
    failures_only: bool = False

    @classmethod
    def exempt(cls) -> RateLimit:
        return cls(None)


@dataclass(frozen=True)
class Schedule:
    """A job (also listed in ``Plugin.jobs``) that runs by itself every ``every_seconds``,
    as a system job across all workspaces (an hourly anomaly check, a daily purge)."""

    job: Callable
    every_seconds: int
    queue: str = "default"


@dataclass(frozen=True)
class Permission:
    """Something a role may do, such as ``qr.edit``; ``roles`` get it by default."""

    name: str
    description: str
    roles: tuple[str, ...] = ("owner", "admin", "editor")


@dataclass(frozen=True)
class Quota:
    """A plan limit a plugin enforces, and how to measure a workspace against it.

    ``limits`` maps a plan (``qrplatform.quotas.PLANS``) to its limit, None meaning unlimited;
    a plan left out gets the limit of the next smaller plan that is named. ``noun`` says what is
    counted, in the plural ("dynamic QR codes"). ``usage()`` counts what the workspace in scope
    (request or ``tenant_scope``) uses now; leave it out for a limit that is a setting rather
    than a stock (days of retention). ``period="month"`` counts from the first of the month
    (UTC, ``quotas.period_start()``) instead of what exists now. A ``soft`` quota is counted
    and warned about, never refused (scans: a printed code must keep working). ``unit`` tells
    pages how to show the numbers: ``"count"``, ``"bytes"``, ``"days"`` or ``"per minute"``;
    ``"switch"`` is a feature a plan has (1) or not (0), shown as yes or no.
    """

    limits: Mapping[str, int | None]
    noun: str
    usage: Callable[[], int] | None = None
    soft: bool = False
    period: str | None = None
    unit: str = "count"


@dataclass(frozen=True)
class Metric:
    """A Prometheus metric a plugin counts (``qrplatform.metrics.metric(name)`` returns it).

    ``kind`` is ``counter`` or ``histogram`` (with ``buckets``): both add up across gunicorn
    workers in multiprocess mode. Label values must be bounded (an outcome, never an id)."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    kind: str = "counter"
    buckets: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ProductEvent:
    """How one domain event type reaches product analytics (Mixpanel, with MIXPANEL_TOKEN).

    ``name`` is the Mixpanel event; ``properties(event)`` adds properties (never personal data;
    the workspace id and plan are always added); ``distinct_id(event)`` is who did it (by
    default the acting user, else the workspace).

    A stream event (``Plugin.streams``) is counted instead, per workspace, and sent once per
    QRP_MIXPANEL_SCAN_WINDOW: ``count(event)`` names the counters it adds one to,
    ``distinct(event)`` an item counted once (a code id), and ``summary(counts, distinct)`` turns
    them into the properties of the one Mixpanel event.
    """

    name: str
    properties: Callable[[Event], dict[str, Any]] | None = None
    distinct_id: Callable[[Event], str | None] | None = None
    count: Callable[[Event], Sequence[str]] | None = None
    distinct: Callable[[Event], object] | None = None
    summary: Callable[[Mapping[str, int], int], dict[str, Any]] | None = None

    @property
    def windowed(self) -> bool:
        return self.count is not None


@dataclass(frozen=True)
class Highlight:
    """One thing an enabled plugin lets people do, as the public pages promise it (the landing
    page's points, the sign-up page): pages promise what is installed and nothing else.
    ``order`` sorts them across plugins (the headline points first)."""

    title: str
    text: str
    icon: str = "sparkles"
    order: int = 100


@dataclass(frozen=True)
class OnboardingStep:
    """A step of the checklist a new member sees on the home page (qrplatform.onboarding).

    ``done`` tells from real data whether the step is done for the member in the workspace in
    scope (a function of the user, e.g. "the workspace has a QR code"); leave it out for a step
    only the plugin can witness, and call ``onboarding.mark_done(key)`` when it happens. A step
    seen done once stays done. ``endpoint`` is where to do it (with ``action`` as the link's
    words); ``permission`` hides it from roles that cannot; ``panel`` is a template shown under
    the step while it is the next one (the context has ``step`` and ``user``).
    ``live=True`` makes the checklist poll for it while it is the next step (a scan arriving)."""

    key: str
    title: str
    text: str = ""
    endpoint: str | None = None
    action: str = "Start"
    done: Callable[[Any], bool] | None = None
    permission: str | None = None
    order: int = 100
    panel: str | None = None
    live: bool = False


@dataclass(frozen=True)
class ExtensionPoint:
    """A place where other plugins add things to this plugin (microsites' block types): each
    contribution must be an instance of ``item_type`` with a ``name`` no one else declared;
    ``check(item, owner)`` may refuse one more precisely (raise ValueError saying why). Items
    reach the offering plugin through ``registry().contributions[point]``."""

    item_type: type
    description: str = ""
    check: Callable[[Any, str], None] | None = None


@dataclass
class Plugin:
    """What a plugin declares. Only ``name`` is required."""

    name: str
    title: str = ""
    description: str = ""
    requires: Sequence[str] = ()
    # HTMX pages and partials; each blueprint brings its own templates/ folder.
    blueprints: Sequence = ()
    # flask-smorest blueprints, url_prefix under /api/v1; they appear in the OpenAPI document.
    api_blueprints: Sequence = ()
    # Model classes; imported with the plugin, checked against the naming rules.
    models: Sequence[type] = ()
    # Folder of this plugin's Alembic version branch (branch label = plugin name).
    migrations: str | None = None
    nav: Sequence[NavItem] = ()
    # Domain events this plugin publishes: type -> what it means (documented in one place).
    events: Mapping[str, str] = field(default_factory=dict)
    # Domain event receivers: event type, or a pattern such as "qr.*", -> callable(event).
    # They run in the consumer group named after the plugin, once per event id.
    receivers: Mapping[str, Callable] = field(default_factory=dict)
    # High-volume event types this plugin emits with emit_stream(), and their Kafka topic.
    streams: Mapping[str, str] = field(default_factory=dict)
    # Receivers of stream events, called with a list of events; idempotent by event id.
    batch_receivers: Mapping[str, Callable] = field(default_factory=dict)
    # Job functions (module-level, taking ids), registered as "<plugin>.<function name>" and
    # enqueued by that name: jobs.enqueue("qr.bulk_create", ...).
    jobs: Sequence[Callable] = ()
    # Jobs that run by themselves at an interval (qrplatform.jobs.schedules).
    schedules: Sequence[Schedule] = ()
    # click commands added under `flask <command>`.
    commands: Sequence = ()
    permissions: Sequence[Permission] = ()
    # Endpoint -> RateLimit, for routes that need another limit than the plan's default.
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    # Plan quotas this plugin enforces: key -> Quota (limits by plan, noun, usage counter).
    quotas: Mapping[str, Quota] = field(default_factory=dict)
    # Settings with their defaults; an environment variable of the same name overrides one
    # (cast to the default's type), and so does the app config.
    settings: Mapping[str, object] = field(default_factory=dict)
    # WSGI middleware factories, factory(app, wsgi_app) -> wsgi_app, for paths that must not
    # pay for the whole Flask pipeline (the scan redirect); mounted inside ProxyFix.
    wsgi_middleware: Sequence[Callable] = ()
    # Prometheus metrics this plugin counts (qrplatform.metrics.metric(name) returns one).
    metrics: Sequence[Metric] = ()
    # Product analytics: this plugin's event type -> how it reaches Mixpanel.
    product_events: Mapping[str, ProductEvent] = field(default_factory=dict)
    # In-process hooks: a signal of qrplatform.signals -> receiver (or a list of receivers),
    # connected by the core for the apps that enable this plugin only.
    signal_receivers: Mapping[Signal, Callable | Sequence[Callable]] = field(
        default_factory=dict)
    # Template slots this plugin fills: slot name ("qr.code_actions") -> template(s) rendered
    # where a page calls {{ slot("qr.code_actions", code=code) }}.
    slots: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    # What the public pages may promise while this plugin is enabled (landing, sign-up).
    highlights: Sequence[Highlight] = ()
    # Steps of the new member's checklist on the home page (qrplatform.onboarding).
    onboarding: Sequence[OnboardingStep] = ()
    # Extension points this plugin offers other plugins: "<name>.<point>" -> ExtensionPoint.
    extension_points: Mapping[str, ExtensionPoint] = field(default_factory=dict)
    # What this plugin adds to other plugins' extension points (its own too): point -> items.
    # Contributions to a point no enabled plugin offers are left unused.
    contributions: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    # Called once with the app after the core wired everything above, for app-local wiring
    # (before_request hooks, blueprints mounted at a configured path).
    setup: Callable | None = None

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").title()


def installed_entry_points() -> dict[str, EntryPoint]:
    """The plugins installed in this environment, by name; a name seen twice is an error."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise PluginError(
                f"plugin {ep.name!r} is installed twice: {found[ep.name].value} and {ep.value}"
            )
        found[ep.name] = ep
    return found


def _load(ep: EntryPoint) -> Plugin:
    try:
        plugin = ep.load()
    except Exception as exc:
        raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc!r}") from exc
    if callable(plugin) and not isinstance(plugin, Plugin):
        plugin = plugin()
    if not isinstance(plugin, Plugin):
        raise PluginError(
            f"plugin {ep.name!r} ({ep.value}) is a {type(plugin).__name__}, not a "
            "qrplatform.plugins.Plugin"
        )
    if plugin.name != ep.name:
        raise PluginError(
            f"plugin {ep.name!r} ({ep.value}) calls itself {plugin.name!r}; "
            "the entry-point name and Plugin.name must match"
        )
    _check_names(plugin)
    return plugin


def owns(plugin_name: str, name: str, separator: str = "_") -> bool:
    """Whether ``name`` carries the plugin's prefix: ``qr`` owns ``qr`` and ``qr_codes``, not
    ``qrx_codes``; with ``separator="."``, ``qr.created``."""
    return name == plugin_name or name.startswith(plugin_name + separator)


# What a plugin declares under its own name: (what, the names, the separator, case).
def _declared_names(plugin: Plugin) -> list[tuple[str, list[str], str]]:
    return [
        ("event type", list(plugin.events), "."),
        ("stream type", list(plugin.streams), "."),
        ("permission", [p.name for p in plugin.permissions], "."),
        ("quota", list(plugin.quotas), "."),
        ("product event", list(plugin.product_events), "."),
        ("onboarding step", [step.key for step in plugin.onboarding], "."),
        ("extension point", list(plugin.extension_points), "."),
    ]


def _check_blueprints_and_tables(plugin: Plugin) -> None:
    name = plugin.name
    for bp in [*plugin.blueprints, *plugin.api_blueprints]:
        if not owns(name, bp.name):
            raise PluginError(
                f"plugin {name!r}: blueprint {bp.name!r} must be {name!r} or start with "
                f"'{name}_'"
            )
    for bp in plugin.api_blueprints:
        if not (bp.url_prefix or "").startswith(API_PREFIX):
            raise PluginError(
                f"plugin {name!r}: API blueprint {bp.name!r} must live under {API_PREFIX}"
            )
    for model in plugin.models:
        table = getattr(model, "__tablename__", "")
        if not owns(name, table):
            raise PluginError(
                f"plugin {name!r}: table {table!r} of {model.__name__} must start with "
                f"'{name}_'"
            )


def _check_names(plugin: Plugin) -> None:
    _check_blueprints_and_tables(plugin)
    name = plugin.name
    for what, names, separator in _declared_names(plugin):
        for declared in names:
            if not owns(name, declared, separator) or declared == name:
                raise PluginError(f"plugin {name!r}: {what} {declared!r} must start with "
                                  f"'{name}{separator}'")
    for setting in plugin.settings:
        if not setting.startswith(name.upper() + "_"):
            raise PluginError(f"plugin {name!r}: setting {setting!r} must start with "
                              f"'{name.upper()}_'")
    if plugin.migrations and not os.path.isdir(plugin.migrations):
        raise PluginError(
            f"plugin {plugin.name!r}: migrations folder {plugin.migrations} does not exist"
        )


QUOTA_PERIODS = (None, "month")
QUOTA_UNITS = ("count", "bytes", "days", "per minute", "switch")


def check_quota(who: str, key: str, quota: Quota) -> None:
    """A quota declaration the usage page and the checks can rely on, or a PluginError."""
    if not isinstance(quota, Quota):
        raise PluginError(f"{who}: quota {key!r} is a {type(quota).__name__}, not a "
                          "qrplatform.plugins.Quota")
    unknown = sorted(set(quota.limits) - set(PLANS))
    if unknown or not quota.limits:
        raise PluginError(f"{who}: quota {key!r} names no plan or unknown plans {unknown}; "
                          f"plans are {', '.join(PLANS)}")
    if quota.period not in QUOTA_PERIODS or quota.unit not in QUOTA_UNITS:
        raise PluginError(f"{who}: quota {key!r} has period {quota.period!r} and unit "
                          f"{quota.unit!r}; periods are None or 'month', units "
                          f"{', '.join(QUOTA_UNITS)}")


def load_plugins(enabled: Sequence[str] | None = None) -> list[Plugin]:
    """Load the enabled plugins (all installed when ``enabled`` is None, none when it is
    empty) in dependency order."""
    installed = installed_entry_points()
    names = list(installed) if enabled is None else list(dict.fromkeys(enabled))
    unknown = [name for name in names if name not in installed]
    if unknown:
        raise PluginError(
            f"unknown plugin(s) {', '.join(map(repr, unknown))} in QRP_PLUGINS; "
            f"installed: {', '.join(sorted(installed)) or 'none'}"
        )
    plugins = {name: _load(installed[name]) for name in names}
    for plugin in plugins.values():
        for required in plugin.requires:
            if required not in plugins:
                state = "not enabled" if required in installed else "not installed"
                raise PluginError(
                    f"plugin {plugin.name!r} requires plugin {required!r}, which is {state}"
                )
    sorter = graphlib.TopologicalSorter({p.name: set(p.requires) for p in plugins.values()})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise PluginError(f"plugins require each other in a cycle: {exc.args[1]}") from exc
    return [plugins[name] for name in order]
