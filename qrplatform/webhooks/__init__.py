"""Webhooks: the core tells a workspace's own servers what happens, for every plugin's events.

A core facility rather than a plugin, like product analytics: it serves the events the core
and every enabled plugin declare (a new plugin's events are offered by themselves, the bare
core's too), its receivers are registered once every plugin has declared its own, and its
address guard (``qrplatform.netguard``) is shared with any plugin that fetches URLs people give.

- ``models``: endpoints, deliveries (one per event, or per window of stream events), attempts.
- ``services``: every rule (what may be subscribed, retries, disabling, the delivery log).
- ``jobs``: sending — signed with the Standard Webhooks headers through netguard.
- ``api`` (/api/v1/webhooks) and ``views`` (/settings/webhooks): the same services.

Two consumer groups feed it: ``webhooks`` (domain events, one delivery each) and
``webhooks_stream`` (stream events such as scans, collected per endpoint and sent in windows
of QRP_WEBHOOK_BATCH_WINDOW seconds). Run them with ``flask events consume webhooks`` and
``flask events consume webhooks_stream``; without Kafka the relay hands events over in-process.
"""

from __future__ import annotations

from flask import Flask

from qrplatform.plugins import NavItem, Permission, Quota, RateLimit, Schedule

EVENTS = {
    "webhook.created": "a webhook endpoint was registered (data: webhook_id, url without its "
                       "query, events, enabled)",
    "webhook.updated": "a webhook endpoint changed (data: webhook_id, url, changed)",
    "webhook.enabled": "a webhook endpoint was turned (back) on (data: webhook_id, url)",
    "webhook.disabled": "a webhook endpoint was paused, or turned off after failing for a day "
                        "(data: webhook_id, url, reason manual|failing, failing_since)",
    "webhook.secret_rotated": "a webhook endpoint got a new signing secret (data: webhook_id, "
                              "url, previous_secret_expires_at)",
    "webhook.deleted": "a webhook endpoint was removed (data: webhook_id, url)",
}

PERMISSIONS = (
    Permission("webhooks.view", "See the webhook endpoints and their delivery log",
               ("owner", "admin")),
    Permission("webhooks.manage", "Add, change and remove webhook endpoints; send tests and "
                                  "redeliveries", ("owner", "admin")),
)

def _endpoints_in_use() -> int:
    from qrplatform.webhooks import services

    return services.count_endpoints()


QUOTAS = {"webhooks.endpoints": Quota({"free": 2, "pro": 10, "business": 50,
                                       "enterprise": None}, "webhook endpoints",
                                      usage=_endpoints_in_use)}

NAV = (NavItem("Webhooks", "webhooks.index", order=60, permission="webhooks.view",
               menu="workspace", icon="webhook"),)

# Each test or redelivery makes a request to a URL someone typed: not a request cannon.
RATE_LIMITS = {
    "webhooks_api.send_test": RateLimit("10 per minute"),
    "webhooks_api.redeliver": RateLimit("30 per minute"),
    "webhooks.send_test": RateLimit("10 per minute", methods=("POST",)),
    "webhooks.redeliver": RateLimit("30 per minute", methods=("POST",)),
}


def init_app(app: Flask, smorest) -> None:
    """Wire webhooks into ``app``: call once every plugin is wired, so that the event types
    they declare get receivers."""
    from qrplatform import gateway, jobs, metrics
    from qrplatform.events import dispatch
    from qrplatform.extensions import csrf
    from qrplatform.jobs import schedules
    from qrplatform.registry import registry
    from qrplatform.webhooks import api, services, views
    from qrplatform.webhooks import jobs as webhook_jobs

    app.register_blueprint(views.bp)
    csrf.exempt(api.blp)
    smorest.register_blueprint(api.blp)
    gateway.apply_rate_limits(app, RATE_LIMITS)
    for func in (webhook_jobs.send_pending, webhook_jobs.close_window, webhook_jobs.sweep,
                 webhook_jobs.purge):
        jobs.register(app, func, name=f"webhooks.{func.__name__}")
    schedules.register(app, Schedule(webhook_jobs.sweep, every_seconds=300))
    schedules.register(app, Schedule(webhook_jobs.purge, every_seconds=86400))
    declared = registry(app)
    for event_type in sorted(declared.event_types):
        if event_type in declared.stream_topics:
            dispatch.register(app, services.STREAM_GROUP, event_type, services.collect_stream,
                              batch=True)
        else:
            dispatch.register(app, services.GROUP, event_type, services.queue_event)
    metrics.add_scrape_collector(app, webhook_jobs.DeliveryBacklogCollector())
