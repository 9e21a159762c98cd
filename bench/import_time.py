"""How long the app takes to import: ``python -c "from wsgi import app"`` (issue 12: <= 1.0 s).

    .venv/bin/python bench/import_time.py
    BENCH_ROUNDS=9 .venv/bin/python bench/import_time.py

Configuration measured: the production one as far as an import goes: every installed plugin,
PostgreSQL and Redis URLs set (nothing connects while the app is built), bytecode compiled
first (the image compiles it at build time; PYTHONDONTWRITEBYTECODE would otherwise make every
run compile the app's own modules from source again).

Rounds are interleaved with two same-run baselines: an empty interpreter (``pass``) and the
frameworks alone (Flask, SQLAlchemy, psycopg, redis, flask-smorest, flask-limiter, Flask-WTF,
prometheus_client), which the app cannot import less than. Each figure is the median of the
rounds: wall seconds and CPU (user + system) seconds of the whole process, its exit included;
on this shared machine wall time varies with everyone else's load, CPU time much less. A third
column, "until done", is the wall time until the statement has run (the process then still
has to exit): the part a process waits for before it can work.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from production import ROOT, VENV_BIN, load_average

PYTHON = str(VENV_BIN / "python")
CASES = {
    "empty interpreter": "pass",
    "frameworks alone": "import flask, flask_sqlalchemy, sqlalchemy.orm, psycopg, redis, "
                        "flask_smorest, flask_limiter, flask_wtf, prometheus_client",
    "the app": "from wsgi import app",
}
TARGET = 1.0


def timed(statement: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall and CPU seconds of one fresh interpreter running ``statement``, and the wall
    seconds until the statement had run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    done = subprocess.run([PYTHON, "-c", f"{statement}\nimport time\nprint(time.time())"],
                          cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    wall = time.time() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, float(done.stdout.split()[-1]) - started


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "7"))
    env = {**os.environ, "SECRET_KEY": "bench",
           "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL",
                                          "postgresql://postgres@127.0.0.1:5432/bench_perf"),
           "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")}
    env.pop("QRP_PLUGINS", None)  # unset: every installed plugin
    subprocess.run([PYTHON, "-m", "compileall", "-q", "qrplatform", "plugins", "wsgi.py"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    timed(CASES["the app"], env)  # warm the page cache once
    print(f"load average before: {load_average()}")
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name, statement in CASES.items():
            figures[name].append(timed(statement, env))
    print(f"load average after: {load_average()}")
    print(f"{'case':20} {'wall s (median)':>16} {'cpu s (median)':>15} "
          f"{'until done s':>13}   rounds: {rounds}")
    medians = {}
    for name, runs in figures.items():
        wall, cpu, until_done = (statistics.median(run[i] for run in runs) for i in range(3))
        medians[name] = (wall, cpu)
        print(f"{name:20} {wall:16.3f} {cpu:15.3f} {until_done:13.3f}")
    app_wall, app_cpu = medians["the app"]
    base_wall, base_cpu = medians["frameworks alone"]
    print(f"the app / frameworks alone: wall {app_wall / base_wall:.2f}x, "
          f"cpu {app_cpu / base_cpu:.2f}x")
    print(f"target: wall <= {TARGET:.1f} s: {'met' if app_wall <= TARGET else 'NOT met'} "
          f"(cpu {app_cpu:.2f} s)")


if __name__ == "__main__":
    main()
