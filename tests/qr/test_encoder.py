"""The fast module grid is the qrcode library's, bit for bit and mask for mask: images keep
their pixels and their storage keys."""

import random
import string

import numpy as np
import pytest
import qrcode
from qrcode.exceptions import DataOverflowError

from qrp_qr import encoder, render

ALPHABETS = [
    string.ascii_letters + string.digits + "/:.?=&-_",   # URLs: byte mode
    string.digits,                                        # numeric mode
    string.ascii_uppercase + " $%*+-./:",                 # alphanumeric mode
    "äöüßéèñ€漢字" + string.ascii_lowercase,              # multi-byte UTF-8
]


def library_grid(text: str, error_correction: int) -> np.ndarray | None:
    code = qrcode.QRCode(error_correction=error_correction, border=0)
    code.add_data(text.encode("utf-8"))
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError):
        return None
    return np.array(code.modules, dtype=bool)


def fast_grid(text: str, error_correction: int) -> np.ndarray | None:
    try:
        return encoder.matrix(text, error_correction)
    except (DataOverflowError, ValueError):
        return None


@pytest.mark.parametrize("level", ["L", "M", "Q", "H"])
def test_the_grid_is_the_qrcode_librarys(level):
    rng = random.Random(level)
    error_correction = render.ERROR_CORRECTION[level]
    versions = set()
    for length in (1, 7, 20, 33, 60, 110, 180, 260, 400):
        for _ in range(3):
            # Mixed alphabets too: the library splits long runs into segments of their own.
            text = "".join(rng.choice(rng.choice(ALPHABETS)) for _ in range(length))
            expected = library_grid(text, error_correction)
            got = fast_grid(text, error_correction)
            assert (got is None) == (expected is None), text
            if expected is not None:
                assert got.shape == expected.shape and (got == expected).all(), text
                versions.add((expected.shape[0] - 17) // 4)
    assert min(versions) == 1 and max(versions) >= 7  # version information blocks included


def test_content_that_does_not_fit_is_refused_as_the_library_does():
    text = "x" * 3000  # more than version 40 holds
    assert library_grid(text, render.ERROR_CORRECTION["L"]) is None
    with pytest.raises(render.PayloadTooLong, match="Too much content"):
        render.qr_matrix(text, "L")


@pytest.mark.parametrize("level", ["L", "M", "Q", "H"])
def test_the_codewords_are_the_qrcode_librarys_in_every_version(level):
    """Each version's block structure (one to 81 blocks, two block sizes from version 3 on):
    the codewords, error correction interleaved, are ``util.create_data``'s, for the longest
    content of each version and a short one."""
    from qrcode import util

    rng = random.Random(level)
    error_correction = render.ERROR_CORRECTION[level]
    for version in range(1, 41):
        capacity = util.BIT_LIMIT_TABLE[error_correction][version] // 8 - 3
        for length in (capacity, capacity // 3):
            code = qrcode.QRCode(version=version, error_correction=error_correction)
            code.add_data(bytes(rng.randrange(256) for _ in range(length)), optimize=0)
            expected = util.create_data(version, error_correction, code.data_list)
            got = encoder._codewords(version, error_correction, code.data_list)
            assert got.tolist() == list(expected), (version, length)
