"""The production setup for benchmarks: what `docs/deploy.md` runs, on this machine.

PostgreSQL (a database of the benchmark's own, dropped and migrated first), Redis (a database
index of its own), every installed plugin, and, when asked for, a Kafka-protocol broker (Tansu,
as the tests use) with the relay and a receiver group's consumer running as the deployed
services do (``flask events relay``, ``flask events consume GROUP``, each at the CPU priority
it gives itself, ``QRP_BACKGROUND_NICE``). Processes started here
are stopped by ``Stack.close()``.

    BENCH_DATABASE_URL   default postgresql://postgres@127.0.0.1:5432/bench_<name>
    BENCH_REDIS_URL      default redis://127.0.0.1:6379/12 (keys of their own; never flushed)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def load_average() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def database_url(name: str) -> str:
    return os.environ.get("BENCH_DATABASE_URL") or \
        f"postgresql://postgres@127.0.0.1:5432/bench_{name}"


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/12"


def fresh_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')


def plain_postgres_url(url: str) -> str:
    """The URL psycopg takes (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class Stack:
    """The backends and background services of one production-like deployment."""

    def __init__(self, name: str, workdir: Path, *, kafka: bool):
        self.workdir = workdir
        self.database_url = database_url(name)
        self.broker = None
        run = uuid.uuid4().hex[:8]
        self.env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("QRP_", "GUNICORN_", "KAFKA_", "PROMETHEUS_"))},
            "DATABASE_URL": self.database_url,
            "REDIS_URL": redis_url(),
            "SECRET_KEY": f"bench-{run}",
            "QRP_STORAGE_DIR": str(workdir / "storage"),
            # Keys and groups of this run's own: nothing left by an earlier run is read.
            "QRP_STREAM_SPOOL_KEY": f"bench:{run}:stream-spool",
            "QRP_KAFKA_GROUP_PREFIX": f"bench-{run}.",
            # This checkout's core and plugins, whichever checkout the installed ones are.
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
        }
        self.env.pop("BENCH_DATABASE_URL", None)
        self.processes: list[tuple[str, subprocess.Popen]] = []
        if kafka:
            from qrplatform.testing.kafka import TansuBroker

            self.broker = TansuBroker()
            self.broker.start()
            self.env["KAFKA_BOOTSTRAP_SERVERS"] = self.broker.bootstrap

    def migrate(self) -> None:
        fresh_database(self.database_url)
        self.flask("db", "upgrade")

    def flask(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT,
                              env=self.env, check=True, capture_output=True, text=True,
                              **kwargs)

    def python(self, script: str, *args: str) -> str:
        result = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"bench script failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def start(self, name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
        """A long-running service (its output in the work folder)."""
        with open(self.workdir / f"{name}.log", "wb") as log:  # the child keeps its own copy
            process = subprocess.Popen(args, cwd=ROOT, env={**self.env, **(env or {})},
                                       stdout=log, stderr=subprocess.STDOUT)
        self.processes.append((name, process))
        return process

    def start_event_services(self, group: str = "analytics") -> None:
        """The relay (outbox and stream spool → Kafka) and one receiver group's consumer."""
        flask = str(VENV_BIN / "flask")
        self.start("relay", flask, "--app", "wsgi", "events", "relay")
        self.start(f"consume-{group}", flask, "--app", "wsgi", "events", "consume", group)

    def stop(self, process: subprocess.Popen, timeout: float = 30) -> None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self.processes = [(n, p) for n, p in self.processes if p is not process]

    def close(self) -> None:
        for _name, process in reversed(self.processes):
            self.stop(process)
        if self.broker is not None:
            self.broker.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
