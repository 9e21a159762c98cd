"""The QR code pages (HTMX): list, create and edit with a live preview, detail and downloads,
duplicate, archive, design templates, bulk upload with a progress bar."""

from __future__ import annotations

import base64
from datetime import UTC

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from marshmallow import ValidationError

from qrp_qr import bulk as bulk_codes
from qrp_qr import payloads, ruleform, rules, services, smartlinks
from qrp_qr.forms import BulkForm, DesignFields, LogoForm, QRCodeForm, TemplateForm
from qrp_qr.models import KINDS, TYPES
from qrp_qr.render import FORMATS, MIME_TYPES, print_ranges
from qrp_qr.schemas import ImageArgs
from qrplatform import csvfiles, onboarding, permissions, urls
from qrplatform.errors import ServiceError
from qrplatform.inputs import UPLOAD_OVERHEAD, max_body, page_number
from qrplatform.jobs.api import get_job
from qrplatform.web import act, go_to, is_htmx, render, submit

bp = Blueprint("qr", __name__, url_prefix="/qr", template_folder="templates",
               static_folder="static", static_url_path="/static")

# How each content field is drawn: input type, or "textarea", "select:<choices>", "checkbox".
FIELD_INPUTS = {
    "url": "url", "website": "url", "email": "email", "start": "datetime-local",
    "end": "datetime-local", "latitude": "number", "longitude": "number", "text": "textarea",
    "body": "textarea", "description": "textarea", "note": "textarea", "message": "textarea",
    "hidden": "checkbox", "security": "select", "phone": "tel", "mobile": "tel",
}
FIELD_LABELS = {"url": "Web address", "ssid": "Network name (SSID)", "security": "Security",
                "hidden": "Hidden network", "organization": "Organisation",
                "postcode": "Postcode", "start": "Starts (UTC)", "end": "Ends (UTC)"}
SECURITY_CHOICES = [("WPA", "WPA/WPA2/WPA3"), ("WEP", "WEP"), ("nopass", "Open (no password)")]


def content_fields() -> dict[str, list[dict]]:
    """Each type's fields as the editor draws them; a plugin-added type's field with options
    (the workspace's microsites) is a select of them."""
    fields = {}
    for qr_type in payloads.all_types():
        declared = payloads.schema_class(qr_type)._declared_fields
        added = payloads.link_type(qr_type)
        fields[qr_type] = []
        for name in declared:
            options = added.options(name) if added and added.options else None
            label = declared[name].metadata.get("label") or FIELD_LABELS.get(
                name, name.replace("_", " ").capitalize())
            fields[qr_type].append({
                "name": name, "label": label, "required": declared[name].required,
                "input": "select" if options is not None else FIELD_INPUTS.get(name, "text"),
                "options": SECURITY_CHOICES if name == "security" else options or []})
    return fields


def _content_from_request(qr_type: str) -> dict:
    content = {}
    for field in payloads.type_fields(qr_type):
        key = f"content-{qr_type}-{field}"
        if FIELD_INPUTS.get(field) == "checkbox":
            content[field] = key in request.form
        else:
            content[field] = request.form.get(key, "")
    return content


def _content_values(code) -> dict:
    """Stored content → form values (datetimes in the datetime-local format)."""
    values = dict(code.content)
    if code.type == "event":
        for name in ("start", "end"):
            if values.get(name):
                values[name] = values[name][:16]
    return values


def _template_choices(form) -> None:
    form.design_template.choices = [(0, "—")] + [(t.id, t.name)
                                                for t in services.list_templates()]
    # Choosing one swaps in the design fields filled from it (``design_fields``): the preview
    # and the saved code then follow it, and it can still be adjusted.
    form.design_template.render_kw = {
        "hx-get": url_for("qr.design_fields"), "hx-trigger": "change",
        "hx-target": "#qr-form .qr-design", "hx-swap": "outerHTML"}


def _domain_choices(form, code=None) -> None:
    """The platform's short links, then each custom domain the workspace may use (a code's
    current domain stays listed, even when it takes no new links)."""
    platform = current_app.config["SHORT_LINK_BASE_URL"].split("://", 1)[-1]
    usable = services.usable_domains()
    choices = [("", f"{platform} (the platform's)")]
    choices += [(name, domain.label) for name, domain in usable.items()]
    if code is not None and code.domain and code.domain not in usable:
        choices.append((code.domain, f"{code.domain} (takes no new links)"))
    form.domain.choices = choices


def _code_data(form: QRCodeForm, *, creating: bool) -> dict:
    qr_type = form.type.data
    expires = form.expires_at.data
    data = {
        "name": form.name.data, "type": qr_type, "content": _content_from_request(qr_type),
        "design": form.design(), "tags": [t for t in (form.tags.data or "").split(",")],
        "redirect_status": form.redirect_status.data,
        "expires_at": expires.replace(tzinfo=UTC) if expires else None,
        "scan_cap": form.scan_cap.data, "paused": form.paused.data,
        "domain": form.domain.data or None,
        "slug": (form.slug.data or "").strip() or None,
        "app_link": _app_link_data(form),
        "utm": {k: getattr(form, k).data for k in ("utm_source", "utm_medium", "utm_campaign")},
    }
    if creating:
        data["kind"] = form.kind.data
    if (edited_rules := ruleform.from_form(request.form)) is not None:
        data["rules"] = edited_rules or None
    if (edited_variants := ruleform.variants_from_form(request.form)) is not None:
        data["variants"] = edited_variants or None
    if form.remove_password.data:
        data["password"] = ""
    elif form.password.data:
        data["password"] = form.password.data
    return data


def _app_link_data(form: QRCodeForm) -> dict | None:
    """The "open in app" fields as the API's ``app_link`` (None: none)."""
    found = {}
    for os_name in ("ios", "android"):
        spec = {part: value for part in ("app", "store")
                if (value := (getattr(form, f"{os_name}_{part}").data or "").strip())}
        if spec:
            found[os_name] = spec
    return found or None


def _fill_app_link(form: QRCodeForm, app_link: dict | None) -> None:
    for os_name, spec in (app_link or {}).items():
        for part, value in spec.items():
            getattr(form, f"{os_name}_{part}").data = value


def _error_shower(content_errors: dict):
    """``web.submit``'s way of placing a refusal on the code form (content fields apart)."""
    return lambda form, error: _show_error(form, error, content_errors)


def _detail_url(code) -> str:
    return url_for("qr.detail", code_id=code.id)


def _saved_as_template(form, code):
    """Also keep the code's design as a template, when the form asks for it."""
    if form.save_template.data:
        services.save_template(form.save_template.data, code.design)
    return code


def _show_error(form, error: ServiceError, content_errors: dict) -> None:
    """Put each message beside its field: content fields, design fields, or above the form."""
    fields = error.fields or {}
    if not fields:
        form.form_errors.append(error.for_page)
    for name, messages in fields.items():
        base = name.split(".", 1)[-1]
        if name == "design_template_id":
            base = "design_template"      # the form's select of templates
        if name.startswith("app_link."):
            base = base.replace(".", "_")  # app_link.ios.app -> the field ios_app
        if name.startswith(("rules.", "variants.")) and name.split(".")[1].isdigit():
            number = int(name.split(".")[1]) + 1
            what = "Rule" if name.startswith("rules.") else "Variant"
            form.form_errors.extend(f"{what} {number}: {message}" for message in messages)
            continue
        if name.startswith("content.") or name == "content":
            content_errors[base] = messages
            continue
        field = getattr(form, base, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors), *messages]
        else:
            form.form_errors.extend(messages)


def _content_summary(form, fields: dict, content_errors: dict) -> list[tuple[str | None, str]]:
    """The content fields' errors for the summary at the top: (input id, message) each."""
    qr_type = form.type.data
    lines = [(f"content-{qr_type}-{f['name']}",
              f"{f['label']}: {' '.join(content_errors[f['name']])}")
             for f in fields.get(qr_type, []) if content_errors.get(f["name"])]
    if content_errors.get("content"):
        lines.append((None, " ".join(content_errors["content"])))
    return lines


def _rules_editor(code) -> dict:
    """The rules editor's cards (the form's, after a refused save) and what can never match."""
    edited = ruleform.from_form(request.form) if request.method == "POST" else None
    current = edited if edited is not None else (code.rules if code else None) or []
    warnings = {w["rule"]: w["message"] for w in services.edited_rule_warnings(current)}
    split = ruleform.variants_from_form(request.form) if request.method == "POST" else None
    if split is None:
        split = (code.variants if code else None) or []
    return {"cards": ruleform.cards(current), "warnings": warnings,
            "variants": ruleform.variant_rows(split),
            "devices": smartlinks.DEVICES, "oses": smartlinks.OSES,
            "browsers": smartlinks.BROWSERS, "weekdays": smartlinks.WEEKDAYS,
            "labels": smartlinks.LABELS}


def _form_page(form, code=None, content=None, content_errors=None, status=200):
    fields = content_fields()
    return render("qr/form.html", form=form, code=code, fields=fields,
                  content_summary=_content_summary(form, fields, content_errors or {}),
                  static_only=rules.single_kind_types("dynamic"),
                  dynamic_only=rules.single_kind_types("static"),
                  rules_editor=_rules_editor(code),
                  content=content or {}, content_errors=content_errors or {},
                  logo_form=LogoForm(),
                  host_info=urls.host_info, status=status)


# -- list ---------------------------------------------------------------------------------------

STATUSES = ("active", "archived", "all")


def _list_filters(args) -> dict:
    """The list's filters from a query string; unknown values fall back to the defaults
    (pages answer, never fail)."""
    folder = args.get("folder", type=int)
    batch = (args.get("batch") or "")[:32]
    return {
        "q": (args.get("q") or "")[:200],
        "type": args.get("type") if args.get("type") in payloads.all_types() else "",
        "kind": args.get("kind") if args.get("kind") in KINDS else "",
        "tag": (args.get("tag") or "")[:50],
        "status": args.get("status") if args.get("status") in STATUSES else "active",
        "folder": folder if folder and folder > 0 else "",
        "batch": batch,
        "broken": "1" if args.get("broken") in ("1", "true", "on") else "",
        "sort": args.get("sort") if args.get("sort") in services.SORTS else "newest",
    }


@bp.get("/")
@login_required
def index():
    permissions.require("qr.view")
    filters = _list_filters(request.args)
    page = page_number(request.args.get("page"))
    codes, total = services.list_codes(
        q=filters["q"], qr_type=filters["type"] or None, kind=filters["kind"] or None,
        tag=filters["tag"] or None, status=filters["status"],
        folder_id=filters["folder"] or None, batch=filters["batch"] or None,
        broken=bool(filters["broken"]), sort=filters["sort"], page=page,
        per_page=services.PER_PAGE)
    pages = max(1, -(-total // services.PER_PAGE))
    folders = services.list_folders()
    # None when no plugin counts scans: no column then (never a made-up zero).
    counts = services.scan_counts([code.id for code in codes])
    # The query string of this view of the list (defaults left out), for sort and page links.
    query = {name: value for name, value in filters.items()
             if value and value != {"status": "active", "sort": "newest"}.get(name)}
    return render("qr/index.html", "qr/_list.html", codes=codes, total=total, page=page,
                  pages=pages, tags=services.workspace_tags(), types=payloads.type_labels(),
                  filters=filters, query=query, folders=folders,
                  folder_sizes=services.folder_sizes(),
                  folder=next((f for f in folders if f.id == filters["folder"]), None),
                  counts=counts, scan_days=services.SCAN_DAYS,
                  max_selection=services.MAX_SELECTION,
                  short_url=services.short_url, summary=payloads.summary,
                  image_urls=services.image_urls)


def _back_to_list() -> str:
    """Where an action on the list returns: the list as it was (a path under /qr only)."""
    back = request.form.get("back", "")
    if back.startswith("/qr") and not back.startswith("//"):
        return back
    return url_for("qr.index")


@bp.post("/actions")
@login_required
def act_on_codes():
    """The list's actions on the chosen codes (its checkboxes)."""
    permissions.require("qr.edit")
    action = request.form.get("action", "")
    folder = request.form.get("folder_id", "")
    try:
        done = services.act_on_codes(
            action, request.form.getlist("ids", type=int), tag=request.form.get("tag"),
            folder_id=int(folder) if folder.isdigit() else None)
    except ServiceError as error:
        if error.status in (401, 403):
            raise
        problems = [m for ms in (error.fields or {}).values() for m in ms]
        flash(" ".join([error.message, *problems]), "error")
        return redirect(_back_to_list())
    if done.get("job") is not None:
        return redirect(url_for("qr.bulk_job", job_id=done["job"].id))
    flash(_acted_message(action, done["count"]), "success" if done["count"] else "info")
    return redirect(_back_to_list())


def _acted_message(action: str, count: int) -> str:
    if not count:
        return "Nothing to change: the chosen codes were like that already."
    codes = f"{count:,} code{'' if count == 1 else 's'}"
    return {"tag": f"Tagged {codes}.", "untag": f"Took the tag off {codes}.",
            "move": f"Moved {codes}.", "archive": f"Archived {codes}; their links no longer "
            "redirect.", "restore": f"Restored {codes}."}.get(action, "Done.")


@bp.post("/folders")
@login_required
def create_folder():
    permissions.require("qr.edit")
    try:
        folder = services.create_folder(request.form.get("name", ""))
    except ServiceError as error:
        if error.status in (401, 403):
            raise
        flash(" ".join([error.message, *[m for ms in error.fields.values() for m in ms]]),
              "error")
        return redirect(_back_to_list())
    flash(f"Folder “{folder.name}” created.", "success")
    return redirect(url_for("qr.index", folder=folder.id))


@bp.post("/folders/<int:folder_id>/rename")
@login_required
def rename_folder(folder_id: int):
    permissions.require("qr.edit")
    return act(lambda: services.rename_folder(folder_id, request.form.get("name", "")),
               success=lambda folder: f"Renamed to “{folder.name}”.",
               then=url_for("qr.index", folder=folder_id))


@bp.post("/folders/<int:folder_id>/delete")
@login_required
def delete_folder(folder_id: int):
    permissions.require("qr.edit")
    return act(lambda: services.delete_folder(folder_id),
               success=lambda held: f"Folder deleted; its {held} code(s) are in no folder now.",
               then=url_for("qr.index"))


# -- create and edit ----------------------------------------------------------------------------

@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    permissions.require("qr.edit")
    form = QRCodeForm()
    _template_choices(form)
    _domain_choices(form)
    content_errors: dict = {}
    content = {}
    if request.method == "GET" and request.args.get("template", type=int):
        template = services.get_template(request.args.get("template", type=int))
        form.fill(template.design)
        form.design_template.data = template.id
    if request.method == "GET" and request.args.get("type") in payloads.all_types():
        # A link from elsewhere (a microsite's "QR code" button) opens the editor filled in.
        form.type.data = request.args["type"]
        content = {name: request.args[name][:2000] for name in payloads.type_fields(
            form.type.data) if name in request.args}

    def create():
        data = _code_data(form, creating=True)
        data["design_template_id"] = form.design_template.data or None
        return _saved_as_template(form, services.create_code(data))

    if done := submit(form, create, success=lambda code: f"“{code.name}” is ready."
                      + _grade_warning(code),
                      then=_detail_url, show=_error_shower(content_errors)):
        return done
    if request.method == "POST":
        content = _content_from_request(form.type.data)
    return _form_page(form, content=content, content_errors=content_errors,
                      status=422 if (form.errors or content_errors) else 200)


def _grade_warning(code) -> str:
    """A grade D design is saved, with the warning (an E is refused)."""
    warning = (code.scan_grade or {}).get("warning")
    return f" {warning}" if warning else ""


def _saved_message(saved, previous_domain: str | None) -> str:
    if saved.kind != "dynamic":
        return "Saved."
    if saved.domain != previous_domain:
        still = f" while {previous_domain} points at us" if previous_domain else ""
        return (f"Saved. New prints carry the new short link; codes already printed keep "
                f"working{still}.")
    return "Saved. The printed code still works: its link is the same."


@bp.route("/<int:code_id>/edit", methods=["GET", "POST"])
@login_required
def edit(code_id: int):
    permissions.require("qr.edit")
    code = services.get_code(code_id)
    if not code.archived:
        services.check_editable(code)  # before anyone types into a form that cannot be saved
    form = QRCodeForm(obj=None if request.method == "POST" else code)
    _template_choices(form)
    _domain_choices(form, code)
    content_errors: dict = {}
    if request.method == "GET":
        form.fill(code.design)
        form.kind.data = code.kind
        form.design_template.data = code.design_template_id or 0
        form.domain.data = code.domain or ""
        form.slug.data = code.short_code or ""
        _fill_app_link(form, code.app_link)
        form.tags.data = ", ".join(code.tags)
        form.password.data = ""
        if code.expires_at:
            form.expires_at.data = code.expires_at.astimezone(UTC).replace(tzinfo=None)
        for key in ("utm_source", "utm_medium", "utm_campaign"):
            getattr(form, key).data = (code.utm or {}).get(key, "")

    def change():
        data = _code_data(form, creating=False)
        data["design_template_id"] = form.design_template.data or None
        if data["design_template_id"] == code.design_template_id:
            data.pop("design_template_id")
        return _saved_as_template(form, services.update_code(code.id, data))

    previous_domain = code.domain
    if done := submit(form, change, then=_detail_url, show=_error_shower(content_errors),
                      success=lambda saved: _saved_message(saved, previous_domain)
                      + _grade_warning(saved)):
        return done
    content = (_content_from_request(form.type.data) if request.method == "POST"
               else {code.type: _content_values(code)}.get(form.type.data, {}))
    return _form_page(form, code=code, content=content, content_errors=content_errors,
                      status=422 if (form.errors or content_errors) else 200)


@bp.get("/design-fields")
@login_required
def design_fields():
    """The editor's design fields filled from a saved design (its "Start from a saved
    design"); nothing to swap for none."""
    permissions.require("qr.view")
    template_id = request.args.get("design_template", type=int)
    if not template_id:
        return Response(status=204)
    form = DesignFields(formdata=None)
    form.fill(services.get_template(template_id).design)
    return render_template("qr/_design_fields.html", form=form)


@bp.post("/rules-test")
@login_required
def rules_test():
    """The editor's "test a scan" box: which of the rules being edited a described scan
    matches (the test-scan service, as POST /api/v1/qr-codes/{id}/test-scan), and the rules
    that can never match."""
    permissions.require("qr.view")
    edited = ruleform.from_form(request.form) or []
    code_id = request.form.get("rules-code", type=int)
    result, problems = None, []
    try:
        at = services.local_moment(request.form.get("test-at") or None)
        result = services.test_scan(
            code_id, rules_value=edited, variants_value=ruleform.variants_from_form(request.form),
            destination=None if code_id else request.form.get("content-url-url") or "",
            at=at, **ruleform.test_facts(request.form))
    except ServiceError as error:
        problems = [f"Rule {int(name.split('.')[1]) + 1}: {message}"
                    if name.startswith("rules.") and name.split(".")[1].isdigit()
                    else message
                    for name, messages in (error.fields or {"": [error.message]}).items()
                    for message in messages]
    return render_template("qr/_rules_test.html", result=result, problems=problems,
                           warnings=services.edited_rule_warnings(edited))


@bp.post("/preview")
@login_required
def preview():
    """The live preview: the code as it would be printed, or why it would not scan."""
    permissions.require("qr.view")
    form = QRCodeForm()
    qr_type = form.type.data if form.type.data in payloads.all_types() else "url"
    kind = request.form.get("kind") or form.kind.data or "dynamic"
    note = None
    try:
        png, grade = services.preview(qr_type, kind, _content_from_request(qr_type), form.design(),
                               domain=request.form.get("domain") or None)
    except ServiceError as error:
        fields = error.fields or {}
        if fields and all(name.startswith("content.") for name in fields):
            # Content not filled in yet: show the design on a sample short link meanwhile.
            note = "Sample content: fill in the fields to see your code."
            try:
                png, grade = services.preview("url", "dynamic",
                                              {"url": "https://example.com"}, form.design())
            except ServiceError as design_error:
                error = design_error
            else:
                error = None
        if error is not None:
            return render_template("qr/_preview.html", image=None,
                                   problems=error.field_messages or [error.message])
    grade = grade.as_dict()
    return render_template("qr/_preview.html", problems=[], note=note, grade=grade,
                           guidance=services.print_guidance(grade, **_print_question()),
                           image="data:image/png;base64," + base64.b64encode(png).decode())


def _print_question() -> dict[str, float]:
    """The preview's print questions: a distance (m) and a printed width (cm), when given
    and within range (anything else is ignored: the fields are hints while typing)."""
    asked = {}
    for name, key, scale, low, high in (("print_distance", "distance_mm", 1000, 0.05, 100),
                                        ("print_width", "width_mm", 10, 0.5, 2000)):
        try:
            value = float(request.form.get(name, ""))
        except ValueError:
            continue
        if low <= value <= high:
            asked[key] = value * scale
    return asked


@bp.post("/logo")
@max_body(services.MAX_LOGO_BYTES + UPLOAD_OVERHEAD)
@login_required
def upload_logo():
    permissions.require("qr.edit")
    form = LogoForm()
    key, url, error = None, None, None
    if form.validate_on_submit():
        try:
            key, url = services.upload_logo(form.logo_file.data.read(),
                                            form.logo_file.data.filename or "logo")
        except ServiceError as exc:
            error = " ".join(m for ms in exc.fields.values() for m in ms) or exc.message
    else:
        error = "Choose an image file."
    return render_template("qr/_logo.html", key=key, error=error, url=url)


@bp.get("/export.csv")
@login_required
def export_redirect_map():
    """Every dynamic code's short link and destination, on every plan."""
    permissions.require("qr.view")
    name, rows = services.export_redirect_map()
    return csvfiles.download(rows, name)


# -- one code -----------------------------------------------------------------------------------

@bp.get("/<int:code_id>")
@login_required
def detail(code_id: int):
    permissions.require("qr.view")
    code = services.get_code(code_id)
    return render("qr/detail.html", code=code, short_url=services.short_url(code),
                  image_urls=services.image_urls(code), formats=FORMATS,
                  scans=_scans_summary(code),
                  folder=services.get_folder(code.folder_id) if code.folder_id else None,
                  locked=None if code.archived else services.editing_locked(code),
                  summary=payloads.summary(code.type, code.content),
                  type_label=payloads.type_label(code.type), builtin_types=TYPES,
                  print_ranges=print_ranges())


SUMMARY_DAYS = 30


def _scans_summary(code) -> dict | None:
    """Today, the last 7 days (and the 7 before), the last 30 with their series; None when no
    plugin counts scans."""
    counts = services.scan_counts([code.id], days=SUMMARY_DAYS)
    if counts is None:
        return None
    series = counts.get(code.id, [0] * SUMMARY_DAYS)
    return {"today": series[-1], "week": sum(series[-7:]), "previous_week": sum(series[-14:-7]),
            "total": sum(series), "series": series, "days": SUMMARY_DAYS}


@bp.get("/<int:code_id>/download")
@login_required
def download(code_id: int):
    permissions.require("qr.view")
    code = services.get_code(code_id)
    fmt = request.args.get("format", "png")
    if fmt not in FORMATS:
        abort(404)
    size = request.args.get("size", type=int) or 1024
    try:
        # The API's query parameters, read by the API's own schema.
        args = ImageArgs().load({k: v for k, v in request.args.items()
                                 if k in ("width", "unit", "bleed", "crop_marks")})
    except ValidationError as error:
        flash("Check the print size: " + " ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.messages.items()),
            "error")
        return redirect(url_for("qr.detail", code_id=code.id))
    try:
        paper = services.print_size(fmt, args.get("width"), args["unit"], args.get("bleed"),
                                    args["crop_marks"])
        data = services.image_bytes(code, fmt, size, paper)
    except ServiceError as error:
        flash(error.message + " " + " ".join(m for ms in error.fields.values() for m in ms),
              "error")
        return redirect(url_for("qr.detail", code_id=code.id))
    onboarding.mark_done("qr.download")
    name = payloads.summary("text", {"text": code.name})[:40] or "qr-code"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
    label = f"{paper.width_mm:g}mm" if paper else str(size)
    return Response(data, mimetype=MIME_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{safe}-{label}.{fmt}"',
        "Cache-Control": "private, max-age=3600"})


@bp.post("/<int:code_id>/duplicate")
@login_required
def duplicate(code_id: int):
    permissions.require("qr.edit")
    copy = services.duplicate_code(code_id)
    flash(f"Duplicated as “{copy.name}”.", "success")
    return redirect(url_for("qr.edit", code_id=copy.id))


@bp.post("/<int:code_id>/archive")
@login_required
def archive(code_id: int):
    permissions.require("qr.edit")
    code = services.archive_code(code_id)
    flash(f"“{code.name}” is archived; its link no longer redirects.", "info")
    return redirect(url_for("qr.detail", code_id=code.id))


@bp.post("/<int:code_id>/restore")
@login_required
def restore(code_id: int):
    permissions.require("qr.edit")
    code = services.restore_code(code_id)
    flash(f"“{code.name}” is active again.", "success")
    return redirect(url_for("qr.detail", code_id=code.id))


# -- design templates ---------------------------------------------------------------------------

@bp.route("/designs", methods=["GET", "POST"])
@login_required
def designs():
    permissions.require("qr.view")
    form = TemplateForm()
    if request.method == "POST":
        permissions.require("qr.edit")
    if done := submit(form, lambda: services.save_template(form.name.data, form.design()),
                      success=lambda template: f"Design “{template.name}” saved.",
                      then=url_for("qr.designs"), show=_error_shower({})):
        return done
    return render("qr/designs.html", form=form, templates=services.list_templates(),
                  logo_form=LogoForm(), status=422 if form.errors else 200)


@bp.post("/designs/<int:template_id>/delete")
@login_required
def delete_design(template_id: int):
    permissions.require("qr.edit")
    services.delete_template(template_id)
    flash("Design deleted.", "info")
    return redirect(url_for("qr.designs"))


# -- bulk ---------------------------------------------------------------------------------------

def _bulk_choices() -> tuple[str, str]:
    """The kind and type the bulk form has chosen (defaults for anything else)."""
    kind = request.values.get("kind", "dynamic")
    qr_type = request.values.get("type", "url")
    known = payloads.all_types()
    return (kind if kind in KINDS else "dynamic"), (qr_type if qr_type in known else "url")


def _bulk_check(data: bytes | None, kind: str, qr_type: str) -> dict | None:
    """What the chosen file would make (``bulk.check_bulk``), or why it cannot be read."""
    if not data:
        return None
    try:
        return bulk_codes.check_bulk(data, kind=kind, qr_type=qr_type)
    except ServiceError as error:
        return {"unreadable": error.message,
                "fields": error.field_messages}


def _bulk_context(qr_type: str, check: dict | None = None) -> dict:
    return {"columns": {t: payloads.type_fields(t) for t in payloads.all_types()},
            "type_labels": payloads.type_labels(), "chosen_type": qr_type, "check": check,
            "room": services.room_for_codes()}


@bp.route("/bulk", methods=["GET", "POST"])
@max_body(bulk_codes.MAX_BULK_BYTES + UPLOAD_OVERHEAD)
@login_required
def bulk():
    """The bulk upload form. With JavaScript it is sent by htmx, which swaps in just the form
    when something is refused, so the chosen file stays chosen (app.js)."""
    permissions.require("qr.edit")
    form = BulkForm()
    form.design_template.choices = [(0, "Default")] + [(t.id, t.name)
                                                       for t in services.list_templates()]
    row_errors: list = []
    check = None
    if form.validate_on_submit():
        data = form.file.data.read()
        try:
            job, rows, skipped = bulk_codes.start_bulk(
                data, kind=form.kind.data, qr_type=form.type.data,
                skip_invalid=form.skip_invalid.data,
                design_template_id=form.design_template.data or None,
                filename=form.file.data.filename or "")
        except bulk_codes.BulkRowsInvalid as error:
            row_errors = error.row_errors
            form.form_errors.append(error.for_page)
        except ServiceError as error:
            _show_error(form, error, {})
        else:
            if skipped:
                flash(f"{len(skipped)} bad row(s) skipped; creating {rows:,} codes.", "info")
            return go_to(url_for("qr.bulk_job", job_id=job.id))
        check = _bulk_check(data, form.kind.data, form.type.data)
    refused = bool(form.errors or row_errors or form.form_errors)
    # htmx swaps only 2xx answers: its refusals come as 200, the page's as 422.
    return render("qr/bulk.html", "qr/_bulk_form.html", form=form, row_errors=row_errors,
                  status=422 if refused and not is_htmx() else 200,
                  **_bulk_context(form.type.data or "url", check))


@bp.post("/bulk/check")
@max_body(bulk_codes.MAX_BULK_BYTES + UPLOAD_OVERHEAD)
@login_required
def bulk_check():
    """The bulk form's summary of the chosen file, before it is sent for real: rows, bad
    rows, and whether the plan has room (htmx, on every change of the form)."""
    permissions.require("qr.edit")
    kind, qr_type = _bulk_choices()
    upload = request.files.get("file")
    check = _bulk_check(upload.read() if upload else None, kind, qr_type)
    return render("qr/_bulk_check.html", **_bulk_context(qr_type, check))


@bp.get("/bulk/sample.csv")
@login_required
def bulk_sample():
    """A CSV to start from, for the chosen type (as GET /api/v1/qr-codes/bulk/sample)."""
    permissions.require("qr.view")
    _kind, qr_type = _bulk_choices()
    return csvfiles.download(bulk_codes.sample_csv(qr_type), f"qr-codes-{qr_type}-sample.csv")


@bp.get("/bulk/jobs/<job_id>")
@login_required
def bulk_job(job_id: str):
    permissions.require("qr.view")
    return render("qr/bulk_job.html", "qr/_job_progress.html", job=get_job(job_id),
                  progress_url=url_for("qr.bulk_job", job_id=job_id))

