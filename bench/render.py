"""Rendering costs, and the bulk job end to end.

    .venv/bin/python bench/render.py              # renders, then 10,000 codes in bulk
    BENCH_BULK_ROWS=2000 .venv/bin/python bench/render.py

Prints, per code (a fresh payload each time, so nothing is served from a cache):
- the bare ``qrcode`` library's own PNG (``qrcode.make(data).save(png)``): the baseline;
- our default PNG at 512 px (encode + layout + draw + palette PNG), SVG and PDF;
- a styled PNG (rounded modules and eyes, a frame, a logo);
- the scannability check's cost on its own (zxing-cpp decodes, sharp and blurred), and the whole
  check as run before a save (colours + layout + small render + decodes).
Then the bulk job: a CSV of N rows → verified codes (drawn, decoded, stored in three formats),
saved to the database, and a ZIP, through the real job on this machine's cores.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))


def timed(label: str, func, runs: int = 300) -> float:
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        func(i)
        samples.append((time.perf_counter() - started) * 1000)
    median = statistics.median(samples)
    p90 = statistics.quantiles(samples, n=10)[-1]
    print(f"  {label:<58}{median:>8.2f} ms  (p90 {p90:.2f})")
    return median


def renders() -> None:
    import qrcode
    from PIL import Image

    from qrp_qr import render, verify

    def url(i: int) -> str:
        return f"https://qr.example/r/{i:08d}x{os.getpid()}"

    print("Per code, 512 px, median of 300 (fresh payload each time):")

    def bare(i):
        qrcode.make(url(i) + "b").save(io.BytesIO(), "PNG")

    baseline = timed("bare qrcode library: make + PNG", bare)

    def ours(i, fmt="png", design=None, logo=None):
        text = url(i) + fmt
        render.render(render.layout(text, design or {}, logo), fmt, render.DEFAULT_SIZE)

    ours_png = timed("ours: default design, PNG", ours)
    timed("ours: default design, SVG", lambda i: ours(i, "svg"))
    timed("ours: default design, PDF", lambda i: ours(i, "pdf"))
    logo = Image.new("RGBA", (256, 256), (220, 60, 20, 255))
    styled = {"module_style": "rounded", "eye_style": "rounded", "frame": "box",
              "logo": "c/x/logo.png", "foreground": "#1a237e"}
    timed("ours: rounded, frame, logo (EC H), PNG", lambda i: ours(i, "png", styled, logo))
    lay = render.layout(url(0), {})
    image = render.render_image(lay, render.DEFAULT_SIZE)
    decode = timed("scannability: decodes of a 512 px PNG (sharp + small blurred)",
                   lambda i: verify.check_decodes(url(0), image, {}, lay.width))
    check = timed("scannability: the whole pre-save check (small render + decodes)",
                  lambda i: verify.check_design(url(i) + "c", {}))
    print(f"  → our PNG is {ours_png / baseline:.1f}x the bare library's; the decode adds "
          f"{decode:.2f} ms, the whole check {check:.2f} ms")


BULK_SCRIPT = '''
import csv, io, sys, time
from qrplatform import create_app
from qrplatform.auth import services as auth
from qrplatform.jobs import Job
from qrplatform.extensions import db
from qrplatform.tenancy import tenant_scope
from qrp_qr import bulk, services
rows = int(sys.argv[1])
app = create_app({"QRP_JOBS_INLINE": True})
with app.app_context():
    user, ws = auth.signup("bulk@example.com", "long enough pw", "Bulk")
    ws.plan = "business"  # ten thousand live dynamic codes are beyond the smaller plans
    db.session.commit()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "url", "tags"])
    for i in range(rows):
        writer.writerow([f"Poster {i}", f"https://example.com/p/{i}?src=poster", "bench"])
    data = buffer.getvalue().encode()
    with tenant_scope(ws.id):
        started = time.perf_counter()
        job, count, skipped = bulk.start_bulk(data, kind="dynamic", qr_type="url",
                                                  skip_invalid=False)
        elapsed = time.perf_counter() - started
        job = db.session.get(Job, job.id)
        print(f"RESULT {elapsed:.1f} {job.state} {job.done} {job.total} "
              f"{(job.result or {}).get('created')} {job.error}")
'''


def bulk() -> None:
    rows = int(os.environ.get("BENCH_BULK_ROWS", "10000"))
    workdir = Path(tempfile.mkdtemp(prefix="qr-bulk-"))
    env = {**os.environ, "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL")
           or f"sqlite:///{workdir / 'bulk.db'}", "QRP_PLUGINS": "qr",
           "QRP_STORAGE_DIR": str(workdir / "storage"), "QRP_LOG_LEVEL": "INFO",
           "SECRET_KEY": "bench", "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "db",
                    "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    print(f"\nBulk: {rows:,} rows → verified codes in PNG, SVG and PDF + a ZIP "
          f"({os.cpu_count()} cores, database {env['DATABASE_URL'].split(':')[0]}):")
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(BULK_SCRIPT), str(rows)],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT")), None)
    if line is None:
        print(result.stdout[-2000:], result.stderr[-3000:])
        raise SystemExit("bulk run failed")
    _, seconds, state, done, total, created, *error = line.split()
    output = (result.stdout + result.stderr).splitlines()
    phases = next((x for x in output if "drawn and stored" in x), "")
    if phases:
        print("  " + __import__("json").loads(phases).get("message", phases))
    print(f"  {seconds} s, job {state}, progress {done}/{total}, {created} codes created"
          f"{' — ' + ' '.join(error) if state != 'finished' else ''}")
    print(f"  CPU time of the job and its drawing processes: {cpu:.1f} s "
          f"({cpu / 2:.1f} s of wall time on 2 otherwise idle cores; this run's machine load: "
          f"{os.getloadavg()[0]:.1f})")
    projected = float(seconds) * 10_000 / rows
    print(f"  → {10_000 * float(seconds) / rows / 10_000 * 1000:.1f} ms per code; 10,000 codes: "
          f"{'measured' if rows == 10_000 else 'projected'} {projected:.0f} s "
          f"[{'OK' if projected < 60 else 'BELOW TARGET'}] (target: under 60 s)")


if __name__ == "__main__":
    renders()
    if os.environ.get("BENCH_BULK_ROWS") != "0":
        bulk()
