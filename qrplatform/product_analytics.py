"""Product analytics in Mixpanel, fed from the event bus, when MIXPANEL_TOKEN is set.

The receivers form a consumer group of their own, ``product_analytics``: with Kafka,
``flask events consume product_analytics`` runs them; without it the relay hands them each
event in-process. Which domain events become which Mixpanel events is declared, by the core for
its own (``CORE_PRODUCT_EVENTS``: ``user.signed_up`` → Signup, ``gateway.rate_limited`` → Rate
Limit Hit) and by each plugin for its own (``Plugin.product_events``, a ``ProductEvent`` each);
``flask product-analytics events`` lists them.

Every event carries ``workspace_id`` and ``plan``. Stream events (scans) are far too many to
send one by one: they are counted per workspace and sent as one event per
QRP_MIXPANEL_SCAN_WINDOW seconds, with the properties the declaration's ``summary`` makes.
Counts held for an open window are lost if the process dies — acceptable for product analytics, and
the window can be set to 0 (one event per batch of the stream). A workspace with
``analytics_opt_out`` sends nothing at all.

Delivery: receivers only format (with the real ``mixpanel`` client) and queue. The library's
``BufferedConsumer`` posts the queue in batches of 50 from a background thread every
QRP_MIXPANEL_FLUSH_INTERVAL seconds and at exit, so no request and no receiver waits on
Mixpanel, and a Mixpanel outage never fails a receiver: events stay queued (at most
MAX_QUEUED, oldest dropped first) and are retried. ``$insert_id`` is derived from the domain
event id, so Mixpanel drops anything sent twice after a redelivery.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from qrplatform.events import Event, dispatch
from qrplatform.plugins import ProductEvent
from qrplatform.registry import registry

log = logging.getLogger(__name__)

GROUP = "product_analytics"
EXTENSION = "qrp.product_analytics"
MAX_QUEUED = 10_000
BATCH_SIZE = 50  # Mixpanel's /track takes at most 50 events per request


# -- sending ------------------------------------------------------------------------------------

class _Queue:
    """A Mixpanel "consumer" that only keeps the formatted message, for the flusher to send."""

    def __init__(self, maxlen: int):
        self.messages: deque[str] = deque()
        self.maxlen = maxlen
        self.dropped = 0
        self.lock = threading.Lock()

    def send(self, endpoint: str, json_message: str, api_key=None, api_secret=None) -> None:
        with self.lock:
            if len(self.messages) >= self.maxlen:
                self.messages.popleft()
                self.dropped += 1
            self.messages.append(json_message)

    def take(self, count: int) -> list[str]:
        with self.lock:
            return [self.messages.popleft() for _ in range(min(count, len(self.messages)))]


def _endpoint_options(api_host: str | None) -> dict:
    """MIXPANEL_API_HOST is a host (``api-eu.mixpanel.com``) or a base URL with a scheme."""
    if not api_host:
        return {}
    if "://" in api_host:
        base = api_host.rstrip("/")
        return {"events_url": f"{base}/track", "people_url": f"{base}/engage",
                "groups_url": f"{base}/groups", "import_url": f"{base}/import"}
    return {"api_host": api_host}


class MixpanelSink:
    """Formats with the real Mixpanel client; sends with its BufferedConsumer on flush()."""

    def __init__(self, token: str, api_host: str | None):
        import mixpanel

        self.queue = _Queue(MAX_QUEUED)
        self.client = mixpanel.Mixpanel(token, consumer=self.queue)
        self.consumer = mixpanel.BufferedConsumer(
            max_size=BATCH_SIZE, request_timeout=10, retry_limit=2,
            **_endpoint_options(api_host))
        self._send_lock = threading.Lock()
        self._unsent = False  # the BufferedConsumer holds a batch a failed send left behind

    def track(self, distinct_id: str, name: str, properties: dict, *, insert_id: str,
              occurred: float) -> None:
        self.client.track(distinct_id, name, {**properties, "$insert_id": insert_id,
                                              "time": int(occurred)})

    def flush(self) -> int:
        """Send what is queued, 50 per request. Returns how many were sent; on failure the
        batch stays (in the BufferedConsumer) for the next flush."""
        from mixpanel import MixpanelException

        sent = 0
        with self._send_lock:
            try:
                if self._unsent:
                    self.consumer.flush()
                    self._unsent = False
                while batch := self.queue.take(BATCH_SIZE):
                    self._unsent = True
                    for message in batch:
                        self.consumer.send("events", message)
                    self.consumer.flush()
                    self._unsent = False
                    sent += len(batch)
            except (MixpanelException, KeyError, ValueError) as exc:
                log.warning("Mixpanel did not take a batch; retrying later: %s", exc)
        if self.queue.dropped:
            log.warning("Mixpanel queue full: %d events dropped", self.queue.dropped)
            self.queue.dropped = 0
        return sent


# -- mapping domain events ----------------------------------------------------------------------

@dataclass
class WorkspaceFacts:
    plan: str
    opted_out: bool


def workspace_facts(workspace_ids: set[int]) -> dict[int, WorkspaceFacts]:
    from qrplatform.auth.models import Workspace
    from qrplatform.extensions import db

    if not workspace_ids:
        return {}
    rows = db.session.execute(select(Workspace.id, Workspace.plan, Workspace.analytics_opt_out)
                              .where(Workspace.id.in_(workspace_ids)))
    return {row.id: WorkspaceFacts(row.plan, bool(row.analytics_opt_out)) for row in rows}


def _epoch(event: Event) -> float:
    try:
        return datetime.fromisoformat(event.occurred_at).timestamp()
    except (TypeError, ValueError):
        return time.time()


def _acting_user(event: Event) -> str | None:
    actor = event.actor or {}
    return str(actor["id"]) if actor.get("type") == "user" and actor.get("id") else None


def _rate_limit_counters(event: Event) -> tuple[str, ...]:
    return ("all",)


def _rate_limit_summary(counts: Mapping[str, int], _distinct: int) -> dict:
    return {"hit_count": counts.get("all", 0)}


# The core's own events; plugins declare theirs in Plugin.product_events.
CORE_PRODUCT_EVENTS = {
    "user.signed_up": ProductEvent("Signup",
                                   distinct_id=lambda event: str(event.data["user_id"])),
    "gateway.rate_limited": ProductEvent("Rate Limit Hit", count=_rate_limit_counters,
                                         summary=_rate_limit_summary),
}


def workspace_distinct_id(workspace_id: int) -> str:
    return f"workspace:{workspace_id}"


@dataclass
class _Tally:
    first_event_id: str
    plan: str
    counts: dict[str, int] = field(default_factory=dict)
    distinct: set = field(default_factory=set)


class WindowedCounter:
    """Stream events counted per workspace and sent as one Mixpanel event per window."""

    def __init__(self, declared: ProductEvent, window: float):
        self.declared = declared
        self.name = declared.name
        self.window = window
        self.lock = threading.Lock()
        self.tallies: dict[int, _Tally] = {}
        self.opened_at = time.monotonic()

    def add(self, workspace_id: int, plan: str, event: Event) -> None:
        keys = self.declared.count(event)
        item = self.declared.distinct(event) if self.declared.distinct else None
        with self.lock:
            tally = self.tallies.setdefault(workspace_id, _Tally(event.id, plan))
            tally.plan = plan
            for key in keys:
                tally.counts[key] = tally.counts.get(key, 0) + 1
            if item is not None:
                tally.distinct.add(item)

    def send_due(self, sink: MixpanelSink, *, force: bool = False) -> None:
        with self.lock:
            if not self.tallies or not (force or time.monotonic() - self.opened_at
                                        >= self.window):
                return
            tallies, self.tallies = self.tallies, {}
            self.opened_at = time.monotonic()
        now = time.time()
        for workspace_id, tally in tallies.items():
            sink.track(workspace_distinct_id(workspace_id), self.name,
                       {"workspace_id": workspace_id, "plan": tally.plan,
                        **self._summary(tally)},
                       insert_id=str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                f"{self.name}:{tally.first_event_id}")),
                       occurred=now)

    def _summary(self, tally: _Tally) -> dict:
        if self.declared.summary is None:
            return {"count": tally.counts.get("all", 0)}
        return self.declared.summary(tally.counts, len(tally.distinct))


class ProductAnalytics:
    def __init__(self, app: Flask, declared: Mapping[str, ProductEvent]):
        self.app = app
        config = app.config
        self.declared = dict(declared)
        self.sink = MixpanelSink(config["MIXPANEL_TOKEN"], config.get("MIXPANEL_API_HOST"))
        window = float(config.get("QRP_MIXPANEL_SCAN_WINDOW") or 0)
        # Stream event type -> its window.
        self.windows = {event_type: WindowedCounter(product_event, window)
                        for event_type, product_event in self.declared.items()
                        if product_event.windowed}
        self.flush_interval = float(config.get("QRP_MIXPANEL_FLUSH_INTERVAL") or 0)
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._closed = False
        atexit.register(self.close)

    def _ensure_flusher(self) -> None:
        """The background sender, started by the first receiver call in this process (the
        relay or the consumer), so web workers without receivers run no thread."""
        if self.flush_interval <= 0 or (self._thread is not None and self._thread.is_alive()):
            return
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="qrp-mixpanel")
                self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            time.sleep(self.flush_interval)
            try:
                self.flush()
            except Exception:
                log.exception("product analytics flush failed; retrying")

    def close(self) -> None:
        """Send everything, open windows included (at exit)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self.flush(close_windows=True)

    # receivers (called by the event bus) --
    def on_event(self, event: Event) -> None:
        self._ensure_flusher()
        declared = self.declared[event.type]
        if event.workspace_id is None:
            return
        facts = workspace_facts({event.workspace_id}).get(event.workspace_id)
        if facts is None or facts.opted_out:
            return
        properties = declared.properties(event) if declared.properties else {}
        distinct_id = (declared.distinct_id or _acting_user)(event)
        plan = properties.pop("plan", None) or facts.plan
        self.sink.track(distinct_id or workspace_distinct_id(event.workspace_id), declared.name,
                        {"workspace_id": event.workspace_id, "plan": plan, **properties},
                        insert_id=event.id, occurred=_epoch(event))

    def on_stream(self, events: list[Event]) -> None:
        self._ensure_flusher()
        facts = workspace_facts({e.workspace_id for e in events if e.workspace_id})
        touched = set()
        for event in events:
            known = facts.get(event.workspace_id)
            window = self.windows.get(event.type)
            if known is None or known.opted_out or window is None:
                continue
            window.add(event.workspace_id, known.plan, event)
            touched.add(event.type)
        for event_type in touched:
            self.windows[event_type].send_due(self.sink)

    def flush(self, *, close_windows: bool = False) -> int:
        """Send what is due (every open window too with ``close_windows``) to Mixpanel."""
        for window in self.windows.values():
            window.send_due(self.sink, force=close_windows)
        return self.sink.flush()


def analytics() -> ProductAnalytics | None:
    return current_app.extensions.get(EXTENSION)


def _on_event(event: Event) -> None:
    analytics().on_event(event)


def _on_stream(events: list[Event]) -> None:
    analytics().on_stream(events)


# -- opting a workspace out ---------------------------------------------------------------------

cli = AppGroup("product-analytics", help="Product analytics (Mixpanel).")


def set_opt_out(workspace_id: int, opted_out: bool) -> None:
    from qrplatform.auth.models import Workspace
    from qrplatform.extensions import db

    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        raise click.ClickException(f"no workspace {workspace_id}")
    workspace.analytics_opt_out = opted_out
    db.session.commit()


@cli.command("events")
def list_events():
    """Which domain events reach Mixpanel, under which name."""
    for event_type, declared in sorted(registry().product_events.items()):
        owner = registry().event_types.get(event_type)
        kind = "counted per window" if declared.windowed else "one by one"
        click.echo(f"{event_type:28} {declared.name:24} {kind:20} "
                   f"{owner.owner if owner else ''}")


@cli.command("opt-out")
@click.argument("workspace_id", type=int)
def opt_out(workspace_id: int):
    """Send nothing about WORKSPACE_ID to Mixpanel from now on."""
    set_opt_out(workspace_id, True)
    click.echo(json.dumps({"workspace_id": workspace_id, "analytics_opt_out": True}))


@cli.command("opt-in")
@click.argument("workspace_id", type=int)
def opt_in(workspace_id: int):
    """Include WORKSPACE_ID in product analytics again."""
    set_opt_out(workspace_id, False)
    click.echo(json.dumps({"workspace_id": workspace_id, "analytics_opt_out": False}))


def init_app(app: Flask) -> ProductAnalytics | None:
    """Register the ``product_analytics`` receivers when MIXPANEL_TOKEN is set (call after the
    plugins are wired, so the stream types they declare are known)."""
    app.cli.add_command(cli)
    if not app.config.get("MIXPANEL_TOKEN"):
        return None
    declared = registry(app).product_events
    product_analytics = ProductAnalytics(app, declared)
    app.extensions[EXTENSION] = product_analytics
    for event_type, product_event in declared.items():
        if product_event.windowed:
            dispatch.register(app, GROUP, event_type, _on_stream, batch=True)
        else:
            dispatch.register(app, GROUP, event_type, _on_event)
    return product_analytics
