"""Code types other plugins add (extension point ``qr.link_types``): a dynamic code whose short
link opens something that plugin owns, e.g. the microsites plugin's "microsite" type.

A link type brings its content fields (a ``payloads.ContentSchema``, checked like the built-in
types' in the API, the editor and the bulk upload; ``payloads`` answers for every type), where
its link sends a scanner, and a check that what the content names belongs to the workspace in
scope. Such codes are always dynamic:
only a short link can follow the thing it names when that moves. When it moves (a renamed
page), the owning plugin calls ``qrp_qr.services.refresh_link_type`` so the cached links follow.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema

from qrp_qr.models import TYPES
from qrp_qr.payloads import LINK_TYPES, ContentSchema

EXTENSION_POINT = LINK_TYPES
NAME = re.compile(r"^[a-z][a-z0-9_]{1,9}$")  # the code's type column holds 10 characters


@dataclass(frozen=True)
class LinkType:
    name: str
    label: str
    # The content fields (a payloads.ContentSchema subclass).
    schema: type[Schema]
    # The address the short link opens for this content, or None when what it named is gone
    # (looked up across workspaces: the scanner has none).
    target: Callable[[dict[str, Any]], str | None]
    # One line for lists (e.g. the page's name).
    summary: Callable[[dict[str, Any]], str]
    # In the workspace's scope: raise ValueError saying why the content names nothing of it.
    check: Callable[[dict[str, Any]], None] | None = None
    # The editor's options for a field, as (value, label) pairs: a select instead of a box.
    options: Callable[[str], list[tuple[str, str]] | None] | None = None
    description: str = ""


def check_link_type(link_type: LinkType, owner: str) -> None:
    """Called by the registry for each contribution: a bad one stops startup naming it."""
    if not NAME.match(link_type.name) or link_type.name in TYPES:
        raise ValueError(f"link type {link_type.name!r}: names are 2-10 lower-case letters, "
                         f"digits and underscores, other than the built-in {', '.join(TYPES)}")
    if not (isinstance(link_type.schema, type) and issubclass(link_type.schema, ContentSchema)):
        raise ValueError(f"link type {link_type.name!r}: schema must be a "
                         "qrp_qr.payloads.ContentSchema class")
