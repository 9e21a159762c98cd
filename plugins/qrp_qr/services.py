"""The qr plugin's rules, shared by the pages, the API and the bulk job.

Nothing else decides what a valid code is, when an image is (re)drawn, or when the redirect
cache must forget a code.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import string
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, has_request_context
from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, or_, select

from qrp_qr import linkcache, payloads, render, verify
from qrp_qr.models import KINDS, REDIRECT_STATUSES, TYPES, QRCode, QRDesignTemplate, QRTag
from qrplatform import events, quotas
from qrplatform.errors import NotFound, ServiceError
from qrplatform.extensions import db
from qrplatform.storage import content_key, storage
from qrplatform.tenancy import get_or_404, unscoped

SHORT_CODE_ALPHABET = string.ascii_letters + string.digits
# 62^8 ≈ 2·10^14 codes: guessing a live one among millions takes ~10^8 tries per hit.
SHORT_CODE_LENGTH = 8
MAX_TAGS = 20
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
MAX_LOGO_BYTES = 2 * 1024 * 1024
MAX_LOGO_SIDE = 512
PER_PAGE = 20

_hasher = PasswordHasher()


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


# -- reading ------------------------------------------------------------------------------------

def get_code(code_id: int) -> QRCode:
    return get_or_404(QRCode, code_id, "No such QR code in this workspace.")


def code_names(code_ids) -> dict[int, str]:
    """The names of these codes of the workspace, in one query (for other plugins' lists)."""
    rows = db.session.execute(select(QRCode.id, QRCode.name).where(QRCode.id.in_(set(code_ids))))
    return dict(rows.tuples().all())


def list_codes(*, q: str = "", qr_type: str | None = None, kind: str | None = None,
               tag: str | None = None, status: str = "active", page: int = 1,
               per_page: int = PER_PAGE) -> tuple[list[QRCode], int]:
    """One page of the workspace's codes, newest first, and how many match in all."""
    query = select(QRCode)
    if status == "archived":
        query = query.where(QRCode.archived_at.is_not(None))
    elif status != "all":
        query = query.where(QRCode.archived_at.is_(None))
    if qr_type:
        query = query.where(QRCode.type == qr_type)
    if kind:
        query = query.where(QRCode.kind == kind)
    if tag:
        query = query.where(QRCode.id.in_(select(QRTag.code_id).where(QRTag.tag == tag.lower())))
    if q.strip():
        pattern = f"%{q.strip().lower()}%"
        query = query.where(or_(func.lower(QRCode.name).like(pattern),
                                func.lower(QRCode.destination).like(pattern),
                                QRCode.short_code == q.strip()))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    rows = db.session.scalars(query.order_by(QRCode.created_at.desc(), QRCode.id.desc())
                              .limit(per_page).offset((page - 1) * per_page))
    return list(rows), total


def workspace_tags() -> list[str]:
    return list(db.session.scalars(select(QRTag.tag).distinct().order_by(QRTag.tag)))


def short_url(code: QRCode) -> str | None:
    if code.kind != "dynamic" or not code.short_code:
        return None
    return f"{current_app.config['SHORT_LINK_BASE_URL']}/{code.short_code}"


def payload(code: QRCode) -> str:
    """The exact text inside the printed code."""
    if code.kind == "dynamic":
        return short_url(code)
    return payloads.encode(code.type, code.content)


def redirect_target(code: QRCode) -> str:
    """Where the short link sends a scanner, UTM parameters included."""
    target = payloads.destination_uri(code.type, code.content)
    if target is None:
        return f"{short_url(code)}/c"
    return with_utm(target, code.utm)


def with_utm(url: str, utm: dict[str, str] | None) -> str:
    if not utm or not url.startswith(("http://", "https://")):
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in utm]
    query += [(k, v) for k, v in utm.items() if v]
    return urlunsplit(parts._replace(query=urlencode(query)))


# -- validation ---------------------------------------------------------------------------------

def _clean_content(qr_type: str, content: dict[str, Any]) -> dict[str, Any]:
    try:
        return payloads.load_content(qr_type, content)
    except payloads.ContentError as exc:
        raise InvalidInput("Some content fields are missing or invalid.",
                           {f"content.{k}" if k != "type" else k: v
                            for k, v in exc.fields.items()}) from exc


def _clean_design(design: dict[str, Any] | None) -> dict[str, Any]:
    errors = render.DesignSchema().validate(design or {})
    if errors:
        raise InvalidInput("The design has invalid settings.",
                           {f"design.{k}": v for k, v in errors.items()})
    return render.normalise_design(design)


def _clean_tags(tags: list[str] | None) -> list[str]:
    cleaned: dict[str, None] = {}
    for tag in tags or []:
        tag = " ".join(str(tag).split()).lower()[:50]
        if tag:
            cleaned[tag] = None
        if len(cleaned) > MAX_TAGS:  # stop at the first tag too many, whatever the list's size
            raise InvalidInput("Too many tags.", {"tags": [f"At most {MAX_TAGS} tags."]})
    return list(cleaned)


def _clean_utm(utm: dict[str, Any] | None) -> dict[str, str] | None:
    if not utm:
        return None
    cleaned = {k: str(v).strip()[:200] for k, v in utm.items() if k in UTM_FIELDS and v}
    return cleaned or None


def _check_redirect_settings(data: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    status = data.get("redirect_status")
    if status is not None and status not in REDIRECT_STATUSES:
        errors["redirect_status"] = [f"Use one of {', '.join(map(str, REDIRECT_STATUSES))}."]
    cap = data.get("scan_cap")
    if cap is not None and cap < 1:
        errors["scan_cap"] = ["A scan cap is at least 1 (leave it empty for no cap)."]
    if errors:
        raise InvalidInput("Some link settings are invalid.", errors)


def _logo_image(design: dict[str, Any]) -> Image.Image | None:
    if not design.get("logo"):
        return None
    try:
        return render.load_logo(storage().get(design["logo"]))
    except (KeyError, UnidentifiedImageError, OSError) as exc:
        raise InvalidInput("The logo cannot be found; upload it again.",
                           {"design.logo": ["Unknown logo; upload it again."]}) from exc


def check_scannable(text: str, design: dict[str, Any]) -> verify.Verdict:
    """Refuse a design that a camera could not read, saying what to change."""
    try:
        return verify.check_design(text, design, _logo_image(design))
    except render.PayloadTooLong as exc:
        raise InvalidInput(str(exc), {"content": [str(exc)]}) from exc
    except verify.Unscannable as exc:
        field = f"design.{exc.field}" if exc.field else "design"
        raise InvalidInput(exc.message, {field: [exc.message]}) from exc


def preview(qr_type: str, kind: str, content: dict[str, Any], design: dict[str, Any] | None,
            size: int = 320) -> bytes:
    """A PNG of what a code would look like, verified; for the live preview while editing."""
    design = _clean_design(design)
    if kind == "dynamic":
        text = f"{current_app.config['SHORT_LINK_BASE_URL']}/{'X' * SHORT_CODE_LENGTH}"
        _clean_content(qr_type, content)
    else:
        text = payloads.encode(qr_type, _clean_content(qr_type, content))
    check_scannable(text, design)
    lay = render.layout(text, design, _logo_image(design))
    return render.render_png(lay, size)


# -- writing ------------------------------------------------------------------------------------

def _new_short_code() -> str:
    with unscoped():
        for _ in range(10):
            candidate = "".join(secrets.choice(SHORT_CODE_ALPHABET)
                                for _ in range(SHORT_CODE_LENGTH))
            taken = db.session.scalar(select(QRCode.id).where(QRCode.short_code == candidate))
            if taken is None:
                return candidate
    raise ServiceError("Could not find a free short code; try again.", status=503)


def _template_design(template_id: int | None) -> dict[str, Any] | None:
    if template_id is None:
        return None
    template = db.session.get(QRDesignTemplate, template_id)
    if template is None:
        raise InvalidInput("No such design template.",
                           {"design_template_id": ["No such design template here."]})
    return template.design


def _actor_id() -> int | None:
    user = g.get("user") if has_request_context() else None
    return user.id if user is not None else None


def build_code(data: dict[str, Any], *, verify_design: bool = True) -> QRCode:
    """A new, validated code (not yet added to the session)."""
    kind = data.get("kind") or "static"
    qr_type = data.get("type") or "url"
    errors: dict[str, list[str]] = {}
    if kind not in KINDS:
        errors["kind"] = ["Use static or dynamic."]
    if qr_type not in TYPES:
        errors["type"] = [f"Use one of {', '.join(TYPES)}."]
    elif kind == "dynamic" and qr_type not in payloads.DYNAMIC_TYPES:
        errors["kind"] = ["A Wi-Fi code must be static: phones join a network only from the "
                          "code itself, never from a link."]
    if errors:
        raise InvalidInput("The kind or type is not valid.", errors)
    _check_redirect_settings(data)
    content = _clean_content(qr_type, data.get("content") or {})
    template_design = _template_design(data.get("design_template_id"))
    design = _clean_design({**(template_design or {}), **(data.get("design") or {})})
    name = (data.get("name") or "").strip() or payloads.summary(qr_type, content)[:200] or qr_type
    code = QRCode(
        name=name[:200], kind=kind, type=qr_type, content=content, design=design,
        design_template_id=data.get("design_template_id"),
        redirect_status=data.get("redirect_status") or 302,
        utm=_clean_utm(data.get("utm")), expires_at=data.get("expires_at"),
        scan_cap=data.get("scan_cap"), paused=bool(data.get("paused")),
        created_by_id=_actor_id(),
    )
    if data.get("password"):
        code.password_hash = _hasher.hash(data["password"])
    if kind == "dynamic":
        code.short_code = _new_short_code()
    code.destination = (payloads.destination_uri(qr_type, content) if kind == "dynamic"
                        else content.get("url"))
    code.tag_rows = [QRTag(tag=t) for t in _clean_tags(data.get("tags"))]
    if verify_design:
        check_scannable(payload(code), design)
    return code


def check_dynamic_quota(adding: int) -> None:
    """Dynamic codes cost us redirects and analytics: the plan caps how many are live."""
    if adding <= 0:
        return
    used = db.session.scalar(select(func.count()).select_from(QRCode).where(
        QRCode.kind == "dynamic", QRCode.archived_at.is_(None))) or 0
    quotas.check("qr.dynamic_codes", used, adding, noun="active dynamic QR codes")


def create_code(data: dict[str, Any]) -> QRCode:
    code = build_code(data)
    check_dynamic_quota(1 if code.kind == "dynamic" else 0)
    db.session.add(code)
    db.session.flush()
    events.publish("qr.created", _event_data(code))
    db.session.commit()
    ensure_default_images(code)
    return code


def _event_data(code: QRCode, **extra) -> dict[str, Any]:
    return {"code_id": code.id, "name": code.name, "kind": code.kind, "type": code.type,
            "short_code": code.short_code, **extra}


EDITABLE = ("name", "type", "content", "design", "design_template_id", "redirect_status",
            "utm", "expires_at", "scan_cap", "paused", "tags", "password", "destination")


def update_code(code_id: int, data: dict[str, Any]) -> QRCode:
    """Change anything but the kind; a dynamic code keeps its short link (nothing to reprint)."""
    code = get_code(code_id)
    if code.archived:
        raise ServiceError("This code is archived; restore it before changing it.",
                           status=409, code="conflict")
    if "kind" in data and data["kind"] != code.kind:
        raise InvalidInput("The kind cannot change.", {"kind": [
            "A code cannot switch between static and dynamic; duplicate it instead."]})
    _check_redirect_settings(data)
    changed: list[str] = []
    qr_type = data.get("type", code.type)
    if qr_type != code.type:
        if qr_type not in TYPES:
            raise InvalidInput("Unknown type.", {"type": [f"Use one of {', '.join(TYPES)}."]})
        if code.kind == "dynamic" and qr_type not in payloads.DYNAMIC_TYPES:
            raise InvalidInput("Wi-Fi codes are static.", {"type": [
                "A dynamic code cannot carry Wi-Fi settings."]})
    content = data.get("content")
    if "destination" in data and data["destination"] is not None:
        if qr_type != "url":
            raise InvalidInput("Only a URL code has an editable destination.", {
                "destination": ["Change this type's content fields instead."]})
        content = {**(content or code.content), "url": data["destination"]}
    if content is not None or qr_type != code.type:
        content = _clean_content(qr_type, content if content is not None else code.content)
        if content != code.content or qr_type != code.type:
            code.type, code.content = qr_type, content
            changed.append("content")
    if "design_template_id" in data and data["design_template_id"] != code.design_template_id:
        template = _template_design(data["design_template_id"])
        code.design_template_id = data["design_template_id"]
        if template is not None and "design" not in data:
            data["design"] = template
        changed.append("design_template_id")
    if data.get("design") is not None:
        design = _clean_design({**code.design, **data["design"]} if "design_template_id"
                               not in data else data["design"])
        if design != code.design:
            code.design = design
            changed.append("design")
    for name in ("redirect_status", "scan_cap", "expires_at", "paused", "name"):
        if name in data:
            value = data[name]
            if name == "name":
                value = (value or "").strip()[:200] or code.name
            if name == "redirect_status":
                value = value or 302
            if name == "paused":
                value = bool(value)
            if getattr(code, name) != value:
                setattr(code, name, value)
                changed.append(name)
    if "utm" in data:
        utm = _clean_utm(data["utm"])
        if utm != code.utm:
            code.utm = utm
            changed.append("utm")
    if "password" in data:
        # An empty password removes the protection; None leaves it as it is.
        if data["password"] == "":
            if code.password_hash is not None:
                code.password_hash = None
                changed.append("password")
        elif data["password"] is not None:
            code.password_hash = _hasher.hash(data["password"])
            changed.append("password")
    if "tags" in data:
        tags = _clean_tags(data["tags"])
        if tags != code.tags:
            _set_tags(code, tags)
            changed.append("tags")
    code.destination = (payloads.destination_uri(code.type, code.content)
                        if code.kind == "dynamic" else code.content.get("url"))
    if not changed:
        return code
    if {"content", "design", "design_template_id"} & set(changed):
        check_scannable(payload(code), code.design)
    events.publish("qr.updated", _event_data(code, changed=changed))
    db.session.commit()
    _forget(code)
    ensure_default_images(code)
    return code


def _set_tags(code: QRCode, tags: list[str]) -> None:
    keep = {row.tag: row for row in code.tag_rows}
    code.tag_rows = [keep.get(tag) or QRTag(tag=tag) for tag in tags]


def archive_code(code_id: int) -> QRCode:
    """Archive: the short link stops redirecting (a clear page says so); nothing is deleted."""
    code = get_code(code_id)
    if code.archived_at is None:
        code.archived_at = datetime.now(UTC)
        events.publish("qr.archived", _event_data(code))
        db.session.commit()
        _forget(code)
    return code


def restore_code(code_id: int) -> QRCode:
    code = get_code(code_id)
    if code.archived_at is not None:
        check_dynamic_quota(1 if code.kind == "dynamic" else 0)
        code.archived_at = None
        events.publish("qr.updated", _event_data(code, changed=["archived"]))
        db.session.commit()
        _forget(code)
    return code


def duplicate_code(code_id: int) -> QRCode:
    """A copy with its own short link (a dynamic copy never shares the original's scans)."""
    original = get_code(code_id)
    data = {
        "name": f"{original.name} (copy)"[:200], "kind": original.kind, "type": original.type,
        "content": dict(original.content), "design": dict(original.design),
        "design_template_id": original.design_template_id,
        "redirect_status": original.redirect_status, "utm": original.utm,
        "expires_at": original.expires_at, "scan_cap": original.scan_cap,
        "paused": original.paused, "tags": original.tags,
    }
    copy = build_code(data)
    check_dynamic_quota(1 if copy.kind == "dynamic" else 0)
    copy.password_hash = original.password_hash
    db.session.add(copy)
    db.session.flush()
    events.publish("qr.created", _event_data(copy, duplicate_of=original.id))
    db.session.commit()
    ensure_default_images(copy)
    return copy


def _forget(code: QRCode) -> None:
    """Drop the code from every process's redirect cache (after the commit)."""
    if code.short_code:
        linkcache.cache_for(current_app).invalidate(code.short_code)


# -- images -------------------------------------------------------------------------------------

def image_key(text: str, design: dict[str, Any], fmt: str, size: int) -> str:
    """Content-addressed: the same (content, design, format, size) always has the same key,
    so an image is drawn once and cached for ever (immutable)."""
    material = json.dumps([render.RENDER_VERSION, text, design, fmt, size], sort_keys=True,
                          separators=(",", ":"))
    digest = hashlib.sha256(material.encode()).hexdigest()
    return f"c/qr/{digest[:2]}/{digest}.{fmt}"


def check_size(fmt: str, size: int, lay: render.Layout) -> None:
    smallest = render.min_size(lay)
    if fmt not in render.FORMATS:
        raise InvalidInput("Unknown format.", {"format": [f"Use {', '.join(render.FORMATS)}."]})
    if not smallest <= size <= render.MAX_SIZE:
        raise InvalidInput("Size out of range.", {"size": [
            f"Ask for {smallest} to {render.MAX_SIZE} pixels for this code."]})


def ensure_image(code: QRCode, fmt: str, size: int = render.DEFAULT_SIZE
                 ) -> tuple[str, bytes | None]:
    """The storage key of the image, drawing and storing it first if it is not there yet.
    Returns the bytes too when it had to draw them (saves a read for a download)."""
    text = payload(code)
    key = image_key(text, code.design, fmt, size)
    backend = storage()
    if backend.exists(key):
        return key, None
    lay = render.layout(text, code.design, _logo_image(code.design))
    check_size(fmt, size, lay)
    if fmt == "png":
        image = render.render_image(lay, size)
        try:
            verify.check_decodes(text, image, code.design, lay.width)
        except verify.Unscannable as exc:
            raise InvalidInput(exc.message, {"size": [
                "At this size the code does not decode; ask for a larger image."]}) from exc
        data = render.encode_png(image)
    else:
        # Same layout as the PNG the design check decoded; vectors do not lose detail.
        data = render.render(lay, fmt, size)
    backend.put(key, data, content_type=render.MIME_TYPES[fmt], immutable=True)
    return key, data


def image_bytes(code: QRCode, fmt: str, size: int) -> bytes:
    key, data = ensure_image(code, fmt, size)
    return data if data is not None else storage().get(key)


def ensure_default_images(code: QRCode) -> None:
    for fmt in render.FORMATS:
        ensure_image(code, fmt, render.DEFAULT_SIZE)


def image_urls(code: QRCode) -> dict[str, str]:
    backend = storage()
    text = payload(code)
    return {fmt: backend.url(image_key(text, code.design, fmt, render.DEFAULT_SIZE))
            for fmt in render.FORMATS}


def upload_logo(data: bytes) -> str:
    """Check an uploaded logo, shrink it, store it as PNG; returns the key for ``design.logo``."""
    if len(data) > MAX_LOGO_BYTES:
        raise InvalidInput("The logo is too large.", {"logo": ["At most 2 MB."]})
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in {"PNG", "JPEG", "WEBP", "GIF"}:
                raise InvalidInput("Unsupported logo format.",
                                   {"logo": ["Use a PNG, JPEG, WebP or GIF image."]})
            if probe.width * probe.height > 25_000_000:
                raise InvalidInput("The logo has too many pixels.",
                                   {"logo": ["At most 25 megapixels."]})
            probe.load()
            image = probe.convert("RGBA")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidInput("Not an image.", {"logo": ["This file is not an image we can read."]}
                           ) from exc
    image.thumbnail((MAX_LOGO_SIDE, MAX_LOGO_SIDE), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    png = buffer.getvalue()
    key = content_key(png, "png")
    storage().put(key, png, content_type="image/png", immutable=True)
    return key


# -- design templates ---------------------------------------------------------------------------

def list_templates() -> list[QRDesignTemplate]:
    return list(db.session.scalars(select(QRDesignTemplate).order_by(QRDesignTemplate.name)))


def get_template(template_id: int) -> QRDesignTemplate:
    return get_or_404(QRDesignTemplate, template_id, "No such design template in this workspace.")


def save_template(name: str, design: dict[str, Any], template_id: int | None = None
                  ) -> QRDesignTemplate:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Name the template.", {"name": ["Give the template a name."]})
    design = _clean_design(design)
    # A template must itself scan: checked on a typical short link.
    check_scannable(f"{current_app.config['SHORT_LINK_BASE_URL']}/{'X' * SHORT_CODE_LENGTH}",
                    design)
    clash = db.session.scalar(select(QRDesignTemplate).where(QRDesignTemplate.name == name))
    if clash is not None and clash.id != template_id:
        raise InvalidInput("Name taken.", {"name": ["A template with this name exists."]})
    template = get_template(template_id) if template_id else QRDesignTemplate()
    template.name, template.design = name[:100], design
    db.session.add(template)
    db.session.commit()
    return template


def delete_template(template_id: int) -> None:
    db.session.delete(get_template(template_id))
    db.session.commit()


# -- the short link (read by the redirect) ------------------------------------------------------

def redirect_entry(short_code: str) -> dict[str, Any] | None:
    """What the redirect needs to know about a short code, cacheable as JSON; None if unknown.
    Looks across workspaces on purpose: the scanner has no workspace."""
    with unscoped():
        code = db.session.scalar(select(QRCode).where(QRCode.short_code == short_code,
                                                      QRCode.kind == "dynamic"))
        if code is None:
            return None
        expires = code.expires_at
        return {
            "id": code.id,
            "workspace_id": code.workspace_id,
            "short_code": code.short_code,
            "type": code.type,
            "target": redirect_target(code),
            "status": code.redirect_status,
            "archived": code.archived_at is not None,
            "paused": code.paused,
            "expires_at": expires.timestamp() if expires else None,
            "scan_cap": code.scan_cap,
            "password": code.password_hash is not None,
        }


def check_code_password(short_code: str, password: str) -> bool:
    with unscoped():
        stored = db.session.scalar(select(QRCode.password_hash)
                                   .where(QRCode.short_code == short_code))
    if not stored:
        return True
    try:
        return _hasher.verify(stored, password or "")
    except (VerificationError, InvalidHashError):
        return False


def served_content(short_code: str) -> tuple[str, dict[str, Any], int]:
    """Type, content and id of a dynamic code whose link serves the content itself."""
    with unscoped():
        code = db.session.scalar(select(QRCode).where(QRCode.short_code == short_code))
        if code is None:
            raise NotFound("This link does not exist.")
        return code.type, dict(code.content), code.id


# -- bulk ---------------------------------------------------------------------------------------

MAX_BULK_ROWS = 10_000
MAX_BULK_BYTES = 5 * 1024 * 1024


def _header(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def parse_bulk_csv(data: bytes, *, kind: str = "dynamic", qr_type: str = "url"
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows ready for ``build_code`` and, per bad row, its line number and field errors.

    Columns: the type's content fields (e.g. ``url``; ``destination`` works for url codes),
    optionally ``name``, ``tags`` (separated by ``;``), ``type`` and ``kind`` per row.
    """
    import csv

    if len(data) > MAX_BULK_BYTES:
        raise InvalidInput("The file is too large.", {"file": ["At most 5 MB."]})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("Not UTF-8.", {"file": ["Save the CSV as UTF-8."]}) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [_header(h) for h in next(reader)]
    except StopIteration as exc:
        raise InvalidInput("Empty file.", {"file": ["The file is empty."]}) from exc
    except csv.Error as exc:
        raise InvalidInput("Not a CSV file.", {"file": [f"Not a CSV file: {exc}"]}) from exc
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(rows) + len(errors) >= MAX_BULK_ROWS:
                raise InvalidInput("Too many rows.", {"file": [
                    f"At most {MAX_BULK_ROWS:,} rows per file; split it."]})
            line = reader.line_num
            cells = {name: value.strip() for name, value in zip(header, values, strict=False)}
            row_type = cells.get("type") or qr_type
            row_kind = cells.get("kind") or kind
            if row_type == "url" and not cells.get("url") and cells.get("destination"):
                cells["url"] = cells["destination"]
            row_errors: dict[str, list[str]] = {}
            if row_type not in TYPES:
                row_errors["type"] = [f"Use one of {', '.join(TYPES)}."]
            elif row_kind not in KINDS:
                row_errors["kind"] = ["Use static or dynamic."]
            elif row_kind == "dynamic" and row_type not in payloads.DYNAMIC_TYPES:
                row_errors["kind"] = ["Wi-Fi codes must be static."]
            else:
                try:
                    content = payloads.load_content(row_type, cells)
                except payloads.ContentError as exc:
                    row_errors.update(exc.fields)
            if row_errors:
                errors.append({"row": line, "errors": row_errors})
                continue
            tags = [t for t in re.split(r"[;,]", cells.get("tags", "")) if t.strip()]
            rows.append({"row": line, "name": cells.get("name", ""), "kind": row_kind,
                         "type": row_type, "content": content, "tags": tags})
    except csv.Error as exc:
        raise InvalidInput("Broken CSV.", {"file": [f"Line {reader.line_num}: {exc}"]}) from exc
    if not rows and not errors:
        raise InvalidInput("No rows.", {"file": ["The file has a header but no rows."]})
    return rows, errors


def start_bulk(data: bytes, *, kind: str, qr_type: str, skip_invalid: bool,
               design_template_id: int | None = None):
    """Check the whole file now (so bad rows are reported at once), then hand it to a job."""
    from qrplatform.jobs import enqueue
    from qrplatform.tenancy import current_workspace_id

    rows, errors = parse_bulk_csv(data, kind=kind, qr_type=qr_type)
    if errors and not skip_invalid:
        raise BulkRowsInvalid(errors, len(rows))
    if not rows:
        raise InvalidInput("No valid rows.", {"file": ["None of the rows is valid."]})
    check_dynamic_quota(sum(1 for row in rows if row["kind"] == "dynamic"))
    _template_design(design_template_id)
    upload_id = secrets.token_hex(12)
    key = f"bulk/{current_workspace_id()}/{upload_id}.csv"
    storage().put(key, data, content_type="text/csv")
    job = enqueue("qr.bulk_create", key, upload_id,
                  {"kind": kind, "type": qr_type, "design_template_id": design_template_id,
                   "skip_invalid": skip_invalid},
                  queue="bulk", description=f"Creating {len(rows):,} QR codes")
    db.session.commit()
    return job, len(rows), errors


class BulkRowsInvalid(InvalidInput):
    def __init__(self, row_errors: list[dict[str, Any]], valid: int):
        shown = row_errors[:50]
        fields = {f"row {e['row']}": [f"{k}: {' '.join(v)}" for k, v in e["errors"].items()]
                  for e in shown}
        super().__init__(
            f"{len(row_errors)} row(s) are invalid ({valid} valid); nothing was created. "
            "Fix them, or choose to skip bad rows.", fields)
        self.row_errors = row_errors


def new_short_codes(count: int) -> list[str]:
    """``count`` fresh short codes, checked against the database in one query per batch."""
    found: set[str] = set()
    while len(found) < count:
        batch = {"".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(SHORT_CODE_LENGTH))
                 for _ in range(min(1000, count - len(found)))} - found
        with unscoped():
            taken = set(db.session.scalars(select(QRCode.short_code)
                                           .where(QRCode.short_code.in_(batch))))
        found |= batch - taken
    return list(found)[:count]
