"""The QR code type "microsite" (the qr plugin's ``qr.link_types``): a dynamic code whose short
link opens one of the workspace's microsites at its current address, slug or custom domain, so
a printed code follows the page when it is renamed or moved (``services`` tells qr then)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate
from sqlalchemy import select

from qrp_microsites import publish
from qrp_microsites.models import Microsite
from qrp_qr.linktypes import LinkType
from qrp_qr.payloads import ContentError, ContentSchema
from qrplatform.extensions import db
from qrplatform.inputs import MAX_ID
from qrplatform.tenancy import unscoped

NAME = "microsite"


class MicrositeContent(ContentSchema):
    microsite_id = fields.Integer(required=True, validate=validate.Range(1, MAX_ID),
                                  metadata={"label": "Microsite", "example": 1})


def _site(content: dict[str, Any]) -> Microsite | None:
    with unscoped():
        return db.session.get(Microsite, content["microsite_id"])


def target(content: dict[str, Any]) -> str | None:
    """The page's public address, published or not (a draft's shows the workspace's "not
    published" page until it is)."""
    site = _site(content)
    return publish.public_url(site.slug, site.domain) if site else None


def summary(content: dict[str, Any]) -> str:
    site = _site(content)
    return site.name if site else "A deleted microsite"


def check(content: dict[str, Any]) -> None:
    """The page must be the workspace's own (tenant-scoped query)."""
    found = db.session.scalar(select(Microsite.id).where(
        Microsite.id == content["microsite_id"]))
    if found is None:
        raise ContentError({"microsite_id": ["No such microsite in this workspace."]})


def options(field: str) -> list[tuple[str, str]] | None:
    if field != "microsite_id":
        return None
    sites = db.session.execute(select(Microsite.id, Microsite.name, Microsite.status)
                               .order_by(Microsite.name, Microsite.id)).all()
    if not sites:
        return [("", "No microsites yet: create one under Microsites first")]
    return [(str(site.id), site.name + ("" if site.status == "published" else " (draft)"))
            for site in sites]


def opens(microsite_id: int):
    """For qr's ``codes_of_link_type``: the codes that open this page."""
    return lambda content: content.get("microsite_id") == microsite_id


LINK_TYPE = LinkType(NAME, "Microsite", MicrositeContent, target=target, summary=summary,
                     check=check, options=options,
                     description="opens one of the workspace's microsites")
