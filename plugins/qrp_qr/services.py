"""The qr plugin's rules, shared by the pages, the API and the bulk job.

Nothing else decides what a valid code is, when an image is (re)drawn, or when the redirect
cache must forget a code.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import current_app, g, has_request_context
from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, or_, select, update

from qrp_qr import (
    linkcache,
    logos,
    payloads,
    printsize,
    render,
    rules,
    smartlinks,
    verify,
)
from qrp_qr.models import QRCode, QRDesignTemplate, QRFolder, QRSlugAlias, QRTag
from qrp_qr.rules import InvalidInput
from qrplatform import csvfiles, events, hosts, jobs, quotas, signals, urls
from qrplatform.errors import NotFound, QuotaExceeded, ServiceError
from qrplatform.extensions import db
from qrplatform.passwords import hash_password, password_matches
from qrplatform.storage import content_digest, content_key, storage
from qrplatform.tenancy import current_workspace_id, get_or_404, tenant_scope, unscoped

if TYPE_CHECKING:  # numpy and the decoder behind it: imported by the calls that grade
    from qrp_qr import grading

MAX_LOGO_BYTES = 2 * 1024 * 1024
MAX_LOGO_SIDE = 512
PER_PAGE = 20


# -- reading ------------------------------------------------------------------------------------

def get_code(code_id: int) -> QRCode:
    return get_or_404(QRCode, code_id, "No such QR code in this workspace.")


def code_names(code_ids) -> dict[int, str]:
    """The names of these codes of the workspace, in one query (for other plugins' lists)."""
    rows = db.session.execute(select(QRCode.id, QRCode.name).where(QRCode.id.in_(set(code_ids))))
    return dict(rows.all())


SORTS = ("newest", "oldest", "name", "scans")
SCAN_DAYS = 7


def list_codes(*, q: str = "", qr_type: str | None = None, kind: str | None = None,
               tag: str | None = None, status: str = "active", folder_id: int | None = None,
               batch: str | None = None, broken: bool = False, sort: str = "newest",
               page: int = 1, per_page: int = PER_PAGE) -> tuple[list[QRCode], int]:
    """One page of the workspace's codes and how many match in all. ``broken``: only the codes
    the destination check flagged. ``sort``: newest (the default), oldest, name, or scans
    (people's scans over the last 7 days, most first; needs a plugin that counts scans, else
    newest)."""
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
    if folder_id is not None:
        query = query.where(QRCode.folder_id == get_folder(folder_id).id)
    if batch:
        query = query.where(QRCode.batch == batch)
    if broken:
        query = query.where(QRCode.link_status == "broken")
    if q.strip():
        pattern = f"%{q.strip().lower()}%"
        query = query.where(or_(func.lower(QRCode.name).like(pattern),
                                func.lower(QRCode.destination).like(pattern),
                                QRCode.short_code == q.strip()))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    newest = (QRCode.created_at.desc(), QRCode.id.desc())
    counts = scan_counts(None) if sort == "scans" else None
    if counts is not None:
        # The counts live in another plugin: order the matching ids here, newest first among
        # equals, then load only the page's rows.
        ids = list(db.session.scalars(query.with_only_columns(QRCode.id).order_by(*newest)))
        ids.sort(key=lambda code_id: -sum(counts.get(code_id, ())))
        chosen = ids[(page - 1) * per_page:page * per_page]
        by_id = {code.id: code for code in db.session.scalars(
            select(QRCode).where(QRCode.id.in_(chosen)))} if chosen else {}
        return [by_id[code_id] for code_id in chosen], total
    order = {"oldest": (QRCode.created_at, QRCode.id),
             "name": (func.lower(QRCode.name), QRCode.id)}.get(sort, newest)
    rows = db.session.scalars(query.order_by(*order)
                              .limit(per_page).offset((page - 1) * per_page))
    return list(rows), total


def scan_counts(code_ids, days: int = SCAN_DAYS) -> dict[int, list[int]] | None:
    """People's scans of these codes (None: every scanned code) per day, oldest first, from the
    plugin that counts scans (``signals.code_scan_counts``); None when no plugin does."""
    workspace_id = current_workspace_id()
    if workspace_id is None:
        return None
    return signals.first_answer(signals.code_scan_counts, current_app._get_current_object(),
                                workspace_id=workspace_id,
                                code_ids=None if code_ids is None else list(code_ids),
                                days=days)


def workspace_tags() -> list[str]:
    return list(db.session.scalars(select(QRTag.tag).distinct().order_by(QRTag.tag)))


def link_base(domain: str | None) -> str:
    """Where short links live: a workspace's custom domain (no path), else the platform's
    SHORT_LINK_BASE_URL; unset, QR_SHORT_LINK_PATH under the platform's address (which, with
    PUBLIC_BASE_URL unset too, is the address the request reached: ``hosts.public_base_url``)."""
    if domain:
        return hosts.custom_domain_url(domain)
    config = current_app.config
    if config.get("QR_SHORT_LINK_BASE_DERIVED"):
        return hosts.public_base_url() + config["QR_SHORT_LINK_PATH"]
    return config["SHORT_LINK_BASE_URL"]


def short_url(code: QRCode) -> str | None:
    if code.kind != "dynamic" or not code.short_code:
        return None
    return f"{link_base(code.domain)}/{code.short_code}"


def usable_domains() -> dict[str, hosts.LinkDomain]:
    """The custom domains the workspace in scope may put new links on, by name."""
    workspace_id = current_workspace_id()
    if workspace_id is None:
        return {}
    return {d.name: d for d in hosts.link_domains(workspace_id)}


def payload(code: QRCode) -> str:
    """The exact text inside the printed code."""
    if code.kind == "dynamic":
        return short_url(code)
    return payloads.encode(code.type, code.content)


def redirect_target(code: QRCode) -> str:
    """Where the short link sends a scanner, UTM parameters included, in the ASCII form a
    Location header carries (the code keeps the address as typed)."""
    target = payloads.destination_uri(code.type, code.content)
    if target is None:
        return f"{short_url(code)}/c"
    return urls.ascii_url(with_utm(target, code.utm))


def with_utm(url: str, utm: dict[str, str] | None) -> str:
    if not utm or not url.startswith(("http://", "https://")):
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in utm]
    query += [(k, v) for k, v in utm.items() if v]
    return urlunsplit(parts._replace(query=urlencode(query)))


# -- validation ---------------------------------------------------------------------------------

def logo_image(design: dict[str, Any]) -> Image.Image | None:
    try:
        return logos.image(design)
    except logos.LogoMissing as exc:
        raise InvalidInput(exc.message, {"design.logo": [exc.message]}) from exc


def check_scannable(text: str, design: dict[str, Any]) -> grading.Grade:
    """Refuse a design that a camera could not read, or that would fail most real-world
    scans (grade E), saying what to change; returns the design's grade."""
    logo = logo_image(design)
    try:
        verify.check_design(text, design, logo)
    except render.PayloadTooLong as exc:
        raise InvalidInput(str(exc), {"content": [str(exc)]}) from exc
    except verify.Unscannable as exc:
        field = f"design.{exc.field}" if exc.field else "design"
        raise InvalidInput(exc.message, {field: [exc.message]}) from exc
    grade = grade_design(text, design, logo)
    if grade.refused:
        raise InvalidInput(grade.refusal, {"design": [grade.refusal]})
    return grade


_GRADES: OrderedDict[str, grading.Grade] = OrderedDict()
_GRADES_LOCK = threading.Lock()
GRADE_CACHE_SIZE = 4096


def grade_design(text: str, design: dict[str, Any], logo: Image.Image | None = None
                 ) -> grading.Grade:
    """The design's robustness grade for this payload. Remembered per (payload, design, logo
    file) in the process: the live preview asks for the same one while a user types."""
    from qrp_qr import grading  # numpy: imported by the first grade, not by the app

    key = image_key(text, render.normalise_design(design), "grade", grading.GRADE_VERSION)
    with _GRADES_LOCK:
        if key in _GRADES:
            _GRADES.move_to_end(key)
            return _GRADES[key]
    grade = grading.grade(text, design, logo if logo is not None else logo_image(design))
    with _GRADES_LOCK:
        _GRADES[key] = grade
        while len(_GRADES) > GRADE_CACHE_SIZE:
            _GRADES.popitem(last=False)
    return grade


def current_grade(stored: dict[str, Any] | None, text: str, design: dict[str, Any]
                  ) -> dict[str, Any]:
    """A stored grade if it is of this grading version, else the design graded now."""
    from qrp_qr import grading

    if stored and stored.get("version") == grading.GRADE_VERSION:
        return stored
    try:
        return grade_design(text, design).as_dict()
    except (InvalidInput, render.PayloadTooLong):
        return grading.Grade("E", 0.0).as_dict()


def code_grade(code: QRCode) -> dict[str, Any]:
    return current_grade(code.scan_grade, payload(code), code.design)


def print_guidance(grade: dict[str, Any], distance_mm: float | None = None,
                   width_mm: float | None = None) -> dict[str, Any] | None:
    """The presets' smallest print sizes for a grade, and the answer for a distance or a
    print width when asked; None when the design decodes at no size."""
    guide = printsize.guidance(grade)
    if guide is None:
        return None
    out = {**printsize.summary(grade), "distance": None, "width": None}
    if distance_mm is not None:
        out["distance"] = guide.for_distance(distance_mm)
    if width_mm is not None:
        out["width"] = guide.for_width(width_mm)
    return out


def template_grade(template: QRDesignTemplate) -> dict[str, Any]:
    return current_grade(template.scan_grade, rules.sample_short_link(
        current_app.config["SHORT_LINK_BASE_URL"]), template.design)


def preview(qr_type: str, kind: str, content: dict[str, Any], design: dict[str, Any] | None,
            size: int = 320, domain: str | None = None) -> tuple[bytes, grading.Grade]:
    """A PNG of what a code would look like, verified, and its grade; for the live preview
    while editing."""
    design = rules.clean_design(design)
    rules.check_kind_and_type(kind, qr_type)
    if kind == "dynamic":
        text = rules.sample_short_link(link_base(domain if domain in usable_domains() else None))
        rules.clean_content(qr_type, content)
    else:
        text = payloads.encode(qr_type, rules.clean_content(qr_type, content))
    grade = check_scannable(text, design)
    lay = render.layout(text, design, logo_image(design))
    return render.render_png(lay, size), grade


# -- writing ------------------------------------------------------------------------------------

def template_design(template_id: int | None) -> dict[str, Any] | None:
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
    rules.check_kind_and_type(kind, qr_type)
    rules.check_link_settings(data)
    content = rules.clean_content(qr_type, data.get("content") or {})
    template = template_design(data.get("design_template_id"))
    design = rules.clean_design({**(template or {}), **(data.get("design") or {})})
    code = new_code(kind=kind, qr_type=qr_type, content=content, design=design,
                    name=data.get("name"), tags=rules.clean_tags(data.get("tags")),
                    design_template_id=data.get("design_template_id"),
                    short_code=_chosen_or_new_short_code(kind, data.get("slug")))
    code.rules = rules.clean_rules(kind, data.get("rules"))
    code.variants = rules.clean_variants(kind, data.get("variants"))
    code.app_link = rules.clean_app_link(kind, data.get("app_link"))
    code.redirect_status = data.get("redirect_status") or 302
    code.utm = rules.clean_utm(data.get("utm"))
    code.expires_at, code.scan_cap = data.get("expires_at"), data.get("scan_cap")
    code.paused = bool(data.get("paused"))
    code.created_by_id = _actor_id()
    if data.get("password"):
        code.password_hash = hash_password(data["password"])
    if data.get("domain"):
        code.domain = rules.clean_domain(kind, data["domain"], usable_domains())
    code.folder_id = _folder_or_none(data.get("folder_id"))
    if verify_design:
        code.scan_grade = check_scannable(payload(code), design).as_dict()
    return code


def _chosen_or_new_short_code(kind: str, slug: Any) -> str | None:
    if slug not in (None, ""):
        return rules.clean_slug(kind, slug)
    return rules.new_short_codes(1)[0] if kind == "dynamic" else None


def new_code(*, kind: str, qr_type: str, content: dict[str, Any], design: dict[str, Any],
             name: str | None, tags: list[str], design_template_id: int | None,
             short_code: str | None) -> QRCode:
    """A code from checked parts (``rules``): one constructor for single and bulk creation."""
    return QRCode(name=rules.clean_name(name, qr_type, content), kind=kind, type=qr_type,
                  content=content, design=design, design_template_id=design_template_id,
                  short_code=short_code, destination=rules.destination(kind, qr_type, content),
                  tag_rows=[QRTag(tag=tag) for tag in tags])


CODES_QUOTA = "qr.codes"
DYNAMIC_CODES_QUOTA = "qr.dynamic_codes"


def live_codes() -> int:
    """Codes of the workspace in scope that are not archived (the qr.codes meter)."""
    return db.session.scalar(select(func.count()).select_from(QRCode).where(
        QRCode.archived_at.is_(None))) or 0


def live_dynamic_codes() -> int:
    """Dynamic codes not archived (the qr.dynamic_codes meter): each costs redirects and
    analytics."""
    return db.session.scalar(select(func.count()).select_from(QRCode).where(
        QRCode.kind == "dynamic", QRCode.archived_at.is_(None))) or 0


def check_code_quotas(kinds: list[str]) -> None:
    """Refuse (402) before any work when codes of these kinds would go over the plan."""
    quotas.check(CODES_QUOTA, adding=len(kinds))
    quotas.check(DYNAMIC_CODES_QUOTA, adding=kinds.count("dynamic"))


def room_for_codes() -> dict[str, int | None]:
    """How many more codes, and dynamic codes, the plan lets the workspace add now (None:
    no limit), so the bulk page can say so before a file is uploaded."""
    return {"codes": quotas.remaining(CODES_QUOTA),
            "dynamic": quotas.remaining(DYNAMIC_CODES_QUOTA),
            "upgrade_url": quotas.upgrade_url(DYNAMIC_CODES_QUOTA)}


def _live_before(code: QRCode, *criteria) -> int:
    return db.session.scalar(select(func.count()).select_from(QRCode).where(
        QRCode.archived_at.is_(None), *criteria,
        (QRCode.created_at < code.created_at)
        | ((QRCode.created_at == code.created_at) & (QRCode.id < code.id)))) or 0


def check_editable(code: QRCode) -> None:
    """Codes are never held hostage: after a downgrade every code keeps redirecting, the
    oldest ones up to the plan's limits stay editable, and the newer ones wait (402) until
    some are archived or the plan grows."""
    quotas.check_within(CODES_QUOTA, _live_before(code) + 1, thing="this code")
    if code.kind == "dynamic":
        quotas.check_within(DYNAMIC_CODES_QUOTA,
                            _live_before(code, QRCode.kind == "dynamic") + 1, thing="this code")


def editing_locked(code: QRCode) -> str | None:
    """Why ``code`` cannot be edited on the current plan (for pages), or None."""
    try:
        check_editable(code)
    except QuotaExceeded as refused:
        return refused.message
    return None


def create_code(data: dict[str, Any]) -> QRCode:
    code = build_code(data)
    check_code_quotas([code.kind])
    db.session.add(code)
    db.session.flush()
    logos.record_usage([code], new=True)
    events.publish("qr.created", event_data(code))
    db.session.commit()
    if data.get("slug"):
        _forget(code)  # a scan of the slug before it existed left "unknown" in the caches
    ensure_default_images(code)
    return code


def event_data(code: QRCode, **extra) -> dict[str, Any]:
    return {"code_id": code.id, "name": code.name, "kind": code.kind, "type": code.type,
            "short_code": code.short_code, **extra}


EDITABLE = ("name", "type", "content", "design", "design_template_id", "redirect_status",
            "utm", "expires_at", "scan_cap", "paused", "tags", "password", "destination",
            "domain", "rules", "variants", "folder_id", "slug", "app_link")


def update_code(code_id: int, data: dict[str, Any]) -> QRCode:
    """Change anything but the kind; a dynamic code keeps its short link (nothing to reprint)."""
    code = get_code(code_id)
    _check_changeable(code, data)
    changed = [*_update_content(code, data), *_update_design(code, data),
               *_update_link_settings(code, data), *_update_labels(code, data),
               *_update_smart_links(code, data), *_update_slug(code, data)]
    code.destination = rules.destination(code.kind, code.type, code.content)
    if not changed:
        return code
    if {"content", "design", "design_template_id", "domain"} & set(changed):
        code.scan_grade = check_scannable(payload(code), code.design).as_dict()
    if "slug" in changed:
        code.scan_grade = check_scannable(payload(code), code.design).as_dict()
    logos.record_usage([code])
    events.publish("qr.updated", event_data(code, changed=changed))
    db.session.commit()
    _forget(code)
    ensure_default_images(code)
    return code


def _check_changeable(code: QRCode, data: dict[str, Any]) -> None:
    if code.archived:
        raise ServiceError("This code is archived; restore it before changing it.",
                           status=409, code="conflict")
    check_editable(code)
    if "kind" in data and data["kind"] != code.kind:
        raise InvalidInput("The kind cannot change.", {"kind": [
            "A code cannot switch between static and dynamic; duplicate it instead."]})
    rules.check_link_settings(data, current_expiry=code.expires_at)


def _update_content(code: QRCode, data: dict[str, Any]) -> list[str]:
    qr_type = data.get("type", code.type)
    if qr_type != code.type and (errors := rules.kind_and_type_errors(code.kind, qr_type)):
        # The type is what changes here: the refusal belongs beside it.
        raise InvalidInput("The kind or type is not valid.",
                           {"type": [m for ms in errors.values() for m in ms]})
    content = data.get("content")
    if data.get("destination") is not None:
        if qr_type != "url":
            raise InvalidInput("Only a URL code has an editable destination.", {
                "destination": ["Change this type's content fields instead."]})
        content = {**(content or code.content), "url": data["destination"]}
    if content is None and qr_type == code.type:
        return []
    content = rules.clean_content(qr_type, content if content is not None else code.content)
    if content == code.content and qr_type == code.type:
        return []
    code.type, code.content = qr_type, content
    return ["content"]


def _update_design(code: QRCode, data: dict[str, Any]) -> list[str]:
    """A new template brings its design unless a design comes too; a design alone is merged
    into the current one."""
    changed = []
    design = data.get("design")
    if "design_template_id" in data and data["design_template_id"] != code.design_template_id:
        template = template_design(data["design_template_id"])
        code.design_template_id = data["design_template_id"]
        design = design if design is not None else template
        changed.append("design_template_id")
    if design is not None:
        design = rules.clean_design(design if "design_template_id" in data
                                    else {**code.design, **design})
        if design != code.design:
            code.design = design
            changed.append("design")
    return changed


def _update_link_settings(code: QRCode, data: dict[str, Any]) -> list[str]:
    wanted = {
        "redirect_status": lambda value: value or 302,
        "scan_cap": lambda value: value,
        "expires_at": lambda value: value,
        "paused": bool,
        "name": lambda value: (value or "").strip()[:200] or code.name,
        "utm": rules.clean_utm,
    }
    changed = []
    for name, clean in wanted.items():
        if name in data and (value := clean(data[name])) != getattr(code, name):
            setattr(code, name, value)
            changed.append(name)
    return changed


def _update_labels(code: QRCode, data: dict[str, Any]) -> list[str]:
    """The password (an empty one removes the protection; None leaves it), the tags and the
    short link's domain."""
    changed = []
    password = data.get("password")
    if password == "" and code.password_hash is not None:
        code.password_hash = None
        changed.append("password")
    elif password:
        code.password_hash = hash_password(password)
        changed.append("password")
    if "tags" in data and (tags := rules.clean_tags(data["tags"])) != code.tags:
        _set_tags(code, tags)
        changed.append("tags")
    if "domain" in data and (domain := rules.clean_domain(
            code.kind, data["domain"], usable_domains(), current=code.domain)) != code.domain:
        code.domain = domain
        changed.append("domain")
    if "folder_id" in data and (folder := _folder_or_none(data["folder_id"])) != code.folder_id:
        code.folder_id = folder
        changed.append("folder")
    return changed


def _folder_or_none(folder_id: int | None) -> int | None:
    return get_folder(folder_id).id if folder_id else None


def _update_smart_links(code: QRCode, data: dict[str, Any]) -> list[str]:
    """Rules and variants are replaced as a whole (their order is their meaning); entries sent
    back with their ``id`` keep it, so analytics keeps counting them as the same."""
    changed = []
    for name, clean in (("rules", rules.clean_rules), ("variants", rules.clean_variants),
                        ("app_link", rules.clean_app_link)):
        if name in data and (value := clean(code.kind, data[name])) != getattr(code, name):
            setattr(code, name, value)
            changed.append(name)
    return changed


def _update_slug(code: QRCode, data: dict[str, Any]) -> list[str]:
    """A new short code; the old one stays an alias of this code (printed codes keep working),
    and taking back one of its aliases makes that the short code again."""
    if data.get("slug") in (None, "") or data["slug"] == code.short_code:
        return []
    slug = rules.clean_slug(code.kind, data["slug"], code_id=code.id)
    old = code.short_code
    code.alias_rows = [alias for alias in code.alias_rows if alias.slug != slug]
    db.session.flush()  # an alias taken back is gone before the short code takes its name
    code.short_code = slug
    if old:
        code.alias_rows.append(QRSlugAlias(slug=old))
    # Both keys: the old one's cached entry and the new one's remembered "unknown".
    code._forget_also = (old, slug)
    return ["slug"]


def slug_aliases(code: QRCode) -> list[QRSlugAlias]:
    """The code's earlier short codes, oldest first; each still redirects to it."""
    return list(code.alias_rows)


def rule_warnings(code: QRCode) -> list[dict[str, Any]]:
    """The code's rules that can never match (shown beside them; saving is still allowed)."""
    if not code.rules:
        return []
    return smartlinks.warnings(code.rules, smartlinks.local_today(
        workspace_time_zone(code.workspace_id), datetime.now(UTC)))


def edited_rule_warnings(value: Any) -> list[dict[str, Any]]:
    """The rules being edited that can never match (none while they are not valid yet)."""
    try:
        cleaned = rules.clean_rules("dynamic", value) or []
    except InvalidInput:
        return []
    return smartlinks.warnings(cleaned, smartlinks.local_today(
        workspace_time_zone(current_workspace_id()), datetime.now(UTC)))


def local_moment(text: str | None) -> datetime | None:
    """A wall-clock time typed on a page (YYYY-MM-DDTHH:MM), in the workspace's time zone."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text[:32])
    except ValueError:
        raise InvalidInput("That time is not valid.", {"at": [
            "Give the date and time as YYYY-MM-DD HH:MM."]}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=smartlinks.zone(workspace_time_zone(
            current_workspace_id())))
    return moment


def workspace_time_zone(workspace_id: int) -> str:
    """The workspace's clock for time-of-day rules (a core setting)."""
    from qrplatform.auth import services as auth_services

    return auth_services.workspace_time_zone(workspace_id)


def test_scan(code_id: int | None, *, rules_value: Any = None, variants_value: Any = None,
              destination: str | None = None, **facts) -> dict[str, Any]:
    """Which rule a described scan would match: of a saved code, or of rules being edited
    (``rules_value``, checked first). ``facts``: user_agent, device, os, browser, country,
    language, at (aware datetime; now if None), query, scan_number."""
    if code_id is not None:
        code = get_code(code_id)
        current_rules = code.rules or []
        variants = code.variants or []
        destination = code.destination or ""
        workspace_id, app_link = code.workspace_id, code.app_link
    else:
        current_rules, variants, workspace_id = [], [], current_workspace_id()
        app_link = None
    if rules_value is not None:
        current_rules = rules.clean_rules("dynamic", rules_value) or []
    if variants_value is not None:
        variants = rules.clean_variants("dynamic", variants_value) or []
    at = facts.pop("at", None) or datetime.now(UTC)
    return smartlinks.explain(current_rules, variants, destination or "", at=at,
                              time_zone=workspace_time_zone(workspace_id),
                              app_link=app_link, **facts)


def forget_workspace_links(event) -> None:
    """``workspace.updated``: a new time zone changes what time-of-day rules mean, so every
    process forgets the workspace's codes that have rules."""
    if "time_zone" not in (event.data.get("changed") or ()):
        return
    with unscoped():
        short_codes = list(db.session.scalars(select(QRCode.short_code).where(
            QRCode.workspace_id == event.workspace_id, QRCode.rules.is_not(None),
            QRCode.short_code.is_not(None))))
    cache = linkcache.cache_for(current_app)
    for short_code in short_codes:
        cache.invalidate(short_code)


def _set_tags(code: QRCode, tags: list[str]) -> None:
    keep = {row.tag: row for row in code.tag_rows}
    code.tag_rows = [keep.get(tag) or QRTag(tag=tag) for tag in tags]


def archive_code(code_id: int) -> QRCode:
    """Archive: the short link stops redirecting (a clear page says so); nothing is deleted."""
    code = get_code(code_id)
    if code.archived_at is None:
        code.archived_at = datetime.now(UTC)
        events.publish("qr.archived", event_data(code))
        db.session.commit()
        _forget(code)
    return code


def restore_code(code_id: int) -> QRCode:
    code = get_code(code_id)
    if code.archived_at is not None:
        check_code_quotas([code.kind])
        code.archived_at = None
        events.publish("qr.updated", event_data(code, changed=["archived"]))
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
        "paused": original.paused, "tags": original.tags, "folder_id": original.folder_id,
        "rules": original.rules, "variants": original.variants, "app_link": original.app_link,
        # A domain that takes no new links (over the plan's quota) is not copied.
        "domain": original.domain if original.domain in usable_domains() else None,
    }
    copy = build_code(data)
    check_code_quotas([copy.kind])
    copy.password_hash = original.password_hash
    db.session.add(copy)
    db.session.flush()
    logos.record_usage([copy], new=True)
    events.publish("qr.created", event_data(copy, duplicate_of=original.id))
    db.session.commit()
    ensure_default_images(copy)
    return copy


def _forget(code: QRCode) -> None:
    """Drop the code, under its short code and every alias, from every process's redirect
    cache (after the commit)."""
    if code.kind != "dynamic":
        return
    keys = {code.short_code, *getattr(code, "_forget_also", ()),
            *(alias.slug for alias in slug_aliases(code))}
    cache = linkcache.cache_for(current_app)
    for key in keys - {None}:
        cache.invalidate(key)


# -- images -------------------------------------------------------------------------------------

def image_key(text: str, design: dict[str, Any], fmt: str, size: int,
              paper: render.PrintSize | None = None) -> str:
    """Content-addressed: the same (content, design, format, size, print size) always has the
    same key, so an image is drawn once and cached for ever (immutable)."""
    parts: list[Any] = [render.RENDER_VERSION, text, design, fmt, size]
    if paper is not None:
        parts.append(paper.key())
    if logos.asset_id(design.get("logo")) is not None:
        parts.append(logos.identity(design))  # a library logo: follow the asset's file
    material = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    # Keyed: nobody can compute the key of a guessed Wi-Fi password or vCard from outside.
    digest = content_digest(material.encode())
    return f"c/qr/{digest[:2]}/{digest}.{fmt}"


def check_size(fmt: str, size: int, lay: render.Layout) -> None:
    smallest = render.min_size(lay)
    if fmt not in render.FORMATS:
        raise InvalidInput("Unknown format.", {"format": [f"Use {', '.join(render.FORMATS)}."]})
    if not smallest <= size <= render.MAX_SIZE:
        raise InvalidInput("Size out of range.", {"size": [
            f"Ask for {smallest} to {render.MAX_SIZE} pixels for this code."]})


def print_size(fmt: str, width: float | None, unit: str = "mm", bleed: float | None = None,
               crop_marks: bool = True) -> render.PrintSize | None:
    """A physical size asked for (None: pixels); refused for PNG and out of range."""
    if width is None:
        return None
    if fmt not in render.PRINT_FORMATS:
        raise InvalidInput("A physical size is for SVG and PDF.", {"format": [
            "Ask for SVG or PDF to print at a size in mm or inches; PNG is in pixels."]})
    try:
        return render.PrintSize.parse(width, unit, bleed, crop_marks)
    except render.PrintSizeInvalid as exc:
        raise InvalidInput("Print size out of range.", exc.fields) from exc


def ensure_image(code: QRCode, fmt: str, size: int = render.DEFAULT_SIZE,
                 paper: render.PrintSize | None = None) -> tuple[str, bytes | None]:
    """The storage key of the image, drawing and storing it first if it is not there yet.
    Returns the bytes too when it had to draw them (saves a read for a download).
    ``paper``: an SVG or PDF at a physical size, with bleed and crop marks."""
    text = payload(code)
    key = image_key(text, code.design, fmt, size, paper)
    backend = storage()
    if backend.exists(key):
        return key, None
    lay = render.layout(text, code.design, logo_image(code.design))
    if paper is not None:
        data = render.render(lay, fmt, size, paper)
        check_export(text, data, fmt, code.design,
                     lay.width * paper.page_mm(lay)[0] / paper.width_mm)
    elif fmt == "png":
        check_size(fmt, size, lay)
        image = render.render_image(lay, size)
        try:
            verify.check_decodes(text, image, code.design, lay.width)
        except verify.Unscannable as exc:
            raise InvalidInput(exc.message, {"size": [
                "At this size the code does not decode; ask for a larger image."]}) from exc
        data = render.encode_png(image)
    else:
        check_size(fmt, size, lay)
        data = render.render(lay, fmt, size)
        check_export(text, data, fmt, code.design, lay.width, on_grid=render.is_plain(lay))
    backend.put(key, data, content_type=render.MIME_TYPES[fmt], immutable=True)
    return key, data


def check_export(text: str, data: bytes, fmt: str, design: dict[str, Any],
                 modules: float, *, on_grid: bool = False) -> None:
    """An SVG or PDF is stored only when a standard renderer's drawing of it decodes."""
    try:
        verify.check_export(text, data, fmt, design, modules, on_grid=on_grid)
    except verify.Unscannable as exc:
        raise InvalidInput(exc.message, {"format": [exc.message]}) from exc


def print_info(code: QRCode, paper: render.PrintSize) -> dict[str, Any]:
    """The print's sizes, and how far away it still scans (from the design's grade)."""
    lay = render.layout(payload(code), code.design, logo_image(code.design))
    guidance = print_guidance(code_grade(code), width_mm=paper.width_mm)
    return {**paper.as_dict(lay),
            "advice": guidance["width"]["advice"] if guidance else None}


def redraw_logo_users(event) -> None:
    """``assets.replaced``: draw the images of the codes whose logo is that asset again (their
    keys follow the asset's file), so their image URLs work at once."""
    for code_id in logos.codes_using(event.data["asset_id"]):
        code = db.session.get(QRCode, code_id)
        if code is not None:
            ensure_default_images(code)


def image_bytes(code: QRCode, fmt: str, size: int, paper: render.PrintSize | None = None
                ) -> bytes:
    key, data = ensure_image(code, fmt, size, paper)
    return data if data is not None else storage().get(key)


def ensure_default_images(code: QRCode) -> None:
    for fmt in render.FORMATS:
        ensure_image(code, fmt, render.DEFAULT_SIZE)


def image_urls(code: QRCode) -> dict[str, str]:
    """The URLs of the code's default images, built now from their keys."""
    backend = storage()
    text = payload(code)
    keys = {fmt: image_key(text, code.design, fmt, render.DEFAULT_SIZE)
            for fmt in render.FORMATS}
    if (code.kind == "dynamic" and not code.domain
            and current_app.config.get("PUBLIC_BASE_URL_FROM_REQUEST")
            and current_app.config.get("QR_SHORT_LINK_BASE_DERIVED")
            and not backend.exists(keys["png"])):
        # The short link follows the address the app is reached at, and so does the picture
        # of a dynamic code: reached at a new address, draw that address's images once.
        # (If this address's link does not fit the design, the code's page says so.)
        with contextlib.suppress(InvalidInput):
            ensure_default_images(code)
    return {fmt: backend.url(key) for fmt, key in keys.items()}


def has_codes(_user=None) -> bool:
    """For the onboarding checklist: the workspace made a code (archived ones count)."""
    return db.session.scalar(select(QRCode.id).limit(1)) is not None


def newest_code(kind: str | None = None) -> QRCode | None:
    """The workspace's newest live code (of this kind), for the onboarding checklist."""
    codes, _total = list_codes(kind=kind, per_page=1)
    return codes[0] if codes else None


def recent_codes(limit: int = 5) -> list[dict[str, Any]]:
    """The workspace's newest live codes with their picture, for the home page's card."""
    codes, _total = list_codes(per_page=limit)
    return [{"code": code, "image_url": image_urls(code)["png"],
             "type_label": payloads.type_label(code.type)} for code in codes]


def upload_logo(data: bytes, filename: str = "logo") -> tuple[int | str, str]:
    """Take an uploaded logo; returns the value for ``design.logo`` and its URL. With the
    media library it lands there (cleaned like any asset); without it, it is checked, shrunk
    and stored as PNG."""
    if logos.library_enabled():
        return logos.upload(data, filename)
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
    return key, storage().put(key, png, content_type="image/png", immutable=True)


# -- folders ------------------------------------------------------------------------------------

MAX_FOLDERS = 500


def list_folders() -> list[QRFolder]:
    return list(db.session.scalars(select(QRFolder).order_by(func.lower(QRFolder.name))))


def folder_sizes() -> dict[int, int]:
    """Codes (not archived) per folder id."""
    rows = db.session.execute(select(QRCode.folder_id, func.count()).where(
        QRCode.folder_id.is_not(None), QRCode.archived_at.is_(None)).group_by(QRCode.folder_id))
    return {folder_id: count for folder_id, count in rows}


def get_folder(folder_id: int) -> QRFolder:
    return get_or_404(QRFolder, folder_id, "No such folder in this workspace.")


def _folder_name(name: str | None, folder_id: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("Name the folder.", {"name": ["Give the folder a name."]})
    if len(name) > 100:
        raise InvalidInput("Name too long.", {"name": ["At most 100 characters."]})
    clash = db.session.scalar(select(QRFolder).where(func.lower(QRFolder.name) == name.lower()))
    if clash is not None and clash.id != folder_id:
        raise InvalidInput("Name taken.", {"name": ["A folder with this name exists."]})
    return name


def create_folder(name: str) -> QRFolder:
    name = _folder_name(name)
    if (db.session.scalar(select(func.count()).select_from(QRFolder)) or 0) >= MAX_FOLDERS:
        raise InvalidInput("Too many folders.", {"name": [
            f"A workspace has at most {MAX_FOLDERS} folders; delete one first."]})
    folder = QRFolder(name=name)
    db.session.add(folder)
    db.session.flush()
    events.publish("qr.folder_created", {"folder_id": folder.id, "name": folder.name})
    db.session.commit()
    return folder


def rename_folder(folder_id: int, name: str) -> QRFolder:
    folder = get_folder(folder_id)
    new_name = _folder_name(name, folder.id)
    if new_name != folder.name:
        events.publish("qr.folder_renamed", {"folder_id": folder.id, "name": new_name,
                                             "previous_name": folder.name})
        folder.name = new_name
        db.session.commit()
    return folder


def delete_folder(folder_id: int) -> int:
    """Delete a folder; its codes stay, in no folder. Returns how many codes it held."""
    folder = get_folder(folder_id)
    held = db.session.scalar(select(func.count()).select_from(QRCode)
                             .where(QRCode.folder_id == folder.id)) or 0
    db.session.execute(update(QRCode).where(QRCode.folder_id == folder.id)
                       .values(folder_id=None))
    events.publish("qr.folder_deleted", {"folder_id": folder.id, "name": folder.name,
                                         "codes": held})
    db.session.delete(folder)
    db.session.commit()
    return held


# -- acting on many codes at once -----------------------------------------------------------------

CODE_ACTIONS = ("tag", "untag", "move", "archive", "restore", "download")
MAX_SELECTION = 500


def chosen_codes(code_ids) -> list[QRCode]:
    """The workspace's codes with these ids, in the order given; 404 naming how many are not
    the workspace's (nothing is done to the others then)."""
    ids = list(dict.fromkeys(int(i) for i in code_ids or ()))
    if not ids:
        raise InvalidInput("Choose some codes.", {"ids": ["Choose at least one code."]})
    if len(ids) > MAX_SELECTION:
        raise InvalidInput("Too many codes.", {"ids": [
            f"At most {MAX_SELECTION} codes at once."]})
    found = {code.id: code for code in db.session.scalars(select(QRCode).where(
        QRCode.id.in_(ids)))}
    missing = len(ids) - len(found)
    if missing:
        raise NotFound(f"{missing} of the chosen codes are not in this workspace.")
    return [found[i] for i in ids]


def act_on_codes(action: str, code_ids, *, tag: str | None = None,
                 folder_id: int | None = None) -> dict[str, Any]:
    """Tag, untag, move (``folder_id`` None: out of any folder), archive, restore or download
    (a ZIP made by a job) the chosen codes, all or none. One ``qr.updated`` (or
    ``qr.archived``) event per code, marked as part of one ``qr.bulk_changed`` event (what
    the audit log records). Returns ``action``, ``count`` (codes changed) and ``job`` for
    a download."""
    if action not in CODE_ACTIONS:
        raise InvalidInput("Unknown action.", {"action": [f"Use {', '.join(CODE_ACTIONS)}."]})
    codes = chosen_codes(code_ids)
    if action == "download":
        job = jobs.enqueue("qr.zip_codes", [code.id for code in codes], queue="bulk",
                           description=f"Packing {len(codes):,} QR codes into a ZIP")
        db.session.commit()
        return {"action": action, "count": len(codes), "job": job}
    batch = secrets.token_hex(8)
    changed, fields, detail = _CHANGES[action](codes, tag=tag, folder_id=folder_id)
    for code in changed:
        if action == "archive":
            events.publish("qr.archived", event_data(code, batch=batch))
        else:
            events.publish("qr.updated", event_data(code, changed=fields, batch=batch))
    if changed:
        events.publish("qr.bulk_changed", {"batch_id": batch, "action": action,
                                           "count": len(changed), **detail,
                                           "name": _many(len(changed), action, detail)})
    db.session.commit()
    if action in ("archive", "restore"):
        for code in changed:
            _forget(code)
    return {"action": action, "count": len(changed)}


def _tag_codes(codes, *, tag, add=True, **_):
    cleaned = rules.clean_tags([tag] if tag else [])
    if not cleaned:
        raise InvalidInput("Name the tag.", {"tag": ["Give a tag."]})
    return _retag(codes, cleaned[0], add=add), ["tags"], {"tag": cleaned[0]}


def _move_codes(codes, *, folder_id, **_):
    folder = get_folder(folder_id) if folder_id is not None else None
    target = folder.id if folder else None
    changed = [code for code in codes if code.folder_id != target]
    for code in changed:
        code.folder_id = target
    return changed, ["folder"], {"folder": folder.name if folder else None}


def _archive_codes(codes, **_):
    changed = [code for code in codes if code.archived_at is None]
    now = datetime.now(UTC)
    for code in changed:
        code.archived_at = now
    return changed, [], {}


def _restore_codes(codes, **_):
    changed = [code for code in codes if code.archived_at is not None]
    check_code_quotas([code.kind for code in changed])
    for code in changed:
        code.archived_at = None
    return changed, ["archived"], {}


_CHANGES = {"tag": _tag_codes, "untag": lambda codes, **kw: _tag_codes(codes, add=False, **kw),
            "move": _move_codes, "archive": _archive_codes, "restore": _restore_codes}


def _many(count: int, action: str, detail: dict[str, Any]) -> str:
    """The audit log's words for a change of many codes."""
    codes = f"{count:,} code{'' if count == 1 else 's'}"
    return {"tag": f"{codes} tagged “{detail.get('tag')}”",
            "untag": f"“{detail.get('tag')}” taken off {codes}",
            "move": (f"{codes} moved to “{detail.get('folder')}”" if detail.get("folder")
                     else f"{codes} taken out of their folder"),
            "archive": f"{codes} archived", "restore": f"{codes} restored"}[action]


def _retag(codes: list[QRCode], tag: str, *, add: bool) -> list[QRCode]:
    changed = []
    for code in codes:
        has = tag in code.tags
        if add and not has:
            if len(code.tags) >= rules.MAX_TAGS:
                raise InvalidInput("Too many tags.", {"tag": [
                    f"“{code.name}” has {rules.MAX_TAGS} tags already."]})
            _set_tags(code, [*code.tags, tag])
            changed.append(code)
        elif not add and has:
            _set_tags(code, [t for t in code.tags if t != tag])
            changed.append(code)
    return changed


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
    design = rules.clean_design(design)
    # A template must itself scan: checked on a typical short link.
    grade = check_scannable(rules.sample_short_link(current_app.config["SHORT_LINK_BASE_URL"]),
                            design)
    clash = db.session.scalar(select(QRDesignTemplate).where(QRDesignTemplate.name == name))
    if clash is not None and clash.id != template_id:
        raise InvalidInput("Name taken.", {"name": ["A template with this name exists."]})
    template = get_template(template_id) if template_id else QRDesignTemplate()
    template.name, template.design = name[:100], design
    template.scan_grade = grade.as_dict()
    db.session.add(template)
    db.session.commit()
    return template


def delete_template(template_id: int) -> None:
    db.session.delete(get_template(template_id))
    db.session.commit()


# -- custom domains (for the plugin that offers them) ---------------------------------------------

def codes_on_domain(domain: str) -> list[dict[str, Any]]:
    """The workspace's dynamic codes whose short link lives on ``domain``, archived ones
    included (their printed codes still exist): id, name, short_url, destination, archived."""
    rows = db.session.scalars(select(QRCode).where(QRCode.domain == domain,
                                                   QRCode.kind == "dynamic")
                              .order_by(QRCode.id))
    return [{"id": code.id, "name": code.name, "short_url": short_url(code),
             "destination": redirect_target(code), "archived": code.archived}
            for code in rows]


def move_codes_off_domain(domain: str, limit: int = 50) -> int:
    """Put up to ``limit`` of the workspace's codes on ``domain`` back on the platform's short
    links (their images redrawn); returns how many moved, 0 when none is left."""
    codes = list(db.session.scalars(select(QRCode).where(QRCode.domain == domain)
                                    .order_by(QRCode.id).limit(limit)))
    for code in codes:
        code.domain = None
        events.publish("qr.updated", event_data(code, changed=["domain"]))
    db.session.commit()
    for code in codes:
        _forget(code)
        ensure_default_images(code)
    return len(codes)


def codes_of_link_type(qr_type: str, names: Callable[[dict[str, Any]], bool]) -> list[QRCode]:
    """The workspace's codes of a plugin-added type whose content ``names`` picks (the codes
    that open one microsite), archived ones too: their printed codes still exist."""
    return [code for code in db.session.scalars(select(QRCode).where(QRCode.type == qr_type)
                                                .order_by(QRCode.id))
            if names(code.content)]


def refresh_link_type(qr_type: str, names: Callable[[dict[str, Any]], bool]) -> int:
    """What those codes open moved (a page's new address): their stored destination follows
    and every process's cached link forgets them. Returns how many there were."""
    codes = codes_of_link_type(qr_type, names)
    for code in codes:
        code.destination = rules.destination(code.kind, code.type, code.content)
    db.session.commit()
    for code in codes:
        _forget(code)
    return len(codes)


# -- the short link (read by the redirect) ------------------------------------------------------

def redirect_entry(short_code: str) -> dict[str, Any] | None:
    """What the redirect needs to know about a short code, cacheable as JSON; None if unknown.
    Looks across workspaces on purpose: the scanner has no workspace."""
    with unscoped():
        code = _code_by_link(short_code)
        if code is None or code.kind != "dynamic":
            return None
        expires = code.expires_at
        target = redirect_target(code)  # a plugin's link type may query for it: once
        smart = {}
        if code.rules or code.variants or code.app_link:
            own_hosts = hosts.platform_hosts(current_app)
            own_domains = frozenset(d.name for d in hosts.link_domains(code.workspace_id)) \
                if code.variants else frozenset()
            smart = {
                "app": smartlinks.app_entry(code.app_link, target),
                "rules": [{"id": rule["id"], "when": rule["when"],
                           "target": urls.ascii_url(with_utm(rule["destination"], code.utm))}
                          for rule in code.rules or ()],
                "variants": [{"id": variant["id"], "weight": variant["weight"],
                              "target": smartlinks.tracked_target(
                                  urls.ascii_url(with_utm(variant["destination"], code.utm)),
                                  code.id, variant["id"], own_hosts, own_domains)}
                             for variant in code.variants or ()],
                "time_zone": workspace_time_zone(code.workspace_id),
            }
        return {
            "id": code.id,
            "workspace_id": code.workspace_id,
            "short_code": code.short_code,
            "type": code.type,
            "target": target,
            "status": code.redirect_status,
            "archived": code.archived_at is not None,
            "paused": code.paused,
            "expires_at": expires.timestamp() if expires else None,
            "scan_cap": code.scan_cap,
            "password": code.password_hash is not None,
            **smart,
        }


def _code_by_link(short_code: str) -> QRCode | None:
    """The code a short link names: its short code, else one of its aliases (unscoped)."""
    code = db.session.scalar(select(QRCode).where(QRCode.short_code == short_code))
    if code is None:
        code = db.session.scalar(select(QRCode).join(
            QRSlugAlias, QRSlugAlias.code_id == QRCode.id).where(QRSlugAlias.slug == short_code))
    return code


def check_code_password(short_code: str, password: str) -> bool:
    with unscoped():
        code = _code_by_link(short_code)
        stored = code.password_hash if code is not None else None
    if not stored:
        return True
    return password_matches(stored, password)


def served_content(short_code: str) -> tuple[str, dict[str, Any], int]:
    """Type, content and id of a dynamic code whose link serves the content itself."""
    with unscoped():
        code = _code_by_link(short_code)
        if code is None:
            raise NotFound("This link does not exist.")
        return code.type, dict(code.content), code.id


# -- the redirect map ---------------------------------------------------------------------------

REDIRECT_MAP_COLUMNS = ("short_url", "slug", "destination", "rules", "variants", "aliases",
                        "name", "code_id", "status", "created_at")


def export_redirect_map() -> tuple[str, Iterator[str]]:
    """The file name and, in chunks, a CSV of every dynamic code's short link, slug (and old
    slugs, space-separated), destination, rules and variants as JSON (archived ones too,
    marked). Rows are read while the response is sent, in an app context
    and workspace scope of their own (the request's are gone by then)."""
    app = current_app._get_current_object()
    workspace_id = current_workspace_id()
    query = (select(QRCode).where(QRCode.kind == "dynamic")
             .order_by(QRCode.created_at, QRCode.id).execution_options(yield_per=500))

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csvfiles.writer(buffer)
        writer.writerow(REDIRECT_MAP_COLUMNS)
        with app.app_context(), tenant_scope(workspace_id):
            for n, code in enumerate(db.session.scalars(query), start=1):
                status = "archived" if code.archived else ("paused" if code.paused else "live")
                writer.writerow([
                    short_url(code), code.short_code, code.destination,
                    json.dumps(code.rules or [], separators=(",", ":")),
                    json.dumps(code.variants or [], separators=(",", ":")),
                    " ".join(alias.slug for alias in code.alias_rows),
                    code.name, code.id, status, code.created_at.isoformat()])
                if n % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return f"redirect-map-{workspace_id}-{datetime.now(UTC):%Y%m%d}.csv", rows()
