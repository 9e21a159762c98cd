"""Bulk generation: a CSV in, verified codes and a ZIP of their images out (the
``qr.bulk_create`` job; which rows make codes is decided in ``bulk``)."""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from flask import current_app

from qrp_qr import bulk, drawing, logos, render, rules, services
from qrp_qr.models import QRCode
from qrp_qr.rules import InvalidInput
from qrplatform import csvfiles
from qrplatform.extensions import db
from qrplatform.jobs import JobError, current, produced_file, progress
from qrplatform.storage import backend_settings, storage
from qrplatform.tenancy import current_workspace_id

log = logging.getLogger(__name__)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "code"


def bulk_create(upload_key: str, upload_id: str, options: dict[str, Any]) -> dict[str, Any]:
    """Create every valid row of an uploaded CSV (checked again here: the job trusts nothing).

    Each chunk of codes is packed into the ZIP as soon as it is drawn, and saved (flushed) on
    PostgreSQL, while the drawing processes go on with the next ones (they alone would leave
    part of the CPUs idle); the codes commit together at the end, or not at all."""
    started = time.perf_counter()
    rows, row_errors = bulk.parse_bulk_csv(storage().get(upload_key),
                                           kind=options.get("kind", "dynamic"),
                                           qr_type=options.get("type", "url"))
    design = _usable_design(options.get("design_template_id"))
    total = len(rows)
    progress(0, total, "Drawing, checking and saving the codes")
    bulk.link_rows(rows, services.link_base(None))
    failed: list[dict[str, Any]] = []
    made: list[tuple[dict[str, Any], dict[str, Any], drawing.Drawn]] = []
    unsaved: list[tuple[drawing.Drawn, dict[str, str]]] = []   # in the ZIP, not yet saved
    done, saving = 0, 0.0
    skip_invalid = options.get("skip_invalid")
    # SQLite lets one connection write at a time: a transaction open while the codes are drawn
    # would hold off every other write for minutes, this job's own progress included. There
    # the codes are saved once all are drawn; PostgreSQL saves each chunk as it comes.
    save_as_drawn = db.engine.dialect.name != "sqlite"

    def save(archive: _CodesZip) -> None:
        nonlocal saving
        saving_started = time.perf_counter()
        saved = bulk.save_codes([rows[code.index] for code, _ in unsaved], design, upload_id,
                                options.get("design_template_id"), options.get("actor"))
        for (code, files), (row, index_entry) in zip(unsaved, saved, strict=True):
            archive.index(row=row["row"], **index_entry, **files, scan_grade=code.grade,
                          scan_grade_failing=code.grade_failing,
                          scan_grade_of_row=rows[code.grade_of]["row"])
            made.append((row, index_entry, code))
        unsaved.clear()
        saving += time.perf_counter() - saving_started

    # codes.csv: each row's code, files and scan grade, with the row whose code was graded
    # (the first of its size in its drawing process, see ``drawing._grade``).
    with _CodesZip(["row", "id", "name", "kind", "type", "short_url", "destination", "png",
                    "svg", "scan_grade", "scan_grade_failing", "scan_grade_of_row"],
                   bulk.zip_key(current_workspace_id(), upload_id)) as archive:
        for chunk in _draw_and_store(rows, design):
            for code in chunk:
                row = rows[code.index]
                if code.error:
                    failed.append({"row": row["row"], "errors": {"design": [code.error]}})
                elif skip_invalid or not failed:
                    name = rules.clean_name(row["name"], row["type"], row["content"])
                    files = archive.pack(f"{row['row']:05d}-{_slug(name)}", code.png, code.svg)
                    # The files are in the ZIP and in storage: keep only the grade.
                    unsaved.append((dataclasses.replace(code, png=None, svg=None), files))
            done += len(chunk)
            if failed and not skip_invalid:
                # Drawn to the end only to say how many rows fail; nothing more is kept.
                progress(done, total, f"Checked {done:,} of {total:,} codes")
            elif save_as_drawn:
                save(archive)
                progress(done, total,
                         f"Drew, checked and saved {len(made):,} of {total:,} codes")
            else:
                progress(done, total, f"Drew and checked {len(unsaved):,} of {total:,} codes")
        if failed and not skip_invalid:
            db.session.rollback()
            raise JobError(f"{len(failed)} code(s) would not scan (first: row "
                           f"{failed[0]['row']}: {failed[0]['errors']['design'][0]}); nothing "
                           "was created.")
        if unsaved:
            progress(total, total, f"Saving {len(unsaved):,} codes")
            save(archive)
        skipped = len(row_errors) + len(failed)
        key = None
        if made:
            bulk.announce_bulk(len(made), upload_id, skipped=skipped,
                               filename=options.get("filename", ""), actor=options.get("actor"))
            db.session.commit()
            progress(total, total, "Packing the ZIP")
            key = archive.store()
    log.info("bulk %s: %d codes in %.1f s (%.1f s of it saving and packing, beside the "
             "drawing)", upload_id, len(made), time.perf_counter() - started, saving)
    progress(total, total, f"{len(made):,} codes created"
             + (f", {skipped} bad row(s) skipped" if skipped else ""))
    return {
        "created": len(made),
        "batch": upload_id if made else None,
        "skipped": row_errors + failed,
        **_grades(made),
        **(produced_file("zip", key) if key else {}),
    }


def _grades(made: list[tuple[dict[str, Any], dict[str, Any], drawing.Drawn]]
            ) -> dict[str, Any]:
    """How many created codes got each scan grade, and the rows graded D (warned: they scan,
    but many phones will fail in real conditions) with the reason; every row's grade is in
    the ZIP's codes.csv."""
    from qrp_qr import grading  # numpy: not imported with the app

    counts = {level: 0 for level in grading.LEVELS}
    warned = []
    for row, _index_entry, code in made:
        counts[code.grade] += 1
        if code.grade_warning:
            warned.append({"row": row["row"], "grade": code.grade, "warning": code.grade_warning})
    return {"grades": counts, "warned": warned[:100]}


def _usable_design(template_id: int | None) -> dict[str, Any]:
    """``bulk.usable_design``, checked again when the job runs: the template may have changed
    since the upload, and a refusal is final (another attempt would be refused the same)."""
    try:
        return bulk.usable_design(template_id)
    except InvalidInput as exc:
        raise JobError(" ".join(exc.field_messages) or exc.message) from exc


def _draw_and_store(rows: list[dict[str, Any]], design: dict[str, Any]
                    ) -> Iterator[list[drawing.Drawn]]:
    """Draw, decode, grade and store every row's images (on every core: ``drawing``); yields
    each chunk of drawn codes (PNG, SVG, scan grade, or why it would not scan) in order."""
    logo_png = logos.png(design)
    items = [drawing.Item(index, row["text"], tuple(
        services.image_key(row["text"], design, fmt, render.DEFAULT_SIZE)
        for fmt in render.FORMATS)) for index, row in enumerate(rows)]
    with drawing.DrawingPool(current_app.config["QR_BULK_PROCESSES"],
                             backend_settings(current_app), storage()) as pool:
        yield from pool.draw(items, design, logo_png)


class _CodesZip:
    """A ZIP of codes' images, written as the codes come straight into the file stored under
    ``key``: png/ and svg/ folders and codes.csv, a line a code under ``columns`` (``png`` and
    ``svg`` name its two files). Stored by ``store``; left without it, nothing is."""

    def __init__(self, columns: list[str], key: str):
        self.columns, self.key = columns, key

    def __enter__(self) -> _CodesZip:
        self._closing = ExitStack()      # the archive, then its file: stored, or not at all
        self._archive = zipfile.ZipFile(self._closing.enter_context(
            storage().new_file(self.key, content_type="application/zip")), "w")
        self._closing.callback(self._archive.close)
        self._listing = io.StringIO()
        self._index = csvfiles.writer(self._listing)
        self._index.writerow(self.columns)
        return self

    def __exit__(self, *exc) -> None:
        # After ``store`` there is nothing left to close; before it, the file is left unstored.
        abandoned = exc[1] or _NotStored()
        self._closing.__exit__(type(abandoned), abandoned, abandoned.__traceback__)

    def add(self, stem: str, png: bytes, svg: bytes, **line: Any) -> None:
        self.index(**line, **self.pack(stem, png, svg))

    def pack(self, stem: str, png: bytes, svg: bytes) -> dict[str, str]:
        """The two files into the ZIP; returns their names (``png``, ``svg``) for the index."""
        files = {"png": f"png/{stem}.png", "svg": f"svg/{stem}.svg"}
        # PNGs are compressed already; storing them is as small and much faster. zlib's first
        # level packs an SVG in half the time of its default, a tenth larger (a plain code's
        # 1.0 KB, not 0.9), on the cores the drawing needs.
        self._archive.writestr(files["png"], png, compress_type=zipfile.ZIP_STORED)
        self._archive.writestr(files["svg"], svg, compress_type=zipfile.ZIP_DEFLATED,
                               compresslevel=1)
        return files

    def index(self, **line: Any) -> None:
        """A code's line in codes.csv."""
        self._index.writerow([line[name] for name in self.columns])

    def store(self) -> str:
        """The finished ZIP, stored; returns its key."""
        self._archive.writestr("codes.csv", self._listing.getvalue(),
                               compress_type=zipfile.ZIP_DEFLATED)
        self._closing.close()
        return self.key


class _NotStored(Exception):
    """Ends a ZIP's file unstored (nothing went wrong: there was nothing to keep)."""


def zip_codes(code_ids: list[int]) -> dict[str, Any]:
    """The chosen codes' images (PNG and SVG at the default size) and an index, as a ZIP
    (the ``qr.zip_codes`` job behind "download" on the list)."""
    codes = [code for code in (db.session.get(QRCode, code_id) for code_id in code_ids)
             if code is not None]
    total = len(codes)
    progress(0, total, "Drawing the images")
    running = current()
    key = bulk.zip_key(codes[0].workspace_id if codes else 0,
                       f"selection-{running.id if running else 'now'}")
    with _CodesZip(["id", "name", "kind", "type", "short_url", "destination", "png",
                    "svg"], key) as archive:
        for done, code in enumerate(codes, start=1):
            archive.add(f"{code.id:06d}-{_slug(code.name)}",
                        services.image_bytes(code, "png", render.DEFAULT_SIZE),
                        services.image_bytes(code, "svg", render.DEFAULT_SIZE),
                        id=code.id, name=code.name, kind=code.kind, type=code.type,
                        short_url=services.short_url(code) or "",
                        destination=code.destination or "")
            if done % 10 == 0 or done == total:
                progress(done, total, f"Packed {done:,} of {total:,} codes")
        archive.store()
    progress(total, total, f"{total:,} codes packed")
    return {"codes": total, **produced_file("zip", key)}


def check_destinations() -> dict[str, int]:
    """Scheduled: the live dynamic codes' destinations asked whether they still answer; owners
    told once about the newly broken ones (``linkcheck``)."""
    from qrp_qr import linkcheck

    return linkcheck.check_destinations()
