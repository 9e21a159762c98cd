"""The API root: flask-smorest, the OpenAPI document at /api/openapi.json, docs at /api/docs.

Plugins create their API blueprints with ``api_blueprint()``; the core registers them under
/api/v1 and they appear in the document. Every operation of such a blueprint needs a Bearer
token (documented as ``bearerAuth``, answered 401 in the one error shape without one), except
those marked ``@public``. Errors keep the one shape defined in
``qrplatform.errors`` (the ``Error`` schema in the document).
"""

from __future__ import annotations

import threading
from functools import wraps

import flask_smorest
from flask import Blueprint, Flask, current_app, g, render_template
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from qrplatform import api_docs as api_docs_page
from qrplatform.errors import ErrorSchema, api_error

BEARER = [{"bearerAuth": []}]


class Api(flask_smorest.Api):
    """flask-smorest's Api, with each blueprint's operations written into the OpenAPI document
    when the document is first read (``spec``) rather than when the blueprint is registered:
    converting every schema to JSON Schema took a tenth of the app's import time, for a
    document few processes ever serve. The document is the same, in the same order."""

    ERROR_SCHEMA = ErrorSchema

    def __init__(self, *args, **kwargs):
        self._undocumented: list[tuple] = []
        self._documenting = threading.Lock()
        self._spec = None
        super().__init__(*args, **kwargs)

    @property
    def spec(self):
        if self._undocumented:
            with self._documenting:
                while self._undocumented:
                    blueprint, name, parameters = self._undocumented.pop(0)
                    blueprint.register_views_in_doc(self, self._app, self._spec, name=name,
                                                    parameters=parameters)
                    self._spec.tag({"name": name, "description": blueprint.description})
        return self._spec

    @spec.setter
    def spec(self, spec):
        self._spec = spec

    def register_blueprint(self, blp, *, parameters=None, **options):
        """flask_smorest.Api.register_blueprint, its documentation left for ``spec``."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def _register_error_handlers(self):
        """The core's handlers (qrplatform.errors) serve the API and the pages alike."""


class ArgumentsParser(FlaskParser):
    """webargs' parser plus ``location="multipart"``: a multipart body's files and fields
    read by one schema, documented as one OpenAPI 3 ``requestBody``."""

    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req, schema):
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


class ApiBlueprint(flask_smorest.Blueprint):
    """A smorest blueprint whose operations need a Bearer token unless marked ``@public``."""

    ARGUMENTS_PARSER = ArgumentsParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
    }

    def add_url_rule(self, rule, endpoint=None, view_func=None,
                     provide_automatic_options=None, **options):
        if view_func is not None and not getattr(view_func, "_qrp_public", False):
            view_func = _documented_as_bearer(authenticated(view_func))
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)


def _documented_as_bearer(view):
    """What ``Blueprint.doc(security=BEARER)`` does, without its deep copy of the operation's
    whole documentation (schema instances included) per view: that copy took a tenth of the
    app's import time. Only ``manual_doc`` changes, so it alone is copied."""
    apidoc = dict(getattr(view, "_apidoc", {}))
    apidoc["manual_doc"] = {**apidoc.get("manual_doc", {}), "security": BEARER}
    view._apidoc = apidoc
    return view


def api_blueprint(name: str, import_name: str, url_prefix: str,
                  description: str = "") -> ApiBlueprint:
    """A smorest blueprint for a plugin's API; ``url_prefix`` starts with /api/v1."""
    return ApiBlueprint(name, import_name, url_prefix=url_prefix, description=description)


def public(view):
    """An operation anyone may call (signing up, trading a password for a token); put it
    below the route decorator."""
    view._qrp_public = True
    return view


def authenticated(view):
    """Refuse a caller without a Bearer token: 401 in the one error shape. ``ApiBlueprint``
    applies it to every operation; call it yourself only outside one."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if g.get("user") is None or g.get("workspace") is None:
            return api_error(401, "Send 'Authorization: Bearer <token>'. Create a token with "
                                  "POST /api/v1/auth/tokens.",
                             headers={"WWW-Authenticate": "Bearer"})
        return view(*args, **kwargs)

    return wrapper


docs = Blueprint("api_docs", __name__)


@docs.get("/api/docs")
def api_docs():
    """The reference drawn on the server from the OpenAPI document (qrplatform.api_docs):
    offline, accessible, in the app's look."""
    spec = current_app.extensions["qrp.api"].spec.to_dict()
    return render_template("api_docs.html", docs=api_docs_page.build(spec))


def init_app(app: Flask) -> Api:
    # One Api per app: flask-smorest keeps the app and its document on the instance.
    api = Api(app, spec_kwargs={
        "info": {"description": "The QR Platform API for the mobile app and integrations. "
                               "Authenticate with `Authorization: Bearer <token>`."},
    })
    app.extensions["qrp.api"] = api
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "qrp_…"}
    )
    app.register_blueprint(docs)
    return api
