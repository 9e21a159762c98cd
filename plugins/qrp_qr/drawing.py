"""Drawing many codes on every core: the bulk job's pool, for any design.

``DrawingPool`` hands chunks of codes that share one design to processes of its own; each
process lays a code out once, paints the PNG, reads it back with zxing-cpp (``verify``),
paints the SVG and PDF from the same layout, and stores the three files itself, sending back
only what the caller packs into its ZIP. Processes are spawned, not forked (the job's process
holds database connections and threads a fork would copy), and import only this module, the
painters and the storage backend, so they start in a fraction of a second. Small runs draw in
the calling process instead: starting processes would cost more than it saves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from qrp_qr import render, verify

CHUNK = 250               # codes per task handed to a drawing process
IN_PROCESS_BELOW = 300    # fewer codes than this are drawn in the calling process
IN_PROCESS_CHUNK = 5      # the smallest chunk drawn in the calling process
UPLOADS = 8               # files each drawing process stores at a time (S3 is a round trip)


@dataclass(frozen=True)
class Item:
    """One code to draw: its place in the caller's list, what it encodes, and the storage
    keys of its PNG, SVG and PDF (in ``render.FORMATS`` order)."""

    index: int
    text: str
    keys: tuple[str, str, str]


@dataclass(frozen=True)
class Drawn:
    """A drawn, verified and stored code (``png`` and ``svg`` for the caller's ZIP), or why
    it could not be (``error``: it would not scan, or its content does not fit)."""

    index: int
    png: bytes | None = None
    svg: bytes | None = None
    error: str | None = None


class _Process:
    """What one drawing process keeps between chunks: its storage backend and uploaders."""

    backend: Any = None
    uploads: ThreadPoolExecutor | None = None


def _start(storage_settings: dict) -> None:
    """Runs once in each drawing process."""
    from qrplatform.storage import make_backend

    _Process.backend = make_backend(storage_settings)
    _Process.uploads = ThreadPoolExecutor(max_workers=UPLOADS)


def draw_chunk(items: list[Item], design: dict[str, Any], logo_png: bytes | None,
               backend: Any = None, uploads: ThreadPoolExecutor | None = None) -> list[Drawn]:
    """Draw, check and store each code (in a drawing process, or in the caller's with its own
    ``backend``); returns when every file of the chunk is stored."""
    backend = backend or _Process.backend
    uploads = uploads or _Process.uploads
    logo = render.load_logo(logo_png) if logo_png else None
    out: list[Drawn] = []
    stored: list[Future] = []
    for item in items:
        try:
            lay = render.layout(item.text, design, logo)
            image = render.render_image(lay, render.DEFAULT_SIZE)
            verify.check_decodes(item.text, image, design, lay.width)
            png = render.encode_png(image)
            svg = render.render_svg(lay, render.DEFAULT_SIZE)
            pdf = render.render_pdf(lay, render.DEFAULT_SIZE)
        except (verify.Unscannable, render.PayloadTooLong) as exc:
            out.append(Drawn(item.index, error=str(exc)))
            continue
        for fmt, key, data in zip(render.FORMATS, item.keys, (png, svg, pdf), strict=True):
            stored.append(uploads.submit(backend.put, key, data, render.MIME_TYPES[fmt], True))
        out.append(Drawn(item.index, png, svg))
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
        self._uploads: ThreadPoolExecutor | None = None

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
        chunks = [items[start:start + CHUNK] for start in range(0, len(items), CHUNK)]
        if len(items) < IN_PROCESS_BELOW or self.processes < 2:
            # Smaller chunks here (no process hand-over to pay for) so that progress moves
            # about twenty times, whatever the file's size.
            size = max(IN_PROCESS_CHUNK, min(CHUNK, len(items) // 20))
            chunks = [items[start:start + size] for start in range(0, len(items), size)]
            if self._uploads is None:
                self._uploads = ThreadPoolExecutor(max_workers=UPLOADS)
            for chunk in chunks:
                yield draw_chunk(chunk, design, logo_png, self.backend, self._uploads)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes, mp_context=get_context("spawn"),
                initializer=_start, initargs=(self.storage_settings,))
        yield from self._pool.map(draw_chunk, chunks, [design] * len(chunks),
                                  [logo_png] * len(chunks))
