"""QR module grids, bit for bit what the ``qrcode`` library makes, at a fraction of its cost.

``qrcode`` picks the data segments (its ``add_data``, used as it is), writes them bit by bit
to find the version and to make the codewords, computes each block's error correction with
polynomial objects, then lays the codewords out eight times, once per mask pattern, scoring
each layout in pure Python. Here the bits are written a segment at a time; the error correction
is a table lookup per block size (Reed-Solomon is linear: a block's correction bytes are the
sum, in GF(256), of each data byte times the correction of that byte's unit block, which
``qrcode``'s own ``create_bytes`` computes once per block size); and the layout and the scoring
are array operations over per-version tables (where each codeword bit goes, the function
patterns, the eight masks), made once per version from ``qrcode``'s own routines. The result
is the same grid as ``QRCode.make()``, same mask included, so images keep their pixels (and
their storage keys); tests/qr/test_encoder.py compares the two.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import qrcode
from qrcode import base, exceptions, util

# The 1:1:3:1:1 finder-like patterns with four light modules on one side (ISO/IEC 18004 N3),
# as eleven-bit numbers, the first module the highest bit.
_FINDER_LIKE = (0b10111010000, 0b00001011101)


@dataclass(frozen=True)
class _Version:
    size: int
    rows: np.ndarray          # where each data bit goes, in placement order
    cols: np.ndarray
    test_base: np.ndarray     # function patterns as scored (format and version bits light)
    masks: np.ndarray         # (8, bits): each mask pattern at the data positions


def _blank(version: int) -> qrcode.QRCode:
    """A code of ``version`` with only its finder, alignment and timing patterns set."""
    code = qrcode.QRCode(version=version, border=0)
    code.modules_count = size = version * 4 + 17
    code.modules = [[None] * size for _ in range(size)]
    code.setup_position_probe_pattern(0, 0)
    code.setup_position_probe_pattern(size - 7, 0)
    code.setup_position_probe_pattern(0, size - 7)
    code.setup_position_adjust_pattern()
    code.setup_timing_pattern()
    return code


def _with_format(code: qrcode.QRCode, error_correction: int, mask: int, test: bool) -> None:
    code.error_correction = error_correction
    code.setup_type_info(test, mask)
    if code.version >= 7:
        code.setup_type_number(test)


@lru_cache(maxsize=40)
def _version(version: int) -> _Version:
    code = _blank(version)
    _with_format(code, qrcode.constants.ERROR_CORRECT_M, 0, test=True)
    size = code.modules_count
    free = [[cell is None for cell in row] for row in code.modules]
    # The placement order of QRCode.map_data: two-column strips from the right, upwards then
    # downwards, skipping the vertical timing column.
    rows, cols = [], []
    row, step = size - 1, -1
    for col in range(size - 1, 0, -2):
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if free[row][c]:
                    rows.append(row)
                    cols.append(c)
            row += step
            if row < 0 or row >= size:
                row -= step
                step = -step
                break
    rows_a, cols_a = np.array(rows), np.array(cols)
    test_base = np.array([[bool(cell) for cell in row] for row in code.modules])
    masks = np.array([[util.mask_func(pattern)(r, c) for r, c in zip(rows, cols, strict=True)]
                      for pattern in range(8)], dtype=bool)
    return _Version(size, rows_a, cols_a, test_base, masks)


@lru_cache(maxsize=40 * 4 * 8)
def _final_base(version: int, error_correction: int, mask: int) -> np.ndarray:
    """The function patterns with the real format (and version) information of ``mask``."""
    code = _blank(version)
    _with_format(code, error_correction, mask, test=False)
    return np.array([[bool(cell) for cell in row] for row in code.modules])


def _runs_penalty(grids: np.ndarray) -> np.ndarray:
    """N1 per grid: every run of five or more same-coloured modules in a row costs its
    length - 2 (``grids``: (count, size, size); pass them transposed for the columns)."""
    count, size, _ = grids.shape
    flat = grids.reshape(-1)
    starts = np.ones(flat.size, dtype=bool)
    starts[1:] = flat[1:] != flat[:-1]
    starts[::size] = True  # each row starts a run of its own
    begins = np.flatnonzero(starts)
    lengths = np.diff(np.append(begins, flat.size))
    long = lengths >= 5
    return np.bincount(begins[long] // (size * size), weights=lengths[long] - 2,
                       minlength=count).astype(np.int64)


def _finder_like(grids: np.ndarray) -> np.ndarray:
    """N3 per grid: 1:1:3:1:1 patterns with four light modules on one side, along rows."""
    width = grids.shape[2] - 10
    windows = np.zeros((*grids.shape[:2], width), dtype=np.int16)
    for offset in range(11):  # each window of eleven modules as an eleven-bit number
        windows = (windows << 1) | grids[:, :, offset:offset + width]
    return ((windows == _FINDER_LIKE[0]) | (windows == _FINDER_LIKE[1])).sum(axis=(1, 2))


def _lost_points(grids: np.ndarray) -> np.ndarray:
    """``qrcode.util.lost_point`` of each grid: the four penalty rules of the standard."""
    count, size, _ = grids.shape
    # Rows and columns scored in one pass (each grid's columns as one more grid's rows): the
    # grids are small, and numpy's cost per call is most of it.
    lines = np.concatenate([grids, grids.transpose(0, 2, 1)])
    runs, finder_like = _runs_penalty(lines), _finder_like(lines)
    penalty = runs[:count] + runs[count:]
    top_left = grids[:, :-1, :-1]
    blocks = ((top_left == grids[:, 1:, :-1]) & (top_left == grids[:, :-1, 1:])
              & (top_left == grids[:, 1:, 1:]))
    penalty += 3 * blocks.sum(axis=(1, 2))
    penalty += 40 * (finder_like[:count] + finder_like[count:])
    # The same arithmetic as qrcode's, floats included, so that ties break the same way.
    for index, dark in enumerate(grids.sum(axis=(1, 2)).tolist()):
        percent = float(dark) / (size ** 2)
        penalty[index] += int(abs(percent * 100 - 50) / 5) * 10
    return penalty


class _Bits:
    """``qrcode``'s ``BitBuffer`` as one integer: a ``put`` is a shift, not a loop over bits."""

    def __init__(self):
        self.value = 0
        self.length = 0

    def put(self, number: int, length: int) -> None:
        self.value = (self.value << length) | (number & ((1 << length) - 1))
        self.length += length

    def __len__(self) -> int:
        return self.length

    def segments(self, data_list: list, length_bits) -> _Bits:
        """Each segment's mode, length and data, as ``create_data`` and ``best_fit`` write them
        (``length_bits(mode)``: the width of the length field)."""
        for data in data_list:
            self.put(data.mode, 4)
            self.put(len(data), length_bits(data.mode))
            if data.mode == util.MODE_8BIT_BYTE:
                self.put(int.from_bytes(data.data, "big"), 8 * len(data.data))
            else:
                data.write(self)
        return self


def _version_for(data_list: list, error_correction: int) -> int:
    """``QRCode.best_fit``: the smallest version the segments fit in."""
    start = 1
    while True:
        sizes = util.mode_sizes_for_version(start)
        needed = len(_Bits().segments(data_list, sizes.__getitem__))
        version = bisect_left(util.BIT_LIMIT_TABLE[error_correction], needed, start)
        if version == 41:
            raise exceptions.DataOverflowError()
        if sizes is util.mode_sizes_for_version(version):
            return version
        start = version


@dataclass(frozen=True)
class _Correction:
    """One block size's error correction: ``unit[i]``, the correction bytes of a block whose
    only non-zero byte is a 1 at ``i``, as logarithms (``zero`` where the byte is 0)."""

    logs: np.ndarray      # (data bytes, correction bytes)
    zero: np.ndarray

    def of(self, block: np.ndarray) -> np.ndarray:
        """The block's correction bytes: the sum of each data byte times its unit row."""
        products = _EXP[(_LOG[block][:, None] + self.logs) % 255]
        products[(block == 0)[:, None] | self.zero] = 0
        return np.bitwise_xor.reduce(products, axis=0)


_EXP = np.array(base.EXP_TABLE, dtype=np.int64)
_LOG = np.array(base.LOG_TABLE, dtype=np.int64)


@lru_cache(maxsize=64)
def _correction(data_count: int, total_count: int) -> _Correction:
    block = [base.RSBlock(total_count, data_count)]
    unit = np.zeros((data_count, total_count - data_count), dtype=np.int64)
    for i in range(data_count):
        buffer = util.BitBuffer()
        buffer.buffer = [int(i == j) for j in range(data_count)]
        unit[i] = util.create_bytes(buffer, block)[data_count:]
    return _Correction(_LOG[unit], unit == 0)


@lru_cache(maxsize=40 * 4)
def _blocks(version: int, error_correction: int) -> tuple[list, np.ndarray]:
    """The version's blocks, and the order ``create_bytes`` interleaves their bytes in: indexes
    into the data bytes followed by every block's correction bytes."""
    blocks = base.rs_blocks(version, error_correction)
    data_at, correction_at, offset = [], [], 0
    for block in blocks:
        data_at.append(list(range(offset, offset + block.data_count)))
        offset += block.data_count
    for block in blocks:
        count = block.total_count - block.data_count
        correction_at.append(list(range(offset, offset + count)))
        offset += count
    order = [at[i] for positions in (data_at, correction_at)
             for i in range(max(map(len, positions))) for at in positions if i < len(at)]
    return blocks, np.array(order)


def _codewords(version: int, error_correction: int, data_list: list) -> np.ndarray:
    """``util.create_data``: the segments, terminated and padded, split into blocks, each
    block's error correction after them, interleaved."""
    blocks, order = _blocks(version, error_correction)
    bits = _Bits().segments(data_list, lambda mode: util.length_in_bits(mode, version))
    limit = sum(block.data_count * 8 for block in blocks)
    if len(bits) > limit:
        raise exceptions.DataOverflowError(
            f"Code length overflow. Data size ({len(bits)}) > size available ({limit})")
    bits.put(0, min(limit - len(bits), 4))
    bits.put(0, -len(bits) % 8)
    for i in range((limit - len(bits)) // 8):
        bits.put(util.PAD1 if i % 2 else util.PAD0, 8)
    data = np.frombuffer(bits.value.to_bytes(limit // 8, "big"), dtype=np.uint8)
    parts, offset = [data], 0
    for block in blocks:
        parts.append(_correction(block.data_count, block.total_count).of(
            data[offset:offset + block.data_count]))
        offset += block.data_count
    return np.concatenate(parts).astype(np.uint8)[order]


def matrix(payload: str, error_correction: int) -> np.ndarray:
    """The module grid (no quiet zone) of ``payload``: ``qrcode``'s, with its best mask.

    Raises qrcode's ``DataOverflowError`` when the payload does not fit."""
    code = qrcode.QRCode(error_correction=error_correction, border=0)
    code.add_data(payload.encode("utf-8"))
    version = _version_for(code.data_list, error_correction)
    data = _codewords(version, error_correction, code.data_list)
    tables = _version(version)
    bits = np.zeros(tables.rows.size, dtype=bool)
    unpacked = np.unpackbits(data).astype(bool)
    bits[:min(unpacked.size, bits.size)] = unpacked[:bits.size]
    grids = np.repeat(tables.test_base[None], 8, axis=0)
    grids[:, tables.rows, tables.cols] = bits ^ tables.masks
    best_pattern = int(np.argmin(_lost_points(grids)))  # the first of equals, as qrcode's
    final = _final_base(version, error_correction, best_pattern).copy()
    final[tables.rows, tables.cols] = bits ^ tables.masks[best_pattern]
    return final
