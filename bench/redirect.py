"""Scan redirect as shipped, against a bare Flask app measured in the same run.

    .venv/bin/python bench/redirect.py
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_perf \\
        BENCH_REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/redirect.py
    BENCH_ROUNDS=3 BENCH_DURATION=10s BENCH_SETUPS=kafka,embedded .venv/bin/python bench/redirect.py

Configuration measured (the production one, see bench/production.py):
- ``gunicorn -c gunicorn.conf.py wsgi:app`` with the file unchanged (its logging, its worker
  recycling, its preloading); ``GUNICORN_WORKERS`` (the file's own setting) is set to
  BENCH_WORKERS (2) for ours and the bare app alike;
- every installed plugin, PostgreSQL and Redis;
- scans recorded, two ways:
  ``kafka``: the stream producer in each web worker → a Tansu broker → ``flask events
  consume analytics`` (raw scans, uniques, rollups in PostgreSQL), with ``flask events relay``
  running too, as deployed;
  ``embedded``: no broker, the web workers' flush thread hands scans to the analytics
  receiver in-process (the ``make run`` path, on PostgreSQL and Redis).
- the bare app: Flask answering a 302 from a dict, ``gunicorn -w BENCH_WORKERS`` with
  gunicorn's defaults (sync workers, no access log).

Load: ``wrk -t2 -c32 -dBENCH_DURATION`` on loopback, each request a random one of 200 short
codes, an iPhone User-Agent. Rounds are interleaved (bare, kafka, embedded, bare, ...) and each
setup's figure is the median of its rounds. After each round of ours the bench waits until
every scan sent is stored (``analytics_scans``), so no round pays for the previous one's
backlog. Scans are counted three ways: "sent" by wrk's request generator, "answered" by the
server (``qrp_scans_total`` in /metrics, every worker's) and "stored" in ``analytics_scans``;
stored must equal answered. Sent may differ from answered by a request or so: wrk abandons
what is in flight when its time is up, and the server may or may not have answered those.

Custom domains (issue 16): each setup is measured a second time, in the same rounds and on the
same server, on a workspace's verified custom domain: ``Host: go.bench-qrp.com`` and paths
``/<code>`` (no ``/r/``), the Host looked up in the host map before the fast path
(``<setup>+domain``); BENCH_DOMAIN=0 leaves it out. Its target: within 10 % of the same setup
on the platform's host (req/s >= 0.9x, p99 <= 1.1x).

Redirect rules (issue 18): each setup is measured a third time, in the same rounds and on the
same server, on BENCH_CODES codes that each have 10 rules of which only the last matches the
bench's scans (country, language, OS, device, browser, query parameter... then ``os: ios``),
so every scan evaluates every rule on the fast path (``<setup>+rules``); BENCH_RULES=0 leaves it
out. Its target: within 10 % of the same setup's codes without rules (req/s >= 0.9x,
p99 <= 1.1x).

Targets (issue 12): ours >= 1.0x the bare app's requests/s, p99 <= 1.2x the bare app's p99,
scans recorded = scans sent. wrk shares the 2 CPUs with the servers, the broker, the consumer
and PostgreSQL: the ratios, not the absolute figures, are what compares across runs.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from production import ROOT, VENV_BIN, Stack, load_average, plain_postgres_url, wait_until

CODES = 200
WORKERS = os.environ.get("BENCH_WORKERS", "2")
DURATION = os.environ.get("BENCH_DURATION", "10s")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SETUPS = os.environ.get("BENCH_SETUPS", "kafka,embedded").split(",")
DOMAIN = os.environ.get("BENCH_DOMAIN", "1") != "0"
RULES = os.environ.get("BENCH_RULES", "1") != "0"
# Nine rules the bench's iPhone scans (en-GB, no country, no query) never match, then one
# they do: every scan evaluates all ten.
TEN_RULES = [
    {"when": {"country": ["DE", "AT", "CH"]}, "destination": "https://example.de/"},
    {"when": {"language": ["fr"]}, "destination": "https://example.fr/"},
    {"when": {"os": ["android"]}, "destination": "https://example.com/android"},
    {"when": {"device": ["desktop"]}, "destination": "https://example.com/desktop"},
    {"when": {"browser": ["firefox"]}, "destination": "https://example.com/firefox"},
    {"when": {"query": [{"name": "src", "value": "flyer"}]},
     "destination": "https://example.com/flyer"},
    {"when": {"country": ["FR"], "language": ["fr"]}, "destination": "https://example.fr/fr"},
    {"when": {"os": ["windows", "macos"]}, "destination": "https://example.com/computer"},
    {"when": {"country": ["US"], "device": ["tablet"]}, "destination": "https://example.com/us"},
    {"when": {"os": ["ios"]}, "destination": "https://example.com/ios/{i}"},
]
CUSTOM_HOST = "go.bench-qrp.com"
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

SEED = textwrap.dedent('''
    import json, sys
    from datetime import UTC, datetime
    from qrplatform import create_app
    from qrplatform.auth import services as auth
    from qrplatform.extensions import db
    from qrplatform.tenancy import tenant_scope
    app = create_app()
    custom_host = sys.argv[2]
    with app.app_context():
        user, workspace = auth.signup("bench@example.com", "long enough pw", "Bench")
        workspace.plan = "business"  # more live dynamic codes than the free plan allows
        _token, plain = auth.create_token(user, workspace.id, "bench")
        if custom_host:
            # A verified custom domain, written directly (no DNS to prove it here).
            from qrp_domains.models import Domain
            with tenant_scope(workspace.id):
                now = datetime.now(UTC)
                db.session.add(Domain(name=custom_host, status="verified", token="bench",
                                      owned_at=now, verified_at=now, findings=[]))
                db.session.commit()
        db.session.commit()
    client = app.test_client()
    targets = {}
    for i in range(int(sys.argv[1])):
        # On the custom domain: the same code answers /r/<code> on the platform's host too.
        response = client.post("/api/v1/qr-codes", headers={"Authorization": "Bearer " + plain},
                               json={"kind": "dynamic", "type": "url", "name": f"Bench {i}",
                                     "domain": custom_host or None,
                                     "content": {"url": f"https://example.com/landing/{i}"}})
        assert response.status_code == 201, response.json
        short_code = response.json["short_url"].rsplit("/", 1)[1]
        targets[short_code] = response.json["destination"]
    print("TARGETS " + json.dumps(targets))
    rule_targets = {}
    for i in range(int(sys.argv[1]) if sys.argv[3] else 0):
        rules = [{**rule, "destination": rule["destination"].replace("{i}", str(i))}
                 for rule in json.loads(sys.argv[3])]
        response = client.post("/api/v1/qr-codes", headers={"Authorization": "Bearer " + plain},
                               json={"kind": "dynamic", "type": "url", "name": f"Rules {i}",
                                     "content": {"url": f"https://example.com/default/{i}"},
                                     "rules": rules})
        assert response.status_code == 201, response.json
        rule_targets[response.json["short_code"]] = rules[-1]["destination"]
    print("RULE_TARGETS " + json.dumps(rule_targets))
''')

# Counts every request wrk generates (sent), across its threads, printed when it is done.
WRK_SCRIPT = '''
local paths = {%(paths)s}
%(host)s
wrk.headers["User-Agent"] = "%(ua)s"
wrk.headers["Accept-Language"] = "en-GB,en;q=0.9"
sent = 0
request = function()
  sent = sent + 1
  return wrk.format("GET", paths[math.random(#paths)])
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("sent") end
  io.write(string.format("SENT %%d\\n", total))
end
'''


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, stack: Stack, args: list[str], cwd: Path, env: dict):
        self.name = name
        self.port = free_port()
        self.log = stack.workdir / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*args, "--bind", f"127.0.0.1:{self.port}"], cwd=cwd,
                env={**stack.env, **env, "GUNICORN_WORKERS": WORKERS},
                stdout=log, stderr=subprocess.STDOUT)
        if not wait_until(self.up, 60):
            self.stop()
            raise RuntimeError(f"{name} did not start; see {self.log}")

    def up(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited; see {self.log}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/r/none", timeout=1)
        except urllib.error.HTTPError:
            return True  # an answer from the app (404): it is up
        except OSError:
            return False
        return True

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def check_redirect(port: int, code: str, expected: str, host: str | None = None) -> None:
    class NoFollow(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoFollow)
    path, headers = f"/r/{code}", {"User-Agent": UA}
    if host:
        path, headers = f"/{code}", {**headers, "Host": host}
    try:
        opener.open(urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers),
                    timeout=5)
    except urllib.error.HTTPError as response:
        assert response.code == 302, response.code
        assert response.headers["Location"] == expected, response.headers["Location"]
        return
    raise AssertionError("no redirect")


def milliseconds(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(port: int, lua: Path, duration: str = DURATION) -> dict[str, float]:
    output = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{duration}", "--latency", "-s", str(lua),
         f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        return milliseconds(*match.groups())

    peak = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)", output, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency("50"), "p99": latency("99"), "max": milliseconds(*peak.groups()),
        "bad": int(errors.group(1)) if errors else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "sent": int(re.search(r"^SENT (\d+)$", output, re.M).group(1)),
    }


def answered_scans(port: int) -> int:
    """Redirects the server says it answered (qrp_scans_total, every worker's)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return int(sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == "qrp_scans_total"
                   and sample.labels.get("outcome") == "redirected"))


def stored_scans(database_url: str) -> int:
    import psycopg

    with psycopg.connect(plain_postgres_url(database_url)) as conn:
        return conn.execute("SELECT count(*) FROM analytics_scans").fetchone()[0]


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="qr-bench-redirect-"))
    print(f"load average before: {load_average()}; work folder {workdir}")
    with Stack("redirect", workdir, kafka="kafka" in SETUPS) as stack:
        stack.migrate()
        seeded = stack.python(SEED, str(CODES), CUSTOM_HOST if DOMAIN else "",
                              json.dumps(TEN_RULES) if RULES else "")
        targets = json.loads(next(line for line in seeded.splitlines()
                                  if line.startswith("TARGETS "))[8:])
        rule_targets = json.loads(next(line for line in seeded.splitlines()
                                       if line.startswith("RULE_TARGETS "))[13:])
        (workdir / "targets.json").write_text(json.dumps(targets))
        (workdir / "bare_app.py").write_text(BARE_APP)
        codes = list(targets)
        random.shuffle(codes)
        lua = workdir / "paths.lua"
        lua.write_text(WRK_SCRIPT % {"paths": ",".join(f'"/r/{c}"' for c in codes), "ua": UA,
                                     "host": ""})
        domain_lua = workdir / "domain.lua"
        domain_lua.write_text(WRK_SCRIPT % {"paths": ",".join(f'"/{c}"' for c in codes),
                                            "ua": UA,
                                            "host": f'wrk.headers["Host"] = "{CUSTOM_HOST}"'})

        rule_codes = list(rule_targets)
        rules_lua = workdir / "rules.lua"
        rules_lua.write_text(WRK_SCRIPT % {"paths": ",".join(f'"/r/{c}"' for c in rule_codes),
                                           "ua": UA, "host": ""})

        gunicorn = str(VENV_BIN / "gunicorn")
        servers = {"bare": Server("bare", stack, [gunicorn, "-c", "/dev/null", "--workers",
                                                  WORKERS, "bare_app:app"], workdir,
                                  {"BENCH_TARGETS": str(workdir / "targets.json")})}
        no_broker = {"KAFKA_BOOTSTRAP_SERVERS": ""}
        for setup in SETUPS:
            if setup == "kafka":
                stack.start_event_services("analytics")
                servers[setup] = Server(setup, stack, [gunicorn, "-c", "gunicorn.conf.py",
                                                       "wsgi:app"], ROOT, {})
            elif setup == "embedded":
                servers[setup] = Server(setup, stack, [gunicorn, "-c", "gunicorn.conf.py",
                                                       "wsgi:app"], ROOT, no_broker)
            else:
                raise SystemExit(f"unknown setup {setup!r} (kafka, embedded)")
        # What each round measures: (server, wrk script); a setup on the platform's host, then
        # the same server on the custom domain.
        runs = {"bare": (servers["bare"], lua)}
        for setup in SETUPS:
            runs[setup] = (servers[setup], lua)
            if DOMAIN:
                runs[f"{setup}+domain"] = (servers[setup], domain_lua)
            if RULES:
                runs[f"{setup}+rules"] = (servers[setup], rules_lua)
        try:
            for server, script in runs.values():
                if script is rules_lua:
                    check_redirect(server.port, rule_codes[0], rule_targets[rule_codes[0]])
                else:
                    check_redirect(server.port, codes[0], targets[codes[0]],
                                   CUSTOM_HOST if script is domain_lua else None)
                run_wrk(server.port, script, "3s")  # warm up: caches filled, consumer joined
            if not wait_until(lambda: stored_scans(stack.database_url) >= 3, 60):
                raise SystemExit("the warm-up scans were never recorded")
            time.sleep(3)
            print(f"wrk -t2 -c32 -d{DURATION}, {WORKERS} sync workers each, {len(codes)} codes, "
                  f"{ROUNDS} interleaved rounds; {os.cpu_count()} CPUs shared by everything")
            print(f"{'round':<6}{'setup':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
                  f"{'max ms':>9}{'sent':>9}{'answered':>9}{'stored':>9}{'lag s':>7}"
                  f"{'errors':>8}")
            results = {name: [] for name in runs}
            for round_ in range(1, ROUNDS + 1):
                for name, (server, script) in runs.items():
                    ours = name != "bare"
                    if ours:
                        before = stored_scans(stack.database_url)
                        answered_before = answered_scans(server.port)
                    result = run_wrk(server.port, script)
                    ended = time.monotonic()
                    if ours:
                        result["answered"] = answered_scans(server.port) - answered_before
                        wait_until(lambda b=before, r=result: stored_scans(
                            stack.database_url) - b >= r["answered"], 120, 0.1)
                        result["lag"] = time.monotonic() - ended
                        time.sleep(1)  # anything beyond would show now
                        result["stored"] = stored_scans(stack.database_url) - before
                        # Read again: a request wrk abandoned may have been answered after
                        # the first reading (it was then stored, and counted, since).
                        result["answered"] = answered_scans(server.port) - answered_before
                    results[name].append(result)
                    print(f"{round_:<6}{name:<16}{result['rps']:>9.0f}{result['p50']:>9.2f}"
                          f"{result['p99']:>9.2f}{result['max']:>9.1f}{result['sent']:>9}"
                          f"{result.get('answered', '-'):>9}{result.get('stored', '-'):>9}"
                          f"{result.get('lag', 0):>7.1f}"
                          f"{result['bad'] + result['socket_errors']:>8}", flush=True)
        finally:
            for server in servers.values():
                server.stop()
        report(results)
    print(f"load average after: {load_average()}")


def report(results: dict[str, list[dict]]) -> None:
    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    bare_rps, bare_p99 = median("bare", "rps"), median("bare", "p99")
    print(f"\nmedians of {ROUNDS} rounds")
    print(f"{'setup':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'x bare rps':>12}{'x bare p99':>12}  scans stored/answered (sent)")
    for name in results:
        rps, p99 = median(name, "rps"), median(name, "p99")
        line = (f"{name:<16}{rps:>9.0f}{median(name, 'p50'):>9.2f}{p99:>9.2f}"
                f"{median(name, 'max'):>9.1f}{rps / bare_rps:>12.2f}{p99 / bare_p99:>12.2f}")
        if name != "bare":
            sent = sum(r["sent"] for r in results[name])
            answered = sum(r["answered"] for r in results[name])
            stored = sum(r["stored"] for r in results[name])
            ok = rps >= bare_rps and p99 <= 1.2 * bare_p99 and stored == answered
            line += f"  {stored}/{answered} ({sent})  [{'OK' if ok else 'BELOW TARGET'}]"
        print(line)
    print("targets: >= 1.00x the bare app's req/s, p99 <= 1.20x its p99, every scan stored")
    domains = [name for name in results if name.endswith("+domain")]
    if domains:
        print("\ncustom domain vs the platform's host, same server, same rounds")
        for name in domains:
            setup = name.removesuffix("+domain")
            rps = median(name, "rps") / median(setup, "rps")
            p99 = median(name, "p99") / median(setup, "p99")
            ok = rps >= 0.9 and p99 <= 1.1
            print(f"{name:<18} req/s {rps:.3f}x  p99 {p99:.3f}x  "
                  f"[{'OK' if ok else 'BELOW TARGET'}: req/s >= 0.90x, p99 <= 1.10x]")
    with_rules = [name for name in results if name.endswith("+rules")]
    if with_rules:
        print("\n10 rules, the last one matching, vs codes without rules, same server, "
              "same rounds")
        for name in with_rules:
            setup = name.removesuffix("+rules")
            rps = median(name, "rps") / median(setup, "rps")
            p99 = median(name, "p99") / median(setup, "p99")
            ok = rps >= 0.9 and p99 <= 1.1
            print(f"{name:<18} req/s {rps:.3f}x  p99 {p99:.3f}x  "
                  f"[{'OK' if ok else 'BELOW TARGET'}: req/s >= 0.90x, p99 <= 1.10x]")


if __name__ == "__main__":
    main()
