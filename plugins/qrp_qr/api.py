"""/api/v1/qr-codes and /api/v1/qr-design-templates (flask-smorest, in the OpenAPI document)."""

from __future__ import annotations

from flask import url_for

from qrp_qr import bulk, linkcheck, printsize, services
from qrp_qr.rules import InvalidInput
from qrp_qr.schemas import (
    BulkAcceptedSchema,
    BulkCheckResultSchema,
    BulkCheckSchema,
    BulkSampleArgs,
    BulkUploadSchema,
    CodeActionResultSchema,
    CodeActionSchema,
    DesignTemplatePatchSchema,
    DesignTemplateSchema,
    FolderPatchSchema,
    FolderSchema,
    ImageArgs,
    ImageSchema,
    LogoSchema,
    LogoUploadSchema,
    PrintGuidanceArgs,
    PrintGuidanceSchema,
    QRCodeCreateSchema,
    QRCodeListArgs,
    QRCodePageSchema,
    QRCodeSchema,
    QRCodeUpdateSchema,
    TestScanResultSchema,
    TestScanSchema,
)
from qrplatform import csvfiles, permissions
from qrplatform.api import api_blueprint
from qrplatform.inputs import UPLOAD_OVERHEAD, max_body
from qrplatform.permissions import permission_required

blp = api_blueprint("qr_codes", __name__, "/api/v1/qr-codes",
                    "QR codes: static and dynamic, their design, images and bulk creation")
folders_blp = api_blueprint("qr_folders", __name__, "/api/v1/qr-folders",
                            "Folders of a workspace's QR codes (a code is in one or none)")
templates_blp = api_blueprint("qr_design_templates", __name__, "/api/v1/qr-design-templates",
                              "Reusable QR code designs of a workspace")


def code_view(code) -> dict:
    """The API resource of a code."""
    grade = services.code_grade(code)
    return {
        "id": code.id, "name": code.name, "kind": code.kind, "type": code.type,
        "content": code.content, "destination": code.destination,
        "short_code": code.short_code, "short_url": services.short_url(code),
        "slug": code.short_code,
        "slug_aliases": [alias.slug for alias in services.slug_aliases(code)]
        if code.kind == "dynamic" else [],
        "domain": code.domain,
        "design": code.design, "scan_grade": grade,
        "print_guidance": services.print_guidance(grade),
        "design_template_id": code.design_template_id,
        "rules": code.rules or [], "variants": code.variants or [], "app_link": code.app_link,
        "destination_broken": code.link_status == "broken",
        "destination_check": linkcheck.health(code),
        "rule_warnings": services.rule_warnings(code),
        "redirect_status": code.redirect_status, "utm": code.utm,
        "expires_at": code.expires_at, "scan_cap": code.scan_cap, "paused": code.paused,
        "has_password": code.has_password, "state": code.state, "tags": code.tags,
        "folder_id": code.folder_id, "batch": code.batch,
        "image_url": services.image_urls(code), "created_at": code.created_at,
        "updated_at": code.updated_at, "archived_at": code.archived_at,
    }


def _content_shorthand(data: dict) -> dict:
    """``destination`` (or ``url``) stands for content.url of a url code."""
    if data.get("type", "url") == "url" and data.get("destination") and not data.get("content"):
        data = {**data, "content": {"url": data["destination"]}}
    return data


@blp.get("")
@blp.arguments(QRCodeListArgs, location="query")
@blp.response(200, QRCodePageSchema)
def list_codes(args):
    """The workspace's codes: search, filter by type, kind, tag, status, folder, bulk upload
    and a broken destination; sort by date, name or scans."""
    permissions.require("qr.view")
    items, total = services.list_codes(
        q=args["q"], qr_type=args.get("type"), kind=args.get("kind"), tag=args.get("tag"),
        status=args["status"], folder_id=args.get("folder_id"), batch=args.get("batch"),
        broken=args["broken"], sort=args["sort"], page=args["page"],
        per_page=args["per_page"])
    return {"items": [code_view(c) for c in items], "total": total, "page": args["page"],
            "per_page": args["per_page"]}


@blp.post("")
@blp.arguments(QRCodeCreateSchema)
@blp.response(201, QRCodeSchema)
def create_code(data):
    """Create a code. The design is decoded by a real QR decoder first; a design that would
    not scan is refused with 422 and a message saying what to change."""
    permissions.require("qr.edit")
    return code_view(services.create_code(_content_shorthand(data)))


@blp.post("/bulk-actions")
@permission_required("qr.edit")
@blp.arguments(CodeActionSchema)
@blp.response(200, CodeActionResultSchema)
@blp.alt_response(202, schema=CodeActionResultSchema, description="download: the ZIP's job")
def act_on_codes(data):
    """Do one thing to many codes at once, all or none: tag, untag, move to a folder,
    archive, restore, or download their images as a ZIP (202 with the job). Every id must be
    one of the workspace's codes (404 otherwise, nothing done). The audit log records one
    entry for the whole change."""
    done = services.act_on_codes(data["action"], data["ids"], tag=data.get("tag"),
                                 folder_id=data.get("folder_id"))
    job = done.pop("job", None)
    if job is None:
        return done
    return {**done, "job_id": job.id,
            "job_url": url_for("jobs.job_status", job_id=job.id)}, 202


@blp.get("/export")
@blp.response(200, content_type="text/csv", description="short_url, destination, name, "
              "code_id, status, created_at: one row per dynamic code, archived ones too")
def export_redirect_map():
    """The redirect map as CSV: every dynamic code's short link and where it sends people.
    Available on every plan (codes are never held hostage)."""
    permissions.require("qr.view")
    name, rows = services.export_redirect_map()
    return csvfiles.download(rows, name)


def _test_scan(code_id, data):
    return services.test_scan(code_id, rules_value=data.pop("rules", None),
                              variants_value=data.pop("variants", None),
                              destination=data.pop("destination", None), **data)


@blp.post("/test-scan")
@blp.arguments(TestScanSchema)
@blp.response(200, TestScanResultSchema)
def test_scan_new(data):
    """Which of ``rules`` (and ``destination``) a described scan would go to: for a code not
    saved yet. Nothing is recorded."""
    permissions.require("qr.view")
    return _test_scan(None, data)


@blp.post("/<int:code_id>/test-scan")
@blp.arguments(TestScanSchema)
@blp.response(200, TestScanResultSchema)
def test_scan(data, code_id):
    """Which rule of the code (or of ``rules`` being edited) a described scan would match:
    device, OS, browser, country, language, time, query and scan number. Nothing is
    recorded."""
    permissions.require("qr.view")
    return _test_scan(code_id, data)


@blp.get("/<int:code_id>")
@blp.response(200, QRCodeSchema)
def get_code(code_id):
    """One code."""
    permissions.require("qr.view")
    return code_view(services.get_code(code_id))


@blp.patch("/<int:code_id>")
@blp.arguments(QRCodeUpdateSchema)
@blp.response(200, QRCodeSchema)
def update_code(data, code_id):
    """Change a code. A dynamic code keeps its short link: the printed code stays valid.
    ``archived: false`` restores an archived code."""
    permissions.require("qr.edit")
    archived = data.pop("archived", None)
    if archived is False:
        services.restore_code(code_id)
    if archived:
        return code_view(services.archive_code(code_id))
    if data:
        return code_view(services.update_code(code_id, data))
    return code_view(services.get_code(code_id))


@blp.delete("/<int:code_id>")
@blp.response(204)
def archive_code(code_id):
    """Archive a code: its short link stops redirecting and says so. Nothing is erased
    (scans stay for analytics); PATCH ``archived: false`` restores it."""
    permissions.require("qr.edit")
    services.archive_code(code_id)


@blp.post("/<int:code_id>/duplicate")
@blp.response(201, QRCodeSchema)
def duplicate_code(code_id):
    """A copy of the code; a dynamic copy gets its own short link."""
    permissions.require("qr.edit")
    return code_view(services.duplicate_code(code_id))


@blp.get("/<int:code_id>/image")
@blp.arguments(ImageArgs, location="query")
@blp.response(200, ImageSchema)
def code_image(args, code_id):
    """The code as PNG, SVG or PDF at any size within limits (drawn once, then cached); SVG
    and PDF also at a physical ``width`` (mm or inches) with a bleed and crop marks (the PDF
    sets its TrimBox and BleedBox and names the size in its subject and keywords)."""
    permissions.require("qr.view")
    code = services.get_code(code_id)
    paper = services.print_size(args["format"], args.get("width"), args["unit"],
                                args.get("bleed"), args["crop_marks"])
    key, _ = services.ensure_image(code, args["format"], args["size"], paper)
    from qrplatform.storage import storage

    return {"format": args["format"], "size": args["size"], "url": storage().url(key),
            "print": services.print_info(code, paper) if paper else None}


@blp.get("/<int:code_id>/print-guidance")
@blp.arguments(PrintGuidanceArgs, location="query")
@blp.response(200, PrintGuidanceSchema)
def print_guidance(args, code_id):
    """How large to print the code: the smallest safe width for each distance preset (held
    in hand, poster, billboard), for a scanning ``distance`` (metres), and the farthest
    distance for a print ``width`` (mm or inches). From the design's scan grade (its
    smallest readable module) and a typical phone camera."""
    permissions.require("qr.view")
    code = services.get_code(code_id)
    width = args.get("width")
    guidance = services.print_guidance(
        services.code_grade(code),
        distance_mm=args["distance"] * 1000 if args.get("distance") is not None else None,
        width_mm=printsize.to_mm(width, args["unit"]) if width is not None else None)
    if guidance is None:
        raise InvalidInput("This design does not decode at any size.",
                           {"design": ["Change the design first: it does not decode."]})
    return guidance


@blp.post("/logos")
@max_body(services.MAX_LOGO_BYTES + UPLOAD_OVERHEAD)
@blp.arguments(LogoUploadSchema, location="files")
@blp.response(201, LogoSchema)
def upload_logo(files):
    """Upload a logo (multipart field ``file``); put the returned ``logo`` in ``design.logo``.
    With the media library (assets) it becomes an asset and ``logo`` is its id."""
    permissions.require("qr.edit")
    upload = files["file"]
    logo, url = services.upload_logo(upload.read(), upload.filename or "logo")
    return {"logo": logo, "url": url}


@blp.post("/bulk")
@max_body(bulk.MAX_BULK_BYTES + UPLOAD_OVERHEAD)
@blp.arguments(BulkUploadSchema, location="multipart")
@blp.response(202, BulkAcceptedSchema)
def bulk_create(form):
    """Create up to 10,000 codes from a CSV (multipart ``file``). Every row is checked first:
    bad rows answer 422 with their line numbers and nothing is created, unless
    ``skip_invalid`` is true. Then a background job draws, verifies and stores the codes and
    a ZIP of their images: follow ``job_url`` (GET /api/v1/jobs/{id})."""
    permissions.require("qr.edit")
    job, rows, skipped = bulk.start_bulk(
        form["file"].read(), kind=form["kind"], qr_type=form["type"],
        skip_invalid=form["skip_invalid"], design_template_id=form.get("design_template_id"),
        filename=form["file"].filename or "")
    return {"job_id": job.id, "job_url": url_for("jobs.job_status", job_id=job.id),
            "rows": rows, "skipped": skipped}


@blp.post("/bulk/check")
@max_body(bulk.MAX_BULK_BYTES + UPLOAD_OVERHEAD)
@permission_required("qr.edit")
@blp.arguments(BulkCheckSchema, location="multipart")
@blp.response(200, BulkCheckResultSchema)
def bulk_check(form):
    """What ``POST /bulk`` would do with this file, doing nothing: how many rows make codes,
    the bad rows with their line numbers, and whether the plan has room for them all. A file
    that is not a CSV at all answers 422, as ``POST /bulk`` would."""
    return bulk.check_bulk(form["file"].read(), kind=form["kind"], qr_type=form["type"])


@blp.get("/bulk/sample")
@blp.arguments(BulkSampleArgs, location="query")
@blp.response(200, content_type="text/csv", description="a header row (name, the type's "
              "fields, tags) and two example rows")
def bulk_sample(args):
    """A CSV file to start a bulk upload from, for a code type (``type``, default url)."""
    permissions.require("qr.view")
    return csvfiles.download(bulk.sample_csv(args["type"]), f"qr-codes-{args['type']}-sample.csv")


# -- folders ------------------------------------------------------------------------------------

def folder_view(folder, sizes: dict[int, int]) -> dict:
    return {"id": folder.id, "name": folder.name, "codes": sizes.get(folder.id, 0),
            "created_at": folder.created_at}


@folders_blp.get("")
@folders_blp.response(200, FolderSchema(many=True))
def list_folders():
    """The workspace's folders, by name, with how many codes each holds."""
    permissions.require("qr.view")
    sizes = services.folder_sizes()
    return [folder_view(f, sizes) for f in services.list_folders()]


@folders_blp.post("")
@permission_required("qr.edit")
@folders_blp.arguments(FolderSchema)
@folders_blp.response(201, FolderSchema)
def create_folder(data):
    """A new folder (names are unique in a workspace, whatever their case)."""
    return folder_view(services.create_folder(data["name"]), {})


@folders_blp.get("/<int:folder_id>")
@folders_blp.response(200, FolderSchema)
def get_folder(folder_id):
    """One folder; its codes: GET /api/v1/qr-codes?folder_id=…"""
    permissions.require("qr.view")
    return folder_view(services.get_folder(folder_id), services.folder_sizes())


@folders_blp.patch("/<int:folder_id>")
@permission_required("qr.edit")
@folders_blp.arguments(FolderPatchSchema)
@folders_blp.response(200, FolderSchema)
def rename_folder(data, folder_id):
    """Rename a folder."""
    return folder_view(services.rename_folder(folder_id, data["name"]),
                       services.folder_sizes())


@folders_blp.delete("/<int:folder_id>")
@folders_blp.response(204)
def delete_folder(folder_id):
    """Delete a folder; its codes stay, in no folder."""
    permissions.require("qr.edit")
    services.delete_folder(folder_id)


# -- design templates ---------------------------------------------------------------------------

def template_view(template) -> dict:
    grade = services.template_grade(template)
    return {"id": template.id, "name": template.name, "design": template.design,
            "scan_grade": grade, "print_guidance": services.print_guidance(grade),
            "created_at": template.created_at}


@templates_blp.get("")
@templates_blp.response(200, DesignTemplateSchema(many=True))
def list_templates():
    """The workspace's saved designs."""
    permissions.require("qr.view")
    return [template_view(t) for t in services.list_templates()]


@templates_blp.post("")
@templates_blp.arguments(DesignTemplateSchema)
@templates_blp.response(201, DesignTemplateSchema)
def create_template(data):
    """Save a design for reuse (it must scan, like any design)."""
    permissions.require("qr.edit")
    return template_view(services.save_template(data["name"], data["design"]))


@templates_blp.get("/<int:template_id>")
@templates_blp.response(200, DesignTemplateSchema)
def get_template(template_id):
    """One saved design."""
    permissions.require("qr.view")
    return template_view(services.get_template(template_id))


@templates_blp.patch("/<int:template_id>")
@templates_blp.arguments(DesignTemplatePatchSchema)
@templates_blp.response(200, DesignTemplateSchema)
def update_template(data, template_id):
    """Rename or change a saved design (codes already made keep their own copy)."""
    permissions.require("qr.edit")
    template = services.get_template(template_id)
    return template_view(services.save_template(
        data.get("name", template.name), {**template.design, **data.get("design", {})},
        template_id))


@templates_blp.delete("/<int:template_id>")
@templates_blp.response(204)
def delete_template(template_id):
    """Delete a saved design."""
    permissions.require("qr.edit")
    services.delete_template(template_id)

