"""Bulk generation: a CSV in, verified codes and a ZIP of their images out (the
``qr.bulk_create`` job; which rows make codes is decided in ``bulk``)."""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from typing import Any

from flask import current_app

from qrp_qr import bulk, render, rules, services, verify
from qrplatform import csvfiles
from qrplatform.jobs import JobError, produced_file, progress
from qrplatform.storage import storage

log = logging.getLogger(__name__)

CHUNK = 250                 # rows per task handed to a drawing process
IN_PROCESS_BELOW = 300      # small files: starting processes costs more than it saves


def _draw_chunk(task: tuple[list[tuple[int, str]], dict, bytes | None]) -> list[tuple]:
    """Runs in a drawing process: each code drawn at the default size, decoded, and also
    written as SVG and PDF. Returns (index, png, svg, pdf, error)."""
    items, design, logo_png = task
    logo = render.load_logo(logo_png) if logo_png else None
    out = []
    for index, text in items:
        try:
            lay = render.layout(text, design, logo)
            image = render.render_image(lay, render.DEFAULT_SIZE)
            verify.check_decodes(text, image, design, lay.width)
            out.append((index, render.encode_png(image),
                        render.render_svg(lay, render.DEFAULT_SIZE),
                        render.render_pdf(lay, render.DEFAULT_SIZE), None))
        except (verify.Unscannable, render.PayloadTooLong) as exc:
            out.append((index, None, None, None, str(exc)))
    return out


def _draw_all(texts: list[str], design: dict, logo_png: bytes | None):
    """Yields drawn chunks as they finish, using every core for large files."""
    tasks = [([(i, texts[i]) for i in range(start, min(start + CHUNK, len(texts)))],
              design, logo_png) for start in range(0, len(texts), CHUNK)]
    processes = current_app.config["QR_BULK_PROCESSES"] or os.cpu_count() or 1
    if len(texts) < IN_PROCESS_BELOW or processes < 2:
        for task in tasks:
            yield _draw_chunk(task)
        return
    # spawn, not fork: the worker holds database connections and threads a fork would copy.
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn")) as pool:
        yield from pool.map(_draw_chunk, tasks)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "code"


def bulk_create(upload_key: str, upload_id: str, options: dict[str, Any]) -> dict[str, Any]:
    """Create every valid row of an uploaded CSV (checked again here: the job trusts nothing)."""
    started = time.perf_counter()
    rows, row_errors = bulk.parse_bulk_csv(storage().get(upload_key),
                                           kind=options.get("kind", "dynamic"),
                                           qr_type=options.get("type", "url"))
    design = _usable_design(options.get("design_template_id"))
    progress(0, len(rows), "Checking the file")
    bulk.link_rows(rows, current_app.config["SHORT_LINK_BASE_URL"])
    drawn, failed = _draw_and_store(rows, design)
    drawn_at = time.perf_counter()
    if failed and not options.get("skip_invalid"):
        raise JobError(f"{len(failed)} code(s) would not scan (first: row {failed[0]['row']}: "
                       f"{failed[0]['errors']['design'][0]}); nothing was created.")
    progress(len(rows), len(rows), "Saving the codes")
    manifest = bulk.save_rows([row for index, row in enumerate(rows) if index in drawn],
                              design, upload_id, options.get("design_template_id"))
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
        "skipped": row_errors + failed,
        **(produced_file("zip", key) if key else {}),
    }


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
                    ) -> tuple[dict[int, tuple[bytes, bytes, bytes]], list[dict[str, Any]]]:
    """Draw, decode and store every row's images; returns them by row index, and the rows
    whose code would not scan."""
    backend = storage()
    logo_png = backend.get(design["logo"]) if design.get("logo") else None
    drawn: dict[int, tuple[bytes, bytes, bytes]] = {}
    failed: list[dict[str, Any]] = []
    done, total = 0, len(rows)
    with ThreadPoolExecutor(max_workers=8) as uploads:
        pending = []
        for chunk in _draw_all([r["text"] for r in rows], design, logo_png):
            for index, png, svg, pdf, error in chunk:
                if error:
                    failed.append({"row": rows[index]["row"], "errors": {"design": [error]}})
                    continue
                drawn[index] = (png, svg, pdf)
                for fmt, blob in zip(render.FORMATS, (png, svg, pdf), strict=True):
                    key = services.image_key(rows[index]["text"], design, fmt,
                                             render.DEFAULT_SIZE)
                    pending.append(uploads.submit(backend.put, key, blob,
                                                  render.MIME_TYPES[fmt], True))
            done += len(chunk)
            progress(done, total, f"Drew and checked {done:,} of {total:,} codes")
        for future in pending:
            future.result()
    return drawn, failed


def _write_zip(manifest, drawn, rows, upload_id: str) -> str | None:
    """png/ and svg/ folders and codes.csv (row, id, name, short link, destination, files)."""
    if not manifest:
        return None
    index_of = {id(row): i for i, row in enumerate(rows)}
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
        with zipfile.ZipFile(buffer, "w") as archive:
            listing = io.StringIO()
            writer = csvfiles.writer(listing)
            writer.writerow(["row", "id", "name", "kind", "type", "short_url", "destination",
                             "png", "svg"])
            for row, code in manifest:
                png, svg, _pdf = drawn[index_of[id(row)]]
                stem = f"{row['row']:05d}-{_slug(code['name'])}"
                # PNGs are compressed already; storing them is as small and much faster.
                archive.writestr(f"png/{stem}.png", png, compress_type=zipfile.ZIP_STORED)
                archive.writestr(f"svg/{stem}.svg", svg, compress_type=zipfile.ZIP_DEFLATED)
                writer.writerow([row["row"], code["id"], code["name"], code["kind"],
                                 code["type"], code["short_url"], code["destination"],
                                 f"png/{stem}.png", f"svg/{stem}.svg"])
            archive.writestr("codes.csv", listing.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        buffer.seek(0)
        key = bulk.zip_key(manifest[0][1]["workspace_id"], upload_id)
        storage().put(key, buffer.read(), content_type="application/zip")
    return key
