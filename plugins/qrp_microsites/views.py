"""The microsites pages (HTMX): the list, a new page from a starter, and the builder: blocks
added, edited in place, dragged (or moved with buttons), duplicated, hidden, deleted, the last
change undone, beside a phone-sized preview of the draft; the look, the settings, publishing,
the history with restore, and the leads.

Every change goes through ``services`` (block actions through ``editing``, one
``update_microsite`` each), as the API's do. One URL answers the page or, for htmx, the
fragment it swaps; a refused change shows its messages beside the fields (422).
"""

from __future__ import annotations

import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import login_required
from markupsafe import Markup

from qrp_microsites import blockforms, editing, services, serving, starters, stats, themes
from qrp_microsites import blocks as block_registry
from qrp_microsites.fields import clean_html, plain_text
from qrp_microsites.forms import NewMicrositeForm, SettingsForm, ThemeForm
from qrplatform import csvfiles, hosts, permissions, quotas
from qrplatform.errors import NotFound, ServiceError
from qrplatform.inputs import page_number
from qrplatform.registry import registry
from qrplatform.web import act, form_error, is_htmx, render, submit

bp = Blueprint("microsites", __name__, url_prefix="/microsites", template_folder="templates",
               static_folder="static", static_url_path="/static")

BLOCK_ID = re.compile(r"^[A-Za-z0-9_-]{1,24}$")
CHANGED = "microsites:changed"   # the event that reloads the preview


# -- the list and a new page -------------------------------------------------------------------

@bp.get("/")
@login_required
def index():
    permissions.require("microsites.view")
    q = request.args.get("q", "")[:200]
    page = page_number(request.args.get("page"))
    sites, total = services.list_microsites(q=q, page=page)
    return render("microsites/index.html", "microsites/_list.html", sites=sites, total=total,
                  q=q, page=page, pages=max(1, -(-total // services.PER_PAGE)),
                  public_url=services.public_url)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    permissions.require("microsites.edit")
    form = NewMicrositeForm()
    presets = services.list_theme_presets()
    form.theme_preset.choices = [("", "The template's own look"),
                                 *((str(p.id), p.name) for p in presets)]
    if not form.is_submitted() and request.args.get("starter") in starters.STARTERS:
        form.starter.data = request.args["starter"]

    def create():
        chosen = starters.starter(form.starter.data) or starters.starter(None)
        look = {"theme_preset_id": form.theme_preset.data} if form.theme_preset.data else {}
        return services.create_microsite({"name": form.name.data, **chosen.content(), **look})

    if done := submit(form, create, success=lambda site: f"“{site.name}” is ready to edit.",
                      then=lambda site: url_for(".editor", microsite_id=site.id)):
        return done
    return render("microsites/builder/new.html", form=form, starters=starters.STARTERS,
                  status=422 if form.errors else 200)


# -- the editor --------------------------------------------------------------------------------

def _site(microsite_id: int):
    return services.get_microsite(microsite_id)


def _summary(kind: block_registry.Block | None, block: dict[str, Any]) -> str:
    """A line saying what a block holds (its first text), for the list."""
    if kind is None:
        return "This block's type is not available (its plugin is off); it is not shown."
    for spec in blockforms.form_fields(kind):
        value = block.get(spec.name)
        if spec.kind == "list" and value:
            return f"{len(value)} {spec.label.lower()}"
        if isinstance(value, str) and value.strip() and spec.kind in (
                "text", "textarea", "richtext", "url", "email", "tel"):
            text = plain_text(value) if spec.kind == "richtext" else value
            return text if len(text) <= 90 else text[:89] + "…"
    return kind.description or kind.label


def _rows(site) -> list[dict[str, Any]]:
    types = block_registry.block_types()
    return [{"block": block, "kind": types.get(block.get("type")),
             "summary": _summary(types.get(block.get("type")), block)}
            for block in site.blocks or []]


def _undo_state(site) -> dict[str, Any]:
    """Whether there is a change to undo, and whether the last change was an undo (the
    button then says Redo)."""
    marks = session.get("microsites_undo") or {}
    newest = _newest_draft(site.id)
    return {"available": editing.undo_target(site.id) is not None,
            "redo": newest is not None and marks.get(str(site.id)) == newest}


def _newest_draft(microsite_id: int) -> int | None:
    return next((v.number for v in services.list_versions(microsite_id)
                 if v.kind == "draft"), None)


def _context(site, **extra) -> dict[str, Any]:
    return {"site": site, "rows": _rows(site), "block_types": block_registry.block_types(),
            "public_url": services.public_url(site), "undo": _undo_state(site),
            "can_edit": permissions.can("microsites.edit"),
            "preview_src": url_for(".preview", microsite_id=site.id,
                                   v=_stamp(site)), **extra}


def _stamp(site) -> str:
    stamp = site.updated_at or site.created_at
    return stamp.strftime("%Y%m%d%H%M%S%f") if stamp else "0"


def _editor(site, status: int = 200, fragment: str | None = None, **extra):
    return render("microsites/builder/editor.html", fragment, status=status,
                  **_context(site, **extra))


@bp.get("/<int:microsite_id>/")
@login_required
def editor(microsite_id):
    """The builder: the blocks beside the preview (``?editing=<block id>`` opens a block's
    form; ``?adding=<type>`` a new block's)."""
    permissions.require("microsites.view")
    site = _site(microsite_id)
    editing_id = request.args.get("editing", "")
    adding = request.args.get("adding", "")
    extra: dict[str, Any] = {}
    if editing_id and BLOCK_ID.match(editing_id) and permissions.can("microsites.edit"):
        block = editing.find(site, editing_id)
        extra["form"] = _block_form(site, block_registry.block_type(block["type"]), block,
                                    block_id=editing_id)
    elif adding and permissions.can("microsites.edit"):
        kind = block_registry.block_type(adding)
        if kind is None:
            raise NotFound("No such block type.")
        extra["form"] = _block_form(site, kind, dict(kind.defaults))
    return _editor(site, fragment="microsites/builder/_blocks.html", **extra)


def _asset_choices(kinds: tuple[str, ...]) -> list[tuple[str, str]] | None:
    """The media library's files of these kinds, for a pick; None without the library."""
    if not registry().enabled("assets") or not permissions.can("assets.view"):
        return None
    from qrp_assets import services as assets

    found, _total = assets.list_assets(per_page=200)
    return [(str(a.id), a.name) for a in found if a.kind in kinds]


def _block_form(site, kind, data: dict[str, Any], *, block_id: str | None = None,
                errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """What _block_form.html draws: the type, its fields with the values and messages."""
    if kind is None:
        raise NotFound("This block's type is not available.")
    specs = blockforms.form_fields(kind)
    errors = errors or {}
    data = {**data, **{s.name: clean_html(data[s.name]) for s in specs
                       if s.kind == "richtext" and isinstance(data.get(s.name), str)}}
    labels = blockforms.input_labels(specs, data)
    summary = [(name.replace(".", "-") if name in labels and not _is_row(name) else None,
                f"{labels[name]}: {message}" if name in labels else message)
               for name, messages in errors.items() for message in messages]
    assets = {spec_kinds: _asset_choices(spec_kinds)
              for spec_kinds in _asset_kinds(specs)}
    if block_id is None:
        action = url_for(".add_block", microsite_id=site.id)
    else:
        action = url_for(".change_block", microsite_id=site.id, block_id=block_id)
    return {"kind": kind, "specs": specs, "data": data, "errors": errors, "summary": summary,
            "block_id": block_id, "action": action, "assets": assets,
            "cancel": url_for(".editor", microsite_id=site.id),
            "rows_url": url_for(".block_form_rows", microsite_id=site.id)}


def _is_row(name: str) -> bool:
    return name.rsplit(".", 1)[-1].isdigit()


def _asset_kinds(specs) -> set[tuple[str, ...]]:
    found = set()
    for spec in specs:
        if spec.kind == "asset":
            found.add(spec.asset_kinds)
        found |= _asset_kinds(spec.items)
    return found


def _changed(site, message: str, *, focus: str | None = None):
    """After a block action: the list (and the toolbar) again, a line for screen readers,
    the preview told to reload; without htmx, back to the editor."""
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for(".editor", microsite_id=site.id))
    response = _editor(site, fragment="microsites/builder/_blocks.html", announce=message,
                       focus=focus, oob=True)
    response.headers["HX-Trigger"] = CHANGED
    response.headers["HX-Retarget"] = "#ms-blocks-panel"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


def _refused(site, error: ServiceError):
    """A block action the service refused (no form to show it beside): said above the list."""
    if error.status in (401, 403, 404):
        raise error
    if not is_htmx():
        flash(error.for_page, "error")
        return redirect(url_for(".editor", microsite_id=site.id))
    response = _editor(site, fragment="microsites/builder/_blocks.html",
                       problem=error.for_page, status=error.status, oob=True)
    response.headers["HX-Retarget"] = "#ms-blocks-panel"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


def _form_refused(site, kind, data, error: ServiceError, *, block_id: str | None,
                  position: int):
    """A block form the service refused: the form again, each message beside its input."""
    if error.status in (401, 403, 404):
        raise error
    errors = blockforms.field_errors(error.fields, position)
    if not errors:
        errors = {blockforms.PREFIX: [error.message]}
    form = _block_form(site, kind, data, block_id=block_id, errors=errors)
    return _editor(site, status=422, fragment="microsites/builder/_block_form.html", form=form)


def _posted_kind():
    kind = block_registry.block_type(request.form.get("type", ""))
    if kind is None:
        raise NotFound("No such block type.")
    return kind


@bp.post("/<int:microsite_id>/blocks")
@login_required
def add_block(microsite_id):
    permissions.require("microsites.edit")
    site = _site(microsite_id)
    kind = _posted_kind()
    raw = blockforms.read_form(kind, request.form)
    before = {b["id"] for b in site.blocks or []}
    try:
        site = editing.add_block(site, raw)
    except ServiceError as error:
        return _form_refused(site, kind, raw, error, block_id=None,
                             position=len(site.blocks or []))
    added = next((b["id"] for b in site.blocks if b["id"] not in before), None)
    return _changed(site, f"Added “{kind.label}” at the end of the page.", focus=added)


@bp.post("/<int:microsite_id>/blocks/form")
@login_required
def block_form_rows(microsite_id):
    """A block form with a row added to or removed from one of its lists (not saved yet)."""
    permissions.require("microsites.edit")
    site = _site(microsite_id)
    kind = _posted_kind()
    data = blockforms.change_rows(kind, blockforms.read_form(kind, request.form),
                                  request.form.get("_rows", ""))
    block_id = request.form.get("block_id") or None
    if block_id is not None:
        editing.find(site, block_id)
    form = _block_form(site, kind, data, block_id=block_id)
    return _editor(site, fragment="microsites/builder/_block_form.html", form=form)


@bp.post("/<int:microsite_id>/blocks/<block_id>")
@login_required
def change_block(microsite_id, block_id):
    permissions.require("microsites.edit")
    site = _site(microsite_id)
    block = editing.find(site, block_id)
    kind = block_registry.block_type(block["type"])
    if kind is None:
        raise NotFound("This block's type is not available.")
    raw = blockforms.read_form(kind, request.form)
    try:
        site = editing.change_block(site, block_id, raw)
    except ServiceError as error:
        return _form_refused(site, kind, raw, error, block_id=block_id,
                             position=editing.position(site, block_id))
    return _changed(site, f"Saved “{kind.label}”.", focus=block_id)


def _block_action(microsite_id, block_id, action, message):
    permissions.require("microsites.edit")
    site = _site(microsite_id)
    block = editing.find(site, block_id)
    kind = block_registry.block_type(block["type"])
    label = kind.label if kind else block["type"]
    try:
        result = action(site, block)
    except ServiceError as error:
        return _refused(site, error)
    site, focus = result if isinstance(result, tuple) else (result, block_id)
    return _changed(site, message(site, label), focus=focus)


def _where(site, block_id: str) -> str:
    return f"position {editing.position(site, block_id) + 1} of {len(site.blocks)}"


@bp.post("/<int:microsite_id>/blocks/<block_id>/move")
@login_required
def move_block(microsite_id, block_id):
    offset = -1 if request.form.get("direction") == "up" else 1
    return _block_action(
        microsite_id, block_id, lambda site, _b: editing.move_block(site, block_id, offset),
        lambda site, label: f"Moved “{label}” to {_where(site, block_id)}.")


@bp.post("/<int:microsite_id>/blocks/order")
@login_required
def reorder_blocks(microsite_id):
    """The order after a drag: every block id, in the new order."""
    permissions.require("microsites.edit")
    site = _site(microsite_id)
    order = [i for i in request.form.getlist("order")[:services.MAX_BLOCKS + 1]
             if BLOCK_ID.match(i)]
    moved = request.form.get("moved", "")
    try:
        site = editing.reorder_blocks(site, order)
    except ServiceError as error:
        return _refused(site, error)
    if moved and BLOCK_ID.match(moved) and any(b["id"] == moved for b in site.blocks):
        kind = block_registry.block_type(editing.find(site, moved)["type"])
        message = f"Moved “{kind.label if kind else 'block'}” to {_where(site, moved)}."
    else:
        message = "Saved the new order."
    return _changed(site, message, focus=moved or None)


@bp.post("/<int:microsite_id>/blocks/<block_id>/duplicate")
@login_required
def duplicate_block(microsite_id, block_id):
    def action(site, _block):
        site = editing.duplicate_block(site, block_id)
        return site, site.blocks[editing.position(site, block_id) + 1]["id"]

    return _block_action(microsite_id, block_id, action,
                         lambda site, label: f"Duplicated “{label}”; the copy is below it.")


@bp.post("/<int:microsite_id>/blocks/<block_id>/hide")
@login_required
def hide_block(microsite_id, block_id):
    return _block_action(
        microsite_id, block_id, lambda site, _b: editing.toggle_hidden(site, block_id),
        lambda site, label: (f"Hid “{label}”: it stays here but is not published."
                             if editing.find(site, block_id).get("hidden")
                             else f"“{label}” is shown again."))


@bp.post("/<int:microsite_id>/blocks/<block_id>/delete")
@login_required
def delete_block(microsite_id, block_id):
    def action(site, _block):
        index = editing.position(site, block_id)
        site = editing.delete_block(site, block_id)
        neighbour = site.blocks[min(index, len(site.blocks) - 1)]["id"] if site.blocks else None
        return site, neighbour

    return _block_action(microsite_id, block_id, action,
                         lambda site, label: f"Deleted “{label}”. Undo brings it back.")


@bp.post("/<int:microsite_id>/undo")
@login_required
def undo(microsite_id):
    """Undo the last change (pressed again right after, it brings the change back)."""
    permissions.require("microsites.edit")
    site = _site(microsite_id)
    redoing = _undo_state(site)["redo"]
    try:
        restored = editing.undo(site)
    except ServiceError as error:
        return _refused(site, error)
    if restored is None:
        return _changed(site, "There is no change to undo.")
    marks = dict(session.get("microsites_undo") or {})
    if redoing:
        marks.pop(str(site.id), None)
    else:
        marks[str(site.id)] = _newest_draft(site.id)
    session["microsites_undo"] = marks
    return _changed(restored, "Redone: the change is back." if redoing
                    else "Undone: the page is as it was before the last change.")


# -- the preview -------------------------------------------------------------------------------

def _preview_headers(response: Response) -> Response:
    """The published page's own policy (our scripts and styles only, players after a click),
    except that the builder may frame it; never cached, never indexed."""
    policy = serving.content_security_policy(current_app)
    response.headers["Content-Security-Policy"] = policy.replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'")
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/<int:microsite_id>/preview")
@login_required
def preview(microsite_id):
    """The draft as a visitor will see it once published (inside the builder's frame)."""
    permissions.require("microsites.view")
    site = _site(microsite_id)
    css = url_for(".preview_css", microsite_id=site.id, v=_stamp(site))
    rendered = services.render_preview(site, css_href=css)
    return _preview_headers(make_response(rendered.html))


@bp.get("/<int:microsite_id>/preview.css")
@login_required
def preview_css(microsite_id):
    permissions.require("microsites.view")
    site = _site(microsite_id)
    rendered = services.render_preview(site)
    return _preview_headers(Response(rendered.css, mimetype="text/css"))


# -- the look ----------------------------------------------------------------------------------

def custom_css_allowed() -> bool:
    limit = quotas.limit(services.CUSTOM_CSS_QUOTA)
    return limit is None or limit >= 1


def _theme_form(site) -> ThemeForm:
    form = ThemeForm()
    pictures = _asset_choices(("image", "svg")) or []
    form.background_asset_id.choices = [("", "None"), *pictures]
    if not form.is_submitted():
        _fill_theme_form(site, form)
    return form


def _fill_theme_form(site, form: ThemeForm) -> None:
    values = themes.resolved(site.theme)
    form.theme.data = values["name"]
    for name in ThemeForm.COLORS:
        getattr(form, name).data = values[name]
    form.font.data = values["font"]
    form.button_shape.data = values["button_shape"]
    form.background_asset_id.data = str(values.get("background_asset_id") or "")
    form.custom_css.data = site.custom_css or ""


def _theme_data(site, form: ThemeForm) -> dict[str, Any]:
    """The theme to save: a new theme starts from its own values; otherwise what differs
    from the theme's (so the page follows the theme where the owner changed nothing)."""
    name = form.theme.data if form.theme.data in themes.THEMES else themes.DEFAULT_THEME
    theme: dict[str, Any] = {"name": name}
    background = form.background_asset_id.data
    if background:
        theme["background_asset_id"] = int(background) if background.isdigit() else background
    if name != themes.resolved(site.theme)["name"]:
        return {"theme": theme}
    base = themes.THEMES[name]
    for key in (*ThemeForm.COLORS, "font", "button_shape"):
        value = (getattr(form, key).data or "").strip()
        if value and value.lower() != str(base.get(key, "")).lower():
            theme[key] = value
    data: dict[str, Any] = {"theme": theme}
    if custom_css_allowed() or (form.custom_css.data or "") != (site.custom_css or ""):
        data["custom_css"] = form.custom_css.data or ""
    return data


def _show_on(form, prefixes: dict[str, str]):
    """``web.submit``'s way of putting the service's messages (``theme.accent``) beside the
    form's fields (``accent``)."""
    def show(form, error: ServiceError) -> None:
        placed = False
        for name, messages in (error.fields or {}).items():
            target = prefixes.get(name, name.split(".", 1)[-1] if "." in name else name)
            field = form._fields.get(target)
            if field is None:
                continue
            flat: dict[str, list[str]] = {}
            blockforms._flatten(messages, "x", flat)
            field.errors = [*field.errors, *[m for ms in flat.values() for m in ms]]
            placed = True
        if not placed:
            form_error(form, error)
    return show


def _look_page(site, form, status=200, **presets_form):
    return render("microsites/builder/look.html", "microsites/builder/_look_form.html",
                  form=form, css_allowed=custom_css_allowed(), themes=themes.THEMES,
                  presets=services.list_theme_presets(), resolve_theme=themes.resolved,
                  status=status, **presets_form, **_context(site))


@bp.post("/<int:microsite_id>/presets")
@login_required
def save_preset(microsite_id):
    """Save the page's look as a workspace preset; a refused name shows beside the field."""
    site = _site(microsite_id)
    name = request.form.get("name", "")
    try:
        preset = services.create_theme_preset({"name": name, "microsite_id": site.id})
    except ServiceError as error:
        if error.status in (401, 403, 404):
            raise
        return _look_page(site, _theme_form_of(site), status=422, preset_name=name,
                          preset_error=error.message)
    flash(f"Saved the look as “{preset.name}”.", "success")
    return redirect(url_for(".look", microsite_id=site.id))


@bp.post("/<int:microsite_id>/presets/<int:preset_id>/apply")
@login_required
def apply_preset(microsite_id, preset_id):
    return act(lambda: services.update_microsite(microsite_id, {"theme_preset_id": preset_id}),
               success="The page took the preset's look; publish to show it to visitors.",
               then=url_for(".look", microsite_id=microsite_id))


@bp.post("/<int:microsite_id>/presets/<int:preset_id>/delete")
@login_required
def delete_preset(microsite_id, preset_id):
    return act(lambda: services.delete_theme_preset(preset_id), success="Deleted the preset.",
               then=url_for(".look", microsite_id=microsite_id))


@bp.route("/<int:microsite_id>/look", methods=["GET", "POST"])
@login_required
def look(microsite_id):
    """The page's look. With htmx each change is saved as it is made (the form answers
    itself, the preview reloads); without, the Save button posts the form."""
    permissions.require("microsites.view")
    site = _site(microsite_id)
    form = _theme_form(site)
    if form.is_submitted():
        permissions.require("microsites.edit")
    show = _show_on(form, {"theme": "theme", "theme.name": "theme",
                           "theme.background_asset_id": "background_asset_id"})

    def save():
        return services.update_microsite(site.id, _theme_data(site, form))

    if is_htmx() and form.is_submitted():
        if done := submit(form, save, success=None, then=lambda saved: saved, show=show):
            response = _look_page(done, _theme_form_of(done))
            response.headers["HX-Trigger"] = CHANGED
            return response
        return _look_page(site, form, status=422)
    if done := submit(form, save, success="Saved the look.",
                      then=url_for(".look", microsite_id=site.id), show=show):
        return done
    return _look_page(site, form, status=422 if form.errors else 200)


def _theme_form_of(site) -> ThemeForm:
    """The look form as saved (a new theme shows its own colours), not as posted."""
    form = ThemeForm(formdata=None)
    form.background_asset_id.choices = [("", "None"), *(_asset_choices(("image", "svg")) or [])]
    _fill_theme_form(site, form)
    return form


# -- settings, publishing, history, leads ------------------------------------------------------

def _settings_form(site) -> SettingsForm:
    form = SettingsForm()
    form.seo_image.choices = [("", "None"), *(_asset_choices(("image",)) or [])]
    usable = [d.name for d in hosts.link_domains(g.workspace.id)] if g.get("workspace") else []
    if site.domain and site.domain not in usable:
        usable.append(site.domain)
    form.domain.choices = [("", "None (the platform's address)"), *[(d, d) for d in usable]]
    if not form.is_submitted():
        seo = site.seo or {}
        form.name.data, form.slug.data = site.name, site.slug
        form.seo_title.data = seo.get("title", "")
        form.seo_description.data = seo.get("description", "")
        form.seo_image.data = str(seo.get("image_asset_id") or "")
        form.noindex.data = site.noindex
        form.not_found_page.data = site.not_found_page
        form.domain.data = site.domain or ""
    return form


def _settings_data(site, form: SettingsForm) -> dict[str, Any]:
    image = form.seo_image.data or None
    data: dict[str, Any] = {
        "name": form.name.data, "slug": form.slug.data, "noindex": form.noindex.data,
        "not_found_page": form.not_found_page.data,
        "seo": {"title": form.seo_title.data or "", "description": form.seo_description.data
                or "", "image_asset_id": int(image) if image and image.isdigit() else image},
        "domain": form.domain.data or None,
    }
    if form.remove_password.data:
        data["password"] = ""
    elif form.password.data:
        data["password"] = form.password.data
    return data


@bp.route("/<int:microsite_id>/settings", methods=["GET", "POST"])
@login_required
def settings(microsite_id):
    permissions.require("microsites.view")
    site = _site(microsite_id)
    form = _settings_form(site)
    if form.is_submitted():
        permissions.require("microsites.edit")
    done = submit(form, lambda: services.update_microsite(site.id, _settings_data(site, form)),
                  success="Saved the settings.",
                  then=url_for(".settings", microsite_id=site.id),
                  show=_show_on(form, {"seo.title": "seo_title",
                                       "seo.description": "seo_description",
                                       "seo.image_asset_id": "seo_image"}))
    if done:
        return done
    return render("microsites/builder/settings.html", form=form,
                  status=422 if form.errors else 200, **_context(site))


@bp.post("/<int:microsite_id>/publish")
@login_required
def publish(microsite_id):
    back = request.form.get("next") if request.form.get("next", "").startswith(
        "/microsites/") else url_for(".editor", microsite_id=microsite_id)
    return act(lambda: services.publish_microsite(microsite_id),
               success=lambda site: Markup("Published: visitors see it at {}.").format(
                   services.public_url(site)), then=back)


@bp.post("/<int:microsite_id>/unpublish")
@login_required
def unpublish(microsite_id):
    return act(lambda: services.unpublish_microsite(microsite_id),
               success="Unpublished: the address answers “not found” until you publish again.",
               then=url_for(".editor", microsite_id=microsite_id))


@bp.post("/<int:microsite_id>/delete")
@login_required
def delete(microsite_id):
    site = _site(microsite_id)
    name = site.name
    return act(lambda: services.delete_microsite(microsite_id),
               success=f"Deleted “{name}”.", then=url_for(".index"))


@bp.get("/<int:microsite_id>/history")
@login_required
def history(microsite_id):
    permissions.require("microsites.view")
    site = _site(microsite_id)
    return render("microsites/builder/history.html", versions=services.list_versions(site.id),
                  **_context(site))


@bp.post("/<int:microsite_id>/versions/<int:version_id>/restore")
@login_required
def restore(microsite_id, version_id):
    return act(lambda: services.restore_version(microsite_id, version_id),
               success="Restored into the draft: publish to show it to visitors.",
               then=url_for(".editor", microsite_id=microsite_id))


STATS_RANGES = (7, 30, 90)


@bp.get("/<int:microsite_id>/stats")
@login_required
def stats_page(microsite_id):
    """Views, visitors and clicks per block (the figures of GET .../{id}/analytics)."""
    permissions.require("microsites.view")
    site = _site(microsite_id)
    days = request.args.get("days", type=int)
    days = days if days in STATS_RANGES else 30
    figures = stats.summary(site.id, days)
    rows = {row["block"].get("id"): row for row in _rows(site)}
    blocks = sorted(({"id": block_id, "clicks": count, "row": rows.get(block_id)}
                     for block_id, count in figures["clicks_by_block"].items()),
                    key=lambda item: -item["clicks"])
    return render("microsites/builder/stats.html", figures=figures, days=days,
                  ranges=STATS_RANGES, blocks=blocks, **_context(site))


@bp.get("/<int:microsite_id>/leads")
@login_required
def leads(microsite_id):
    permissions.require("microsites.leads")
    site = _site(microsite_id)
    page = page_number(request.args.get("page"))
    items, total = services.list_leads(site.id, page=page)
    columns = [(name, label) for name, label in block_registry.LEAD_FIELDS.items()
               if any(name in lead.data for lead in items)]
    return render("microsites/builder/leads.html", leads=items, total=total, page=page,
                  pages=max(1, -(-total // 50)), columns=columns, **_context(site))


@bp.get("/<int:microsite_id>/leads.csv")
@login_required
def leads_csv(microsite_id):
    body = services.leads_csv(microsite_id)
    return csvfiles.download(body, f"microsite-{microsite_id}-leads.csv")
