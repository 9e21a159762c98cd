"""What a valid QR code is, written once: creating, changing, duplicating and bulk-creating a
code all check through these functions (``services``, ``bulk``), and nothing else decides."""

from __future__ import annotations

import contextlib
import re
import secrets
import string
from collections.abc import Container
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from qrp_qr import payloads, render, smartlinks
from qrp_qr.models import KINDS, REDIRECT_STATUSES, QRCode, QRSlugAlias
from qrplatform.errors import ServiceError
from qrplatform.extensions import db
from qrplatform.tenancy import unscoped

SHORT_CODE_ALPHABET = string.ascii_letters + string.digits
# 62^8 ≈ 2·10^14 codes: guessing a live one among millions takes ~10^8 tries per hit.
SHORT_CODE_LENGTH = 8
MAX_TAGS = 20
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


class InvalidInput(ServiceError):
    """Several fields are wrong at once; ``fields`` maps each to its messages."""

    status = 422
    code = "validation_error"

    def __init__(self, message: str, fields: dict[str, list[str]]):
        super().__init__(message)
        self._fields = fields

    @property
    def fields(self) -> dict[str, list[str]]:
        return self._fields


def kind_and_type_errors(kind: str, qr_type: str) -> dict[str, list[str]]:
    """Why this kind and type cannot make a code (empty when they can)."""
    errors: dict[str, list[str]] = {}
    if kind not in KINDS:
        errors["kind"] = ["Use static or dynamic."]
    types = payloads.all_types()
    if qr_type not in types:
        errors["type"] = [f"Use one of {', '.join(types)}."]
    elif kind == "dynamic" and qr_type not in payloads.dynamic_types():
        errors["kind"] = ["A Wi-Fi code must be static: phones join a network only from the "
                          "code itself, never from a link."]
    elif kind == "static" and payloads.link_type(qr_type):
        errors["kind"] = [f"A {payloads.type_label(qr_type).lower()} code must be dynamic: "
                          "only its short link can open it, and follow it when it moves."]
    return errors


def single_kind_types(kind: str) -> dict[str, str]:
    """The types that cannot be ``kind``, each with the reason (the refusal's own words), for
    the editor to offer only the other kind for them."""
    return {t: " ".join(errors["kind"]) for t in payloads.all_types()
            if (errors := kind_and_type_errors(kind, t)).get("kind")}


def check_kind_and_type(kind: str, qr_type: str) -> None:
    if errors := kind_and_type_errors(kind, qr_type):
        raise InvalidInput("The kind or type is not valid.", errors)


def clean_content(qr_type: str, content: dict[str, Any], prefix: str = "content.") -> dict:
    """The type's content fields, checked and normalised; errors name ``prefix`` + field."""
    try:
        loaded = payloads.load_content(qr_type, content)
        if (added := payloads.link_type(qr_type)) and added.check:
            added.check(loaded)
        return loaded
    except payloads.ContentError as exc:
        raise InvalidInput("Some content fields are missing or invalid.",
                           {f"{prefix}{k}" if k != "type" else k: v
                            for k, v in exc.fields.items()}) from exc


def clean_design(design: dict[str, Any] | None) -> dict[str, Any]:
    errors = render.DesignSchema().validate(design or {})
    if errors:
        raise InvalidInput("The design has invalid settings.",
                           {f"design.{k}": v for k, v in errors.items()})
    return render.normalise_design(design)


def clean_tags(tags: list[str] | None) -> list[str]:
    cleaned: dict[str, None] = {}
    for tag in tags or []:
        tag = " ".join(str(tag).split()).lower()[:50]
        if tag:
            cleaned[tag] = None
        if len(cleaned) > MAX_TAGS:  # stop at the first tag too many, whatever the list's size
            raise InvalidInput("Too many tags.", {"tags": [f"At most {MAX_TAGS} tags."]})
    return list(cleaned)


def clean_utm(utm: dict[str, Any] | None) -> dict[str, str] | None:
    if not utm:
        return None
    cleaned = {k: str(v).strip()[:200] for k, v in utm.items() if k in UTM_FIELDS and v}
    return cleaned or None


def clean_name(name: str | None, qr_type: str, content: dict[str, Any]) -> str:
    """The name given, else a summary of the content, else the type."""
    name = (name or "").strip() or payloads.summary(qr_type, content)[:200] or qr_type
    return name[:200]


def check_link_settings(data: dict[str, Any], current_expiry: datetime | None = None) -> None:
    """Redirect status, scan cap and expiry; an expiry is in the future unless it is the one
    the code has already (an expired code stays editable)."""
    errors: dict[str, list[str]] = {}
    expires = data.get("expires_at")
    if expires is not None and expires != current_expiry:
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        if expires <= datetime.now(UTC):
            errors["expires_at"] = ["This date has passed: choose a later one, or leave it "
                                    "empty for a link that never expires."]
    status = data.get("redirect_status")
    if status is not None and status not in REDIRECT_STATUSES:
        errors["redirect_status"] = [f"Use one of {', '.join(map(str, REDIRECT_STATUSES))}."]
    cap = data.get("scan_cap")
    if cap is not None and cap < 1:
        errors["scan_cap"] = ["A scan cap is at least 1 (leave it empty for no cap)."]
    if errors:
        raise InvalidInput("Some link settings are invalid.", errors)


def clean_rules(kind: str, value: Any) -> list[dict[str, Any]] | None:
    """A dynamic code's redirect rules, checked (``smartlinks``); None for none."""
    return _smart(kind, "rules", smartlinks.clean_rules, value)


def clean_variants(kind: str, value: Any) -> list[dict[str, Any]] | None:
    """A dynamic code's A/B variants, checked (``smartlinks``); None for none."""
    return _smart(kind, "variants", smartlinks.clean_variants, value)


def clean_app_link(kind: str, value: Any) -> dict[str, Any] | None:
    """A dynamic code's "open in app" targets per OS, checked (``smartlinks``); None for none."""
    return _smart(kind, "app_link", smartlinks.clean_app_link, value)


def _smart(kind: str, name: str, clean, value: Any) -> list[dict[str, Any]] | None:
    if not value:
        return None
    if kind != "dynamic":
        raise InvalidInput(f"Only a dynamic code has {name}.", {name: [
            "A static code holds its content itself; make the code dynamic to route scans."]})
    try:
        return clean(value) or None
    except smartlinks.RulesError as exc:
        raise InvalidInput(str(exc), exc.fields) from exc


def destination(kind: str, qr_type: str, content: dict[str, Any]) -> str | None:
    """Where a dynamic code's link sends scanners, or a static url code's address."""
    if kind == "dynamic":
        return payloads.destination_uri(qr_type, content)
    return content.get("url")


# An own slug: 3 to 64 letters, digits, hyphens and underscores, starting and ending with a
# letter or digit (it is a path segment people type and print; nothing needs escaping).
SLUG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{1,62}[A-Za-z0-9])$")
SLUG_MIN, SLUG_MAX = 3, 64
# Words people would read as the platform's own pages, refused whatever the host serves; the
# first path segment of every route of the app is refused too (``reserved_slugs``).
RESERVED_SLUGS = frozenset({
    "about", "account", "admin", "api", "app", "assets", "billing", "blog", "c", "contact",
    "dashboard", "docs", "domains", "download", "favicon", "help", "home", "healthz", "join",
    "legal", "login", "logout", "m", "mail", "me", "metrics", "microsites", "new", "pricing",
    "privacy", "qr", "readyz", "register", "robots", "s", "security", "settings", "signin",
    "signup", "static", "status", "support", "terms", "webhooks", "www",
})


def reserved_slugs() -> frozenset[str]:
    """RESERVED_SLUGS and the first path segment of every route the app has (lower case)."""
    app = current_app._get_current_object()
    found = app.extensions.get("qr.reserved_slugs")
    if found is None:
        segments = {rule.rule.strip("/").split("/", 1)[0].lower()
                    for rule in app.url_map.iter_rules()}
        found = app.extensions["qr.reserved_slugs"] = RESERVED_SLUGS | frozenset(
            segment for segment in segments if segment and "<" not in segment)
    return found


def slug_owner(slug: str) -> int | None:
    """The id of the code a short code (current or alias) belongs to, in any workspace."""
    with unscoped():
        found = db.session.scalar(select(QRCode.id).where(QRCode.short_code == slug))
        if found is None:
            found = db.session.scalar(select(QRSlugAlias.code_id)
                                      .where(QRSlugAlias.slug == slug))
    return found


def clean_slug(kind: str, value: Any, code_id: int | None = None) -> str:
    """An own short code, checked: its form, not reserved, not anyone else's code or alias
    (a code may take back one of its own aliases)."""
    if kind != "dynamic":
        raise InvalidInput("Only a dynamic code has a short link.", {"slug": [
            "A static code holds its content itself; make the code dynamic to choose its "
            "short link."]})
    if not isinstance(value, str):
        raise InvalidInput("The slug is not valid.", {"slug": ["Give the slug as text."]})
    slug = value.strip()
    if not SLUG_MIN <= len(slug) <= SLUG_MAX:
        raise InvalidInput("The slug is not valid.", {"slug": [
            f"A slug is {SLUG_MIN} to {SLUG_MAX} characters long (this one has {len(slug)})."]})
    if not SLUG.match(slug):
        odd = sorted({ch for ch in slug if not (ch.isascii() and (ch.isalnum() or ch in "-_"))})
        detail = (f" (not {' '.join(repr(ch) for ch in odd[:5])})" if odd
                  else " (it must start and end with a letter or digit)")
        raise InvalidInput("The slug is not valid.", {"slug": [
            "Use only letters a-z and A-Z, digits, hyphens and underscores, starting and "
            f"ending with a letter or digit{detail}."]})
    if slug.lower() in reserved_slugs():
        raise InvalidInput("That slug is reserved.", {"slug": [
            f"“{slug}” is reserved for the platform's own pages; choose another."]})
    owner = slug_owner(slug)
    if owner is not None and owner != code_id:
        raise InvalidInput("That slug is taken.", {"slug": [
            f"“{slug}” is already the short link of another code; choose another."]})
    return slug


def new_short_codes(count: int) -> list[str]:
    """``count`` fresh short codes, checked against every workspace in one query per batch."""
    found: set[str] = set()
    for _attempt in range(10 + count // 1000):
        if len(found) >= count:
            break
        batch = {"".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(SHORT_CODE_LENGTH))
                 for _ in range(min(1000, count - len(found)))} - found
        with unscoped():
            taken = set(db.session.scalars(select(QRCode.short_code)
                                           .where(QRCode.short_code.in_(batch))))
            taken |= set(db.session.scalars(select(QRSlugAlias.slug)
                                            .where(QRSlugAlias.slug.in_(batch))))
        found |= batch - taken
    if len(found) < count:
        raise ServiceError("Could not find a free short code; try again.", status=503)
    return list(found)[:count]


def clean_domain(kind: str, domain: str | None, usable: Container[str],
                 current: str | None = None) -> str | None:
    """The custom domain a code's short link may live on: empty for the platform's, else one
    of ``usable`` (the workspace's domains that take new links). The code's ``current`` one
    stays valid even when it takes no new links: a domain over the plan's quota keeps serving
    its codes."""
    domain = (domain or "").strip().lower().rstrip(".") or None
    if domain is not None:
        with contextlib.suppress(UnicodeError):  # not a name we know: refused below
            domain = domain.encode("idna").decode("ascii")
    if domain is None or domain == current:
        return domain
    if kind != "dynamic":
        raise InvalidInput("Only a dynamic code's short link can live on a domain.", {
            "domain": ["A static code holds its content itself; leave the domain empty."]})
    if domain not in usable:
        raise InvalidInput("That domain cannot take links.", {"domain": [
            f"{domain} is not one of this workspace's verified domains that can take new "
            "links; choose another, or leave it empty for the platform's."]})
    return domain


def sample_short_link(base_url: str) -> str:
    """A link as long as a real one, for checking a design before a code exists."""
    return f"{base_url}/{'X' * SHORT_CODE_LENGTH}"
