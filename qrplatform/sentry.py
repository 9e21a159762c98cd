"""Error reports to Sentry (sentry-sdk with its Flask and RQ integrations), when SENTRY_DSN is
set.

Each report carries the environment (QRP_ENVIRONMENT), the release (QRP_RELEASE), and as tags
the request id the user was shown, the workspace id and the job id; the user context is the
user's id only. Nothing else about a person or a credential leaves: no e-mail, no IP address,
no Authorization or Cookie header, no request body, no local variables (they can hold a
password under any name), and every string is passed through ``qrplatform.redaction``.

Unhandled request errors reach Sentry through Flask's ``got_request_exception``, which
``errors.handle_unexpected`` sends; the user still gets the one JSON error shape or the error
page, both with the request id. Job errors are reported by ``qrplatform.jobs`` (RQ's
integration adds its own view of failures in the worker), which also adds the running job's id
to every report through ``add_context_tags``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Flask, g, has_app_context, has_request_context

from qrplatform.redaction import REDACTED, redact

log = logging.getLogger(__name__)


def _enabled() -> bool:
    import sentry_sdk

    return sentry_sdk.get_client().is_active()


# Functions adding tags for what is running (the job module adds the job id).
_tag_sources: list[Callable[[], dict[str, Any]]] = []


def add_context_tags(source: Callable[[], dict[str, Any]]) -> None:
    if source not in _tag_sources:
        _tag_sources.append(source)


def _context_tags() -> dict[str, Any]:
    """What the report should be findable by, from the request or job being handled."""
    tags: dict[str, Any] = {}
    if has_request_context():
        tags["request_id"] = g.get("request_id")
        workspace, user = g.get("workspace"), g.get("user")
        if workspace is not None:
            tags["workspace_id"] = workspace.id
            tags["plan"] = workspace.plan
        if user is not None:
            tags["user_id"] = user.id
    for source in _tag_sources:
        tags.update(source())
    if has_app_context():
        from qrplatform.tenancy import current_workspace_id

        workspace_id = current_workspace_id()
        if workspace_id is not None:
            tags.setdefault("workspace_id", workspace_id)
    return {key: value for key, value in tags.items() if value is not None}


def _scrub_request(request_info: dict) -> dict:
    request_info.pop("data", None)
    request_info.pop("cookies", None)
    request_info.pop("env", None)
    query = request_info.get("query_string")
    if query:
        # Keep which parameters were sent, not their values (content links carry tokens).
        request_info["query_string"] = urlencode(
            [(key, REDACTED) for key, _value in parse_qsl(query, keep_blank_values=True)])
    return request_info


def before_send(event: dict, hint: dict) -> dict:
    tags = event.setdefault("tags", {})
    for key, value in _context_tags().items():
        tags.setdefault(key, str(value))
    # The user context is the id and nothing else, whoever filled it in.
    user_id = tags.get("user_id") or (event.get("user") or {}).get("id")
    event["user"] = {"id": str(user_id)} if user_id else {}
    if isinstance(event.get("request"), dict):
        _scrub_request(event["request"])
    return redact(event, emails=True)


def before_breadcrumb(crumb: dict, hint: dict) -> dict:
    return redact(crumb, emails=True)


def _tag_request_scope(response):
    """Put the request's tags on its Sentry scope too: a performance trace is sent after the
    request context is gone, when before_send can no longer read them."""
    import sentry_sdk

    scope = sentry_sdk.get_isolation_scope()
    tags = _context_tags()
    for key, value in tags.items():
        scope.set_tag(key, str(value))
    if "user_id" in tags:
        scope.set_user({"id": str(tags["user_id"])})
    return response


def init_app(app: Flask) -> bool:
    """Start the SDK for this process when SENTRY_DSN is set. Returns whether it did."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    traces = float(app.config.get("SENTRY_TRACES_SAMPLE_RATE") or 0.0)
    sentry_sdk.init(
        dsn=dsn,
        environment=app.config.get("QRP_ENVIRONMENT") or "development",
        release=app.config.get("QRP_RELEASE"),
        # None rather than 0: no transaction is even started unless some are wanted.
        traces_sample_rate=traces if traces > 0 else None,
        integrations=[
            FlaskIntegration(transaction_style="url"),
            RqIntegration(),
            # Log lines become breadcrumbs; errors are reported by the hooks above, once.
            LoggingIntegration(level=logging.INFO, event_level=None),
        ],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=before_send,
        before_send_transaction=before_send,
        before_breadcrumb=before_breadcrumb,
        max_breadcrumbs=50,
    )
    app.after_request(_tag_request_scope)
    return True


def job_breadcrumb(job_id: str, name: str, attempt: int) -> None:
    if _enabled():
        import sentry_sdk

        sentry_sdk.add_breadcrumb(category="job", message=f"job {name} attempt {attempt}",
                                  data={"job_id": job_id})


def capture_job_error(exc: BaseException, *, job_id: str, name: str,
                      workspace_id: int | None) -> None:
    """Report a job's unexpected error (the job module leaves out answers for the user)."""
    if not _enabled():
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("job_id", job_id)
        scope.set_tag("job", name)
        if workspace_id is not None:
            scope.set_tag("workspace_id", str(workspace_id))
        sentry_sdk.capture_exception(exc)
