"""The content types and the payloads phone cameras understand.

Each type has a marshmallow schema (its fields and their validation, shared by the API, the
pages and the bulk upload) and an encoder producing the exact text put into the QR code:

- url      the URL itself
- text     the text itself
- email    ``mailto:`` (RFC 6068)
- phone    ``tel:`` (RFC 3966)
- sms      ``SMSTO:number:message`` (read by the iOS and Android cameras and by ZXing)
- wifi     ``WIFI:T:WPA;S:ssid;P:password;H:true;;`` (the ZXing convention every phone follows)
- vcard    vCard 3.0 (RFC 2426), CRLF line ends
- geo      ``geo:lat,lng`` (RFC 5870)
- event    an iCalendar VEVENT (RFC 5545), times in UTC

A dynamic code encodes its short link instead; ``destination_uri`` says where that link sends.
Other plugins add dynamic-only types (``linktypes``, e.g. "microsite"); the functions below
that take a type answer for those too.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from qrplatform import urls
from qrplatform.registry import registry

PHONE = re.compile(r"^\+?[0-9 ()./-]{3,32}$")
_SPACE = re.compile(r"\s")
MAX_TEXT = 2000


def _http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValidationError("Enter a full web address starting with https:// or http://.")
    if _SPACE.search(value):
        raise ValidationError("A web address cannot contain spaces.")
    try:
        urls.ascii_url(value)
    except urls.InvalidAddress as exc:
        raise ValidationError(f"Check the address: {exc}") from exc


def _phone(value: str) -> None:
    if not PHONE.match(value) or sum(ch.isdigit() for ch in value) < 3:
        raise ValidationError("Enter a phone number: digits, optionally starting with +.")


def _clean(value: str | None) -> str:
    return (value or "").strip()


def normalise_phone(value: str) -> str:
    """Keep what a dialer needs: a leading + and the digits."""
    value = value.strip()
    digits = "".join(ch for ch in value if ch.isdigit())
    return ("+" if value.startswith("+") else "") + digits


class ContentSchema(Schema):
    """Base: strip surrounding spaces from every string."""

    def strip(self, data: dict) -> dict:
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}


class UrlContent(ContentSchema):
    url = fields.String(required=True, validate=[validate.Length(max=2000), _http_url],
                        metadata={"example": "https://example.com/menu"})


class TextContent(ContentSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))


class EmailContent(ContentSchema):
    email = fields.Email(required=True)
    subject = fields.String(load_default="", validate=validate.Length(max=200))
    body = fields.String(load_default="", validate=validate.Length(max=1000))


class PhoneContent(ContentSchema):
    phone = fields.String(required=True, validate=_phone, metadata={"example": "+44 20 7946 0000"})


class SmsContent(ContentSchema):
    phone = fields.String(required=True, validate=_phone)
    message = fields.String(load_default="", validate=validate.Length(max=500))


WIFI_SECURITY = ("WPA", "WEP", "nopass")


class WifiContent(ContentSchema):
    ssid = fields.String(required=True, validate=validate.Length(min=1, max=32),
                         metadata={"description": "the network name"})
    security = fields.String(load_default="WPA", validate=validate.OneOf(WIFI_SECURITY),
                             metadata={"description": "WPA (also WPA2/WPA3), WEP or nopass "
                                                      "(an open network)"})
    password = fields.String(load_default="", validate=validate.Length(max=63))
    hidden = fields.Boolean(load_default=False)

    @validates_schema
    def _password_fits_security(self, data, **_kwargs):
        security, password = data.get("security", "WPA"), data.get("password", "")
        if security == "nopass" and password:
            raise ValidationError("An open network has no password; choose WPA or WEP.",
                                  "password")
        if security == "WPA" and not 8 <= len(password) <= 63:
            raise ValidationError("A WPA password has 8 to 63 characters.", "password")
        if security == "WEP" and len(password) not in (5, 10, 13, 26):
            raise ValidationError("A WEP key has 5 or 13 characters (10 or 26 hex digits).",
                                  "password")


class VCardContent(ContentSchema):
    first_name = fields.String(load_default="", validate=validate.Length(max=100))
    last_name = fields.String(load_default="", validate=validate.Length(max=100))
    organization = fields.String(load_default="", validate=validate.Length(max=200))
    title = fields.String(load_default="", validate=validate.Length(max=100))
    phone = fields.String(load_default="", validate=validate.Length(max=32))
    mobile = fields.String(load_default="", validate=validate.Length(max=32))
    email = fields.String(load_default="", validate=validate.Length(max=320))
    website = fields.String(load_default="", validate=validate.Length(max=500))
    street = fields.String(load_default="", validate=validate.Length(max=200))
    city = fields.String(load_default="", validate=validate.Length(max=100))
    region = fields.String(load_default="", validate=validate.Length(max=100))
    postcode = fields.String(load_default="", validate=validate.Length(max=20))
    country = fields.String(load_default="", validate=validate.Length(max=100))
    note = fields.String(load_default="", validate=validate.Length(max=500))

    @validates_schema
    def _checks(self, data, **_kwargs):
        errors: dict[str, list[str]] = {}
        if not (_clean(data.get("first_name")) or _clean(data.get("last_name"))
                or _clean(data.get("organization"))):
            errors["first_name"] = ["Give a name or an organisation."]
        for name in ("phone", "mobile"):
            value = _clean(data.get(name))
            if value:
                try:
                    _phone(value)
                except ValidationError as exc:
                    errors[name] = exc.messages
        email = _clean(data.get("email"))
        if email:
            try:
                fields.Email().deserialize(email)
            except ValidationError:
                errors["email"] = ["Not a valid email address."]
        website = _clean(data.get("website"))
        if website:
            try:
                _http_url(website)
            except ValidationError as exc:
                errors["website"] = exc.messages
        if errors:
            raise ValidationError(errors)


class GeoContent(ContentSchema):
    latitude = fields.Float(required=True, validate=validate.Range(-90, 90))
    longitude = fields.Float(required=True, validate=validate.Range(-180, 180))


class EventContent(ContentSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    start = fields.AwareDateTime(required=True, default_timezone=UTC)
    end = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=UTC)
    location = fields.String(load_default="", validate=validate.Length(max=200))
    description = fields.String(load_default="", validate=validate.Length(max=1000))

    @validates_schema
    def _end_after_start(self, data, **_kwargs):
        if data.get("end") and data.get("start") and data["end"] < data["start"]:
            raise ValidationError("The event cannot end before it starts.", "end")


CONTENT_SCHEMAS: dict[str, type[ContentSchema]] = {
    "url": UrlContent,
    "text": TextContent,
    "email": EmailContent,
    "phone": PhoneContent,
    "sms": SmsContent,
    "wifi": WifiContent,
    "vcard": VCardContent,
    "geo": GeoContent,
    "event": EventContent,
}

TYPE_LABELS = {
    "url": "Website (URL)", "text": "Plain text", "email": "E-mail", "phone": "Phone call",
    "sms": "SMS", "wifi": "Wi-Fi", "vcard": "Contact card (vCard)", "geo": "Location",
    "event": "Calendar event",
}


class ContentError(ValueError):
    """Content that does not fit its type; ``fields`` maps each field to its messages."""

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))
        self.fields = fields


# The extension point through which plugins add code types (items: qrp_qr.linktypes.LinkType).
LINK_TYPES = "qr.link_types"


def link_types() -> dict[str, Any]:
    """The types the enabled plugins add, by name (``linktypes.LinkType``)."""
    return {t.name: t for t in registry().contributions.get(LINK_TYPES, [])}


def link_type(qr_type: str):
    """The plugin-added type of this name (None for a built-in or unknown one)."""
    return None if qr_type in CONTENT_SCHEMAS else link_types().get(qr_type)


def all_types() -> tuple[str, ...]:
    """The built-in types, then those the enabled plugins add."""
    return (*CONTENT_SCHEMAS, *link_types())


def dynamic_types() -> tuple[str, ...]:
    return (*DYNAMIC_TYPES, *link_types())


def type_label(qr_type: str) -> str:
    added = link_type(qr_type)
    return added.label if added else TYPE_LABELS.get(qr_type, qr_type)


def type_labels() -> dict[str, str]:
    return {t: type_label(t) for t in all_types()}


def schema_class(qr_type: str) -> type[ContentSchema] | None:
    added = link_type(qr_type)
    return added.schema if added else CONTENT_SCHEMAS.get(qr_type)


def type_fields(qr_type: str) -> list[str]:
    """The form/CSV/API field names of a type, in display order (none for an unknown one)."""
    schema = schema_class(qr_type)
    return list(schema._declared_fields) if schema else []


@functools.cache
def _schema(schema: type[ContentSchema]) -> ContentSchema:
    """One instance per type, reused: a bulk file loads thousands of rows."""
    return schema()


def load_content(qr_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Validate raw content (from JSON, a form or a CSV row) into its stored, JSON-able form."""
    schema = schema_class(qr_type)
    if schema is None:
        raise ContentError({"type": [f"Unknown type; use one of {', '.join(all_types())}."]})
    known = type_fields(qr_type)
    raw = {k: v for k, v in (data or {}).items() if k in known and v is not None}
    instance = _schema(schema)
    raw = instance.strip(raw)
    # Empty optional strings from forms and CSV cells mean "not given".
    raw = {k: v for k, v in raw.items() if v != "" or instance.fields[k].required}
    try:
        loaded = instance.load(raw)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ContentError({k: v if isinstance(v, list) else [str(v)]
                            for k, v in messages.items()}) from exc
    return instance.dump(loaded) if qr_type == "event" else _jsonable(loaded)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


# -- encoders -----------------------------------------------------------------------------------

def _wifi_escape(value: str) -> str:
    return re.sub(r'([\\;,:"])', r"\\\1", value)


def _vcard_escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _ics_escape(value: str) -> str:
    return _vcard_escape(value)


def _ics_time(value: str) -> str:
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def encode(qr_type: str, content: dict[str, Any]) -> str:
    """The exact text a static code of this type carries."""
    c = content
    if qr_type == "url":
        return c["url"]
    if qr_type == "text":
        return c["text"]
    if qr_type == "email":
        query = {k: c[k] for k in ("subject", "body") if c.get(k)}
        return f"mailto:{c['email']}" + ("?" + urlencode(query, quote_via=quote) if query else "")
    if qr_type == "phone":
        return f"tel:{normalise_phone(c['phone'])}"
    if qr_type == "sms":
        return f"SMSTO:{normalise_phone(c['phone'])}:{c.get('message', '')}"
    if qr_type == "wifi":
        parts = [f"T:{c.get('security', 'WPA')}", f"S:{_wifi_escape(c['ssid'])}"]
        if c.get("security") != "nopass":
            parts.append(f"P:{_wifi_escape(c.get('password', ''))}")
        if c.get("hidden"):
            parts.append("H:true")
        return "WIFI:" + ";".join(parts) + ";;"
    if qr_type == "vcard":
        return _vcard(c)
    if qr_type == "geo":
        return f"geo:{_number(c['latitude'])},{_number(c['longitude'])}"
    if qr_type == "event":
        return _vevent(c)
    raise ValueError(f"unknown type {qr_type!r}")


ADDRESS_FIELDS = ("street", "city", "region", "postcode", "country")


def _vcard(c: dict[str, Any]) -> str:
    first, last = c.get("first_name", ""), c.get("last_name", "")
    full = " ".join(p for p in (first, last) if p) or c.get("organization", "")
    lines = ["BEGIN:VCARD", "VERSION:3.0",
             f"N:{_vcard_escape(last)};{_vcard_escape(first)};;;",
             f"FN:{_vcard_escape(full)}"]
    if c.get("organization"):
        lines.append(f"ORG:{_vcard_escape(c['organization'])}")
    if c.get("title"):
        lines.append(f"TITLE:{_vcard_escape(c['title'])}")
    if c.get("phone"):
        lines.append(f"TEL;TYPE=WORK,VOICE:{normalise_phone(c['phone'])}")
    if c.get("mobile"):
        lines.append(f"TEL;TYPE=CELL:{normalise_phone(c['mobile'])}")
    if c.get("email"):
        lines.append(f"EMAIL;TYPE=INTERNET:{c['email']}")
    if c.get("website"):
        lines.append(f"URL:{c['website']}")
    address = [c.get(k, "") for k in ADDRESS_FIELDS]
    if any(address):
        lines.append("ADR;TYPE=WORK:;;" + ";".join(_vcard_escape(p) for p in address))
    if c.get("note"):
        lines.append(f"NOTE:{_vcard_escape(c['note'])}")
    lines.append("END:VCARD")
    return "\r\n".join(lines)


def _vevent(c: dict[str, Any]) -> str:
    lines = ["BEGIN:VEVENT", f"SUMMARY:{_ics_escape(c['title'])}",
             f"DTSTART:{_ics_time(c['start'])}"]
    if c.get("end"):
        lines.append(f"DTEND:{_ics_time(c['end'])}")
    if c.get("location"):
        lines.append(f"LOCATION:{_ics_escape(c['location'])}")
    if c.get("description"):
        lines.append(f"DESCRIPTION:{_ics_escape(c['description'])}")
    lines.append("END:VEVENT")
    return "\r\n".join(lines)


def calendar_file(content: dict[str, Any], uid: str) -> str:
    """A whole .ics file around the event (what a dynamic event code's link downloads)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    event = _vevent(content).replace("BEGIN:VEVENT", f"BEGIN:VEVENT\r\nUID:{uid}\r\n"
                                                     f"DTSTAMP:{stamp}", 1)
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//QR Platform//EN",
                        event, "END:VCALENDAR", ""])


# Types whose dynamic link redirects to a URI; the others are served by the link itself.
def destination_uri(qr_type: str, content: dict[str, Any]) -> str | None:
    """Where a dynamic code's short link sends the scanner; None when the link serves the
    content itself (text, vCard, event)."""
    if qr_type == "url":
        return content["url"]
    if qr_type in {"email", "phone"}:
        return encode(qr_type, content)
    if qr_type == "sms":
        body = content.get("message")
        number = normalise_phone(content["phone"])
        return f"sms:{number}" + (f"?body={quote(body)}" if body else "")
    if qr_type == "geo":
        lat, lng = _number(content["latitude"]), _number(content["longitude"])
        return f"https://maps.google.com/?q={lat},{lng}"
    if added := link_type(qr_type):
        return added.target(content)
    return None


def phone_uri(number: str) -> str:
    return "tel:" + normalise_phone(number)


def map_search_url(content: dict[str, Any]) -> str | None:
    """A maps search for a contact's address (the link a geo code opens), None without one."""
    address = ", ".join(content[k] for k in ADDRESS_FIELDS if content.get(k))
    return f"https://maps.google.com/?q={quote(address)}" if address else None


DYNAMIC_TYPES = ("url", "text", "email", "phone", "sms", "vcard", "geo", "event")


def summary(qr_type: str, content: dict[str, Any]) -> str:
    """One line to show in a list."""
    if added := link_type(qr_type):
        return added.summary(content)
    c = content
    return {
        "url": lambda: c.get("url", ""),
        "text": lambda: c.get("text", "")[:80],
        "email": lambda: c.get("email", ""),
        "phone": lambda: c.get("phone", ""),
        "sms": lambda: c.get("phone", ""),
        "wifi": lambda: c.get("ssid", ""),
        "vcard": lambda: " ".join(p for p in (c.get("first_name"), c.get("last_name")) if p)
        or c.get("organization", ""),
        "geo": lambda: f"{c.get('latitude')}, {c.get('longitude')}",
        "event": lambda: c.get("title", ""),
    }.get(qr_type, lambda: "")()
