"""Importing the app loads no scan-grading machinery: numpy and zxing-cpp come in with the
first grade or decode (a bulk job, an export check), not with every web process's start."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import sys
from wsgi import app
assert app.view_functions, "the app built no views"
loaded = sorted(m for m in ("numpy", "zxingcpp", "qrp_qr.grading") if m in sys.modules)
print(",".join(loaded))
"""


def test_app_import_loads_neither_numpy_nor_zxing():
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"loaded on import: {done.stdout.strip()}"


def test_grading_still_loads_them_when_a_code_is_graded():
    done = subprocess.run([sys.executable, "-c", CHECK + """
from qrp_qr import drawing, verify
from PIL import Image
assert verify.decode(Image.new("L", (40, 40), 255)) == []
print("after:", "zxingcpp" in sys.modules)
"""], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "True"
