"""Input limits, checked before any work: ids, pages, days, body sizes, JSON shape, NUL bytes.

Ranges live in the schemas (so the OpenAPI document states them) through the fields and
validators here; what no schema can see (the size and nesting of a body, NUL bytes, which
PostgreSQL cannot store) is checked by the gateway before the view runs. Every refusal is a
4xx in the one error shape.
"""

from __future__ import annotations

import json
from datetime import date

from flask import Flask, current_app, request
from marshmallow import fields, validate
from werkzeug.routing import IntegerConverter

from qrplatform.errors import STATUS_CODES, ServiceError

# Ids are PostgreSQL ``integer`` columns.
MAX_ID = 2**31 - 1
# Beyond any real listing; keeps page * per_page far inside bigint.
MAX_PAGE = 100_000
# Days that analytics, audits and exports can ask about.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2199, 12, 31)
# Room for a multipart body's boundaries and fields around an uploaded file.
UPLOAD_OVERHEAD = 64 * 1024
# Deep enough for every document the API takes (a design, microsite blocks).
MAX_JSON_DEPTH = 32

ID_RANGE = validate.Range(1, MAX_ID)
DAY_RANGE = validate.Range(FIRST_DAY, LAST_DAY,
                           error=f"Use a day from {FIRST_DAY} to {LAST_DAY}.")


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a positive id that fits the column, else 404."""

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def Id(**kwargs) -> fields.Integer:
    """An id field: a positive integer that fits the database column."""
    return fields.Integer(strict=False, validate=ID_RANGE, **kwargs)


def Page(**kwargs) -> fields.Integer:
    return fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE), **kwargs)


def Day(**kwargs) -> fields.Date:
    return fields.Date(validate=DAY_RANGE, **kwargs)


def max_body(limit: int):
    """Cap the request body of one route at ``limit`` bytes (others get QRP_MAX_BODY_BYTES).
    Put it below the route decorator."""

    def decorator(view):
        view.qrp_max_body = limit
        return view

    return decorator


def page_number(value, default: int = 1) -> int:
    """A page number from a query string, kept within range (pages answer, never fail)."""
    try:
        return min(max(1, int(value)), MAX_PAGE)
    except (TypeError, ValueError):
        return default


def _refuse(message: str, field: str | None = None, status: int = 422):
    raise ServiceError(message, field=field, status=status, code=STATUS_CODES[status])


def _walk_json(value, depth: int = 0, where: str = "") -> None:
    if depth > MAX_JSON_DEPTH:
        _refuse(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.", status=400)
    if isinstance(value, str):
        if "\x00" in value:
            _refuse("Text may not contain NUL characters (\\u0000).", where or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                _refuse("Names may not contain NUL characters (\\u0000).")
            _walk_json(item, depth + 1, where or key)
    elif isinstance(value, list):
        for item in value:
            _walk_json(item, depth + 1, where)


def check_request() -> None:
    """Before the view: the body's size, then the JSON's nesting and NUL bytes anywhere."""
    view = current_app.view_functions.get(request.endpoint)
    limit = getattr(view, "qrp_max_body", None) or current_app.config["QRP_MAX_BODY_BYTES"]
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        _refuse(f"The request body is larger than this route takes ({limit:,} bytes).",
                status=413)
    _refuse_nul(request.args)
    if "\x00" in request.path:
        _refuse("The address may not contain NUL characters.", status=404)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype == "application/json":
        _check_json(request.get_data(cache=True))
    elif request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        _refuse_nul(request.form)


def _refuse_nul(fields) -> None:
    for name, value in fields.items(multi=True):
        if "\x00" in value or "\x00" in name:
            _refuse("Text may not contain NUL characters (\\u0000).", name)


def _check_json(raw: bytes) -> None:
    if not raw:
        return
    try:
        document = json.loads(raw)
    except RecursionError:
        _refuse(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.", status=400)
    except ValueError:
        return  # the schema's parser answers it in the one shape
    _walk_json(document)


def init_app(app: Flask) -> None:
    """Before any route is added: every ``<int:…>`` is a bounded id."""
    app.url_map.converters["int"] = IdConverter
