"""Product analytics in Mixpanel, fed from the event bus, when MIXPANEL_TOKEN is set.

The receivers form a consumer group of their own, ``product_analytics``: with Kafka,
``flask events consume product_analytics`` runs them; without it the relay hands them each
event in-process. Domain events become Mixpanel events:

==========================  =====================  ============================================
domain event                Mixpanel event         distinct_id
==========================  =====================  ============================================
``user.signed_up``          Signup                 the new user
``qr.created``              QR Code Created        the acting user (the workspace for jobs)
``microsite.published``     Microsite Published    the acting user
``workspace.plan_changed``  Plan Changed           the acting user
``qr.scanned`` (stream)     QR Code Scanned        the workspace, one event per window
``gateway.rate_limited``    Rate Limit Hit         the workspace, one event per window
==========================  =====================  ============================================

Every event carries ``workspace_id`` and ``plan``. Scans are far too many to send one by one:
they are counted per workspace and sent as one event per QRP_MIXPANEL_SCAN_WINDOW seconds
(``scan_count``, ``human_scans``, ``bot_scans``, ``codes``); rate-limit hits likewise. Counts
held for an open window are lost if the process dies — acceptable for product analytics, and
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from qrplatform.events import Event, dispatch

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


def _signup(event: Event) -> tuple[str, str, dict]:
    return str(event.data["user_id"]), "Signup", {}


def _qr_created(event: Event) -> tuple[str | None, str, dict]:
    data = event.data
    return _acting_user(event), "QR Code Created", {
        "kind": data.get("kind"), "type": data.get("type"),
        "bulk": bool(data.get("bulk")), "duplicate": bool(data.get("duplicate_of"))}


def _microsite_published(event: Event) -> tuple[str | None, str, dict]:
    return _acting_user(event), "Microsite Published", {
        "microsite_id": event.data.get("microsite_id")}


def _plan_changed(event: Event) -> tuple[str | None, str, dict]:
    return _acting_user(event), "Plan Changed", {
        "plan": event.data.get("plan"), "previous_plan": event.data.get("previous_plan")}


# Domain event type → (distinct_id or None for "the workspace", Mixpanel name, properties).
EVENT_MAP: dict[str, Callable[[Event], tuple[str | None, str, dict]]] = {
    "user.signed_up": _signup,
    "qr.created": _qr_created,
    "microsite.published": _microsite_published,
    "workspace.plan_changed": _plan_changed,
}


def workspace_distinct_id(workspace_id: int) -> str:
    return f"workspace:{workspace_id}"


@dataclass
class _Tally:
    first_event_id: str
    plan: str
    counts: dict[str, int] = field(default_factory=dict)
    codes: set = field(default_factory=set)


class WindowedCounter:
    """Stream events counted per workspace and sent as one Mixpanel event per window."""

    def __init__(self, name: str, window: float, summarise: Callable[[_Tally], dict]):
        self.name = name
        self.window = window
        self.summarise = summarise
        self.lock = threading.Lock()
        self.tallies: dict[int, _Tally] = {}
        self.opened_at = time.monotonic()

    def add(self, workspace_id: int, plan: str, event: Event, keys: tuple[str, ...],
            code: object = None) -> None:
        with self.lock:
            tally = self.tallies.setdefault(workspace_id, _Tally(event.id, plan))
            tally.plan = plan
            for key in keys:
                tally.counts[key] = tally.counts.get(key, 0) + 1
            if code is not None:
                tally.codes.add(code)

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
                        **self.summarise(tally)},
                       insert_id=str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                f"{self.name}:{tally.first_event_id}")),
                       occurred=now)


def _scan_summary(tally: _Tally) -> dict:
    return {"scan_count": tally.counts.get("all", 0),
            "human_scans": tally.counts.get("human", 0),
            "bot_scans": tally.counts.get("bot", 0),
            "codes": len(tally.codes)}


def _rate_limit_summary(tally: _Tally) -> dict:
    return {"hit_count": tally.counts.get("all", 0)}


class ProductAnalytics:
    def __init__(self, app: Flask):
        self.app = app
        config = app.config
        self.sink = MixpanelSink(config["MIXPANEL_TOKEN"], config.get("MIXPANEL_API_HOST"))
        window = float(config.get("QRP_MIXPANEL_SCAN_WINDOW") or 0)
        self.scans = WindowedCounter("QR Code Scanned", window, _scan_summary)
        self.rate_limits = WindowedCounter("Rate Limit Hit", window, _rate_limit_summary)
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
        distinct_id, name, properties = EVENT_MAP[event.type](event)
        if event.workspace_id is None:
            return
        facts = workspace_facts({event.workspace_id}).get(event.workspace_id)
        if facts is None or facts.opted_out:
            return
        plan = properties.pop("plan", None) or facts.plan
        self.sink.track(distinct_id or workspace_distinct_id(event.workspace_id), name,
                        {"workspace_id": event.workspace_id, "plan": plan, **properties},
                        insert_id=event.id, occurred=_epoch(event))

    def on_scans(self, events: list[Event]) -> None:
        self._ensure_flusher()
        facts = workspace_facts({e.workspace_id for e in events if e.workspace_id})
        for event in events:
            known = facts.get(event.workspace_id)
            if known is None or known.opted_out:
                continue
            classification = event.data.get("classification")
            keys = ("all", classification) if classification in ("human", "bot") else ("all",)
            self.scans.add(event.workspace_id, known.plan, event, keys,
                           code=event.data.get("code_id"))
        self.scans.send_due(self.sink)

    def on_rate_limits(self, events: list[Event]) -> None:
        self._ensure_flusher()
        facts = workspace_facts({e.workspace_id for e in events if e.workspace_id})
        for event in events:
            known = facts.get(event.workspace_id)
            if known is not None and not known.opted_out:
                self.rate_limits.add(event.workspace_id, known.plan, event, ("all",))
        self.rate_limits.send_due(self.sink)

    def flush(self, *, close_windows: bool = False) -> int:
        """Send what is due (every open window too with ``close_windows``) to Mixpanel."""
        for counter in (self.scans, self.rate_limits):
            counter.send_due(self.sink, force=close_windows)
        return self.sink.flush()


def analytics() -> ProductAnalytics | None:
    return current_app.extensions.get(EXTENSION)


def _on_event(event: Event) -> None:
    analytics().on_event(event)


def _on_scans(events: list[Event]) -> None:
    analytics().on_scans(events)


def _on_rate_limits(events: list[Event]) -> None:
    analytics().on_rate_limits(events)


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
    product_analytics = ProductAnalytics(app)
    app.extensions[EXTENSION] = product_analytics
    for event_type in EVENT_MAP:
        dispatch.register(app, GROUP, event_type, _on_event)
    dispatch.register(app, GROUP, "qr.scanned", _on_scans, batch=True)
    dispatch.register(app, GROUP, "gateway.rate_limited", _on_rate_limits, batch=True)
    return product_analytics
