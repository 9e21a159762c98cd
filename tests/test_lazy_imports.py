"""Importing the app leaves libraries only some requests need for their first use (issue 12:
every web process, job worker and command starts by importing the app)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAZY = ("email_validator",)

CHECK = f"""
import sys
from wsgi import app
assert app.view_functions, "the app built no views"
print(",".join(sorted(m for m in {LAZY!r} if m in sys.modules)))
from qrplatform.auth.services import normalise_email
assert normalise_email(" Someone@Example.COM ") == "someone@example.com"
print("after:", ",".join(sorted(m for m in {LAZY!r} if m in sys.modules)))
"""


def test_app_import_leaves_email_validation_for_its_first_use():
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.splitlines()[-2:]
    assert before == "", f"loaded on import: {before}"
    assert after == "after: email_validator"
