"""The block registry: what a microsite is built of, and how other plugins add block types.

A block type is a ``Block``: its ``name`` (the ``type`` of a block in the API), a marshmallow
``schema`` of its fields (the form the builder draws and the API validates: build it from
``qrp_microsites.fields``, whose field types carry the sanitising rules), the ``template`` that
draws it on the published page, and optional rules: ``clean`` (more sanitising after the
schema), ``files`` (files the published page offers for it, such as a vCard) and ``assets``
(media-library ids it uses; found from its ``AssetId`` fields by default).

The microsites plugin offers the extension point ``microsites.blocks``; a plugin adds a block
type by contributing to it (checked at startup: a ``Block``, a name nobody else declared)::

    from qrp_microsites.blocks import Block
    from qrp_microsites.fields import Text, Url

    class CouponFields(Schema):
        code = Text(max=40, required=True)

    plugin = Plugin(name="coupons", requires=["microsites"], blueprints=[bp],
                    contributions={"microsites.blocks": [
                        Block("coupon", "Coupon", CouponFields, "coupons/block.html")]})

The template is rendered once, when the page is published, with ``block`` (the cleaned
fields plus ``id``), ``site`` (name, slug, theme), ``asset(id)`` (the media library's
``AssetRef``: ``url``, ``thumbnail_url``, ``width``, ``height``, ``name``), ``go(url)`` (the
link to use for a visitor's click: counted per block, then redirected) and ``file_url(name)``
(a file of ``files``). Jinja's autoescape is on: never mark user text ``|safe`` (RichText is
already clean). No inline script or style: the page's CSP refuses them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from qrp_microsites.fields import (
    AssetId,
    Choice,
    RichText,
    Text,
    Url,
)
from qrplatform.registry import registry

EXTENSION_POINT = "microsites.blocks"


@dataclass(frozen=True)
class Block:
    """A block type (see the module's docstring)."""

    name: str
    label: str
    schema: type[Schema]
    template: str
    icon: str = "square"
    description: str = ""
    clean: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    files: Callable[[dict[str, Any]], dict[str, tuple[str, str]]] | None = None
    assets: Callable[[dict[str, Any]], list[int]] | None = None
    # A new block's content in the builder (it need not pass the schema: a form to fill).
    defaults: dict[str, Any] = field(default_factory=dict)
    order: int = 100


NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


def block_types(app=None) -> dict[str, Block]:
    """Every block type the enabled plugins offer, by name, in the builder's order."""
    found = registry(app).contributions.get(EXTENSION_POINT, [])
    return {b.name: b for b in sorted(found, key=lambda b: (b.order, b.label))}


def block_type(name: str) -> Block | None:
    return block_types().get(name)


def check_block_type(block: Block, owner: str) -> None:
    """Called by the registry for each contribution: a bad one stops startup naming it."""
    if not NAME.match(block.name):
        raise ValueError(f"block type {block.name!r}: names are 2-32 lower-case letters, "
                         "digits and underscores")
    if not (isinstance(block.schema, type) and issubclass(block.schema, Schema)):
        raise ValueError(f"block type {block.name!r}: schema must be a marshmallow Schema "
                         "class")
    reserved = {"id", "type", "hidden"} & set(block.schema._declared_fields)
    if reserved:
        raise ValueError(f"block type {block.name!r}: fields {sorted(reserved)} are the "
                         "registry's own")


def asset_ids(block: Block, data: dict[str, Any]) -> list[int]:
    """The media-library ids a block uses: its ``assets`` rule, else its AssetId fields
    (nested lists included)."""
    if block.assets is not None:
        return [int(i) for i in block.assets(data)]
    return sorted(set(_walk_assets(block.schema._declared_fields, data)))


def asset_kinds(block: Block, data: dict[str, Any]) -> dict[int, tuple[str, ...]]:
    """Asset id -> the kinds its field accepts."""
    found: dict[int, tuple[str, ...]] = {}
    _walk_assets(block.schema._declared_fields, data, found)
    return found


def _walk_assets(declared: dict, data: Any, kinds: dict | None = None) -> Iterable[int]:
    if not isinstance(data, dict):
        return []
    found: list[int] = []
    for name, declared_field in declared.items():
        value = data.get(name)
        if value is None:
            continue
        found.extend(_field_assets(declared_field, value, kinds))
    return found


def _field_assets(declared_field, value, kinds) -> list[int]:
    if isinstance(declared_field, AssetId):
        if kinds is not None:
            kinds[int(value)] = declared_field.kinds
        return [int(value)]
    if isinstance(declared_field, fields.List) and isinstance(value, list):
        return [i for item in value for i in _field_assets(declared_field.inner, item, kinds)]
    if isinstance(declared_field, fields.Nested) and isinstance(value, dict):
        return list(_walk_assets(declared_field.schema.fields, value, kinds))
    return []


# -- the built-in block types ---------------------------------------------------------------------

class HeadingFields(Schema):
    text = Text(max=200, required=True, validate=validate.Length(min=1, max=200))
    level = Choice(("h2", "h3"), load_default="h2")
    align = Choice(("left", "center"), load_default="center")


class TextFields(Schema):
    html = RichText(max=5000, required=True, metadata={
        "description": "HTML; kept: " + ", ".join(sorted(
            ("p", "br", "strong", "em", "u", "s", "a", "ul", "ol", "li", "h3", "h4",
             "blockquote", "code")))})


LINK_ICONS = ("link", "globe", "shopping-cart", "calendar", "mail", "phone", "map-pin",
              "file-text", "download", "star", "heart", "ticket", "utensils", "music",
              "play", "message-circle", "gift", "info")


class LinkFields(Schema):
    label = Text(max=100, required=True, validate=validate.Length(min=1, max=100))
    url = Url(required=True)
    icon = Choice(("", *LINK_ICONS), load_default="")
    style = Choice(("primary", "secondary"), load_default="primary")


class ImageFields(Schema):
    asset_id = AssetId(required=True)
    alt = Text(max=200, metadata={"description": "what the picture shows, for screen "
                                                 "readers; empty when decorative"})
    caption = Text(max=200)
    url = Url(load_default=None, allow_none=True, metadata={"description": "optional link"})


class GalleryItem(Schema):
    asset_id = AssetId(required=True)
    alt = Text(max=200)


class GalleryFields(Schema):
    items = fields.List(fields.Nested(GalleryItem), required=True,
                        validate=validate.Length(min=1, max=24))


class ProfileFields(Schema):
    avatar_asset_id = AssetId(load_default=None, allow_none=True)
    name = Text(max=100, required=True, validate=validate.Length(min=1, max=100))
    bio = Text(max=300, multiline=True)


SOCIAL_NETWORKS = {
    "instagram": "Instagram", "facebook": "Facebook", "x": "X", "tiktok": "TikTok",
    "youtube": "YouTube", "linkedin": "LinkedIn", "whatsapp": "WhatsApp",
    "telegram": "Telegram", "pinterest": "Pinterest", "snapchat": "Snapchat",
    "threads": "Threads", "mastodon": "Mastodon", "bluesky": "Bluesky", "github": "GitHub",
    "spotify": "Spotify", "soundcloud": "SoundCloud", "twitch": "Twitch",
    "discord": "Discord", "email": "E-mail", "website": "Website",
}


class SocialLink(Schema):
    network = Choice(tuple(SOCIAL_NETWORKS), required=True)
    url = Url(required=True)


class SocialFields(Schema):
    links = fields.List(fields.Nested(SocialLink), required=True,
                        validate=validate.Length(min=1, max=20))


class ContactFields(Schema):
    first_name = Text(max=100)
    last_name = Text(max=100)
    organization = Text(max=200)
    title = Text(max=100)
    phone = Text(max=32)
    mobile = Text(max=32)
    email = Text(max=320)
    website = Text(max=500)
    street = Text(max=200)
    city = Text(max=100)
    region = Text(max=100)
    postcode = Text(max=20)
    country = Text(max=100)
    note = Text(max=500, multiline=True)


def _clean_contact(data: dict[str, Any]) -> dict[str, Any]:
    """The qr plugin's vCard rules (a name or organisation, phones, e-mail, website)."""
    from qrp_qr import payloads

    try:
        content = payloads.load_content("vcard", data)
    except payloads.ContentError as exc:
        raise ValidationError(exc.fields) from exc
    return {name: content.get(name, "") for name in ContactFields._declared_fields}


def _contact_files(data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    from qrp_qr import payloads

    content = {k: v for k, v in data.items() if k in ContactFields._declared_fields and v}
    card = payloads.encode("vcard", content) + "\r\n"
    return {"contact.vcf": ("text/vcard; charset=utf-8", card)}


class WifiFields(Schema):
    ssid = Text(max=32, required=True, validate=validate.Length(min=1, max=32))
    security = Choice(("WPA", "WEP", "nopass"), load_default="WPA")
    password = fields.String(load_default="", validate=validate.Length(max=63))
    hidden_network = fields.Boolean(load_default=False, metadata={
        "description": "the network does not broadcast its name"})


def _clean_wifi(data: dict[str, Any]) -> dict[str, Any]:
    """The qr plugin's Wi-Fi rules (password length by security)."""
    from qrp_qr import payloads

    content = {**{k: v for k, v in data.items() if k != "hidden_network"},
               "hidden": data.get("hidden_network", False)}
    try:
        loaded = payloads.load_content("wifi", content)
    except payloads.ContentError as exc:
        raise ValidationError(exc.fields) from exc
    return {"ssid": loaded["ssid"], "security": loaded["security"],
            "password": loaded.get("password", ""), "hidden_network": loaded["hidden"]}


YOUTUBE = re.compile(r"^(?:https?://)?(?:www\.|m\.)?(?:youtube\.com/(?:watch\?(?:.*&)?v=|embed/"
                     r"|shorts/|live/)|youtu\.be/)([A-Za-z0-9_-]{11})(?:[?&#].*)?$")
VIMEO = re.compile(r"^(?:https?://)?(?:www\.|player\.)?vimeo\.com/(?:video/)?(\d{1,12})"
                   r"(?:[/?#].*)?$")


def video_source(url: str) -> tuple[str, str] | None:
    """(provider, id) of a YouTube or Vimeo link, else None."""
    if match := YOUTUBE.match(url.strip()):
        return "youtube", match.group(1)
    if match := VIMEO.match(url.strip()):
        return "vimeo", match.group(1)
    return None


def video_urls(provider: str, video_id: str) -> tuple[str, str]:
    """(the player loaded after the click, the page a visitor without script opens)."""
    if provider == "youtube":
        return (f"https://www.youtube-nocookie.com/embed/{video_id}?autoplay=1",
                f"https://www.youtube.com/watch?v={video_id}")
    return (f"https://player.vimeo.com/video/{video_id}?autoplay=1&dnt=1",
            f"https://vimeo.com/{video_id}")


class VideoFields(Schema):
    url = Url(required=True, schemes=("http", "https"),
              metadata={"description": "a YouTube or Vimeo link"})
    title = Text(max=200, required=True, validate=validate.Length(min=1, max=200))
    poster_asset_id = AssetId(load_default=None, allow_none=True, metadata={
        "description": "an image shown until the visitor starts the video (nothing is loaded "
                       "from the video site before that)"})

    @validates_schema
    def _known_site(self, data, **_kwargs):
        if data.get("url") and video_source(data["url"]) is None:
            raise ValidationError("Use a YouTube or Vimeo link.", "url")


def _clean_video(data: dict[str, Any]) -> dict[str, Any]:
    provider, video_id = video_source(data["url"])
    return {**data, "provider": provider, "video_id": video_id}


class MapFields(Schema):
    label = Text(max=100)
    address = Text(max=300, multiline=True)
    latitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-90, 90))
    longitude = fields.Float(load_default=None, allow_none=True,
                             validate=validate.Range(-180, 180))

    @validates_schema
    def _somewhere(self, data, **_kwargs):
        has_point = data.get("latitude") is not None and data.get("longitude") is not None
        if not (data.get("address") or has_point):
            raise ValidationError("Give an address or coordinates.", "address")
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            raise ValidationError("Give both latitude and longitude.", "latitude")


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                            "Saturday", "Sunday"), strict=True))
TIME = validate.Regexp(r"^(([01]\d|2[0-3]):[0-5]\d)?$", error="Use a time like 09:30.")


class OpeningDay(Schema):
    day = Choice(DAYS, required=True)
    closed = fields.Boolean(load_default=False)
    opens = fields.String(load_default="", validate=TIME)
    closes = fields.String(load_default="", validate=TIME)

    @validates_schema
    def _times(self, data, **_kwargs):
        if not data.get("closed") and not (data.get("opens") and data.get("closes")):
            raise ValidationError("Give the opening and closing times, or mark it closed.",
                                  "opens")


class HoursFields(Schema):
    title = Text(max=100, load_default="Opening hours")
    days = fields.List(fields.Nested(OpeningDay), required=True,
                       validate=validate.Length(min=1, max=14))
    note = Text(max=200)


class PdfFields(Schema):
    asset_id = AssetId(required=True, kinds=("pdf",))
    label = Text(max=100, required=True, validate=validate.Length(min=1, max=100))


class DividerFields(Schema):
    style = Choice(("line", "space"), load_default="line")
    size = Choice(("small", "medium", "large"), load_default="medium")


LEAD_FIELDS = {"name": "Name", "email": "E-mail", "phone": "Phone", "company": "Company",
               "message": "Message"}


class LeadField(Schema):
    name = Choice(tuple(LEAD_FIELDS), required=True)
    label = Text(max=60)
    required = fields.Boolean(load_default=False)


class LeadFormFields(Schema):
    title = Text(max=100, load_default="Get in touch")
    fields_ = fields.List(fields.Nested(LeadField), data_key="fields", attribute="fields",
                          required=True, validate=validate.Length(min=1, max=len(LEAD_FIELDS)))
    button = Text(max=40, load_default="Send")
    success = Text(max=200, load_default="Thank you! We will be in touch.")
    consent = Text(max=300, metadata={"description": "shown above the button (privacy note)"})

    @validates_schema
    def _once_each(self, data, **_kwargs):
        names = [f["name"] for f in data.get("fields", [])]
        if len(names) != len(set(names)):
            raise ValidationError("Each field only once.", "fields")


def _clean_lead_form(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    data["fields"] = [{**f, "label": f.get("label") or LEAD_FIELDS[f["name"]]}
                      for f in data["fields"]]
    return data


def _template(name: str) -> str:
    return f"microsites/page/blocks/{name}.html"


BUILTIN_BLOCKS = [
    Block("profile", "Profile header", ProfileFields, _template("profile"), icon="circle-user",
          description="Picture, name and a short bio", defaults={"name": "Your name"},
          order=10),
    Block("heading", "Heading", HeadingFields, _template("heading"), icon="heading",
          defaults={"text": "Heading"}, order=20),
    Block("text", "Text", TextFields, _template("text"), icon="text",
          description="Paragraphs with bold, italics, lists and links",
          defaults={"html": "<p>Write something.</p>"}, order=30),
    Block("link", "Link button", LinkFields, _template("link"), icon="link",
          defaults={"label": "Visit our website", "url": "https://"}, order=40),
    Block("image", "Image", ImageFields, _template("image"), icon="image", order=50),
    Block("gallery", "Gallery", GalleryFields, _template("gallery"), icon="images",
          order=60),
    Block("social", "Social links", SocialFields, _template("social"), icon="share-2",
          defaults={"links": [{"network": "instagram", "url": "https://"}]}, order=70),
    Block("contact", "Contact card", ContactFields, _template("contact"),
          icon="contact", description="With a Save contact button (vCard)",
          clean=_clean_contact, files=_contact_files, order=80),
    Block("wifi", "Wi-Fi", WifiFields, _template("wifi"), icon="wifi",
          description="Network name and password to copy", clean=_clean_wifi, order=90),
    Block("video", "Video", VideoFields, _template("video"), icon="circle-play",
          description="YouTube or Vimeo; loaded only when the visitor presses play",
          clean=_clean_video, order=100),
    Block("map", "Location", MapFields, _template("map"), icon="map-pin",
          description="Address with links to open it in a maps app", order=110),
    Block("hours", "Opening hours", HoursFields, _template("hours"), icon="clock",
          defaults={"days": [{"day": d, "opens": "09:00", "closes": "17:00"}
                             for d in DAYS[:5]]}, order=120),
    Block("pdf", "PDF or menu", PdfFields, _template("pdf"), icon="file-text",
          defaults={"label": "Our menu"}, order=130),
    Block("divider", "Divider or space", DividerFields, _template("divider"),
          icon="separator-horizontal", order=140),
    Block("lead_form", "Contact form", LeadFormFields, _template("lead_form"), icon="inbox",
          description="Visitors leave their details; you see them in Leads",
          defaults={"fields": [{"name": "name", "required": True},
                               {"name": "email", "required": True},
                               {"name": "message"}]},
          clean=_clean_lead_form, order=150),
]


def load_block(raw: Any, position: int) -> dict[str, Any]:
    """One block from a client (``{type, id?, hidden?, ...fields}``), validated and cleaned by
    its type; ValidationError messages keyed by field."""
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["A block is an object with a 'type'."]})
    block = block_type(str(raw.get("type", "")))
    if block is None:
        known = ", ".join(block_types())
        raise ValidationError({"type": [f"Unknown block type; use one of {known}."]})
    content = {k: v for k, v in raw.items() if k not in ("id", "type", "hidden")}
    data = block.schema().load(content, unknown="exclude")
    if block.clean is not None:
        data = block.clean(data)
    block_id = raw.get("id")
    if not (isinstance(block_id, str) and re.match(r"^[A-Za-z0-9_-]{1,24}$", block_id)):
        block_id = None
    return {"id": block_id, "type": block.name, "hidden": bool(raw.get("hidden", False)),
            **data}


def describe(block: Block) -> dict[str, Any]:
    """A block type for the API and the builder: name, label, its fields as JSON Schema."""
    converter = current_app.extensions["qrp.api"].ma_plugin.converter
    return {"type": block.name, "label": block.label, "icon": block.icon,
            "description": block.description,
            "fields": converter.schema2jsonschema(block.schema), "defaults": block.defaults}
