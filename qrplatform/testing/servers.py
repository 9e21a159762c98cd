"""Running the real app for tests that need a socket: a thread server, gunicorn, nginx."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from qrplatform import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class _InFlight:
    """Counts the requests the server is still answering, so it can let them finish before the
    test's database is emptied: a tab's last poll, cut off half-way, would hold its
    transaction open and block the cleanup."""

    def __init__(self):
        self.count = 0
        self.idle = threading.Condition()

    def add(self, amount: int) -> None:
        with self.idle:
            self.count += amount
            self.idle.notify_all()

    def wait(self, timeout: float) -> None:
        with self.idle:
            self.idle.wait_for(lambda: self.count <= 0, timeout)


class _CountingHandler(WSGIRequestHandler):
    """Counts each request from its start to the end of its handling, however it ends. (The
    app's ``close()`` is no end signal: when the client has gone, werkzeug's read of what is
    left on the socket raises before it calls ``close()``, and a count kept there waited out
    its whole timeout at the end of every browser test.)"""

    def run_wsgi(self) -> None:
        in_flight: _InFlight = self.server.in_flight
        in_flight.add(1)
        try:
            super().run_wsgi()
        finally:
            in_flight.add(-1)


@contextmanager
def thread_server(app):
    """Serve ``app`` (any WSGI app) on a free loopback port from a thread; yields its base
    URL (the browser tests' live server, local endpoints that record or check requests).
    On the way out it waits (up to 10 s) for the requests still being answered."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_CountingHandler)
    server.in_flight = _InFlight()
    # A short poll interval: shutdown() waits for the next poll, at the end of every test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True, name="thread-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.in_flight.wait(10)
        server.server_close()
        thread.join(5)


def app_environment(database_url: str, **extra: str) -> dict[str, str]:
    """The environment for an app process on the test database, embedded backends otherwise."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "S3_BUCKET"}}
    env.update(DATABASE_URL=database_url, SECRET_KEY="test-secret-key",
               QRP_LOG_LEVEL="WARNING", **extra)
    return env


@contextmanager
def gunicorn(database_url: str, *, workers: int = 2, env: dict | None = None,
             args: tuple[str, ...] = (), app: str = "wsgi:app", stdout=subprocess.DEVNULL):
    """Run the production server from gunicorn.conf.py on a free loopback port (``stdout``:
    where its log lines go, a file to read them). Its error log goes to a file, never to a
    pipe nobody reads (a full pipe would stop the master): ``server_errors(process)`` reads it."""
    port = free_port()
    errors = tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app,
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), *args],
        cwd=PROJECT_ROOT, env={**app_environment(database_url), **(env or {})},
        stdout=stdout, stderr=errors,
    )
    process.error_log = errors.name
    try:
        wait_for_port(port, process=process)
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        errors.close()


def server_errors(process: subprocess.Popen, tail: int = 3000) -> str:
    """The end of a ``gunicorn()`` server's error log."""
    with open(process.error_log, errors="replace") as log:
        return log.read()[-tail:]


NGINX_MAIN = """
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/site.conf;
}}
"""


def nginx_site(upstream_port: int, http_port: int, https_port: int, cert_dir: Path) -> str:
    """Our nginx/qrplatform.conf with loopback ports and test certificates in place."""
    site = (PROJECT_ROOT / "nginx" / "qrplatform.conf").read_text()
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "/etc/ssl/qrplatform/": f"{cert_dir}/",
        "/srv/qrplatform/": f"{PROJECT_ROOT}/",
        "return 301 https://$host$request_uri;":
            f"return 301 https://$host:{https_port}$request_uri;",
    }
    for old, new in replacements.items():
        if old not in site:
            raise AssertionError(f"nginx/qrplatform.conf no longer contains {old!r}")
        site = site.replace(old, new)
    return "\n".join(line for line in site.splitlines() if "[::]" not in line)


@contextmanager
def nginx(upstream_port: int, workdir: Path):
    """Run the real nginx with our site config in front of ``upstream_port``."""
    http_port, https_port = free_port(), free_port()
    for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / folder).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(workdir / "privkey.pem"), "-out", str(workdir / "fullchain.pem")],
        check=True, capture_output=True,
    )
    (workdir / "site.conf").write_text(nginx_site(upstream_port, http_port, https_port, workdir))
    (workdir / "nginx.conf").write_text(NGINX_MAIN.format(prefix=workdir))
    binary = "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else "nginx"
    process = subprocess.Popen([binary, "-c", str(workdir / "nginx.conf"), "-p", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(https_port, process=process)
        yield http_port, https_port
    finally:
        process.terminate()
        process.wait(10)
