"""A published microsite as shipped, against a bare Flask app and nginx serving the same HTML,
measured in the same run.

    .venv/bin/python bench/microsites.py
    BENCH_ROUNDS=3 BENCH_DURATION=10s .venv/bin/python bench/microsites.py

Configuration measured (the production one, see bench/production.py):
- ``gunicorn -c gunicorn.conf.py wsgi:app`` with the file unchanged; ``GUNICORN_WORKERS`` set
  to BENCH_WORKERS (2) for ours and the bare app alike; every installed plugin, PostgreSQL and
  Redis; page views recorded in one of two setups (BENCH_SETUPS, both by default):
  ``kafka``: each web worker's stream producer → a Tansu broker → ``flask events consume
  analytics`` (and ``flask events relay``), as the hosted product runs;
  ``embedded``: no broker, each web worker stores its page views itself (its stream buffer's
  flush thread), as a self-hosted install without Kafka runs;
- the page: the microsites tests' page (profile, heading, text, link, contact card, contact
  form) published through the API, served at /m/<slug> (rendered once at publish time; each
  view is a cache hit, a stream event, the bytes);
- the bare app: Flask answering the same HTML from a dict (``gunicorn -w BENCH_WORKERS``,
  gunicorn's defaults: sync workers, no access log);
- nginx: the same HTML as a static file (``nginx`` from Debian, 2 worker processes, no access
  log, sendfile), for the ratio.

Load: ``wrk -t2 -c32 -dBENCH_DURATION`` on loopback, an iPhone User-Agent; rounds interleaved
(bare, kafka, embedded, nginx, ...); each figure is the median of its rounds.

Targets (issue 15), for each setup: >= 0.9x the bare app's requests/s and p99 < 15 ms; nginx:
report the ratio. wrk shares the 2 CPUs with the servers and PostgreSQL: the ratios, not the
absolute figures, compare across runs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from production import ROOT, VENV_BIN, Stack, load_average
from redirect import UA, WORKERS, Server, free_port, run_wrk, wait_until

DURATION = os.environ.get("BENCH_DURATION", "10s")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SETUPS = os.environ.get("BENCH_SETUPS", "kafka,embedded").split(",")

BARE_APP = '''
import json, os
from flask import Flask, abort
pages = json.load(open(os.environ["BENCH_PAGES"]))
app = Flask(__name__)

@app.get("/m/<slug>")
def page(slug):
    html = pages.get(slug)
    if html is None:
        abort(404)
    return html
'''

SEED = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, "tests")
    from microsites.makers import PAGE
    from qrplatform import create_app
    from qrplatform.auth import services as auth
    from qrplatform.extensions import db
    app = create_app()
    with app.app_context():
        user, workspace = auth.signup("bench@example.com", "long enough pw", "Bench")
        _token, plain = auth.create_token(user, workspace.id, "bench")
        db.session.commit()
    client = app.test_client()
    bearer = {"Authorization": "Bearer " + plain}
    site = client.post("/api/v1/microsites", headers=bearer,
                       json={"name": "Bench cafe", "blocks": PAGE})
    assert site.status_code == 201, site.json
    published = client.post(f"/api/v1/microsites/{site.json['id']}/publish", headers=bearer)
    assert published.status_code == 200, published.json
    slug = published.json["slug"]
    html = client.get(f"/m/{slug}").get_data(as_text=True)
    print("PAGE " + json.dumps({"slug": slug, "html": html}))
''')

NGINX_CONF = '''
worker_processes 2;
pid %(workdir)s/nginx.pid;
error_log %(workdir)s/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path %(workdir)s/nginx-tmp;
    proxy_temp_path %(workdir)s/nginx-tmp;
    fastcgi_temp_path %(workdir)s/nginx-tmp;
    uwsgi_temp_path %(workdir)s/nginx-tmp;
    scgi_temp_path %(workdir)s/nginx-tmp;
    server {
        listen 127.0.0.1:%(port)d;
        root %(workdir)s/static;
        location /m/ { default_type "text/html; charset=utf-8"; try_files $uri.html =404; }
    }
}
'''

WRK_SCRIPT = '''
wrk.headers["User-Agent"] = "%(ua)s"
wrk.headers["Accept-Language"] = "en-GB,en;q=0.9"
sent = 0
request = function()
  sent = sent + 1
  return wrk.format("GET", "%(path)s")
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("sent") end
  io.write(string.format("SENT %%d\\n", total))
end
'''


class Nginx:
    def __init__(self, workdir: Path, slug: str, html: str):
        self.port = free_port()
        workdir.chmod(0o755)  # nginx's workers (www-data under root) read the file
        (workdir / "static" / "m").mkdir(parents=True)
        (workdir / "nginx-tmp").mkdir()
        (workdir / "static" / "m" / f"{slug}.html").write_text(html)
        conf = workdir / "nginx.conf"
        conf.write_text(NGINX_CONF % {"workdir": workdir, "port": self.port})
        self.process = subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if not wait_until(lambda: _answers(self.port, f"/m/{slug}"), 30):
            self.stop()
            raise RuntimeError("nginx did not start; see nginx-error.log")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _answers(port: int, path: str) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).status == 200
    except OSError:
        return False


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="qr-bench-microsites-"))
    print(f"load average before: {load_average()}; work folder {workdir}")
    unknown = set(SETUPS) - {"kafka", "embedded"}
    if unknown:
        raise SystemExit(f"unknown setup(s) {sorted(unknown)} (kafka, embedded)")
    with Stack("microsites", workdir, kafka="kafka" in SETUPS) as stack:
        stack.migrate()
        seeded = stack.python(SEED)
        page = json.loads(next(line for line in seeded.splitlines()
                               if line.startswith("PAGE "))[5:])
        slug, html = page["slug"], page["html"]
        (workdir / "pages.json").write_text(json.dumps({slug: html}))
        (workdir / "bare_app.py").write_text(BARE_APP)
        lua = workdir / "page.lua"
        lua.write_text(WRK_SCRIPT % {"ua": UA, "path": f"/m/{slug}"})
        gunicorn = str(VENV_BIN / "gunicorn")
        servers = {
            "bare": Server("bare", stack, [gunicorn, "-c", "/dev/null", "--workers", WORKERS,
                                           "bare_app:app"], workdir,
                           {"BENCH_PAGES": str(workdir / "pages.json")}),
        }
        if "kafka" in SETUPS:
            stack.start_event_services("analytics")
        for setup in SETUPS:
            env = {} if setup == "kafka" else {"KAFKA_BOOTSTRAP_SERVERS": ""}
            servers[setup] = Server(setup, stack, [gunicorn, "-c", "gunicorn.conf.py",
                                                   "wsgi:app"], ROOT, env)
        nginx = Nginx(workdir, slug, html)
        ports = {name: server.port for name, server in servers.items()}
        ports["nginx"] = nginx.port
        try:
            for name, port in ports.items():
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/m/{slug}",
                                              timeout=5).read().decode()
                assert body == html, f"{name} serves other bytes"
                run_wrk(port, lua, "3s")  # warm up
            print(f"wrk -t2 -c32 -d{DURATION}, {WORKERS} sync workers (ours, bare), nginx 2 "
                  f"workers; page of {len(html.encode())} bytes; {ROUNDS} interleaved rounds; "
                  f"{os.cpu_count()} CPUs shared by everything")
            print(f"{'round':<6}{'setup':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
                  f"{'max ms':>9}{'errors':>8}")
            results = {name: [] for name in ports}
            for round_ in range(1, ROUNDS + 1):
                for name, port in ports.items():
                    result = run_wrk(port, lua)
                    results[name].append(result)
                    print(f"{round_:<6}{name:<10}{result['rps']:>9.0f}{result['p50']:>9.2f}"
                          f"{result['p99']:>9.2f}{result['max']:>9.1f}"
                          f"{result['bad'] + result['socket_errors']:>8}", flush=True)
        finally:
            nginx.stop()
            for server in servers.values():
                server.stop()
    median = {name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
              for name, runs in results.items()}
    bare, static = median["bare"], median["nginx"]
    print(f"medians: bare {bare['rps']:.0f} req/s p99 {bare['p99']:.2f} ms; nginx "
          f"{static['rps']:.0f} req/s p99 {static['p99']:.2f} ms")
    for setup in SETUPS:
        ours = median[setup]
        ratio = ours["rps"] / bare["rps"]
        met = ratio >= 0.9 and ours["p99"] < 15
        print(f"{setup}: {ours['rps']:.0f} req/s p99 {ours['p99']:.2f} ms; / bare {ratio:.2f}x "
              f"req/s (target >= 0.9), p99 target < 15 ms: {'MET' if met else 'NOT MET'}; "
              f"/ nginx {ours['rps'] / static['rps']:.2f}x req/s, p99 "
              f"{ours['p99'] / static['p99']:.1f}x")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
