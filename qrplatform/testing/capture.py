"""``capture_server``: a local HTTP endpoint that records what real client libraries send.

Point a client's base URL at ``capture_server.url`` (SENDGRID_HOST, TWILIO_API_BASE, a Sentry
DSN, MIXPANEL_API_HOST, ...), let the real library make its call, then check the recorded
requests. Every request is answered 202 with ``{}`` unless ``respond()`` says otherwise::

    capture_server.respond("/v3/mail/send", status=500, times=2)   # fail twice, then default
    ...
    [sent] = capture_server.requests_to("/v3/mail/send")
    assert sent.json()["subject"] == "Hello"
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import pytest
from werkzeug.datastructures import Authorization, Headers, MultiDict
from werkzeug.wrappers import Request, Response

from qrplatform.testing.servers import thread_server


@dataclass(frozen=True)
class CapturedRequest:
    method: str
    path: str
    query: MultiDict
    headers: Headers
    raw_body: bytes

    @property
    def body(self) -> bytes:
        """The body, decompressed when sent with Content-Encoding gzip or deflate."""
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            return gzip.decompress(self.raw_body)
        if encoding == "deflate":
            return zlib.decompress(self.raw_body)
        return self.raw_body

    def text(self) -> str:
        return self.body.decode()

    def json(self):
        return json.loads(self.body)

    def form(self) -> MultiDict:
        """An application/x-www-form-urlencoded body."""
        return MultiDict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def authorization(self) -> Authorization | None:
        """The parsed Authorization header: ``.type``, and ``.username`` / ``.password`` for
        basic auth or ``.token`` for bearer."""
        return Authorization.from_header(self.headers.get("Authorization"))


@dataclass
class _Rule:
    status: int
    body: bytes
    headers: dict
    method: str | None
    times: int | None  # None: for ever


@dataclass
class CaptureServer:
    url: str
    requests: list[CapturedRequest] = field(default_factory=list)
    _rules: dict[str, list[_Rule]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, path: str, status: int = 202, body: dict | list | str | bytes = b"{}",
                headers: dict | None = None, method: str | None = None,
                times: int | None = None) -> None:
        """Answer requests to ``path`` (and ``method``, if given) like this; ``times`` limits
        how often, after which earlier-registered rules or the default apply again. A dict or
        list body is sent as JSON."""
        if isinstance(body, dict | list):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
        with self._lock:
            # The newest rule wins, so a test can override a fixture's default for a while.
            self._rules.setdefault(path, []).insert(
                0, _Rule(status, body, headers, method and method.upper(), times))

    def requests_to(self, path: str, method: str | None = None) -> list[CapturedRequest]:
        with self._lock:
            return [r for r in self.requests
                    if r.path == path and (method is None or r.method == method.upper())]

    def wait_for(self, path: str, count: int = 1, timeout: float = 5.0) -> list[CapturedRequest]:
        """Wait until ``count`` requests reached ``path`` (for clients that send in the
        background, such as Sentry's transport); fails the test on timeout."""
        deadline = time.monotonic() + timeout
        while len(found := self.requests_to(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} request(s) to {path} within {timeout}s, "
                                     f"expected {count}; got: {self.summary()}")
            time.sleep(0.02)
        return found

    def summary(self) -> list[str]:
        with self._lock:
            return [f"{r.method} {r.path}" for r in self.requests]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def _answer(self, method: str, path: str) -> _Rule:
        with self._lock:
            for rule in self._rules.get(path, []):
                if rule.method not in (None, method) or rule.times == 0:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return _Rule(202, b"{}", {"Content-Type": "application/json"}, None, None)

    def wsgi_app(self, environ, start_response):
        request = Request(environ)
        captured = CapturedRequest(
            method=request.method,
            path=request.path,
            query=MultiDict(request.args),
            headers=Headers(request.headers),
            raw_body=request.get_data(cache=False),
        )
        with self._lock:
            self.requests.append(captured)
        rule = self._answer(captured.method, captured.path)
        response = Response(rule.body, status=rule.status, headers=rule.headers)
        return response(environ, start_response)


@pytest.fixture
def capture_server():
    """A threaded HTTP server on a free loopback port recording every request; see module."""
    server = CaptureServer(url="")
    with thread_server(server.wsgi_app) as server.url:
        yield server
