"""Bulk generation: a CSV in, verified codes and a ZIP of their images out (the
``qr.bulk_create`` job; which rows make codes is decided in ``bulk``)."""

from __future__ import annotations

import io
import logging
import re
import tempfile
import time
import zipfile
from typing import Any

from flask import current_app

from qrp_qr import bulk, drawing, logos, render, rules, services, verify
from qrp_qr.models import QRCode
from qrplatform import csvfiles
from qrplatform.extensions import db
from qrplatform.jobs import JobError, current, produced_file, progress
from qrplatform.storage import backend_settings, storage

log = logging.getLogger(__name__)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "code"


def bulk_create(upload_key: str, upload_id: str, options: dict[str, Any]) -> dict[str, Any]:
    """Create every valid row of an uploaded CSV (checked again here: the job trusts nothing)."""
    started = time.perf_counter()
    rows, row_errors = bulk.parse_bulk_csv(storage().get(upload_key),
                                           kind=options.get("kind", "dynamic"),
                                           qr_type=options.get("type", "url"))
    design = _usable_design(options.get("design_template_id"))
    progress(0, len(rows), "Step 1 of 2: drawing and checking the codes")
    bulk.link_rows(rows, services.link_base(None))
    drawn, failed = _draw_and_store(rows, design)
    drawn_at = time.perf_counter()
    if failed and not options.get("skip_invalid"):
        raise JobError(f"{len(failed)} code(s) would not scan (first: row {failed[0]['row']}: "
                       f"{failed[0]['errors']['design'][0]}); nothing was created.")
    keep = [row for index, row in enumerate(rows) if index in drawn]
    progress(0, len(keep), "Step 2 of 2: saving the codes")
    manifest = bulk.save_rows(
        keep, design, upload_id, options.get("design_template_id"),
        actor=options.get("actor"), skipped=len(row_errors) + len(failed),
        filename=options.get("filename", ""),
        on_progress=lambda saved: progress(saved, len(keep),
                                           f"Step 2 of 2: saved {saved:,} of {len(keep):,} codes"))
    saved_at = time.perf_counter()
    progress(len(rows), len(rows), "Packing the ZIP")
    key = _write_zip(manifest, drawn, rows, upload_id)
    log.info("bulk %s: %d codes; drawn and stored in %.1f s, saved in %.1f s, zipped in %.1f s",
             upload_id, len(manifest), drawn_at - started, saved_at - drawn_at,
             time.perf_counter() - saved_at)
    skipped = len(row_errors) + len(failed)
    progress(len(rows), len(rows), f"{len(manifest):,} codes created"
             + (f", {skipped} bad row(s) skipped" if skipped else ""))
    return {
        "created": len(manifest),
        "batch": upload_id if manifest else None,
        "skipped": row_errors + failed,
        **_grades(manifest, drawn, rows),
        **(produced_file("zip", key) if key else {}),
    }


def _grades(manifest, drawn, rows) -> dict[str, Any]:
    """How many created codes got each scan grade, and the rows graded D (warned: they scan,
    but many phones will fail in real conditions) with the reason; every row's grade is in
    the ZIP's codes.csv."""
    from qrp_qr import grading  # numpy: not imported with the app

    index_of = {id(row): i for i, row in enumerate(rows)}
    counts = {level: 0 for level in grading.LEVELS}
    warned = []
    for row, _code in manifest:
        made = drawn[index_of[id(row)]]
        counts[made.grade] += 1
        if made.grade_warning:
            warned.append({"row": row["row"], "grade": made.grade, "warning": made.grade_warning})
    return {"grades": counts, "warned": warned[:100]}


def _usable_design(template_id: int | None) -> dict[str, Any]:
    """The template's design, if its colours and logo can still be used."""
    design = rules.clean_design(services.template_design(template_id))
    try:
        verify.check_colors(design)
    except verify.Unscannable as exc:
        raise JobError(f"The design cannot be used: {exc.message}") from exc
    services.logo_image(design)  # refuses a logo that is gone
    return design


def _draw_and_store(rows: list[dict[str, Any]], design: dict[str, Any]
                    ) -> tuple[dict[int, drawing.Drawn], list[dict[str, Any]]]:
    """Draw, decode, grade and store every row's images (on every core: ``drawing``);
    returns each drawn code (PNG, SVG, scan grade) by row index, and the rows whose code
    would not scan (or is graded E)."""
    backend = storage()
    logo_png = logos.png(design)
    items = [drawing.Item(index, row["text"], tuple(
        services.image_key(row["text"], design, fmt, render.DEFAULT_SIZE)
        for fmt in render.FORMATS)) for index, row in enumerate(rows)]
    drawn: dict[int, drawing.Drawn] = {}
    failed: list[dict[str, Any]] = []
    done, total = 0, len(rows)
    with drawing.DrawingPool(current_app.config["QR_BULK_PROCESSES"],
                             backend_settings(current_app), backend) as pool:
        for chunk in pool.draw(items, design, logo_png):
            for code in chunk:
                if code.error:
                    failed.append({"row": rows[code.index]["row"],
                                   "errors": {"design": [code.error]}})
                else:
                    drawn[code.index] = code
            done += len(chunk)
            progress(done, total, f"Step 1 of 2: drew and checked {done:,} of {total:,} codes")
    return drawn, failed


def _write_zip(manifest, drawn, rows, upload_id: str) -> str | None:
    """png/ and svg/ folders and codes.csv (row, id, name, short link, destination, files,
    scan grade, its failing conditions and the row whose code was graded: the first of its
    size in its drawing process, see ``drawing._grade``)."""
    if not manifest:
        return None
    index_of = {id(row): i for i, row in enumerate(rows)}
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
        with zipfile.ZipFile(buffer, "w") as archive:
            listing = io.StringIO()
            writer = csvfiles.writer(listing)
            writer.writerow(["row", "id", "name", "kind", "type", "short_url", "destination",
                             "png", "svg", "scan_grade", "scan_grade_failing",
                             "scan_grade_of_row"])
            for row, code in manifest:
                made = drawn[index_of[id(row)]]
                png, svg = made.png, made.svg
                stem = f"{row['row']:05d}-{_slug(code['name'])}"
                # PNGs are compressed already; storing them is as small and much faster.
                archive.writestr(f"png/{stem}.png", png, compress_type=zipfile.ZIP_STORED)
                archive.writestr(f"svg/{stem}.svg", svg, compress_type=zipfile.ZIP_DEFLATED)
                writer.writerow([row["row"], code["id"], code["name"], code["kind"],
                                 code["type"], code["short_url"], code["destination"],
                                 f"png/{stem}.png", f"svg/{stem}.svg", made.grade,
                                 made.grade_failing, rows[made.grade_of]["row"]])
            archive.writestr("codes.csv", listing.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        buffer.seek(0)
        key = bulk.zip_key(manifest[0][1]["workspace_id"], upload_id)
        storage().put(key, buffer.read(), content_type="application/zip")
    return key


def zip_codes(code_ids: list[int]) -> dict[str, Any]:
    """The chosen codes' images (PNG and SVG at the default size) and an index, as a ZIP
    (the ``qr.zip_codes`` job behind "download" on the list)."""
    codes = [code for code in (db.session.get(QRCode, code_id) for code_id in code_ids)
             if code is not None]
    total = len(codes)
    progress(0, total, "Drawing the images")
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
        with zipfile.ZipFile(buffer, "w") as archive:
            listing = io.StringIO()
            writer = csvfiles.writer(listing)
            writer.writerow(["id", "name", "kind", "type", "short_url", "destination", "png",
                             "svg"])
            for done, code in enumerate(codes, start=1):
                stem = f"{code.id:06d}-{_slug(code.name)}"
                png = services.image_bytes(code, "png", render.DEFAULT_SIZE)
                svg = services.image_bytes(code, "svg", render.DEFAULT_SIZE)
                archive.writestr(f"png/{stem}.png", png, compress_type=zipfile.ZIP_STORED)
                archive.writestr(f"svg/{stem}.svg", svg, compress_type=zipfile.ZIP_DEFLATED)
                writer.writerow([code.id, code.name, code.kind, code.type,
                                 services.short_url(code) or "", code.destination or "",
                                 f"png/{stem}.png", f"svg/{stem}.svg"])
                if done % 10 == 0 or done == total:
                    progress(done, total, f"Packed {done:,} of {total:,} codes")
            archive.writestr("codes.csv", listing.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        buffer.seek(0)
        running = current()
        key = bulk.zip_key(codes[0].workspace_id if codes else 0,
                           f"selection-{running.id if running else 'now'}")
        storage().put(key, buffer.read(), content_type="application/zip")
    progress(total, total, f"{total:,} codes packed")
    return {"codes": total, **produced_file("zip", key)}


def check_destinations() -> dict[str, int]:
    """Scheduled: the live dynamic codes' destinations asked whether they still answer; owners
    told once about the newly broken ones (``linkcheck``)."""
    from qrp_qr import linkcheck

    return linkcheck.check_destinations()
