"""The field types block schemas are made of: each carries its sanitising rule, so a block
type (built in or from another plugin) is safe by declaring its fields with these.

- ``Text(max)``      plain text, control characters dropped; escaped when rendered
- ``RichText(max)``  HTML cleaned by nh3 to a small set of tags (``RICH_TAGS``), links checked
- ``Url()``          http(s), mailto: or tel: only (never javascript:, data:, vbscript:...)
- ``AssetId()``      an asset of the workspace's media library (checked when saved)
- ``Color()``        ``#rrggbb``
- ``Choice(values)`` one of a fixed list
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import nh3
from markupsafe import Markup
from marshmallow import ValidationError, fields, validate

from qrplatform import urls
from qrplatform.inputs import ID_RANGE

# Control characters other than tab and newline never belong in text people read.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s")
LINK_SCHEMES = ("http", "https", "mailto", "tel")
RICH_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "s", "a", "ul", "ol", "li", "h3", "h4",
             "blockquote", "code"}
RICH_ATTRIBUTES = {"a": {"href", "title"}}
MAX_URL = 2000


def clean_text(value: str) -> str:
    return _CONTROL.sub("", value).strip()


class Text(fields.String):
    """Plain text of at most ``max`` characters (``multiline`` keeps line breaks)."""

    def __init__(self, max: int = 200, *, multiline: bool = False, **kwargs):
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", "")
        kwargs.setdefault("validate", validate.Length(max=max))
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs):
        text = clean_text(super()._deserialize(value, attr, data, **kwargs))
        return text if self.multiline else " ".join(text.split())


def clean_html(value: str) -> str:
    return nh3.clean(value, tags=RICH_TAGS, attributes=RICH_ATTRIBUTES,
                     url_schemes=set(LINK_SCHEMES), link_rel="noopener noreferrer nofollow",
                     strip_comments=True).strip()


# Where one of RICH_TAGS starts or ends a line of text (a paragraph, an item, a heading).
_LINE_TAG = re.compile(r"<(?=/?(?:p|br|li|ul|ol|h3|h4|blockquote)\b)", re.IGNORECASE)


def plain_text(html: str) -> str:
    """Rich text as one line of plain text: entities decoded, a space where a line ended (the
    tags alone would run "Starters" and "Bruschetta" together)."""
    return Markup(_LINE_TAG.sub(" <", html)).striptags()


class RichText(fields.String):
    """HTML from the editor, cleaned by nh3: only ``RICH_TAGS``, links with safe schemes."""

    def __init__(self, max: int = 5000, **kwargs):
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", "")
        kwargs.setdefault("validate", validate.Length(max=max))
        super().__init__(**kwargs)
        self.max = max

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        if len(raw) > self.max * 2:
            raise ValidationError(f"At most {self.max} characters.")
        return clean_html(raw)


def check_url(value: str, schemes: tuple[str, ...] = LINK_SCHEMES) -> str:
    """A link a visitor may follow, or ValidationError: the schemes allowed, no spaces or
    control characters, a host for web addresses (in ASCII, IDNs converted)."""
    value = value.strip()
    if not value:
        raise ValidationError("Enter a link.")
    if len(value) > MAX_URL:
        raise ValidationError(f"At most {MAX_URL} characters.")
    if _SPACE.search(value) or _CONTROL.search(value):
        raise ValidationError("A link cannot contain spaces or control characters.")
    scheme = urlsplit(value).scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(f"{s}:" for s in schemes)
        raise ValidationError(f"Links start with {allowed} (not {scheme or 'nothing'}:).")
    if scheme in ("http", "https"):
        if not urlsplit(value).netloc:
            raise ValidationError("Enter a full web address starting with https://.")
        try:
            return urls.ascii_url(value)
        except urls.InvalidAddress as exc:
            raise ValidationError(f"Check the address: {exc}") from exc
    if len(value) <= len(scheme) + 1:
        raise ValidationError("The link is empty after its scheme.")
    return value


class Url(fields.String):
    """A link: http(s), mailto: or tel: (``schemes`` narrows it)."""

    def __init__(self, *, schemes: tuple[str, ...] = LINK_SCHEMES, **kwargs):
        super().__init__(**kwargs)
        self.schemes = schemes
        self.metadata.setdefault("description", "a link: " + ", ".join(
            f"{s}:" for s in schemes))

    def _deserialize(self, value, attr, data, **kwargs):
        return check_url(super()._deserialize(value, attr, data, **kwargs), self.schemes)


class AssetId(fields.Integer):
    """An asset of the workspace's media library (checked to exist when the page is saved);
    ``kinds`` restricts its type (image, svg, pdf)."""

    def __init__(self, *, kinds: tuple[str, ...] = ("image", "svg"), **kwargs):
        kwargs.setdefault("validate", ID_RANGE)
        super().__init__(strict=False, **kwargs)
        self.kinds = kinds
        self.metadata.setdefault("description", "an asset id (" + ", ".join(kinds) + ")")


class Color(fields.String):
    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Regexp(r"^#[0-9a-fA-F]{6}$",
                                                      error="Use a colour like #1a2b3c."))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).lower()


def Choice(values, **kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(tuple(values)),
                         metadata={"enum": list(values)}, **kwargs)
