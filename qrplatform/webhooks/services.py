"""Webhooks: every rule in one place, for the API, the pages, the receivers and the jobs.

- Endpoints: a URL (checked by ``qrplatform.netguard``: public addresses only), the event types
  it wants (declared types, ``domain.*`` or ``*``), a secret shown once.
- Deliveries: one per event and endpoint (stream events: one per window), made in the
  receiver's transaction; the body is fixed then, so every attempt signs the same bytes.
- Attempts: a success delivers; a failure waits for the next step of the retry schedule
  (about a day in all); the last failure of an automatic delivery disables an endpoint that
  has not succeeded since that delivery began, and e-mails the workspace's owners.
- A failing endpoint is not hammered: new deliveries wait for its next retry, which probes it
  with one delivery; when that one gets through, the rest follow.

Sending (signing, the HTTP request, leases, wake-ups) is ``qrplatform.webhooks.jobs``; it is
started by job name after the commit, so nothing here waits on a receiver's server.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app, g, has_request_context
from sqlalchemy import func, select, update

from qrplatform import encryption, events, hosts, jobs, netguard, permissions, quotas
from qrplatform.auth.models import Membership, User
from qrplatform.errors import Conflict, NotFound, ServiceError
from qrplatform.events import Event
from qrplatform.extensions import db, dialect_insert
from qrplatform.notify import send_email
from qrplatform.registry import registry
from qrplatform.tenancy import get_or_404, tenant_scope, unscoped
from qrplatform.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookStreamEvent,
)

# The consumer groups: domain events one by one; stream events (scans) in batches.
GROUP = "webhooks"
STREAM_GROUP = "webhooks_stream"
TEST_EVENT = "webhook.test"
SECRET_PREFIX = "whsec_"
MAX_EVENT_TYPES = 100
MAX_DESCRIPTION = 200
SNIPPET_CHARS = 1024
# Jobs, enqueued by name (qrplatform.webhooks.jobs registers them).
SEND_JOB = "webhooks.send_pending"
CLOSE_WINDOW_JOB = "webhooks.close_window"

# Defaults of the settings (environment variables of the same names override them).
DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)  # about 24.6 h in all
DEFAULT_TIMEOUT = 10.0
DEFAULT_BATCH_WINDOW = 60.0
DEFAULT_BATCH_MAX = 1000
DEFAULT_LOG_DAYS = 30
DEFAULT_SECRET_OVERLAP = 86400


def setting(name: str, default):
    value = current_app.config.get(name)
    return default if value is None else value


def retry_schedule() -> Sequence[float]:
    """Seconds to wait after each failed attempt: its length is the number of retries."""
    return tuple(setting("QRP_WEBHOOK_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE))


def now() -> datetime:
    return datetime.now(UTC)


# -- event types ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventTypeInfo:
    name: str
    description: str
    owner: str
    # Stream events (scans) arrive in batches, one delivery per window.
    batched: bool


def event_catalogue() -> list[EventTypeInfo]:
    """Every event type an endpoint may ask for: what the core and each enabled plugin
    declared, so a new plugin's events are offered by themselves."""
    found = registry()
    return [EventTypeInfo(name, declared.description, declared.owner,
                          name in found.stream_topics)
            for name, declared in sorted(found.event_types.items())]


def check_event_types(patterns: Iterable[str] | None) -> list[str]:
    """The chosen types, cleaned: declared types, ``domain.*`` for a domain that has some,
    or ``*``. Anything else is refused beside the field with what is possible."""
    cleaned = list(dict.fromkeys((p or "").strip() for p in patterns or () if (p or "").strip()))
    if not cleaned:
        raise ServiceError("Choose at least one event type (or \"*\" for all).",
                           field="events", status=422, code="validation_error")
    if len(cleaned) > MAX_EVENT_TYPES:
        raise ServiceError(f"Choose at most {MAX_EVENT_TYPES} event types; use a pattern such "
                           "as \"qr.*\" for a whole area.", field="events", status=422,
                           code="validation_error")
    declared = {info.name for info in event_catalogue()}
    domains = {name.split(".", 1)[0] for name in declared}
    unknown = [p for p in cleaned if not (p == "*" or p in declared or (
        p.endswith(".*") and p[:-2] in domains))]
    if unknown:
        raise ServiceError(
            f"Unknown event type(s): {', '.join(unknown)}. Use a declared type, an area such "
            f"as {', '.join(sorted(d + '.*' for d in domains)[:4])}, or \"*\" "
            "(GET /api/v1/webhooks/event-types lists them).",
            field="events", status=422, code="validation_error")
    return cleaned


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return any(fnmatch.fnmatchcase(event_type, p) for p in endpoint.event_types or ())


# -- endpoints -----------------------------------------------------------------------------------

def shown_url(url: str) -> str:
    """The URL without its query (which often carries a token): for events, e-mails, logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


def _new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one while the
    rotation's overlap lasts."""
    found = [encryption.decrypt(endpoint.secret_encrypted)]
    if (endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at
            and endpoint.previous_secret_expires_at > now()):
        found.append(encryption.decrypt(endpoint.previous_secret_encrypted))
    return found


def _check_url(url: str) -> str:
    url = (url or "").strip()
    netguard.check_url(url)  # raises BlockedDestination (422, field "url")
    return url


def _check_description(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise ServiceError(f"Keep the description under {MAX_DESCRIPTION} characters.",
                           field="description", status=422, code="validation_error")
    return description


def count_endpoints() -> int:
    """The workspace's endpoints (its webhooks.endpoints quota)."""
    return db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0


def list_endpoints() -> list[WebhookEndpoint]:
    permissions.require("webhooks.view")
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(endpoint_id: int) -> WebhookEndpoint:
    permissions.require("webhooks.view")
    return get_or_404(WebhookEndpoint, endpoint_id, "No such webhook in this workspace.")


def _event_data(endpoint: WebhookEndpoint, **extra) -> dict:
    return {"webhook_id": endpoint.id, "url": shown_url(endpoint.url), **extra}


def create_endpoint(url: str, event_types: Sequence[str], description: str = "",
                    enabled: bool = True) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (shown this once)."""
    permissions.require("webhooks.manage")
    quotas.check("webhooks.endpoints")
    url = _check_url(url)
    description = _check_description(description)
    event_types = check_event_types(event_types)
    secret = _new_secret()
    user = g.get("user") if has_request_context() else None
    endpoint = WebhookEndpoint(
        url=url, event_types=event_types, description=description,
        secret_encrypted=encryption.encrypt(secret), enabled=enabled,
        disabled_reason=None if enabled else "manual", disabled_at=None if enabled else now(),
        created_by_id=user.id if user is not None else None)
    db.session.add(endpoint)
    db.session.flush()
    events.publish("webhook.created", _event_data(endpoint, events=event_types,
                                                  enabled=enabled))
    db.session.commit()
    return endpoint, secret


def update_endpoint(endpoint_id: int, *, url: str | None = None,
                    event_types: Sequence[str] | None = None, description: str | None = None,
                    enabled: bool | None = None) -> WebhookEndpoint:
    """Change what an endpoint receives; ``enabled`` pauses it or turns it back on (after an
    automatic disable too: deliveries waiting since are sent then)."""
    permissions.require("webhooks.manage")
    endpoint = get_endpoint(endpoint_id)
    # Every input is checked before anything changes.
    wanted = {  # by the API's field names, with the model's attribute for each
        ("url", "url"): _check_url(url) if url is not None and url.strip() != endpoint.url
        else None,
        ("description", "description"): _check_description(description)
        if description is not None else None,
        ("events", "event_types"): check_event_types(event_types)
        if event_types is not None else None,
    }
    changed = []
    for (name, attribute), value in wanted.items():
        if value is not None and value != getattr(endpoint, attribute):
            setattr(endpoint, attribute, value)
            changed.append(name)
    if changed:
        endpoint.updated_at = now()
        events.publish("webhook.updated", _event_data(endpoint, changed=changed))
    if enabled is True and not endpoint.enabled:
        _enable(endpoint)
    elif enabled is False and endpoint.enabled:
        _disable(endpoint, "manual")
    db.session.commit()
    return endpoint


def _enable(endpoint: WebhookEndpoint) -> None:
    """On again: what waited is due now (with the retries it has left)."""
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
    endpoint.failing_since = None
    endpoint.updated_at = now()
    db.session.execute(update(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.state == "pending")
        .values(next_attempt_at=now()).execution_options(synchronize_session=False))
    events.publish("webhook.enabled", _event_data(endpoint))
    kick(endpoint.id)


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, now()
    endpoint.updated_at = now()
    events.publish("webhook.disabled", _event_data(
        endpoint, reason=reason,
        failing_since=endpoint.failing_since.isoformat() if endpoint.failing_since else None))


def delete_endpoint(endpoint_id: int) -> None:
    permissions.require("webhooks.manage")
    endpoint = get_endpoint(endpoint_id)
    events.publish("webhook.deleted", _event_data(endpoint))
    db.session.delete(endpoint)
    db.session.commit()


def rotate_secret(endpoint_id: int) -> tuple[WebhookEndpoint, str]:
    """A new secret (shown once). The old one keeps signing, next to the new one, for
    QRP_WEBHOOK_SECRET_OVERLAP seconds, so the receiver can switch without losing events."""
    permissions.require("webhooks.manage")
    endpoint = get_endpoint(endpoint_id)
    secret = _new_secret()
    overlap = float(setting("QRP_WEBHOOK_SECRET_OVERLAP", DEFAULT_SECRET_OVERLAP))
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = now() + timedelta(seconds=overlap)
    endpoint.secret_encrypted = encryption.encrypt(secret)
    endpoint.updated_at = now()
    events.publish("webhook.secret_rotated", _event_data(
        endpoint, previous_secret_expires_at=endpoint.previous_secret_expires_at.isoformat()))
    db.session.commit()
    return endpoint, secret


# -- making deliveries -------------------------------------------------------------------------

def message_body(event: Event) -> dict:
    """What an endpoint receives for a domain event (Standard Webhooks: type, timestamp,
    data; plus the event's id, workspace, actor and schema version)."""
    return {"id": event.id, "type": event.type, "timestamp": event.occurred_at,
            "workspace_id": event.workspace_id, "actor": event.actor,
            "schema_version": event.schema_version, "data": event.data}


def _encode(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)


def _first_attempt_at(endpoint: WebhookEndpoint, manual: bool) -> datetime:
    """Now; but while the endpoint is failing, the next retry of what failed (new deliveries
    queue behind it, and the retry probes the endpoint for all of them)."""
    if manual or endpoint.failing_since is None:
        return now()
    retry = db.session.scalar(select(func.min(WebhookDelivery.next_attempt_at)).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.state == "pending",
        WebhookDelivery.attempts > 0))
    return max(retry, now()) if retry is not None else now()


def _new_delivery(endpoint: WebhookEndpoint, event_type: str, payload: str, *,
                  event_id: str | None = None, count: int = 1, manual: bool = False,
                  max_attempts: int | None = None) -> WebhookDelivery:
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id, workspace_id=endpoint.workspace_id,
        message_id="msg_" + uuid.uuid4().hex, event_id=event_id, event_type=event_type,
        event_count=count, payload=payload, state="pending", manual=manual, attempts=0,
        max_attempts=max_attempts or len(retry_schedule()) + 1,
        next_attempt_at=_first_attempt_at(endpoint, manual))
    db.session.add(delivery)
    return delivery


def queue_event(event: Event) -> int:
    """The ``webhooks`` receiver: a delivery for every enabled endpoint of the event's
    workspace that wants it. Returns how many."""
    if event.workspace_id is None:
        return 0
    wanting = [e for e in db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.enabled.is_(True)).order_by(WebhookEndpoint.id)) if wants(e, event.type)]
    payload = _encode(message_body(event))
    for endpoint in wanting:
        _new_delivery(endpoint, event.type, payload, event_id=event.id)
    for endpoint in wanting:
        kick(endpoint.id)
    return len(wanting)


def kick(endpoint_id: int) -> None:
    """After the commit, have a send job look at the endpoint's due deliveries, unless one is
    queued already (it takes whatever is due when it runs). The endpoint's row is locked until
    the commit, so a send job finishing now cannot miss what this transaction adds."""
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        .with_for_update().execution_options(populate_existing=True))
    if endpoint is None or endpoint.send_queued:
        return
    endpoint.send_queued = True
    jobs.enqueue(SEND_JOB, endpoint.id, workspace_id=endpoint.workspace_id,
                 description=f"webhooks to {urlsplit(endpoint.url).hostname}")


def send_test(endpoint_id: int) -> WebhookDelivery:
    """A ``webhook.test`` message, sent once, now (a disabled endpoint too: to check it
    before turning it back on)."""
    permissions.require("webhooks.manage")
    endpoint = get_endpoint(endpoint_id)
    body = {"id": str(uuid.uuid4()), "type": TEST_EVENT, "timestamp": now().isoformat(),
            "workspace_id": endpoint.workspace_id,
            "actor": events.current_actor(), "schema_version": 1,
            "data": {"webhook_id": endpoint.id,
                     "message": "A test event from QR Platform: your endpoint is reachable "
                                "and can check the signature."}}
    delivery = _new_delivery(endpoint, TEST_EVENT, _encode(body), manual=True, max_attempts=1)
    kick(endpoint.id)
    db.session.commit()
    return delivery


def redeliver(endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again, now, once more (with the same webhook-id, so a receiver that
    had it already can tell)."""
    permissions.require("webhooks.manage")
    delivery = get_delivery(endpoint_id, delivery_id)
    if delivery.lease_until is not None and delivery.lease_until > now():
        raise Conflict("This delivery is being sent right now; look again in a moment.")
    remaining = delivery.max_attempts if delivery.state == "pending" else 0
    delivery.state, delivery.manual = "pending", True
    delivery.max_attempts = max(remaining, delivery.attempts + 1)
    delivery.next_attempt_at = now()
    kick(endpoint_id)
    db.session.commit()
    return delivery


def list_deliveries(endpoint_id: int, *, state: str | None = None, page: int = 1,
                    per_page: int = 50) -> tuple[list[WebhookDelivery], int]:
    endpoint = get_endpoint(endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if state:
        query = query.where(WebhookDelivery.state == state)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = db.session.scalars(query.order_by(WebhookDelivery.created_at.desc(),
                                              WebhookDelivery.id.desc())
                               .limit(per_page).offset((page - 1) * per_page))
    return list(items), total


def get_delivery(endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    endpoint = get_endpoint(endpoint_id)
    delivery = get_or_404(WebhookDelivery, delivery_id, "No such delivery for this webhook.")
    if delivery.endpoint_id != endpoint.id:
        raise NotFound("No such delivery for this webhook.")
    return delivery


def attempts_of(delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(db.session.scalars(select(WebhookAttempt).where(
        WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.id)))


# -- stream events, in windows -----------------------------------------------------------------

def stream_item(event: Event) -> dict:
    return {"id": event.id, "timestamp": event.occurred_at, "data": event.data}


def collect_stream(batch: Sequence[Event]) -> int:
    """The ``webhooks_stream`` batch receiver (across workspaces): each stream event waits,
    for every enabled endpoint that wants it, until that endpoint's window closes
    (QRP_WEBHOOK_BATCH_WINDOW seconds after its first event, or sooner at
    QRP_WEBHOOK_BATCH_MAX events). A stream event seen twice is kept once. Returns how many
    were handed over."""
    by_workspace: dict[int, list[Event]] = {}
    for event in batch:
        if event.workspace_id is not None:
            by_workspace.setdefault(event.workspace_id, []).append(event)
    if not by_workspace:
        return 0
    endpoints = list(db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.workspace_id.in_(by_workspace), WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id)))
    rows = [{"endpoint_id": endpoint.id, "workspace_id": endpoint.workspace_id,
             "event_id": event.id, "event_type": event.type, "occurred_at": event.occurred_at,
             "payload": _encode(stream_item(event))}
            for endpoint in endpoints for event in by_workspace[endpoint.workspace_id]
            if wants(endpoint, event.type)]
    if not rows:
        return 0
    db.session.execute(dialect_insert(WebhookStreamEvent.__table__).on_conflict_do_nothing(),
                       rows)
    window = float(setting("QRP_WEBHOOK_BATCH_WINDOW", DEFAULT_BATCH_WINDOW))
    batch_max = int(setting("QRP_WEBHOOK_BATCH_MAX", DEFAULT_BATCH_MAX))
    # (An endpoint whose events were all seen before opens a window that closes on nothing.)
    for endpoint_id in sorted({row["endpoint_id"] for row in rows}):
        endpoint = db.session.scalar(
            select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
            .with_for_update().execution_options(populate_existing=True))
        waiting = db.session.scalar(select(func.count()).select_from(WebhookStreamEvent).where(
            WebhookStreamEvent.endpoint_id == endpoint_id,
            WebhookStreamEvent.delivery_id.is_(None)))
        if endpoint.window_closes_at is None:
            endpoint.window_closes_at = now() + timedelta(seconds=window)
            jobs.enqueue(CLOSE_WINDOW_JOB, endpoint_id, workspace_id=endpoint.workspace_id,
                         delay=0 if waiting >= batch_max else window,
                         description="webhooks: a window of stream events")
        elif waiting >= batch_max:
            jobs.enqueue(CLOSE_WINDOW_JOB, endpoint_id, workspace_id=endpoint.workspace_id,
                         description="webhooks: a full window of stream events")
    db.session.commit()
    return len(rows)


def _batch_body(endpoint: WebhookEndpoint, event_type: str, items: list[str]) -> str:
    """A window's message: the envelope of one event, ``data`` holding the count and the
    events. The waiting items are JSON already: spliced in, not parsed and written again."""
    head = _encode({"id": str(uuid.uuid4()), "type": event_type,
                    "timestamp": now().isoformat(), "workspace_id": endpoint.workspace_id,
                    "schema_version": 1})
    return f'{head[:-1]},"data":{{"count":{len(items)},"events":[{",".join(items)}]}}}}'


def seal_window(endpoint_id: int) -> int:
    """Close the endpoint's window: its waiting stream events become deliveries of at most
    QRP_WEBHOOK_BATCH_MAX events each (per event type). Returns how many deliveries."""
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        .with_for_update().execution_options(populate_existing=True))
    if endpoint is None:
        return 0
    batch_max = int(setting("QRP_WEBHOOK_BATCH_MAX", DEFAULT_BATCH_MAX))
    table = WebhookStreamEvent.__table__
    waiting = db.session.execute(
        select(table.c.event_id, table.c.event_type, table.c.payload)
        .where(table.c.endpoint_id == endpoint.id, table.c.delivery_id.is_(None))
        .order_by(table.c.event_type, table.c.occurred_at, table.c.event_id)).all()
    by_type: dict[str, list] = {}
    for item in waiting:
        by_type.setdefault(item.event_type, []).append(item)
    made = 0
    for event_type, items in by_type.items():
        for start in range(0, len(items), batch_max):
            chunk = items[start:start + batch_max]
            delivery = _new_delivery(endpoint, event_type, _batch_body(
                endpoint, event_type, [item.payload for item in chunk]), count=len(chunk))
            db.session.flush()
            db.session.execute(update(table).where(
                table.c.endpoint_id == endpoint.id,
                table.c.event_id.in_([item.event_id for item in chunk]))
                .values(delivery_id=delivery.id))
            made += 1
    endpoint.window_closes_at = None
    if made and endpoint.enabled:
        kick(endpoint.id)
    db.session.commit()
    return made


# -- attempts ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status (and the start of the body), or an error."""

    status: int | None = None
    error: str | None = None
    latency_ms: int | None = None
    snippet: str | None = None
    address: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def summary(self) -> str:
        if self.status is not None:
            redirect = " (redirects are not followed)" if 300 <= self.status < 400 else ""
            return f"HTTP {self.status}{redirect}"
        return self.error or "no answer"


def inert_text(raw: bytes, limit: int = SNIPPET_CHARS) -> str:
    """The start of a response body as plain text: decoded, control characters dropped. It is
    only ever shown escaped (pages) or as a JSON string (API)."""
    text = raw.decode("utf-8", errors="replace")
    return "".join(c for c in text if c in "\n\t" or c >= " ")[:limit]


def record_attempt(delivery: WebhookDelivery, endpoint: WebhookEndpoint, outcome: Outcome,
                   *, attempted_at: datetime, trigger: str) -> None:
    """Write down an attempt and what follows: delivered; the next retry; or, after the last
    one, failed (and an endpoint that keeps failing disabled). The caller commits."""
    db.session.add(WebhookAttempt(
        delivery_id=delivery.id, workspace_id=delivery.workspace_id, number=delivery.attempts,
        trigger=trigger, attempted_at=attempted_at, status_code=outcome.status,
        error=(outcome.error or "")[:500] or None, latency_ms=outcome.latency_ms,
        response_snippet=outcome.snippet, address=outcome.address))
    delivery.last_status, delivery.last_latency_ms = outcome.status, outcome.latency_ms
    delivery.last_error = None if outcome.succeeded else outcome.summary[:500]
    delivery.lease_until = None
    delivery.first_attempt_at = delivery.first_attempt_at or attempted_at
    if outcome.succeeded:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = (
            "delivered", now(), None)
        endpoint.last_success_at, endpoint.failing_since = now(), None
        return
    endpoint.failing_since = endpoint.failing_since or attempted_at
    schedule = retry_schedule()
    if delivery.attempts < delivery.max_attempts:
        step = min(delivery.attempts, len(schedule)) - 1
        wait = schedule[step] if schedule and step >= 0 else 0
        delivery.next_attempt_at = now() + timedelta(seconds=wait)
        return
    delivery.state, delivery.next_attempt_at = "failed", None
    gave_up_on_working = (endpoint.last_success_at is not None
                          and endpoint.last_success_at >= delivery.first_attempt_at)
    if not delivery.manual and endpoint.enabled and not gave_up_on_working:
        disable_for_failures(endpoint, delivery)


def disable_for_failures(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> None:
    """Every attempt of a delivery failed over the whole retry schedule, and nothing reached
    the endpoint since: stop sending and tell the owners."""
    _disable(endpoint, "failing")
    owners = db.session.scalars(select(User.email).join(Membership).where(
        Membership.workspace_id == endpoint.workspace_id, Membership.role == "owner"))
    link = f"{hosts.public_base_url()}/settings/webhooks/{endpoint.id}"
    for email in owners:
        send_email(email, "webhook_disabled", subject="A webhook endpoint was turned off",
                   workspace_id=endpoint.workspace_id, url=shown_url(endpoint.url), link=link,
                   failing_since=endpoint.failing_since, last_error=delivery.last_error,
                   event_type=delivery.event_type)


def defer_due(endpoint_id: int, until: datetime) -> int:
    """The endpoint keeps failing in this run: its other due deliveries wait for the failing
    one's next retry instead of each waiting out a timeout now. Returns how many."""
    result = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.state == "pending",
               WebhookDelivery.next_attempt_at < until, WebhookDelivery.lease_until.is_(None))
        .values(next_attempt_at=until).execution_options(synchronize_session=False))
    return result.rowcount or 0


# -- for the scheduled jobs (across workspaces) ---------------------------------------------------

def endpoints_overdue(older_than: timedelta) -> list[tuple[int, int]]:
    """(endpoint id, workspace id) of enabled endpoints with deliveries due for longer than
    ``older_than``, or a stream window that should have closed: their job was lost."""
    cutoff = now() - older_than
    with unscoped():
        late = select(WebhookDelivery.endpoint_id).where(
            WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at < cutoff,
            (WebhookDelivery.lease_until.is_(None)) | (WebhookDelivery.lease_until < cutoff))
        rows = db.session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.workspace_id).where(
                WebhookEndpoint.enabled.is_(True),
                WebhookEndpoint.id.in_(late) | (WebhookEndpoint.window_closes_at < cutoff)))
        return [(row.id, row.workspace_id) for row in rows]


def restart_overdue(older_than: timedelta) -> int:
    """Queue a send job (and close the window) of every endpoint whose job was lost."""
    overdue = endpoints_overdue(older_than)
    for endpoint_id, workspace_id in overdue:
        with tenant_scope(workspace_id):
            endpoint = db.session.get(WebhookEndpoint, endpoint_id)
            endpoint.send_queued = True
            if endpoint.window_closes_at is not None and endpoint.window_closes_at < now():
                jobs.enqueue(CLOSE_WINDOW_JOB, endpoint_id, workspace_id=workspace_id)
            jobs.enqueue(SEND_JOB, endpoint_id, workspace_id=workspace_id,
                         description="webhooks: catching up")
            db.session.commit()
    return len(overdue)


def purge_log(days: int | None = None) -> int:
    """Forget deliveries (and their attempts and stream events) finished more than
    QRP_WEBHOOK_LOG_DAYS days ago."""
    from sqlalchemy import delete

    days = days if days is not None else int(setting("QRP_WEBHOOK_LOG_DAYS", DEFAULT_LOG_DAYS))
    with unscoped():
        result = db.session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.state != "pending",
                                          WebhookDelivery.created_at < now() - timedelta(
                                              days=days))
            .execution_options(synchronize_session=False))
        db.session.commit()
    return result.rowcount or 0

