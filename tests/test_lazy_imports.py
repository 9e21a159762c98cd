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


SAMPLES = {"IntegerConverter": 7, "IdConverter": 7, "FloatConverter": 1.5,
           "PathConverter": "a/b", "UUIDConverter": "12345678-1234-4678-9234-567812345678"}


def test_every_route_builds_its_url_on_first_use_and_the_url_leads_back_to_it(app):
    """Route URL builders are compiled when first used (qrplatform.app.LazyBuilderRule), not
    at start: each still builds a URL that matches its own route, extra values as a query."""
    from qrplatform.app import LazyBuilderRule

    adapter = app.url_map.bind("localhost")
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 200 and all(isinstance(rule, LazyBuilderRule) for rule in rules)
    for rule in rules:
        values = {name: SAMPLES.get(type(converter).__name__, "abc")
                  for name, converter in rule._converters.items()}
        if any(type(c).__name__ == "AnyConverter" for c in rule._converters.values()):
            continue  # its values are its own list; none of ours uses one today
        method = sorted(rule.methods - {"HEAD", "OPTIONS"} or {"GET"})[0]
        path = adapter.build(rule.endpoint, values, method=method, force_external=False)
        endpoint, _args = adapter.match(path.split("?")[0], method=method)
        # Or an earlier route takes that URL for the method: it must give the same URL back.
        assert endpoint == rule.endpoint or path == adapter.build(endpoint, _args,
                                                                   method=method), path
    with app.test_request_context():
        from flask import url_for

        assert url_for("static", filename="x.css", v="2") == "/static/x.css?v=2"


def test_importing_the_app_freezes_what_it_built_and_collects_again_after():
    check = "import gc\nfrom wsgi import app\nprint(gc.get_freeze_count(), gc.isenabled())"
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    frozen, collecting = done.stdout.split()[-2:]
    assert int(frozen) > 100_000 and collecting == "True"


def test_a_bulk_drawing_process_imports_the_painters_and_storage_not_the_app(tmp_path):
    """A bulk job spawns a drawing process per CPU for each run: it starts in a fraction of
    the time when it leaves the app, its database layer and its plugins unimported (they were
    1.4 of its 1.8 s of CPU before ``qrplatform`` looked its names up lazily)."""
    check = f"""
import sys
sys.path.insert(0, "plugins")
from qrp_qr import drawing
drawing._start({{"QRP_STORAGE_DIR": {str(tmp_path)!r}, "PUBLIC_BASE_URL": "http://localhost"}})
assert drawing._Process.backend.put("a/b.png", b"x", "image/png").endswith("/a/b.png")
print(",".join(sorted(m for m in ("qrplatform.app", "sqlalchemy", "flask_smorest", "qrp_analytics")
                      if m in sys.modules)))
from qrplatform import PROJECT_ROOT, create_app
assert callable(create_app) and (PROJECT_ROOT / "wsgi.py").is_file()
"""
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported: {done.stdout}"
