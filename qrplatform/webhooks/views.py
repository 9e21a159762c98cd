"""The webhook pages (Settings → Webhooks): endpoints, the events picker, the delivery log with
test events and redeliveries. Every action calls the services the API calls."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Blueprint, request, url_for
from flask_login import login_required

from qrplatform import permissions
from qrplatform.errors import ServiceError
from qrplatform.inputs import page_number
from qrplatform.web import act, form_error, render, submit
from qrplatform.webhooks import services
from qrplatform.webhooks.forms import EndpointForm
from qrplatform.webhooks.models import DELIVERY_STATES

bp = Blueprint("webhooks", __name__, url_prefix="/settings/webhooks")

LOG_PAGE_SIZE = 25
# The log refreshes itself while a delivery is due this soon (a test just sent, a retry).
POLL_WITHIN = timedelta(seconds=30)
SHOWN_PAYLOAD_CHARS = 50_000


def _event_groups(selected: list[str]) -> list[dict]:
    """The events picker: the declared types by area, each area with its "area.*"."""
    groups: dict[str, dict] = {}
    for info in services.event_catalogue():
        area = info.name.split(".", 1)[0]
        group = groups.setdefault(area, {"area": area, "pattern": f"{area}.*", "types": []})
        group["types"].append(info)
    for group in groups.values():
        names = [group["pattern"], *(t.name for t in group["types"])]
        group["open"] = any(name in selected for name in names)
    return list(groups.values())


def _form(endpoint=None, *, posted: bool = False) -> EndpointForm:
    """The endpoint form: what was posted, else the endpoint's values (or an empty one)."""
    data = ({"url": endpoint.url, "description": endpoint.description,
             "events": list(endpoint.event_types)} if endpoint is not None else {"events": []})
    form = EndpointForm(data=data) if posted else EndpointForm(formdata=None, data=data)
    names = [info.name for info in services.event_catalogue()]
    areas = sorted({name.split(".", 1)[0] for name in names})
    form.events.choices = [("*", "*"), *((f"{a}.*", f"{a}.*") for a in areas),
                           *((n, n) for n in names)]
    return form


@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    permissions.require("webhooks.view")
    form = _form(posted=request.method == "POST")
    if request.method == "POST":
        permissions.require("webhooks.manage")
        if form.validate_on_submit():
            try:
                endpoint, secret = services.create_endpoint(
                    form.url.data, form.events.data, form.description.data or "")
            except ServiceError as error:
                form_error(form, error)
            else:
                # The secret is shown on this answer only (never stored in the session).
                return _endpoint_page(endpoint, secret=secret, status=201,
                                      notice="Endpoint added.")
    return render("webhooks/index.html", endpoints=services.list_endpoints(), form=form,
                  event_groups=_event_groups(form.events.data or []),
                  status=422 if form.errors else 200)


def _endpoint_page(endpoint, *, form: EndpointForm | None = None, secret: str | None = None,
                   status: int = 200, notice: str | None = None):
    state = request.args.get("state") if request.args.get("state") in DELIVERY_STATES else None
    page = page_number(request.args.get("page"))
    deliveries, total = services.list_deliveries(endpoint.id, state=state, page=page,
                                                 per_page=LOG_PAGE_SIZE)
    soon = services.now() + POLL_WITHIN
    polling = any(d.state == "pending" and (d.next_attempt_at is None or d.next_attempt_at <= soon)
                  for d in deliveries)
    form = form or _form(endpoint)
    return render("webhooks/endpoint.html", "webhooks/_deliveries.html", endpoint=endpoint,
                  form=form, secret=secret, notice=notice, deliveries=deliveries, total=total,
                  page=page, pages=max(1, -(-total // LOG_PAGE_SIZE)), state=state,
                  states=DELIVERY_STATES, polling=polling, now=services.now(),
                  event_groups=_event_groups(form.events.data or []), status=status)


@bp.route("/<int:webhook_id>", methods=["GET", "POST"])
@login_required
def endpoint(webhook_id: int):
    found = services.get_endpoint(webhook_id)
    form = None
    if request.method == "POST":
        permissions.require("webhooks.manage")
        form = _form(found, posted=True)
        if done := submit(form, lambda: services.update_endpoint(
                webhook_id, url=form.url.data, event_types=form.events.data,
                description=form.description.data or ""),
                success="Endpoint saved.", then=url_for(".endpoint", webhook_id=webhook_id)):
            return done
    return _endpoint_page(found, form=form, status=422 if form and form.errors else 200)


def _back(webhook_id: int) -> str:
    return url_for(".endpoint", webhook_id=webhook_id)


@bp.post("/<int:webhook_id>/test")
@login_required
def send_test(webhook_id: int):
    return act(lambda: services.send_test(webhook_id), then=_back(webhook_id),
               success="Test event queued: its answer appears in the log below.")


@bp.post("/<int:webhook_id>/enable")
@login_required
def enable(webhook_id: int):
    return act(lambda: services.update_endpoint(webhook_id, enabled=True), then=_back(webhook_id),
               success="Endpoint turned on: deliveries waiting are being sent.")


@bp.post("/<int:webhook_id>/disable")
@login_required
def disable(webhook_id: int):
    return act(lambda: services.update_endpoint(webhook_id, enabled=False),
               then=_back(webhook_id),
               success="Endpoint paused: new events are not queued for it until you turn it "
                       "on again.")


@bp.post("/<int:webhook_id>/secret")
@login_required
def rotate_secret(webhook_id: int):
    endpoint, secret = services.rotate_secret(webhook_id)
    return _endpoint_page(endpoint, secret=secret,
                          notice="New secret made. The old one keeps signing, next to it, "
                                 "for a day.")


@bp.post("/<int:webhook_id>/delete")
@login_required
def delete(webhook_id: int):
    return act(lambda: services.delete_endpoint(webhook_id), then=url_for(".index"),
               success="Endpoint removed.")


@bp.get("/<int:webhook_id>/deliveries/<int:delivery_id>")
@login_required
def delivery(webhook_id: int, delivery_id: int):
    found = services.get_delivery(webhook_id, delivery_id)
    return render("webhooks/delivery.html", "webhooks/_delivery.html", delivery=found,
                  endpoint=found.endpoint, attempts=services.attempts_of(found))


@bp.post("/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver")
@login_required
def redeliver(webhook_id: int, delivery_id: int):
    return act(lambda: services.redeliver(webhook_id, delivery_id), then=_back(webhook_id),
               success="Sending it again now: the answer appears in the log.")


@bp.app_template_filter("webhook_payload")
def webhook_payload(payload: str) -> str:
    """A delivery's body, indented to read (the bytes sent are in the API), cut when huge."""
    try:
        text = json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        text = payload
    if len(text) > SHOWN_PAYLOAD_CHARS:
        return text[:SHOWN_PAYLOAD_CHARS] + "\n… (cut here; GET the delivery from the API for " \
                                            "all of it)"
    return text


@bp.app_template_filter("webhook_events")
def webhook_events(patterns) -> str:
    """An endpoint's chosen types, short: "All events", "qr.*, teams.member_removed"."""
    patterns = list(patterns or ())
    if "*" in patterns:
        return "All events"
    shown = ", ".join(patterns[:3])
    return shown + (f" and {len(patterns) - 3} more" if len(patterns) > 3 else "")

