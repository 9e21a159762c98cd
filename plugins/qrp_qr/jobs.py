"""Bulk generation: a CSV in, verified codes and a ZIP of their images out (an RQ job)."""

from __future__ import annotations

import csv
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

from qrp_qr import payloads, render, services, verify
from qrp_qr.models import QRCode, QRTag
from qrplatform import events
from qrplatform.extensions import db
from qrplatform.jobs import JobError, progress
from qrplatform.storage import storage

log = logging.getLogger(__name__)

CHUNK = 250                 # rows per task handed to a drawing process
IN_PROCESS_BELOW = 300      # small files: starting processes costs more than it saves


def zip_key(workspace_id: int, upload_id: str) -> str:
    return f"bulk/{workspace_id}/{upload_id}.zip"


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
    backend = storage()
    data = backend.get(upload_key)
    rows, row_errors = services.parse_bulk_csv(data, kind=options.get("kind", "dynamic"),
                                               qr_type=options.get("type", "url"))
    template = services._template_design(options.get("design_template_id"))
    design = services._clean_design(template)
    try:
        verify.check_colors(design)
    except verify.Unscannable as exc:
        raise JobError(f"The design cannot be used: {exc.message}") from exc
    services._logo_image(design)  # refuses a logo that is gone
    logo_png = backend.get(design["logo"]) if design.get("logo") else None
    total = len(rows)
    progress(0, total, "Checking the file")
    base = current_app.config["SHORT_LINK_BASE_URL"]
    short_codes = iter(services.new_short_codes(sum(r["kind"] == "dynamic" for r in rows)))
    for row in rows:
        row["short_code"] = next(short_codes) if row["kind"] == "dynamic" else None
        row["text"] = (f"{base}/{row['short_code']}" if row["short_code"]
                       else payloads.encode(row["type"], row["content"]))
    drawn: dict[int, tuple[bytes, bytes, bytes]] = {}
    failed: list[dict[str, Any]] = []
    done = 0
    with ThreadPoolExecutor(max_workers=8) as uploads:
        pending = []
        for chunk in _draw_all([r["text"] for r in rows], design, logo_png):
            for index, png, svg, pdf, error in chunk:
                if error:
                    failed.append({"row": rows[index]["row"], "errors": {"design": [error]}})
                    continue
                drawn[index] = (png, svg, pdf)
                text = rows[index]["text"]
                for fmt, blob in zip(render.FORMATS, (png, svg, pdf), strict=True):
                    key = services.image_key(text, design, fmt, render.DEFAULT_SIZE)
                    pending.append(uploads.submit(backend.put, key, blob,
                                                  render.MIME_TYPES[fmt], True))
            done += len(chunk)
            progress(done, total, f"Drew and checked {done:,} of {total:,} codes")
        for future in pending:
            future.result()
    drawn_at = time.perf_counter()
    if failed and not options.get("skip_invalid"):
        raise JobError(f"{len(failed)} code(s) would not scan (first: row {failed[0]['row']}: "
                       f"{failed[0]['errors']['design'][0]}); nothing was created.")
    progress(done, total, "Saving the codes")
    codes = []
    for index, row in enumerate(rows):
        if index not in drawn:
            continue
        content = row["content"]
        code = QRCode(
            name=(row["name"] or payloads.summary(row["type"], content) or row["type"])[:200],
            kind=row["kind"], type=row["type"], content=content, design=design,
            design_template_id=options.get("design_template_id"), short_code=row["short_code"],
            destination=(payloads.destination_uri(row["type"], content)
                         if row["kind"] == "dynamic" else content.get("url")),
            tag_rows=[QRTag(tag=t) for t in services._clean_tags(row["tags"])],
        )
        codes.append((row, code))
    db.session.add_all([code for _, code in codes])
    db.session.flush()
    # Read what the ZIP's index needs now: after the commit each access would reload the row.
    manifest = [(row, {"id": code.id, "name": code.name, "kind": code.kind, "type": code.type,
                       "short_url": services.short_url(code) or "",
                       "destination": code.destination or "",
                       "workspace_id": code.workspace_id})
                for row, code in codes]
    for _, code in codes:
        events.publish("qr.created", services._event_data(code, bulk=upload_id))
    db.session.commit()
    saved_at = time.perf_counter()
    progress(done, total, "Packing the ZIP")
    key = _write_zip(manifest, drawn, rows, upload_id)
    log.info("bulk %s: %d codes; drawn and stored in %.1f s, saved in %.1f s, zipped in %.1f s",
             upload_id, len(manifest), drawn_at - started, saved_at - drawn_at,
             time.perf_counter() - saved_at)
    skipped = len(row_errors) + len(failed)
    progress(done, total, f"{len(codes):,} codes created"
             + (f", {skipped} bad row(s) skipped" if skipped else ""))
    return {
        "created": len(codes),
        "skipped": row_errors + failed,
        "zip_key": key,
        "download_url": f"/qr/bulk/{upload_id}/download",
    }


def _write_zip(manifest, drawn, rows, upload_id: str) -> str | None:
    """png/ and svg/ folders and codes.csv (row, id, name, short link, destination, files)."""
    if not manifest:
        return None
    index_of = {id(row): i for i, row in enumerate(rows)}
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
        with zipfile.ZipFile(buffer, "w") as archive:
            listing = io.StringIO()
            writer = csv.writer(listing)
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
        key = zip_key(manifest[0][1]["workspace_id"], upload_id)
        storage().put(key, buffer.read(), content_type="application/zip")
    return key
