"""The media library's rules, shared by the pages, the API, the jobs and other plugins.

Other plugins use assets through these functions only (never the tables):

- ``get_asset(id)``, ``resolve(id)`` → an ``AssetRef`` (URL, thumbnail URLs, type, size);
- ``picture(id, size)`` → the asset drawn as a Pillow image (first frame, first page, SVG
  rasterised), e.g. a QR code's logo;
- ``set_usage(consumer, ref_id, asset_ids, label=, href=)`` → "this thing of mine uses these
  assets" (replacing what it said before), which the library shows as "used by" and which
  stops an asset in use from being deleted; ``set_usage(..., [])`` when it no longer does;
  ``set_usages(consumer, [Usage(...), ...])`` says it for many things in two queries.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, g, has_request_context
from PIL import Image
from sqlalchemy import delete, func, or_, select
from werkzeug.http import dump_options_header

from qrp_assets import sanitize, thumbnails
from qrp_assets.models import KINDS, Asset, AssetTag, AssetUpload, AssetUsage
from qrplatform import events, jobs, permissions, quotas
from qrplatform.errors import Conflict, NotFound, ServiceError
from qrplatform.extensions import db
from qrplatform.storage import content_key, storage
from qrplatform.tenancy import current_workspace_id, get_or_404, unscoped
from qrplatform.ui import file_size

STORAGE_QUOTA = "assets.storage_bytes"
FILES_QUOTA = "assets.files"
PER_PAGE = 24
MAX_TAGS = 20
SORTS = {
    "newest": (Asset.created_at.desc(), Asset.id.desc()),
    "oldest": (Asset.created_at.asc(), Asset.id.asc()),
    "name": (func.lower(Asset.name).asc(), Asset.id.asc()),
    "largest": (Asset.bytes.desc(), Asset.id.desc()),
}
UPLOAD_PREFIX = "uploads"


class InvalidFile(ServiceError):
    status = 422
    code = "validation_error"

    def __init__(self, message: str):
        super().__init__(message, field="file")


# -- reading --------------------------------------------------------------------------------------

def get_asset(asset_id: int) -> Asset:
    return get_or_404(Asset, asset_id, "No such asset in this workspace.")


def list_assets(*, q: str = "", tag: str | None = None, kind: str | None = None,
                sort: str = "newest", page: int = 1, per_page: int = PER_PAGE
                ) -> tuple[list[Asset], int]:
    """One page of the library and how many match: search names and tags, filter by tag
    and type."""
    query = select(Asset)
    if kind in KINDS:
        query = query.where(Asset.kind == kind)
    if tag:
        query = query.where(Asset.id.in_(select(AssetTag.asset_id)
                                         .where(AssetTag.tag == _clean_tag(tag))))
    if q.strip():
        pattern = f"%{q.strip().lower()}%"
        query = query.where(or_(func.lower(Asset.name).like(pattern),
                                Asset.id.in_(select(AssetTag.asset_id)
                                             .where(AssetTag.tag.like(pattern)))))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.order_by(*SORTS.get(sort, SORTS["newest"]))
                              .limit(per_page).offset((max(1, page) - 1) * per_page))
    return list(rows.unique()), total


def workspace_tags() -> list[str]:
    return list(db.session.scalars(select(AssetTag.tag).distinct().order_by(AssetTag.tag)))


def url(asset: Asset) -> str:
    return storage().url(asset.key)


def thumbnail_url(asset: Asset, size: int = 256) -> str | None:
    """The smallest thumbnail at least ``size`` wide (else the largest there is); None until
    the thumbnail job has made one."""
    made = sorted(int(width) for width in asset.thumbnails or {})
    if not made:
        return None
    width = next((w for w in made if w >= size), made[-1])
    return storage().url(asset.thumbnails[str(width)])


def thumbnail_urls(asset: Asset) -> dict[str, str]:
    backend = storage()
    return {width: backend.url(key) for width, key in sorted(
        (asset.thumbnails or {}).items(), key=lambda item: int(item[0]))}


@dataclass(frozen=True)
class AssetRef:
    """What another plugin needs to show an asset."""

    id: int
    name: str
    kind: str
    content_type: str
    url: str
    thumbnail_url: str | None
    width: int | None
    height: int | None
    # Changes when the file is replaced: part of any cache key built from the asset.
    key: str


def resolve(asset_id: int) -> AssetRef:
    asset = get_asset(asset_id)
    return AssetRef(asset.id, asset.name, asset.kind, asset.content_type, url(asset),
                    thumbnail_url(asset), asset.width, asset.height, asset.key)


def picture(asset_id: int, size: int = 1024) -> Image.Image:
    """The asset as an RGBA picture (first frame of a GIF, SVG drawn, first page of a PDF)."""
    asset = get_asset(asset_id)
    with storage().local_copy(asset.key) as path:
        return thumbnails.first_frame(path, asset.format, size)


# -- quotas ---------------------------------------------------------------------------------------

def used_bytes() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(Asset.bytes), 0))) or 0)


def file_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Asset)) or 0


def usage() -> dict[str, dict[str, int | None]]:
    """The workspace's storage and file count against its plan, for the library and API."""
    return {"bytes": {"used": used_bytes(), "limit": quotas.limit(STORAGE_QUOTA)},
            "files": {"used": file_count(), "limit": quotas.limit(FILES_QUOTA)}}


def check_quota(adding_bytes: int, adding_files: int) -> None:
    quotas.check(FILES_QUOTA, adding=adding_files)
    quotas.check(STORAGE_QUOTA, adding=adding_bytes)


# -- writing --------------------------------------------------------------------------------------

def limits() -> sanitize.Limits:
    config = current_app.config
    return sanitize.Limits(
        max_bytes=config["ASSETS_MAX_FILE_BYTES"], max_pixels=config["ASSETS_MAX_PIXELS"],
        max_svg_bytes=config["ASSETS_MAX_SVG_BYTES"],
        max_pdf_pages=config["ASSETS_MAX_PDF_PAGES"], max_frames=config["ASSETS_MAX_FRAMES"])


def _make_safe(data: bytes) -> sanitize.SafeFile:
    try:
        return sanitize.make_safe(data, limits())
    except sanitize.Refused as refused:
        raise InvalidFile(refused.message) from refused


def _clean_tag(tag: str) -> str:
    return " ".join(str(tag).split()).lower()[:50]


def _clean_tags(tags: Iterable[str] | None) -> list[str]:
    cleaned: list[str] = []
    for tag in tags or []:
        tag = _clean_tag(tag)
        if tag and tag not in cleaned:
            cleaned.append(tag)
            if len(cleaned) > MAX_TAGS:
                raise ServiceError(f"At most {MAX_TAGS} tags.", field="tags", status=422,
                                   code="validation_error")
    return cleaned


def _clean_name(name: str | None, fallback: str) -> str:
    name = " ".join((name or "").split())[:200]
    return name or fallback


def _name_from(filename: str | None, safe: sanitize.SafeFile) -> str:
    stem = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return _clean_name(stem, f"{safe.format.upper()} file")


def _disposition(asset_name: str, safe: sanitize.SafeFile) -> str:
    # An SVG opened by itself is a document that could run as a page: download it instead.
    # (An <img> shows it all the same; the CSP sandbox header is the second guard.)
    kind = "attachment" if safe.format == "svg" else "inline"
    return dump_options_header(kind, {"filename": f"{asset_name}.{safe.extension}"})


def _store(safe: sanitize.SafeFile, name: str) -> str:
    key = content_key(safe.data, safe.extension, prefix="a",
                      namespace=str(current_workspace_id()))
    storage().put(key, safe.data, content_type=safe.content_type, immutable=True,
                  disposition=_disposition(name, safe))
    return key


def _actor_id() -> int | None:
    user = g.get("user") if has_request_context() else None
    return user.id if user is not None else None


def _apply(asset: Asset, safe: sanitize.SafeFile, key: str) -> None:
    asset.kind, asset.format, asset.content_type = safe.kind, safe.format, safe.content_type
    asset.bytes, asset.width, asset.height = len(safe.data), safe.width, safe.height
    asset.pages, asset.frames, asset.key = safe.pages, safe.frames, key
    asset.removed, asset.thumbnails = safe.removed, {}


def _event_data(asset: Asset, **extra) -> dict[str, Any]:
    return {"asset_id": asset.id, "name": asset.name, "kind": asset.kind,
            "content_type": asset.content_type, "bytes": asset.bytes, **extra}


def _enqueue_thumbnails(asset: Asset) -> None:
    job = jobs.enqueue("assets.make_thumbnails", asset.id, asset.key, retries=2,
                       description=f"Thumbnails of “{asset.name}”"[:200])
    asset.thumbnail_job_id = job.id


def upload(data: bytes, filename: str | None = None, *, name: str | None = None,
           tags: Iterable[str] | None = None) -> Asset:
    """Check, clean and store a new file; its thumbnails follow in a job."""
    permissions.require("assets.edit")
    cleaned_tags = _clean_tags(tags)
    check_quota(len(data), 1)  # what arrived; checked again on what is stored
    safe = _make_safe(data)
    check_quota(len(safe.data), 1)
    asset = Asset(name=_clean_name(name, _name_from(filename, safe)),
                  uploaded_by_id=_actor_id(),
                  tag_rows=[AssetTag(tag=tag) for tag in cleaned_tags])
    key = _store(safe, asset.name)
    _apply(asset, safe, key)
    db.session.add(asset)
    db.session.flush()
    _enqueue_thumbnails(asset)
    events.publish("assets.uploaded", _event_data(asset))
    db.session.commit()
    return asset


def replace(asset_id: int, data: bytes) -> Asset:
    """A new file for an existing asset: it keeps its id, name, tags and users, who pick up
    the new file (its key, and so every cache built from it, changes)."""
    permissions.require("assets.edit")
    asset = get_asset(asset_id)
    previous_key, previous_bytes = asset.key, asset.bytes
    check_quota(len(data) - previous_bytes, 0)
    safe = _make_safe(data)
    check_quota(len(safe.data) - previous_bytes, 0)
    key = _store(safe, asset.name)
    previous_thumbnails = dict(asset.thumbnails or {})
    _apply(asset, safe, key)
    asset.version += 1
    _enqueue_thumbnails(asset)
    events.publish("assets.replaced", _event_data(asset, version=asset.version,
                                                  previous_bytes=previous_bytes))
    db.session.commit()
    if previous_key != key:
        _forget_files(previous_key, previous_thumbnails)
    return asset


def update(asset_id: int, *, name: str | None = None,
           tags: Iterable[str] | None = None) -> Asset:
    permissions.require("assets.edit")
    asset = get_asset(asset_id)
    changed = []
    if name is not None and _clean_name(name, asset.name) != asset.name:
        asset.name = _clean_name(name, asset.name)
        changed.append("name")
    if tags is not None:
        cleaned = _clean_tags(tags)
        if cleaned != asset.tags:
            asset.tag_rows = [AssetTag(tag=tag) for tag in cleaned]
            changed.append("tags")
    if changed:
        events.publish("assets.updated", _event_data(asset, changed=changed))
        db.session.commit()
    return asset


def delete_asset(asset_id: int) -> str:
    """Delete an asset no one uses (returns its name); refused (409) with the list of its
    users otherwise."""
    permissions.require("assets.edit")
    asset = get_asset(asset_id)
    users = used_by(asset)
    if users:
        names = "; ".join(usage.label for usage in users[:10])
        more = f" and {len(users) - 10} more" if len(users) > 10 else ""
        raise InUse(f"“{asset.name}” is in use by {names}{more}. Remove it there first.",
                    [usage.label for usage in users])
    key, made, name = asset.key, dict(asset.thumbnails or {}), asset.name
    events.publish("assets.deleted", _event_data(asset))
    db.session.delete(asset)
    db.session.commit()
    _forget_files(key, made)
    return name


class InUse(Conflict):
    def __init__(self, message: str, users: list[str]):
        super().__init__(message, code="asset_in_use")
        self.users = users

    @property
    def fields(self) -> dict[str, list[str]]:
        return {"used_by": self.users}


def _forget_files(key: str, made: dict[str, str]) -> None:
    """Delete a file and its thumbnails once no asset of the workspace holds that key
    (identical uploads share one object). Called after the commit."""
    if db.session.scalar(select(func.count()).select_from(Asset).where(Asset.key == key)):
        return
    backend = storage()
    for stored in [key, *made.values()]:
        backend.delete(stored)


# -- "used by" ------------------------------------------------------------------------------------

def used_by(asset: Asset | int) -> list[AssetUsage]:
    asset_id = asset if isinstance(asset, int) else asset.id
    return list(db.session.scalars(select(AssetUsage).where(AssetUsage.asset_id == asset_id)
                                   .order_by(AssetUsage.id)))


@dataclass(frozen=True)
class Usage:
    """One thing of a consumer's and the assets it uses now (``set_usages``)."""

    ref_id: int | str
    asset_ids: tuple[int, ...]
    label: str
    href: str | None = None


def set_usage(consumer: str, ref_id: int | str, asset_ids: Iterable[int], *, label: str,
              href: str | None = None) -> None:
    """Record that ``consumer``'s thing ``ref_id`` uses exactly ``asset_ids`` now (in the
    caller's transaction). Unknown ids (another workspace's too) raise NotFound."""
    set_usages(consumer, [Usage(ref_id, tuple(asset_ids), label, href)])


def set_usages(consumer: str, usages: Iterable[Usage]) -> None:
    """``set_usage`` for many things at once, in two queries whatever their number (a bulk
    job's codes come by the hundred)."""
    usages = list(usages)
    wanted = {int(i) for usage in usages for i in usage.asset_ids}
    found = set(db.session.scalars(select(Asset.id).where(Asset.id.in_(wanted)))) \
        if wanted else set()
    if wanted - found:
        raise NotFound(f"No asset {min(wanted - found)} in this workspace.")
    existing: dict[str, dict[int, AssetUsage]] = {}
    refs = {str(usage.ref_id) for usage in usages}
    for row in db.session.scalars(select(AssetUsage).where(AssetUsage.consumer == consumer,
                                                           AssetUsage.ref_id.in_(refs))):
        existing.setdefault(row.ref_id, {})[row.asset_id] = row
    for usage in usages:
        ref, uses = str(usage.ref_id), {int(i) for i in usage.asset_ids}
        label = usage.label[:200]
        had = existing.get(ref, {})
        for asset_id, row in had.items():
            if asset_id not in uses:
                db.session.delete(row)
            else:
                row.label, row.href = label, usage.href
        for asset_id in uses - set(had):
            db.session.add(AssetUsage(asset_id=asset_id, consumer=consumer, ref_id=ref,
                                      label=label, href=usage.href))


def usage_counts(asset_ids: Iterable[int]) -> dict[int, int]:
    ids = list(asset_ids)
    if not ids:
        return {}
    rows = db.session.execute(select(AssetUsage.asset_id, func.count())
                              .where(AssetUsage.asset_id.in_(ids))
                              .group_by(AssetUsage.asset_id))
    return {asset_id: count for asset_id, count in rows}


# -- presigned uploads ----------------------------------------------------------------------------

def start_upload(filename: str, content_type: str, size: int,
                 asset_id: int | None = None) -> tuple[AssetUpload, Any]:
    """Hand out a URL to PUT one file to, straight into storage. The quota is checked now,
    on the size the client announces, and again on confirm, on what arrived."""
    permissions.require("assets.edit")
    if asset_id is not None:
        previous = get_asset(asset_id).bytes
        check_quota(size - previous, 0)
    else:
        check_quota(size, 1)
    if size > current_app.config["ASSETS_MAX_FILE_BYTES"]:
        raise InvalidFile(f"The file is {file_size(size)}; at most "
                          f"{file_size(current_app.config['ASSETS_MAX_FILE_BYTES'])}.")
    upload_id = secrets.token_urlsafe(24)
    expires_in = current_app.config["ASSETS_UPLOAD_EXPIRES_SECONDS"]
    row = AssetUpload(id=upload_id, key=f"{UPLOAD_PREFIX}/{current_workspace_id()}/{upload_id}",
                      filename=filename[:200], content_type=content_type, bytes=size,
                      asset_id=asset_id, created_by_id=_actor_id(),
                      expires_at=datetime.now(UTC) + timedelta(seconds=expires_in))
    presigned = storage().presigned_put(row.key, content_type, size, expires_in)
    db.session.add(row)
    db.session.commit()
    return row, presigned


def confirm_upload(upload_id: str, *, name: str | None = None,
                   tags: Iterable[str] | None = None) -> tuple[Asset, bool]:
    """Take in a file PUT to a presigned URL: check its size before reading it, then the same
    checks and cleaning as any upload. Returns the asset and whether it replaced one."""
    permissions.require("assets.edit")
    row = get_or_404(AssetUpload, upload_id, "No such upload in this workspace (it may "
                                             "have expired); start a new one.")
    backend = storage()
    size = backend.size(row.key)
    if size is None:
        raise ServiceError("Nothing was uploaded yet: PUT the file to the upload URL first.",
                           status=409, code="conflict")
    try:
        if size > row.bytes:
            raise InvalidFile(f"{size:,} bytes arrived but {row.bytes:,} were announced; "
                              "start a new upload with the right size.")
        data = backend.get(row.key)
        if row.asset_id is not None:
            return replace(row.asset_id, data), True
        return upload(data, row.filename, name=name, tags=tags), False
    finally:
        _discard_upload(upload_id)


def _discard_upload(upload_id: str) -> None:
    db.session.rollback()
    row = db.session.get(AssetUpload, upload_id)
    if row is not None:
        storage().delete(row.key)
        db.session.delete(row)
        db.session.commit()


def purge_expired_uploads() -> int:
    """Remove presigned uploads nobody confirmed in time, across workspaces."""
    now = datetime.now(UTC)
    with unscoped():
        expired = list(db.session.scalars(select(AssetUpload)
                                          .where(AssetUpload.expires_at < now)))
        for row in expired:
            storage().delete(row.key)
        db.session.execute(delete(AssetUpload).where(AssetUpload.id.in_(
            [row.id for row in expired])))
        db.session.commit()
    return len(expired)


# -- thumbnails -----------------------------------------------------------------------------------

def thumbnail_sizes() -> list[int]:
    setting = current_app.config["ASSETS_THUMBNAIL_SIZES"]
    values = setting.split(",") if isinstance(setting, str) else setting
    return sorted({int(value) for value in values})


def make_thumbnails(asset_id: int, key: str, progress=lambda done, total, message: None
                    ) -> dict[str, str]:
    """Make the WebP thumbnails of the file ``key`` of an asset and record each as soon as it
    exists (pages show it at once). A file replaced meanwhile is left to its own job."""
    sizes = thumbnail_sizes()
    asset = db.session.get(Asset, asset_id)
    if asset is None or asset.key != key:
        return {}
    fmt, namespace = asset.format, str(asset.workspace_id)
    db.session.rollback()  # no transaction held open while decoding
    made: dict[str, str] = {}
    progress(0, len(sizes), "Decoding")
    with storage().local_copy(key) as path:
        for size, webp in thumbnails.make(path, fmt, sizes):
            thumb_key = content_key(webp, "webp", prefix="a/t", namespace=namespace)
            storage().put(thumb_key, webp, content_type="image/webp", immutable=True)
            made[str(size)] = thumb_key
            asset = db.session.get(Asset, asset_id)
            if asset is None or asset.key != key:
                return made
            asset.thumbnails = dict(made)
            db.session.commit()
            progress(len(made), len(sizes), f"{size} px")
    return made
