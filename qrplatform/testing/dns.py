"""``dns_server``: a local DNS server (dnslib) whose records a test sets and changes while it
runs, for code that asks DNS through QRP_DNS_RESOLVER::

    dns_server.set("go.example.com", "CNAME", "links.qrp.test")
    dns_server.set("_qrplatform.go.example.com", "TXT", "qrplatform-verification=…")
    app = make_app(QRP_DNS_RESOLVER=dns_server.address)
    dns_server.remove("go.example.com")       # the owner took the record away

It answers like a recursive resolver would: CNAMEs are followed within its own records for A,
AAAA and TXT questions; an unknown name is NXDOMAIN, a known one without the type asked an
empty NOERROR. ``dns_server.fail(True)`` makes it answer SERVFAIL (DNS down). Records are
cleared after each test. UDP and TCP, on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import socket
import threading
from collections import defaultdict

import pytest
from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

RECORD_TYPES = {"A": A, "AAAA": AAAA, "CNAME": CNAME, "TXT": TXT}
TTL = 60


def _name(name: str) -> str:
    return name.lower().rstrip(".")


class Zone(BaseResolver):
    def __init__(self):
        self.records: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.failing = False
        self.questions: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler) -> DNSRecord:
        reply = request.reply()
        qname = str(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        with self._lock:
            self.questions.append((_name(qname), qtype))
            if self.failing:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            name, seen = _name(qname), set()
            while True:
                if name not in self.records:
                    if name == _name(qname):
                        reply.header.rcode = RCODE.NXDOMAIN
                    return reply
                records = self.records[name]
                for rtype, value in records:
                    if rtype == qtype:
                        reply.add_answer(self._rr(name, rtype, value))
                cname = next((v for t, v in records if t == "CNAME"), None)
                if qtype == "CNAME" or cname is None or name in seen:
                    return reply
                reply.add_answer(self._rr(name, "CNAME", cname))
                seen.add(name)
                name = _name(cname)

    @staticmethod
    def _rr(name: str, rtype: str, value: str) -> RR:
        return RR(name + ".", getattr(QTYPE, rtype), ttl=TTL,
                  rdata=RECORD_TYPES[rtype](value + "." if rtype == "CNAME" else value))


class LocalDNS:
    def __init__(self):
        self.zone = Zone()
        port = _free_port()
        logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data",
                           prefix=False)
        self.servers = [DNSServer(self.zone, address="127.0.0.1", port=port, tcp=tcp,
                                  logger=logger) for tcp in (False, True)]
        self.port = port
        self.address = f"127.0.0.1:{port}"  # for QRP_DNS_RESOLVER

    def start(self) -> None:
        for server in self.servers:
            server.start_thread()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()

    def set(self, name: str, rtype: str, *values: str) -> None:
        """Replace the ``rtype`` records of ``name`` with ``values``."""
        if rtype not in RECORD_TYPES:
            raise ValueError(f"record type {rtype} is not one of {sorted(RECORD_TYPES)}")
        with self.zone._lock:
            kept = [(t, v) for t, v in self.zone.records[_name(name)] if t != rtype]
            self.zone.records[_name(name)] = kept + [(rtype, value) for value in values]

    def remove(self, name: str, rtype: str | None = None) -> None:
        """Forget the records of ``name`` (only those of ``rtype`` when given)."""
        with self.zone._lock:
            if rtype is None:
                self.zone.records.pop(_name(name), None)
            else:
                self.zone.records[_name(name)] = [
                    (t, v) for t, v in self.zone.records[_name(name)] if t != rtype]

    def fail(self, failing: bool = True) -> None:
        with self.zone._lock:
            self.zone.failing = failing

    def clear(self) -> None:
        with self.zone._lock:
            self.zone.records.clear()
            self.zone.questions.clear()
            self.zone.failing = False

    @property
    def questions(self) -> list[tuple[str, str]]:
        return list(self.zone.questions)


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for the DNS server")


@pytest.fixture(scope="session")
def dns_server_session():
    server = LocalDNS()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dns_server(dns_server_session):
    dns_server_session.clear()
    yield dns_server_session
    dns_server_session.clear()
