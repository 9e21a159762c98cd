"""Helpers for the home tests: codes through the API, scans through the real redirect."""

from __future__ import annotations

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def make_code(caller, name: str = "Poster", **fields) -> dict:
    body = {"type": "url", "kind": "dynamic", "name": name,
            "destination": "https://example.com/landing", **fields}
    response = caller.post("/api/v1/qr-codes", json=body)
    assert response.status_code == 201, response.json
    return response.json


def scan(client, code: dict, *, ip: str = "203.0.113.7", agent: str = IPHONE):
    response = client.get(f"/r/{code['short_code']}", headers={"User-Agent": agent},
                          environ_base={"REMOTE_ADDR": ip})
    assert response.status_code in (301, 302, 307, 308), response.status_code
    return response
