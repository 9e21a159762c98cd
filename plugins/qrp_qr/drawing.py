"""Drawing many codes on every core: the bulk job's pool, for any design.

``DrawingPool`` hands chunks of codes that share one design to processes of its own; each
process lays a code out once, paints the PNG, reads it back with zxing-cpp (``verify``),
paints the SVG and PDF from the same layout and reads them back too (drawn by ThorVG and
PDFium: ``verify.check_export``), and stores the three files itself, sending back
only what the caller packs into its ZIP and each code's scan grade (``grading``; once per
design and code size in each process). Processes are spawned, not forked (the job's process
holds database connections and threads a fork would copy), and import only this module, the
painters and the storage backend, so they start in a fraction of a second. Small runs draw in
the calling process instead: starting processes would cost more than it saves.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

from qrp_qr import render, verify

if TYPE_CHECKING:  # numpy and zxing: loaded by the first grade, not when the app imports
    from qrp_qr import grading

CHUNK = 250               # codes per task handed to a drawing process
IN_PROCESS_BELOW = 300    # fewer codes than this are drawn in the calling process
IN_PROCESS_CHUNK = 5      # the smallest chunk drawn in the calling process
UPLOADS = 8               # files each drawing process stores at a time into a remote backend


@dataclass(frozen=True)
class Item:
    """One code to draw: its place in the caller's list, what it encodes, and the storage
    keys of its PNG, SVG and PDF (in ``render.FORMATS`` order)."""

    index: int
    text: str
    keys: tuple[str, str, str]


@dataclass(frozen=True)
class Drawn:
    """A drawn, verified and stored code (``png`` and ``svg`` for the caller's ZIP, and its
    scan ``grade``: letter and failing conditions), or why it could not be (``error``: it
    would not scan, its grade is E, or its content does not fit)."""

    index: int
    png: bytes | None = None
    svg: bytes | None = None
    error: str | None = None
    grade: str | None = None
    grade_failing: str = ""        # the failing conditions' labels, "; " between them
    grade_warning: str | None = None
    grade_of: int | None = None    # the index of the code that was graded (see _grade)


# A design's grade depends on the payload mostly through its module count (``grading.grade``):
# each drawing process grades the first code of each size of a run and gives that grade to
# every code of that size, naming the code it measured (a styled grade costs ~25 ms of CPU:
# one for each of 10,000 rows would cost twice the drawing itself). Near a condition's edge
# another code of the same size can pass or fail it where the graded one did not.
_GRADES: dict[tuple[str, str, str, int], tuple[grading.Grade, int]] = {}


def _grade(item: Item, lay: render.Layout, design: dict[str, Any], run_key: tuple[str, str, str],
           logo) -> tuple[grading.Grade, int]:
    key = (*run_key, lay.n)
    found = _GRADES.get(key)
    if found is None:
        if len(_GRADES) >= 256:
            _GRADES.clear()
        from qrp_qr import grading

        found = _GRADES[key] = (grading.grade(item.text, design, logo), item.index)
    return found


class _Process:
    """What one drawing process keeps between chunks: its storage backend and, for a remote
    one (S3: each put a round trip), the threads that upload."""

    backend: Any = None
    uploads: ThreadPoolExecutor | None = None


def _start(storage_settings: dict) -> None:
    """Runs once in each drawing process."""
    from qrplatform.storage import make_backend

    _Process.backend = make_backend(storage_settings)
    _Process.uploads = _uploaders(_Process.backend)


def _uploaders(backend: Any) -> ThreadPoolExecutor | None:
    """Threads that store files while the code goes on drawing, for a backend whose puts wait
    on the network; None stores each file at once (see ``storage.Storage.remote``)."""
    return ThreadPoolExecutor(max_workers=UPLOADS) if backend.remote else None


# Codes taken through each step together: the painters' and decoders' code and tables stay in
# the CPU's caches from one code to the next (a styled code 10.5 ms of CPU instead of 11.1,
# each step done for eight codes in turn rather than every step for one code at a time).
GROUP = 8


@dataclass
class _Code:
    """One code on its way through ``draw_chunk``'s steps."""

    item: Item
    lay: render.Layout | None = None
    grade: grading.Grade | None = None
    graded: int | None = None
    image: Any = None
    png: bytes | None = None
    svg: bytes | None = None
    pdf: bytes | None = None
    error: str | None = None


def _steps(design: dict[str, Any], logo, run_key: tuple[str, str, str]) -> list:
    """What becomes of each code, in order; a step raises when the code cannot be made."""

    def lay_out(code: _Code) -> None:
        code.lay = render.layout(code.item.text, design, logo)
        code.grade, code.graded = _grade(code.item, code.lay, design, run_key, logo)
        if code.grade.refused:
            raise verify.Unscannable(code.grade.refusal)

    def paint(code: _Code) -> None:
        code.image = render.render_image(code.lay, render.DEFAULT_SIZE)

    def read(code: _Code) -> None:
        verify.check_decodes(code.item.text, code.image, design, code.lay.width)

    def encode(code: _Code) -> None:
        code.png, code.image = render.encode_png(code.image), None

    def vectors(code: _Code) -> None:
        code.svg = render.render_svg(code.lay, render.DEFAULT_SIZE)
        code.pdf = render.render_pdf(code.lay, render.DEFAULT_SIZE)

    def check(fmt: str):
        def check_file(code: _Code) -> None:
            verify.check_export(code.item.text, getattr(code, fmt), fmt, design, code.lay.width,
                                on_grid=render.is_plain(code.lay))
        return check_file

    return [lay_out, paint, read, encode, vectors, check("svg"), check("pdf")]


def draw_chunk(items: list[Item], design: dict[str, Any], logo_png: bytes | None,
               backend: Any = None, uploads: ThreadPoolExecutor | None = None,
               run: str = "") -> list[Drawn]:
    """Draw, check, grade and store each code (in a drawing process, or in the caller's with
    its own ``backend`` and ``uploads``, None to store at once); returns when every file of the
    chunk is stored. ``run``: names the caller's run (its grades are shared by its codes of one
    size only)."""
    if backend is None:
        backend, uploads = _Process.backend, _Process.uploads
    logo = render.load_logo(logo_png) if logo_png else None
    run_key = (run, json.dumps(render.normalise_design(design), sort_keys=True),
               hashlib.sha256(logo_png).hexdigest() if logo_png else "")
    steps = _steps(design, logo, run_key)
    out: list[Drawn] = []
    stored: list[Future] = []
    for start in range(0, len(items), GROUP):
        codes = [_Code(item) for item in items[start:start + GROUP]]
        for step in steps:
            for code in codes:
                if code.error is None:
                    try:
                        step(code)
                    except (verify.Unscannable, render.PayloadTooLong) as exc:
                        code.error = str(exc)
        for code in codes:
            if code.error is not None:
                out.append(Drawn(code.item.index, error=code.error))
                continue
            files = (code.png, code.svg, code.pdf)
            for fmt, key, data in zip(render.FORMATS, code.item.keys, files, strict=True):
                if uploads is None:
                    backend.put(key, data, render.MIME_TYPES[fmt], True)
                else:
                    stored.append(uploads.submit(backend.put, key, data,
                                                 render.MIME_TYPES[fmt], True))
            grade = code.grade
            out.append(Drawn(code.item.index, code.png, code.svg, grade=grade.grade,
                             grade_failing="; ".join(f["label"] for f in grade.failing),
                             grade_warning=grade.warning, grade_of=code.graded))
    for future in stored:
        future.result()
    return out


class DrawingPool:
    """``with DrawingPool(processes, storage_settings) as pool: pool.draw(items, design)``.

    ``processes``: 0 means one per CPU. ``storage_settings``: ``storage.backend_settings(app)``,
    for the drawing processes to store into the app's backend; ``backend``: the app's backend
    itself, for drawing in the calling process.
    """

    def __init__(self, processes: int, storage_settings: dict, backend: Any):
        self.processes = processes or os.cpu_count() or 1
        self.storage_settings = storage_settings
        self.backend = backend
        self._pool: ProcessPoolExecutor | None = None
        self._uploads = _uploaders(backend)   # for drawing here (its threads start when used)

    def __enter__(self) -> DrawingPool:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._uploads is not None:
            self._uploads.shutdown(wait=True)

    def draw(self, items: list[Item], design: dict[str, Any], logo_png: bytes | None = None
             ) -> Iterator[list[Drawn]]:
        """Each chunk's results, in order, as they are ready."""
        run = secrets.token_hex(8)
        chunks = [items[start:start + CHUNK] for start in range(0, len(items), CHUNK)]
        if len(items) < IN_PROCESS_BELOW or self.processes < 2:
            # Smaller chunks here (no process hand-over to pay for) so that progress moves
            # about twenty times, whatever the file's size.
            size = max(IN_PROCESS_CHUNK, min(CHUNK, len(items) // 20))
            chunks = [items[start:start + size] for start in range(0, len(items), size)]
            for chunk in chunks:
                yield draw_chunk(chunk, design, logo_png, self.backend, self._uploads, run)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes, mp_context=get_context("spawn"),
                initializer=_start, initargs=(self.storage_settings,))
        yield from self._pool.map(draw_chunk, chunks, [design] * len(chunks),
                                  [logo_png] * len(chunks), [None] * len(chunks),
                                  [None] * len(chunks), [run] * len(chunks))
