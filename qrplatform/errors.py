"""One error shape for the API, friendly pages for the browser.

Every API error, whatever raised it (a service rule, marshmallow validation, a 404, a rate limit,
an unhandled exception) answers::

    {"error": {"status": 422, "code": "validation_error", "message": "...",
               "fields": {"email": ["Not a valid email address."]}, "request_id": "..."}}

Services raise ``ServiceError`` (or a subclass) with a message a person can act on; the API and
the HTML views both turn it into their own kind of answer, so a rule is written once.
"""

import logging

from flask import (
    Flask,
    current_app,
    g,
    got_request_exception,
    jsonify,
    redirect,
    render_template,
    request,
)
from markupsafe import Markup
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

# webargs' answer to a body that does not parse as JSON.
INVALID_JSON = "Invalid JSON body."

# Stable machine-readable codes for the HTTP statuses we answer.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ServiceError(Exception):
    """A business rule said no. ``field`` names the input at fault, when there is one."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, status: int | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    @property
    def fields(self) -> dict[str, list[str]]:
        return {self.field: [self.message]} if self.field else {}

    @property
    def field_messages(self) -> list[str]:
        """Every field's messages, in order: the refusal where no field is there to show it."""
        return [message for messages in self.fields.values() for message in messages]

    @property
    def for_page(self) -> str | Markup:
        """The message as a page shows it (beside a field, in a flash)."""
        return self.message


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class QuotaExceeded(ServiceError):
    """A plan limit said no. ``upgrade_url`` is the page where the plan can be changed (when a
    plugin sells plans); the API adds it to the error, pages link to it."""

    status = 402
    code = "quota_exceeded"

    def __init__(self, message: str, *, upgrade_url: str | None = None, **kwargs):
        super().__init__(message + (f"{UPGRADE_AT}{upgrade_url}" if upgrade_url else ""),
                         **kwargs)
        self.situation = message
        self.upgrade_url = upgrade_url

    @property
    def for_page(self) -> str | Markup:
        """The situation, and a link to the plans where the API's message gives their URL."""
        if not self.upgrade_url:
            return self.message
        return Markup('{} <a href="{}">See the plans</a>.').format(self.situation,
                                                                   self.upgrade_url)


# How an API message says where the plan can be changed (pages link instead).
UPGRADE_AT = " Change the plan at "


class ErrorBodySchema(Schema):
    status = fields.Integer(required=True, metadata={"example": 422})
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    request_id = fields.String()
    field_errors = fields.Dict(keys=fields.String(), values=fields.Raw(), data_key="fields",
                               metadata={"description": "error messages by input field"})
    upgrade_url = fields.String(metadata={
        "description": "402 only: the page where the workspace's plan can be changed"})


class ErrorSchema(Schema):
    """The one shape of every API error."""

    error = fields.Nested(ErrorBodySchema, required=True)


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def error_payload(status: int, message: str, *, code: str | None = None,
                  fields: dict | None = None, extra: dict | None = None) -> dict:
    return {
        "error": {
            "status": status,
            "code": code or STATUS_CODES.get(status, "error"),
            "message": message,
            "fields": fields or {},
            "request_id": g.get("request_id"),
            **(extra or {}),
        }
    }


def api_error(status: int, message: str, *, code: str | None = None, fields: dict | None = None,
              headers: dict | None = None, extra: dict | None = None):
    response = jsonify(error_payload(status, message, code=code, fields=fields, extra=extra))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten_webargs_messages(messages: dict) -> dict:
    """webargs nests messages by location ("json", "query"); clients want them by field."""
    flat: dict = {}
    for location_messages in messages.values():
        if isinstance(location_messages, dict):
            flat.update(location_messages)
        else:
            flat.setdefault("_schema", []).extend(location_messages)
    return flat


def _field_paths(field_errors: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted path, first message) of each refused input, nested schemas and list items
    included: ``{"design": {"logo_size": [...]}}`` gives ``design.logo_size``."""
    found = []
    for name, messages in field_errors.items():
        path = prefix if name == "_schema" and prefix else f"{prefix}{name}"
        if isinstance(messages, dict):
            found += _field_paths(messages, f"{path}.")
        elif messages:
            first = messages[0] if isinstance(messages, list) else messages
            found.append((path.rstrip("."), str(first)))
    return found


def fields_message(field_errors: dict) -> str:
    """A refusal of several inputs in one sentence: the first input and what is wrong with it,
    then the names of the others (their messages are in ``fields``)."""
    found = _field_paths(field_errors)
    if not found:
        return "Some fields are missing or invalid; see 'fields'."
    path, message = found[0]
    first = message if path == "_schema" else f"{path}: {message}"
    others = [other for other, _ in found[1:]]
    if not others:
        return first
    return (f"{first} Also check {', '.join(others[:5])}"
            + (f" and {len(others) - 5} more" if len(others) > 5 else "") + " (see 'fields').")


def _http_exception_message(error: HTTPException, field_errors: dict) -> str:
    data = getattr(error, "data", None) or {}
    if data.get("message"):
        return data["message"]
    if error.code == 422:
        return fields_message(field_errors)
    if error.code == 400 and field_errors.get("_schema") == [INVALID_JSON]:
        return ("The request body is not valid JSON: check its quotes, commas and brackets, "
                "and send it with Content-Type: application/json.")
    # Routing's own refusals, in words that say what to do instead.
    if error.code == 404 and request.url_rule is None:
        return (f"There is no API operation at {request.method} {request.path}; the "
                "reference at /api/docs lists them.")
    if error.code == 429:   # flask-limiter's description is the limit itself
        return (f"Too many requests: the limit here is {error.description}. Wait the seconds "
                "the Retry-After header gives, then try again.")
    if error.code == 405 and error.valid_methods:
        return (f"{request.path} does not take {request.method}; it takes "
                f"{', '.join(sorted(set(error.valid_methods) - {'HEAD', 'OPTIONS'}))}.")
    return error.description or error.name


def _other_slash(path: str) -> str | None:
    """The page's address with the trailing slash added or taken away, when that one exists:
    a typed ``/billing/`` or ``/qr`` finds its page (Werkzeug mends only the second)."""
    other = path[:-1] if path.endswith("/") and path != "/" else f"{path}/"
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(other, method="GET")
    except HTTPException:
        return None
    return other


def handle_http_exception(error: HTTPException):
    if error.code == 500 and isinstance(error, InternalServerError):
        return handle_unexpected(error.original_exception or error)
    if is_api_request():
        data = getattr(error, "data", None) or {}
        field_errors = data.get("errors") or data.get("messages") or {}
        if data.get("messages"):
            field_errors = _flatten_webargs_messages(field_errors)
        headers = dict(data.get("headers") or {})
        if error.code == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return api_error(error.code or 500, _http_exception_message(error, field_errors),
                         fields=field_errors, headers=headers)
    if (error.code == 404 and request.url_rule is None and request.method in ("GET", "HEAD")
            and (other := _other_slash(request.path)) is not None):
        return redirect(other + (f"?{request.query_string.decode()}"
                                 if request.query_string else ""), 308)
    response = error.get_response()
    body = render_template("errors/http.html", error=error, request_id=g.get("request_id"))
    response.set_data(body)
    response.content_type = "text/html; charset=utf-8"
    return response


def handle_service_error(error: ServiceError):
    if is_api_request():
        upgrade_url = getattr(error, "upgrade_url", None)
        return api_error(error.status, error.message, code=error.code, fields=error.fields,
                         extra={"upgrade_url": upgrade_url} if upgrade_url else None)
    return render_template("errors/http.html", error=error,
                           request_id=g.get("request_id")), error.status


def handle_unexpected(error: BaseException):
    log.exception("unhandled error", exc_info=error)
    # Flask stays silent once a handler for Exception exists; Sentry and errors_total listen.
    got_request_exception.send(current_app._get_current_object(), exception=error)
    if is_api_request():
        return api_error(
            500,
            "Something went wrong on our side. Quote the request id if you contact support.",
        )
    return render_template("errors/500.html", request_id=g.get("request_id")), 500


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(Exception, handle_unexpected)
