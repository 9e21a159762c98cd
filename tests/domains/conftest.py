"""Helpers for the domains plugin's tests: a DNS server the tests change, names, records."""

from __future__ import annotations

import uuid

import pytest

from qrplatform.testing.pytest_plugin import set_plan

TARGET = "cname.qrplatform.net"


@pytest.fixture
def dns(app, dns_server, monkeypatch):
    """The local DNS server, which the app asks (QRP_DNS_RESOLVER), and the CNAME target."""
    monkeypatch.setitem(app.config, "QRP_DNS_RESOLVER", dns_server.address)
    monkeypatch.setitem(app.config, "DOMAINS_CNAME_TARGET", TARGET)
    return dns_server


def fresh_name(prefix: str = "go") -> str:
    """A name no other test used (the session app's host map outlives a test)."""
    return f"{prefix}.t{uuid.uuid4().hex[:10]}.example.com"


@pytest.fixture
def pro(api):
    """An API client of a workspace on the Pro plan (3 custom domains)."""
    def make(user=None):
        client = api(user)
        set_plan(client.workspace_id, "pro")
        return client
    return make


def add(client, name: str) -> dict:
    response = client.post("/api/v1/domains", json={"name": name})
    assert response.status_code == 201, response.json
    return response.json


def publish_records(dns, domain: dict, *, txt: bool = True, cname: bool = True) -> None:
    """Create the records the domain's ``verification`` asks for."""
    for record in domain["verification"]:
        if record["type"] == "TXT" and txt:
            dns.set(record["host"], "TXT", record["value"])
        if record["type"] == "CNAME" and cname:
            dns.set(record["host"], "CNAME", record["value"])
    dns.set(TARGET, "A", "127.0.0.1")


def verified(client, dns, name: str | None = None) -> dict:
    """A domain added, its records published and checked: verified."""
    domain = add(client, name or fresh_name())
    publish_records(dns, domain)
    checked = client.post(f"/api/v1/domains/{domain['id']}/verify")
    assert checked.json["status"] == "verified", checked.json
    return checked.json


def make_code(client, destination="https://example.com/landing", **extra) -> dict:
    response = client.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": destination, **extra})
    assert response.status_code == 201, response.json
    return response.json
