"""Where a scan redirect's time goes: py-spy on the production server's workers under wrk.

    .venv/bin/python bench/redirect_profile.py              # the in-process sink (embedded)
    BENCH_SETUPS=kafka BENCH_DURATION=20s .venv/bin/python bench/redirect_profile.py

The server is bench/redirect.py's (gunicorn.conf.py as shipped, every plugin, PostgreSQL,
Redis, scans recorded; ``kafka``: the relay and the analytics consumer running too), loaded by
the same wrk script. ``py-spy record --subprocesses`` samples every worker on CPU at 200 Hz
for the whole run; the collapsed stacks are written to the work folder
(``profile.txt``, for a flame graph) and summed here: the share of the workers' samples in
each function (inclusive) and on its own line (self), the top of each. py-spy comes from PyPI
(``pip install py-spy``); it needs ptrace (root, or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import collections
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from production import ROOT, VENV_BIN, Stack, load_average
from redirect import CODES, DURATION, SEED, UA, WRK_SCRIPT, Server, check_redirect, run_wrk

SETUP = os.environ.get("BENCH_SETUPS", "embedded").split(",")[0]
TOP = int(os.environ.get("BENCH_TOP", "40"))


def frame_name(frame: str) -> str:
    """``function (path:line)`` → ``function (shortened path)`` without the line."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def summarise(collapsed: Path) -> None:
    """CPU samples of the workers (the master's left out): the share of the request thread
    and of the background threads (stream flush, cache listener), then per function."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        # A worker's stacks start with the master's "process" frame, then its own.
        if len(frames) < 2 or not frames[1].startswith("process "):
            continue
        frames = [frame_name(f) for f in frames[2:]]
        samples = int(count)
        total += samples
        thread = "request thread" if any("init_process" in f for f in frames) else \
            next((f for f in frames if "Thread.run" not in f and "_bootstrap" not in f
                  and "threading.py" not in f), "other thread")
        threads[thread] += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    print(f"worker CPU samples: {total}")
    for thread, samples in threads.most_common(8):
        print(f"{samples / total:7.1%}  {thread}")
    print(f"\ninclusive, % of the workers' CPU samples (top {TOP})")
    for frame, samples in inclusive.most_common(TOP):
        print(f"{samples / total:7.1%}  {frame}")
    print(f"\nself, % of the workers' CPU samples (top {TOP})")
    for frame, samples in own.most_common(TOP):
        print(f"{samples / total:7.1%}  {frame}")


def main() -> None:
    spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    workdir = Path(tempfile.mkdtemp(prefix="qr-bench-profile-"))
    print(f"load average before: {load_average()}; setup {SETUP}; work folder {workdir}")
    with Stack("redirect", workdir, kafka=SETUP == "kafka") as stack:
        stack.migrate()
        seeded = stack.python(SEED, str(CODES), "", "")
        targets = json.loads(next(line for line in seeded.splitlines()
                                  if line.startswith("TARGETS "))[8:])
        codes = list(targets)
        random.shuffle(codes)
        lua = workdir / "paths.lua"
        lua.write_text(WRK_SCRIPT % {"paths": ",".join(f'"/r/{c}"' for c in codes), "ua": UA,
                                     "host": ""})
        env = {}
        if SETUP == "kafka":
            stack.start_event_services("analytics")
        else:
            env = {"KAFKA_BOOTSTRAP_SERVERS": ""}
        server = Server(SETUP, stack, [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py",
                                       "wsgi:app"], ROOT, env)
        try:
            check_redirect(server.port, codes[0], targets[codes[0]])
            run_wrk(server.port, lua, "3s")
            collapsed = workdir / "profile.txt"
            seconds = int(DURATION.rstrip("s"))
            record = subprocess.Popen(
                [spy, "record", "--pid", str(server.process.pid), "--subprocesses",
                 "--rate", "200", "--duration", str(seconds), "--format", "raw",
                 "--output", str(collapsed)], stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            result: dict = {}
            load = threading.Thread(target=lambda: result.update(
                run_wrk(server.port, lua, f"{seconds}s")))
            load.start()
            load.join()
            _, errors = record.communicate(timeout=60)
            if record.returncode:
                raise SystemExit(f"py-spy failed: {errors.decode()[-2000:]}")
        finally:
            server.stop()
    print(f"under py-spy: {result['rps']:.0f} req/s, p50 {result['p50']:.2f} ms, "
          f"p99 {result['p99']:.2f} ms (sampling slows the workers; compare shares, not rates)")
    summarise(collapsed)
    print(f"load average after: {load_average()}")




def summarise_file() -> None:
    """``python bench/redirect_profile.py PROFILE.txt``: summarise an earlier recording."""
    summarise(Path(sys.argv[1]))


if __name__ == "__main__":
    summarise_file() if len(sys.argv) > 1 else main()
