"""What the core and the enabled plugins declared, in one typed object per app.

``create_app`` fills it while wiring (the core first, then each plugin in dependency order);
everyone reads it through ``registry()``::

    from qrplatform.registry import registry

    registry().enabled("teams")         # is a plugin enabled?
    registry().event_types              # type -> EventType(owner, description)
    registry().permissions["qr.edit"]   # a Permission

A name two declarers claim (an event type, a permission, a quota, a setting, a job, a metric, a
product event) stops startup with a ``PluginError`` that names both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from flask import Flask, current_app

from qrplatform.plugins import (
    ExtensionPoint,
    Highlight,
    Metric,
    NavItem,
    OnboardingStep,
    Permission,
    Plugin,
    PluginError,
    ProductEvent,
    Quota,
    Schedule,
    check_quota,
)

EXTENSION = "qrp.registry"
CORE = "core"


class EventType(NamedTuple):
    owner: str
    description: str


@dataclass(frozen=True)
class SignalReceiver:
    signal: object
    func: Callable
    owner: str


@dataclass
class Registry:
    plugins: list[Plugin] = field(default_factory=list)
    event_types: dict[str, EventType] = field(default_factory=dict)
    # Stream event type -> Kafka topic.
    stream_topics: dict[str, str] = field(default_factory=dict)
    permissions: dict[str, Permission] = field(default_factory=dict)
    # Quota key -> its declaration (limits by plan, noun, usage counter).
    quotas: dict[str, Quota] = field(default_factory=dict)
    nav: list[NavItem] = field(default_factory=list)
    # Registered job name -> function; and back, for enqueue(func).
    jobs: dict[str, Callable] = field(default_factory=dict)
    job_names: dict[Callable, str] = field(default_factory=dict)
    # Job names of an earlier release (module:function) -> today's, for rows queued before.
    job_aliases: dict[str, str] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    product_events: dict[str, ProductEvent] = field(default_factory=dict)
    signal_receivers: list[SignalReceiver] = field(default_factory=list)
    # Slot name -> the templates that fill it, in plugin order.
    slots: dict[str, list[str]] = field(default_factory=dict)
    # What the public pages may promise, and the new member's checklist (both sorted by order).
    highlights: list[Highlight] = field(default_factory=list)
    onboarding: list[OnboardingStep] = field(default_factory=list)
    # Extension point -> its declaration; and what plugins contributed to each, in plugin order.
    extension_points: dict[str, ExtensionPoint] = field(default_factory=dict)
    contributions: dict[str, list] = field(default_factory=dict)
    _contributors: list[tuple[str, str, object]] = field(default_factory=list)
    # (kind, name) -> who declared it, for refusing a second declarer by name.
    owners: dict[tuple[str, str], str] = field(default_factory=dict)

    def enabled(self, plugin_name: str) -> bool:
        return any(p.name == plugin_name for p in self.plugins)

    def plugin(self, plugin_name: str) -> Plugin | None:
        return next((p for p in self.plugins if p.name == plugin_name), None)

    def claim(self, kind: str, name: str, owner: str) -> None:
        """Record that ``owner`` declares ``name``; a second declarer stops startup."""
        first = self.owners.setdefault((kind, name), owner)
        if first != owner:
            raise PluginError(f"{_who(owner)} declares {kind} {name!r}, already declared by "
                              f"{_who(first)}")

    def declare(self, owner: str, plugin: Plugin) -> None:
        """Take in what one declarer brings (the core's own declarations come as a Plugin)."""
        self._declare_mappings(owner, plugin)
        for permission in plugin.permissions:
            self.claim("permission", permission.name, owner)
            self.permissions[permission.name] = permission
        for metric in plugin.metrics:
            self.claim("metric", metric.name, owner)
            self.metrics[metric.name] = metric
        for signal, receivers in plugin.signal_receivers.items():
            for func in receivers if isinstance(receivers, list | tuple) else [receivers]:
                self.signal_receivers.append(SignalReceiver(signal, func, owner))
        for slot, templates in plugin.slots.items():
            self.slots.setdefault(slot, []).extend(
                [templates] if isinstance(templates, str) else templates)
        self.nav.extend(plugin.nav)
        self.highlights = sorted([*self.highlights, *plugin.highlights], key=lambda h: h.order)
        for step in plugin.onboarding:
            self.claim("onboarding step", step.key, owner)
        self.onboarding = sorted([*self.onboarding, *plugin.onboarding], key=lambda s: s.order)
        for point, items in plugin.contributions.items():
            self._contributors.extend((point, owner, item) for item in items)

    def _declare_mappings(self, owner: str, plugin: Plugin) -> None:
        for name, description in plugin.events.items():
            self.claim("event type", name, owner)
            self.event_types[name] = EventType(owner, description)
        for name, topic in plugin.streams.items():
            self.claim("stream type", name, owner)
            self.stream_topics[name] = topic
        for key, quota in plugin.quotas.items():
            check_quota(_who(owner), key, quota)
            self.claim("quota", key, owner)
            self.quotas[key] = quota
        for name, mapping in plugin.product_events.items():
            self.claim("product event", name, owner)
            self.product_events[name] = mapping
        for name in plugin.settings:
            self.claim("setting", name, owner)
        for name, point in plugin.extension_points.items():
            if not isinstance(point, ExtensionPoint):
                raise PluginError(f"{_who(owner)}: extension point {name!r} is a "
                                  f"{type(point).__name__}, not a qrplatform.plugins."
                                  "ExtensionPoint")
            self.claim("extension point", name, owner)
            self.extension_points[name] = point

    def gather_contributions(self) -> None:
        """Once every plugin is declared: hand each offered extension point its contributions,
        checked (type, a name no one else took, the point's own check); a bad one stops
        startup naming its plugin. The offering plugin's own items come first."""
        def offered_by_owner(contribution) -> bool:
            point_name, owner, _item = contribution
            return self.owners.get(("extension point", point_name)) == owner

        ordered = sorted(self._contributors, key=lambda c: not offered_by_owner(c))
        for point_name, owner, item in ordered:
            point = self.extension_points.get(point_name)
            if point is None:
                continue  # offered by a plugin that is not enabled here
            if not isinstance(item, point.item_type):
                raise PluginError(f"{_who(owner)} contributes a {type(item).__name__} to "
                                  f"{point_name!r}, which takes {point.item_type.__name__}")
            name = getattr(item, "name", None)
            if name is not None:
                self.claim(f"{point_name} item", str(name), owner)
            if point.check is not None:
                try:
                    point.check(item, _who(owner))
                except ValueError as exc:
                    raise PluginError(f"{_who(owner)}: {exc}") from exc
            self.contributions.setdefault(point_name, []).append(item)

    def add_job(self, name: str, func: Callable, owner: str) -> None:
        self.claim("job", name, owner)
        self.jobs[name] = func
        self.job_names[func] = name
        self.job_aliases[f"{func.__module__}:{func.__qualname__}"] = name


def _who(owner: str) -> str:
    return "the core" if owner == CORE else f"plugin {owner!r}"


def registry(app: Flask | None = None) -> Registry:
    """The registry of ``app`` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]


def init_app(app: Flask) -> Registry:
    app.extensions[EXTENSION] = found = Registry()
    return found

