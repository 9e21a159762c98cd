"""Scan redirect throughput and latency: our app against a bare Flask app, side by side.

    .venv/bin/python bench/redirect.py                 # sync and gthread, 2 workers each
    REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/redirect.py
    BENCH_CLASSES=gthread BENCH_DURATION=10s .venv/bin/python bench/redirect.py

Both apps run under gunicorn on loopback with the same worker class and count, and the same
wrk load (``wrk -t2 -c32 -d10s``, each request a random one of 200 short codes). Ours does the
real work of a scan: the lookup (in-process cache in front of Redis when REDIS_URL is set,
else the database), the rules (state, expiry, cap), user-agent classification, the salted
hashes and one ``qr.scanned`` stream event per request. The bare app answers a 302 from a dict.

Prints requests/s, p50 and p99 for each, and ours as a share of the bare app's throughput
(target: at least 70 %, p99 under 15 ms).
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CODES = 200
WORKERS = os.environ.get("BENCH_WORKERS", "2")
DURATION = os.environ.get("BENCH_DURATION", "10s")
CLASSES = os.environ.get("BENCH_CLASSES", "sync,gthread").split(",")
UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")

BARE_APP = '''
import json, os
from flask import Flask, abort, redirect
targets = json.load(open(os.environ["BENCH_TARGETS"]))
app = Flask(__name__)

@app.get("/r/<code>")
def follow(code):
    target = targets.get(code)
    if target is None:
        abort(404)
    return redirect(target, 302)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(workdir: Path, env: dict) -> dict[str, str]:
    """A fresh database with one user and CODES dynamic codes; returns code → destination."""
    subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    script = textwrap.dedent(f'''
        import json, sys
        from qrplatform import create_app
        from qrplatform.auth import services as auth
        from qrplatform.tenancy import tenant_scope
        from qrp_qr import services
        app = create_app()
        with app.app_context():
            user, ws = auth.signup("bench@example.com", "long enough pw", "Bench")
            out = {{}}
            with tenant_scope(ws.id):
                for i in range({CODES}):
                    code = services.build_code({{"type": "url", "kind": "dynamic",
                        "content": {{"url": f"https://example.com/landing/{{i}}"}}}},
                        verify_design=False)
                    from qrplatform.extensions import db
                    db.session.add(code)
                    db.session.flush()
                    out[code.short_code] = code.destination
                db.session.commit()
            json.dump(out, sys.stdout)
    ''')
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True,
                            capture_output=True, text=True)
    return __import__("json").loads(result.stdout.strip().splitlines()[-1])


def start_gunicorn(target: str, worker_class: str, env: dict, cwd: Path) -> tuple:
    port = free_port()
    args = [str(VENV_BIN / "gunicorn"), "-c", "/dev/null", "--bind", f"127.0.0.1:{port}",
            "--workers", WORKERS, "--worker-class", worker_class, "--log-level", "warning",
            "--backlog", "2048"]
    if worker_class == "gthread":
        args += ["--threads", "4"]
    process = subprocess.Popen([*args, target], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/r/none", timeout=1)
        except urllib.error.HTTPError:
            return process, port   # a 404 from the app: it is up
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn {target} did not start: {process.stderr.read()[:2000]}")


def check_redirect(port: int, code: str, expected: str) -> None:
    class NoFollow(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoFollow)
    try:
        opener.open(urllib.request.Request(f"http://127.0.0.1:{port}/r/{code}",
                                           headers={"User-Agent": UA}), timeout=5)
    except urllib.error.HTTPError as response:
        assert response.code == 302, response.code
        assert response.headers["Location"] == expected, response.headers["Location"]
        return
    raise AssertionError("no redirect")


def run_wrk(port: int, lua: Path) -> dict[str, float]:
    output = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{DURATION}", "--latency", "-s", str(lua),
         f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency("50"), "p99": latency("99"),
        "bad": int(errors.group(1)) if errors else 0,
    }


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="qr-bench-"))
    env = {**os.environ, "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL")
           or f"sqlite:///{workdir / 'bench.db'}",
           "QRP_STORAGE_DIR": str(workdir / "storage"), "QRP_PLUGINS": "qr",
           "QRP_LOG_LEVEL": "WARNING", "SECRET_KEY": "bench", "PYTHONPATH": str(ROOT)}
    targets = prepare(workdir, env)
    (workdir / "targets.json").write_text(__import__("json").dumps(
        {code: dest for code, dest in targets.items()}))
    (workdir / "bare_app.py").write_text(BARE_APP)
    codes = list(targets)
    random.shuffle(codes)
    lua = workdir / "paths.lua"
    lua.write_text(
        "local paths = {" + ",".join(f'"/r/{c}"' for c in codes) + "}\n"
        f'wrk.headers["User-Agent"] = "{UA}"\n'
        'wrk.headers["Accept-Language"] = "en-GB,en;q=0.9"\n'
        "request = function() return wrk.format(\"GET\", paths[math.random(#paths)]) end\n")
    print(f"wrk -t2 -c32 -d{DURATION}, {WORKERS} workers, {len(codes)} codes, "
          f"Redis: {env.get('REDIS_URL') or 'no (in-process cache)'}; "
          f"{os.cpu_count()} CPUs shared by wrk and gunicorn")
    print(f"{'app':<26}{'class':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-3xx':>9}")
    for worker_class in CLASSES:
        results = {}
        for name, target, cwd, extra in (
                ("bare Flask (dict → 302)", "bare_app:app", workdir, {}),
                ("QR Platform scan", "wsgi:app", ROOT, {}),
                ("  same, all through Flask", "wsgi:app", ROOT,
                 {"QR_REDIRECT_FAST_PATH": "0"})):
            process, port = start_gunicorn(target, worker_class,
                                           {**env, **extra, "BENCH_TARGETS": str(
                                               workdir / "targets.json")}, cwd)
            try:
                check_redirect(port, codes[0], targets[codes[0]])
                run_wrk(port, lua) if os.environ.get("BENCH_WARMUP", "1") == "1" else None
                results[name] = run_wrk(port, lua)
            finally:
                process.terminate()
                process.wait(timeout=30)
            r = results[name]
            print(f"{name:<26}{worker_class:<9}{r['rps']:>9.0f}{r['p50']:>9.2f}"
                  f"{r['p99']:>9.2f}{r['bad']:>9}")
        ours, bare = results["QR Platform scan"], results["bare Flask (dict → 302)"]
        share = 100 * ours["rps"] / bare["rps"]
        verdict = "OK" if share >= 70 and ours["p99"] < 15 else "BELOW TARGET"
        print(f"  → {worker_class}: ours = {share:.0f} % of bare throughput, "
              f"p99 {ours['p99']:.2f} ms  [{verdict}]")


if __name__ == "__main__":
    main()
