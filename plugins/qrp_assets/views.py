"""The media library pages (HTMX): the grid with search, filters and drag-and-drop upload, one
asset's page (rename, tag, replace, delete), and the picker other plugins' pages open."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from flask_login import login_required

from qrp_assets import services
from qrp_assets.api import MULTIPART_CAP
from qrp_assets.forms import AssetForm, ReplaceForm, UploadForm
from qrp_assets.models import KINDS
from qrplatform import permissions, quotas
from qrplatform.errors import ServiceError
from qrplatform.inputs import max_body, page_number
from qrplatform.web import act, render, submit

bp = Blueprint("assets", __name__, url_prefix="/assets", template_folder="templates",
               static_folder="static", static_url_path="/static")

KIND_LABELS = {"image": "Images", "svg": "SVG", "pdf": "PDF"}
SORT_LABELS = {"newest": "Newest first", "oldest": "Oldest first", "name": "Name",
               "largest": "Largest first"}
# What the picker offers when asked for pictures (a logo, an image block).
PICTURE_KINDS = ("image", "svg")


def _filters() -> dict:
    args = request.args
    return {"q": args.get("q", "")[:200], "tag": args.get("tag", "")[:50],
            "type": args.get("type") if args.get("type") in KINDS else "",
            "sort": args.get("sort") if args.get("sort") in services.SORTS else "newest"}


@bp.get("/")
@login_required
def index():
    permissions.require("assets.view")
    filters, page = _filters(), page_number(request.args.get("page"))
    assets, total = services.list_assets(q=filters["q"], tag=filters["tag"] or None,
                                         kind=filters["type"] or None, sort=filters["sort"],
                                         page=page)
    return render("assets/index.html", "assets/_library.html", assets=assets, total=total,
                  page=page, pages=max(1, -(-total // services.PER_PAGE)), filters=filters,
                  tags=services.workspace_tags(), kinds=KIND_LABELS, sorts=SORT_LABELS,
                  usage=services.usage(), counts=services.usage_counts(a.id for a in assets),
                  form=UploadForm())


@bp.post("/upload")
@max_body(MULTIPART_CAP)
@login_required
def upload():
    """One file per request (the page sends each dropped file on its own, with its own
    progress bar); answers the new card, or the reason in the one error fragment."""
    permissions.require("assets.edit")
    form = UploadForm()
    if not form.validate_on_submit():
        return render("assets/_upload_error.html", message="Choose a file.", status=422)
    try:
        asset = services.upload(form.file.data.read(), form.file.data.filename)
    except ServiceError as error:
        return render("assets/_upload_error.html", message=error.message, status=error.status)
    return render("assets/_card.html", asset=asset, used=0, status=201)


@bp.get("/<int:asset_id>/card")
@login_required
def card(asset_id: int):
    """A card on its own: polled while the thumbnails are being made."""
    permissions.require("assets.view")
    asset = services.get_asset(asset_id)
    return render("assets/_card.html", asset=asset,
                  used=services.usage_counts([asset.id]).get(asset.id, 0))


@bp.route("/<int:asset_id>", methods=["GET", "POST"])
@login_required
def detail(asset_id: int):
    permissions.require("assets.view")
    asset = services.get_asset(asset_id)
    form = AssetForm(obj=None if request.method == "POST" else asset)
    if request.method == "GET":
        form.tags.data = ", ".join(asset.tags)
    if done := submit(form, lambda: services.update(asset_id, name=form.name.data,
                                                    tags=form.tag_list()),
                      success="Saved.", then=url_for(".detail", asset_id=asset_id)):
        return done
    return _detail_page(asset, form=form, status=422 if form.errors else 200)


def _detail_page(asset, form=None, replace_form=None, status: int = 200):
    return render("assets/detail.html", asset=asset, form=form or AssetForm(obj=asset),
                  replace_form=replace_form or ReplaceForm(), used_by=services.used_by(asset),
                  thumbnail=services.thumbnail_url(asset, 1024), url=services.url(asset),
                  status=status)


@bp.post("/<int:asset_id>/replace")
@max_body(MULTIPART_CAP)
@login_required
def replace(asset_id: int):
    permissions.require("assets.edit")
    asset = services.get_asset(asset_id)
    replace_form = ReplaceForm()
    if done := submit(replace_form,
                      lambda: services.replace(asset_id, replace_form.file.data.read()),
                      success="Replaced: everything using this asset now shows the new file.",
                      then=url_for(".detail", asset_id=asset_id)):
        return done
    form = AssetForm(obj=asset)
    form.tags.data = ", ".join(asset.tags)
    return _detail_page(asset, form=form, replace_form=replace_form, status=422)


@bp.post("/<int:asset_id>/delete")
@login_required
def delete(asset_id: int):
    """Deleted: back to the library; refused (in use): back to the asset, which lists its
    users."""
    return act(lambda: services.delete_asset(asset_id),
               success=lambda name: f"Deleted “{name}”.",
               then=lambda name: url_for(".index") if name
               else url_for(".detail", asset_id=asset_id))


@bp.get("/picker")
@login_required
def picker():
    """A small library to pick from, for another plugin's page (a QR code's logo): picking
    fires the ``assets:picked`` event in the page with the asset's id, name and preview."""
    permissions.require("assets.view")
    query = request.args.get("q", "")[:200]
    assets, total = services.list_assets(q=query, kind=None, per_page=60)
    pictures = [a for a in assets if a.kind in PICTURE_KINDS]
    return render("assets/_picker.html", "assets/_picker.html", assets=pictures, q=query,
                  total=total, form=UploadForm())


def preview_url(asset) -> str:
    """What a small preview shows: a thumbnail once made, else the file itself (pictures)."""
    return services.thumbnail_url(asset, 128) or services.url(asset)


@bp.context_processor
def _helpers() -> dict:
    return {"preview_url": preview_url, "thumbnail_url": services.thumbnail_url,
            "quota_amount": quotas.format_amount}
